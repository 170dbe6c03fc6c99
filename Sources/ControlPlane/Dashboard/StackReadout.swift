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
    /// The most characters of a row's dotted key (each name in it is cut first, so building a
    /// key never copies more than this however long the agent's names are).
    static let maxKeyLength = 120
    static let maxListItems = 20
    /// The most characters of keys and values in all. The per-row bounds alone allow 200 × 420,
    /// and escaping makes a `"` six bytes: 200 rows of quotes were a 446 KB page (red team S4).
    /// 20 000 keeps the worst case near 120 KB; a real plugin's entry is a few thousand.
    static let maxTotalLength = 20_000

    /// The rows, and how many more there were past `maxRows` (or the total length).
    static func rows(_ entry: JSONValue) -> (rows: [Row], omitted: Int) {
        var out: [Row] = []
        var omitted = 0
        var budget = maxTotalLength
        var full: Bool { out.count >= maxRows || budget <= 0 }
        func add(_ key: String, _ value: String) {
            guard !full else { omitted += 1; return }
            let row = Row(key: key.isEmpty ? "value" : clip(key, maxKeyLength), value: clip(value))
            budget -= row.key.unicodeScalars.count + row.value.unicodeScalars.count
            out.append(row)
        }
        /// A child's key from a bounded parent and the first characters of its name: the cost is
        /// the bound, not the name (a 100 KB name over 38 000 children was 3.8 GB of copying, S2).
        func child(_ key: String, _ name: String) -> String {
            let head = clip(name, maxKeyLength)
            return clip(key.isEmpty ? head : key + "." + head, maxKeyLength)
        }
        func walk(_ v: JSONValue, _ key: String, _ depth: Int) {
            // Past the bounds only the count is wanted: no keys are built, no values read.
            guard !full else { omitted += count(v, depth); return }
            switch v {
            case .object(let o):
                if o.isEmpty { add(key, "–"); return }
                guard depth < maxDepth else { add(key, "{…}"); return }
                for k in o.keys.sorted() {
                    if full { omitted += count(o[k]!, depth + 1) } else { walk(o[k]!, child(key, k), depth + 1) }
                }
            case .array(let a):
                if a.isEmpty { add(key, "none"); return }
                if isFlat(a) {
                    let shown = a.prefix(maxListItems).map { clip(scalar($0)) }.joined(separator: ", ")
                    add(key, a.count > maxListItems ? clip(shown, maxValueLength - 24) + ", … (\(a.count) in all)" : shown)
                    return
                }
                guard depth < maxDepth else { add(key, "[…] (\(a.count))"); return }
                for (i, e) in a.enumerated() {
                    if full { omitted += count(e, depth + 1) } else { walk(e, clip(key, maxKeyLength) + "[\(i)]", depth + 1) }
                }
            default:
                add(key, scalar(v))
            }
        }
        walk(entry, "", 0)
        return (out, omitted)
    }

    /// How many rows `walk` would make of `v` at `depth` (the same cases, without the text).
    static func count(_ v: JSONValue, _ depth: Int) -> Int {
        switch v {
        case .object(let o):
            guard !o.isEmpty, depth < maxDepth else { return 1 }
            return o.values.reduce(0) { $0 + count($1, depth + 1) }
        case .array(let a):
            guard !a.isEmpty, !isFlat(a), depth < maxDepth else { return 1 }
            return a.reduce(0) { $0 + count($1, depth + 1) }
        default:
            return 1
        }
    }

    /// A list of plain values (one row), not of objects or lists (a row group per element).
    static func isFlat(_ a: [JSONValue]) -> Bool {
        a.allSatisfy { if case .object = $0 { false } else if case .array = $0 { false } else { true } }
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

    /// At most `max` Unicode scalars (so at most 4 × `max` bytes), then "…". Scalars, not
    /// Characters: "a" with 200 000 combining marks is one Character of 400 KB (red team S3).
    /// A cut inside a cluster only drops marks.
    static func clip(_ s: String, _ max: Int = maxValueLength) -> String {
        let u = s.unicodeScalars
        guard let end = u.index(u.startIndex, offsetBy: max, limitedBy: u.endIndex), end < u.endIndex else { return s }
        return String(u[..<end]) + "…"
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
