import BalctlProtocol

/// One row of `show stat`: a frontend, a backend or a server, with the columns an operator
/// watches (the full CSV has about a hundred).
public struct StatRow: Sendable, Equatable {
    public enum Kind: Int, Sendable { case frontend = 0, backend = 1, server = 2, listener = 3 }
    public var proxy: String
    public var name: String
    public var kind: Kind
    /// UP, DOWN, DRAIN, MAINT, OPEN, "no check", "UP 1/3" …
    public var status: String
    /// Current sessions.
    public var sessions: Int?
    /// Sessions per second over the last second.
    public var rate: Int?
    public var bytesIn: Int?
    public var bytesOut: Int?
    /// e.g. L4OK, L7OK, L4CON; empty for frontends/backends and unchecked servers.
    public var checkStatus: String
}

/// `show stat` parsed. The heartbeat carries it column-wise (names once, rows as arrays): for 20
/// servers that is about half the bytes of one object per row.
public struct StatTable: Sendable, Equatable {
    public var rows: [StatRow]

    public static let columns = ["pxname", "svname", "type", "status", "scur", "rate", "bin", "bout", "check_status"]

    public init(rows: [StatRow]) { self.rows = rows }

    /// Parse the CSV haproxy prints for `show stat` (`# pxname,svname,…` then one line per row).
    /// Listeners (type 3, only with `option socket-stats`) are left out.
    public init(csv: String) throws(StatParseError) {
        var lines = csv.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        guard let header = lines.first, header.hasPrefix("# ") else {
            throw StatParseError(message: "not `show stat` output: \(csv.prefix(200).debugDescription)")
        }
        lines.removeFirst()
        let names = Self.fields(String(header.dropFirst(2)))
        var index: [String: Int] = [:]
        for (i, n) in names.enumerated() { index[n] = i }
        for required in Self.columns where index[required] == nil {
            throw StatParseError(message: "`show stat` has no \(required) column")
        }
        func col(_ f: [String], _ name: String) -> String {
            let i = index[name]!
            return i < f.count ? f[i] : ""
        }
        var rows: [StatRow] = []
        for line in lines {
            let f = Self.fields(line)
            guard let type = Int(col(f, "type")), let kind = StatRow.Kind(rawValue: type), kind != .listener else { continue }
            rows.append(StatRow(
                proxy: col(f, "pxname"), name: col(f, "svname"), kind: kind, status: col(f, "status"),
                sessions: Int(col(f, "scur")), rate: Int(col(f, "rate")), bytesIn: Int(col(f, "bin")),
                bytesOut: Int(col(f, "bout")), checkStatus: col(f, "check_status")))
        }
        self.rows = rows
    }

    /// Split one CSV line; haproxy quotes a field (RFC 4180 style) only when it needs to.
    static func fields(_ line: String) -> [String] {
        var out: [String] = []
        var field = ""
        var quoted = false
        var chars = line.makeIterator()
        var pending: Character? = nil
        while let c = pending ?? chars.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let next = chars.next() {
                        if next == "\"" { field.append("\"") } else { quoted = false; pending = next }
                    } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" && field.isEmpty {
                quoted = true
            } else if c == "," {
                out.append(field); field = ""
            } else if c != "\r" {
                field.append(c)
            }
        }
        out.append(field)
        return out
    }

    public func server(_ backend: String, _ server: String) -> StatRow? {
        rows.first { $0.kind == .server && $0.proxy == backend && $0.name == server }
    }

    public func hasBackend(_ backend: String) -> Bool {
        rows.contains { $0.proxy == backend && ($0.kind == .backend || $0.kind == .server) }
    }

    /// Column-wise JSON: `{"columns":[…],"rows":[[…],…]}`, at most `limit` rows.
    public func json(limit: Int = .max) -> JSONValue { .object(jsonFields(rowCount: limit)) }

    /// The fields of `json`, for a caller that adds its own (what was cut).
    func jsonFields(rowCount: Int) -> [String: JSONValue] {
        func num(_ v: Int?) -> JSONValue { v.map { .number(Double($0)) } ?? .null }
        return [
            "columns": .array(Self.columns.map(JSONValue.string)),
            "rows": .array(rows.prefix(rowCount).map { r in
                .array([.string(r.proxy), .string(r.name), .number(Double(r.kind.rawValue)), .string(r.status),
                        num(r.sessions), num(r.rate), num(r.bytesIn), num(r.bytesOut), .string(r.checkStatus)])
            }),
        ]
    }

    /// How many leading rows fit both bounds: at most `maxRows`, and at most about `maxBytes` of
    /// JSON (a row costs its strings, escaped at worst ×6, plus its numbers and punctuation).
    /// Whatever a config holds, what is sent stays bounded (issue 20 item 14).
    public func rowsFitting(maxRows: Int, maxBytes: Int) -> Int {
        var bytes = 256  // the column names and the braces around the rows
        var count = 0
        for r in rows.prefix(maxRows) {
            let strings = [r.proxy, r.name, r.status, r.checkStatus].reduce(0) { $0 + Self.jsonStringBytes($1) }
            bytes += strings + 5 * 21 + 12
            if bytes > maxBytes { break }
            count += 1
        }
        return count
    }

    /// Bytes `s` takes as a JSON string: quotes, plus 6 for a control character's \u escape.
    static func jsonStringBytes(_ s: String) -> Int {
        s.utf8.reduce(2) { $0 + ($1 < 0x20 ? 6 : ($1 == 0x22 || $1 == 0x5C ? 2 : 1)) }
    }

    /// Read back what `json` wrote (for the CLI and tests); rows with too few cells are skipped.
    public init?(json: JSONValue) {
        guard case .array(let cols)? = json["columns"], case .array(let rows)? = json["rows"] else { return nil }
        let names = cols.compactMap(\.stringValue)
        var index: [String: Int] = [:]
        for (i, n) in names.enumerated() { index[n] = i }
        func s(_ r: [JSONValue], _ n: String) -> String { index[n].flatMap { $0 < r.count ? r[$0].stringValue : nil } ?? "" }
        func i(_ r: [JSONValue], _ n: String) -> Int? { index[n].flatMap { $0 < r.count ? r[$0].doubleValue.map { Int($0) } : nil } }
        self.rows = rows.compactMap { row in
            guard case .array(let r) = row, let t = i(r, "type"), let kind = StatRow.Kind(rawValue: t) else { return nil }
            return StatRow(proxy: s(r, "pxname"), name: s(r, "svname"), kind: kind, status: s(r, "status"),
                           sessions: i(r, "scur"), rate: i(r, "rate"), bytesIn: i(r, "bin"), bytesOut: i(r, "bout"),
                           checkStatus: s(r, "check_status"))
        }
    }
}

public struct StatParseError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// `show servers state <backend>`: the admin-state bits say exactly what an operator set, where
/// `show stat`'s status mixes them with health (a drained server that fails its check reads DOWN).
struct ServerAdminState: Equatable {
    var bits: Int
    /// Forced maintenance (`set server … state maint`).
    var forcedMaint: Bool { bits & 0x01 != 0 }
    /// Forced drain (`set server … state drain`).
    var forcedDrain: Bool { bits & 0x08 != 0 }

    /// The server's `srv_admin_state` from `show servers state <backend>` output.
    static func parse(_ text: String, server: String) -> ServerAdminState? {
        var index: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if line.hasPrefix("# ") {
                for (i, n) in f.dropFirst().enumerated() { index[n] = i }
                continue
            }
            guard let nameAt = index["srv_name"], let adminAt = index["srv_admin_state"],
                  f.count > max(nameAt, adminAt), f[nameAt] == server, let bits = Int(f[adminAt]) else { continue }
            return ServerAdminState(bits: bits)
        }
        return nil
    }
}
