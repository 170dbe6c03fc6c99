import AgentKernel
import BalctlProtocol

/// `haproxy.show_stat`: the live `show stat` table on demand (the heartbeat carries the same
/// columns every beat). Read-only: it always reports "unchanged".
///
/// The result is capped (`maxRows` rows, about `maxResultBytes` of JSON) so a completion always
/// fits the control plane's 512 KiB body limit however large the config (issue 20 item 14); a cut
/// table says so: `truncated: true`, `rowsTotal`, `rowsSent`, and the summary names it.
public struct ShowStatHandler: CommandHandler {
    public typealias Parameters = NoParameters
    public let settings: HAProxySettings
    public init(settings: HAProxySettings = .fromEnvironment()) { self.settings = settings }

    public static let id = "haproxy.show_stat"
    public static let summary = "Live HAProxy stats (show stat): frontends, backends, servers"
    public static let lock: String? = "haproxy"
    public static let supportsCheckMode = true

    public static let maxRows = 2_000
    /// Half the body limit: the output tail (64 KiB) and the rest of the completion fit beside it.
    public static let maxResultBytes = 256 * 1024

    public func run(_ p: NoParameters, in context: JobContext) async throws -> JobOutcome {
        // `show stat` works at any socket level, so a user-level socket is enough here.
        let socket = try ServerStateChange.adminSocket(settings, requireAdmin: false)
        let table = try await ServerStateChange.showStat(socket)
        let sent = table.rowsFitting(maxRows: Self.maxRows, maxBytes: Self.maxResultBytes)
        let shown = StatTable(rows: Array(table.rows.prefix(sent)))
        context.log(Self.render(shown))
        let servers = table.rows.filter { $0.kind == .server }
        let up = servers.filter { $0.status.hasPrefix("UP") }.count
        let frontends = table.rows.filter { $0.kind == .frontend }.count
        let backends = table.rows.filter { $0.kind == .backend }.count
        var summary = "\(frontends) frontend(s), \(backends) backend(s), \(servers.count) server(s) (\(up) UP)"
        var result = table.jsonFields(rowCount: sent)
        if sent < table.rows.count {
            summary += "; result truncated to the first \(sent) of \(table.rows.count) rows (at most \(Self.maxRows) rows, \(Self.maxResultBytes / 1024) KiB)"
            context.log("[… \(table.rows.count - sent) more rows not shown]")
            result["truncated"] = .bool(true)
            result["rowsTotal"] = .number(Double(table.rows.count))
            result["rowsSent"] = .number(Double(sent))
        }
        return .unchanged(summary, result: .object(result))
    }

    /// Plain aligned text for the job output.
    static func render(_ t: StatTable) -> String {
        let header = ["PROXY", "NAME", "STATUS", "SCUR", "RATE", "BIN", "BOUT", "CHECK"]
        func n(_ v: Int?) -> String { v.map { String($0) } ?? "" }
        let rows: [[String]] = t.rows.map { r in
            [r.proxy, r.name, r.status, n(r.sessions), n(r.rate), n(r.bytesIn), n(r.bytesOut), r.checkStatus]
        }
        var widths = header.map(\.count)
        for row in rows { for (i, c) in row.enumerated() { widths[i] = max(widths[i], c.count) } }
        let lines: [String] = ([header] + rows).map { row in
            let cells: [String] = row.enumerated().map { i, c in c + String(repeating: " ", count: widths[i] - c.count) }
            return cells.joined(separator: "  ").trimmingTrailingWhitespace
        }
        return lines.joined(separator: "\n")
    }
}
