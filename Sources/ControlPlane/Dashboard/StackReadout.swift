import BalctlProtocol

/// A plugin's heartbeat entry (`stacks.<name>`) as rows an operator can read: nested objects
/// become dotted keys (`wsrep.clusterSize`), lists of plain values one comma-separated row, lists
/// of objects one row group per element (`databases[2].name`). The control plane does not know
/// what a stack reports, so the layout is generic; what it shows is bounded (rows, depth, value
/// length) because the entry comes from an agent.
enum StackReadout {
    struct Row: Equatable { let key: String; let value: String }

    static let maxRows = 200
    static let maxDepth = 6
    static let maxValueLength = 300
    static let maxListItems = 20

    /// The rows, and how many more there were past `maxRows`.
    static func rows(_ entry: JSONValue) -> (rows: [Row], omitted: Int) {
        var out: [Row] = []
        var omitted = 0
        func add(_ key: String, _ value: String) {
            if out.count < maxRows {
                out.append(Row(key: key.isEmpty ? "value" : key, value: clip(value)))
            } else {
                omitted += 1
            }
        }
        func walk(_ v: JSONValue, _ key: String, _ depth: Int) {
            switch v {
            case .object(let o):
                if o.isEmpty { add(key, "–"); return }
                guard depth < maxDepth else { add(key, "{…}"); return }
                for k in o.keys.sorted() { walk(o[k]!, key.isEmpty ? k : key + "." + k, depth + 1) }
            case .array(let a):
                if a.isEmpty { add(key, "none"); return }
                if a.allSatisfy({ if case .object = $0 { false } else if case .array = $0 { false } else { true } }) {
                    let shown = a.prefix(maxListItems).map(scalar).joined(separator: ", ")
                    add(key, a.count > maxListItems ? shown + ", … (\(a.count) in all)" : shown)
                    return
                }
                guard depth < maxDepth else { add(key, "[…] (\(a.count))"); return }
                for (i, e) in a.enumerated() {
                    if out.count >= maxRows { omitted += a.count - i; return }
                    walk(e, "\(key)[\(i)]", depth + 1)
                }
            default:
                add(key, scalar(v))
            }
        }
        walk(entry, "", 0)
        return (out, omitted)
    }

    static func scalar(_ v: JSONValue) -> String {
        switch v {
        case .null: "–"
        case .bool(let b): b ? "yes" : "no"
        case .number(let n): number(n)
        case .string(let s): s
        case .array(let a): "[\(a.count)]"
        case .object: "{…}"
        }
    }

    /// Whole numbers without a fraction; others with up to three decimals (ratios, percentages).
    static func number(_ n: Double) -> String {
        guard n.isFinite else { return "\(n)" }
        if n == n.rounded(), abs(n) < 1e15 { return String(Int64(n)) }
        var s = String((n * 1000).rounded() / 1000)
        if s.hasSuffix(".0") { s.removeLast(2) }
        return s
    }

    static func clip(_ s: String) -> String {
        s.count > maxValueLength ? String(s.prefix(maxValueLength)) + "…" : s
    }

    /// A stack name as a tab label: the products' own spellings for the ones we ship, the
    /// reported name otherwise.
    static func label(_ stack: String) -> String {
        switch stack {
        case "mariadb": "MariaDB"
        case "galera": "Galera"
        case "openlitespeed": "OpenLiteSpeed"
        case "cpanel": "cPanel"
        case "haproxy": "HAProxy"
        case "backup": "Backups"
        case "host": "Host"
        default: String(stack.prefix(32))
        }
    }
}
