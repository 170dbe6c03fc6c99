import ArgumentParser
import BalctlProtocol
import ControlPlane
import Foundation
import SQLEngine

/// Issue 19: the pool overview rendered server-side for a pool of MEMBERS, each with a latest
/// report and HISTORY samples in the heartbeat history (the sparklines read the last 30): the
/// store reads, the failover status, the sparklines and the mustache rendering, in process.
struct DashboardBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard", abstract: "Overview page render time for a pool of N members with heartbeat history.")

    @Option(help: "Members in the pool.") var members = 50
    @Option(help: "History samples per member.") var history = 60
    @Option(help: "Measured renders.") var renders = 200
    @Option(help: "Goal for the median, in ms.") var goalMs = 50.0

    func run() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-bench-dashboard-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try ControlPlane(config: ServerConfig(dataDir: dir.appendingPathComponent("data").path))
        _ = try server.store.bootstrapAdminIfNeeded()
        let admin = try await server.store.adminOperator()!
        let pool = try await server.store.createPool(CreatePoolRequest(name: "bench", template: .haproxy), by: admin)
        let t = Date().timeIntervalSince1970
        for m in 0..<members {
            let host = "web-\(m)"
            let e = try await server.store.addMember(pool: pool.id, CreateMemberRequest(hostname: host, allowedIPs: ["127.0.0.1"], family: .debian, role: nil),
                                                     publicURL: "https://cp.example", by: admin)
            try await server.store.db.write { db in
                for i in 0..<history {
                    let report = Self.report(host, cpu: Double((m * 7 + i * 13) % 100))
                    try db.execute(sql: "INSERT INTO heartbeat_history(member_id, received_at, source_ip, report, bytes) VALUES (?, ?, ?, ?, ?)",
                                   arguments: [e.member.id, t - Double(history - i), "127.0.0.1", report, report.utf8.count])
                }
                try db.execute(sql: "INSERT INTO heartbeat_latest(member_id, received_at, source_ip, agent_version, report, history_at) VALUES (?, ?, ?, ?, ?, ?)",
                               arguments: [e.member.id, t, "127.0.0.1", "0.1.0", Self.report(host, cpu: 12), t])
            }
        }
        var bytes = 0
        for _ in 0..<5 { bytes = try await server.renderOverview(pool: pool.id, by: admin) }
        var ms: [Double] = []
        for _ in 0..<renders {
            let start = ContinuousClock.now
            _ = try await server.renderOverview(pool: pool.id, by: admin)
            let d = ContinuousClock.now - start
            ms.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
        }
        let p = Percentiles(ms)
        print("dashboard overview: \(members) members × \(history) history samples, \(renders) renders, page body \(bytes) bytes")
        print("  median \(fixed(p(50), 2)) ms, p95 \(fixed(p(95), 2)) ms, max \(fixed(p.largest, 2)) ms (goal: median ≤ \(fixed(goalMs, 0)) ms) — \(p(50) <= goalMs ? "met" : "NOT met")")
    }

    static func report(_ host: String, cpu: Double) -> String {
        """
        {"hostname":"\(host)","agentVersion":"0.1.0","protocolVersion":1,"os":{"family":"debian","id":"debian","versionID":"12","prettyName":"Debian 12","kernel":"6.1.0"},"uptimeSec":1000,"load":[0.5,0.4,0.3],"cpuPercent":\(cpu),"cpuCount":2,"memory":{"totalBytes":1000,"availableBytes":400},"disks":[],"stacks":{},"commands":["host.echo"],"jobsInFlight":[]}
        """
    }
}
