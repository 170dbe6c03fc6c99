import ArgumentParser
import BalctlProtocol
import OperatorClient
import Foundation

extension Members {
    /// `balctl members stats <id>`: the HAProxy stats the member sent with its latest heartbeat
    /// (the agent folds `show stat` into every heartbeat; nothing is asked of the member now).
    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "HAProxy stats (show stat) from the member's latest heartbeat.")
        @OptionGroup var global: Global
        @Argument(help: "Member ID.") var id: Int64
        @Flag(help: "Servers only (no FRONTEND/BACKEND rows).") var serversOnly = false

        func run() throws {
            try perform {
                let record: HeartbeatRecord = try global.client().get(APIPath("members", id, "report"))
                guard let haproxy = record.report.stacks["haproxy"] else {
                    FileHandle.standardError.write(Data("error: member \(id) reports no HAProxy (not installed on \(record.report.hostname))\n".utf8))
                    throw ExitCode(1)
                }
                try global.output(haproxy) {
                    HAProxyStatsView.render(haproxy, hostname: record.report.hostname, receivedAt: record.receivedAt,
                                            now: Date().timeIntervalSince1970, serversOnly: serversOnly)
                }
            }
        }
    }
}

/// The heartbeat's `stacks["haproxy"]` as text: a status line, then one row per frontend,
/// backend and server. Reads the column names the agent sends, so it survives added columns.
enum HAProxyStatsView {
    static func render(_ h: JSONValue, hostname: String, receivedAt: Double, now: Double, serversOnly: Bool) -> String {
        var head: [String] = ["haproxy \(h["version"]?.stringValue ?? "?") on \(hostname)"]
        let active = h["active"]?.boolValue == true
        let via = h["activeSource"]?.stringValue == "systemd" ? "systemd: \(h["unitState"]?.stringValue ?? "?")" : "process"
        head.append(active ? "active (\(via))" : "NOT ACTIVE (\(via))")
        if let socket = h["adminSocket"]?.stringValue {
            head.append(h["adminSocketAnswers"]?.boolValue == true ? "socket \(socket)" : "socket \(socket) not answering")
        } else {
            head.append("no admin socket (haproxy.admin_socket_enable)")
        }
        head.append("heartbeat \(Render.age(max(0, now - receivedAt))) ago")
        var lines = [head.joined(separator: " · ")]

        guard case .array(let cols)? = h["stats"]?["columns"], case .array(let rows)? = h["stats"]?["rows"] else {
            if let e = h["adminSocketError"]?.stringValue { lines.append("no stats: \(e)") }
            return lines.joined(separator: "\n")
        }
        var index: [String: Int] = [:]
        for (i, c) in cols.enumerated() { if let n = c.stringValue { index[n] = i } }
        func cell(_ r: [JSONValue], _ name: String) -> JSONValue? { index[name].flatMap { $0 < r.count ? r[$0] : nil } }
        func text(_ r: [JSONValue], _ name: String) -> String { cell(r, name)?.stringValue ?? "" }
        func number(_ r: [JSONValue], _ name: String) -> String { cell(r, name)?.doubleValue.map { String(Render.integer($0)) } ?? "-" }
        func bytes(_ r: [JSONValue], _ name: String) -> String { cell(r, name)?.doubleValue.map { Render.bytes(UInt64(max(0, $0))) } ?? "-" }

        var table: [[String]] = []
        for row in rows {
            guard case .array(let r) = row else { continue }
            let type = cell(r, "type")?.doubleValue.map { Render.integer($0) }
            if serversOnly && type != 2 { continue }
            let kind = type == 0 ? "frontend" : type == 1 ? "backend" : "server"
            table.append([text(r, "pxname"), text(r, "svname"), kind, text(r, "status"), number(r, "scur"),
                          number(r, "rate"), bytes(r, "bin"), bytes(r, "bout"), text(r, "check_status")])
        }
        lines.append(Render.table(["PROXY", "NAME", "TYPE", "STATUS", "SESS", "RATE/S", "IN", "OUT", "CHECK"], table))
        if let total = h["statsRowsTotal"]?.doubleValue {
            lines.append("(\(rows.count) of \(Int(total)) rows: the heartbeat carries at most \(rows.count))")
        }
        return lines.joined(separator: "\n")
    }
}
