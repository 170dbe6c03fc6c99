import AgentKernel
import BalctlProtocol

/// `haproxy.show_stat`: the live `show stat` table on demand (the heartbeat carries the same
/// columns every beat). Read-only: it always reports "unchanged".
public struct ShowStatHandler: CommandHandler {
    public typealias Parameters = NoParameters
    public let settings: HAProxySettings
    public init(settings: HAProxySettings = .fromEnvironment()) { self.settings = settings }

    public static let id = "haproxy.show_stat"
    public static let summary = "Live HAProxy stats (show stat): frontends, backends, servers"
    public static let lock: String? = "haproxy"
    public static let supportsCheckMode = true

    public func run(_ p: NoParameters, in context: JobContext) async throws -> JobOutcome {
        // `show stat` works at any socket level, so a user-level socket is enough here.
        let socket = try ServerStateChange.adminSocket(settings, requireAdmin: false)
        let table = try ServerStateChange.showStat(socket)
        context.log(Self.render(table))
        let servers = table.rows.filter { $0.kind == .server }
        let up = servers.filter { $0.status.hasPrefix("UP") }.count
        let frontends = table.rows.filter { $0.kind == .frontend }.count
        let backends = table.rows.filter { $0.kind == .backend }.count
        return .unchanged("\(frontends) frontend(s), \(backends) backend(s), \(servers.count) server(s) (\(up) UP)",
                          result: table.json())
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
