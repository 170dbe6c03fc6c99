import ArgumentParser
import BalctlProtocol
import ControlPlane
import Foundation
import SQLEngine
import ServiceLaunchers

/// Issue 19: the pool overview rendered server-side for a pool of MEMBERS, each with a latest
/// report and HISTORY samples in the heartbeat history (the sparklines read the last 30): the
/// store reads, the failover status, the sparklines and the mustache rendering, in process.
struct DashboardBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard", abstract: "Overview page render time for a pool of N members with heartbeat history.")

    @Option(help: "Members in the pool.") var members = 50
    @Option(help: "History samples per member.") var history = 60
    @Option(help: "Measured renders.") var renders = 200
    @Option(help: "Rows of a HAProxy stats table in each member's latest report (about 100 bytes each; 5000 ≈ 500 KB, a large edge).") var stackRows = 0
    @Option(help: "Goal for the median, in ms.") var goalMs = 50.0
    @Option(help: "Also measure this many idle SSE clients (server CPU and RSS; one poller per stream, then the shared poller). 0: skip.")
    var sseClients = 0
    @Option(help: "Seconds each SSE measurement window lasts.") var sseSeconds = 10.0

    func run() async throws {
        // Dashboard users for the SSE clients: bcrypt at its cheapest (the bench measures streams).
        setenv("BALCTL_BCRYPT_COST", "4", 1)
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
                               arguments: [e.member.id, t, "127.0.0.1", "0.1.0", Self.report(host, cpu: 12, stackRows: stackRows), t])
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
        print("  median \(fixed(p(50), 2)) ms, p95 \(fixed(p(95), 2)) ms, max \(fixed(p.largest, 2)) ms (goal: p95 ≤ \(fixed(goalMs, 0)) ms) — \(p(95) <= goalMs ? "met" : "NOT met")")
        if sseClients > 0 {
            try await measureSSE(dataDir: dir.appendingPathComponent("data").path, pool: pool.id, admin: admin, store: server.store)
        }
    }

    /// Idle SSE clients (`curl -N`, separate processes: their CPU is not the server's) on a real
    /// loopback server in this process; the server's CPU seconds per wall second (getrusage) and
    /// RSS over `sseSeconds`, with no clients, then with one poller per stream, then shared.
    func measureSSE(dataDir: String, pool: Int64, admin: Operator, store: Store) async throws {
        // DashboardStreams allows 8 streams per user: one user per 8 clients.
        var cookies: [String] = []
        let hasher = PasswordHasher(cost: 4)
        let users = (sseClients + 7) / 8
        var passwords: [String: String] = [:]
        for u in 0..<users {
            let name = "bench-\(u)", password = "bench-password-\(u)"
            _ = try await store.createWebUser(CreateWebUserRequest(username: name, password: password), hasher: hasher, by: admin)
            passwords[name] = password
        }
        print("idle SSE clients: \(sseClients) streams on one pool (\(members) members), \(fixed(sseSeconds, 0)) s windows, loopback HTTP")
        for (label, shared, clients) in [("no clients", true, 0), ("one poller per stream (before)", false, sseClients),
                                         ("shared poller per pool (after)", true, sseClients)] {
            var config = ServerConfig(dataDir: dataDir)
            config.host = "127.0.0.1"
            config.port = Int(try Loopback.freePort())
            config.dashboardSharedPoller = shared
            let server = try ControlPlane(config: config)
            let port = config.port
            let running = Task { try await server.run() }
            defer { running.cancel() }
            let base = "http://127.0.0.1:\(port)"
            for _ in 0..<100 {
                if (try? await Self.curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", base + "/signin"]))?.output == "200" { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            if cookies.isEmpty {
                for (name, password) in passwords.sorted(by: { $0.key < $1.key }) {
                    let r = try await Self.curl(["-s", "-o", "/dev/null", "-D", "-", "--data-urlencode", "username=\(name)",
                                                 "--data-urlencode", "password=\(password)", base + "/signin"])
                    guard let line = r.output.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("set-cookie: balctl_session=") }) else {
                        throw ValidationError("sign-in for \(name) failed: \(r.output)")
                    }
                    cookies.append(String(line.dropFirst("set-cookie: ".count).split(separator: ";")[0]))
                }
            }
            var procs: [Process] = []
            for i in 0..<clients {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
                p.arguments = ["-sN", "-o", "/dev/null", "-H", "Cookie: \(cookies[i / 8])", base + "/pools/\(pool)/events"]
                try p.run()
                procs.append(p)
            }
            try await Task.sleep(for: .seconds(3))  // connected, first ticks sent
            let before = await server.dashboardLiveStats()
            let cpu0 = Self.cpuSeconds(), t0 = ContinuousClock.now
            try await Task.sleep(for: .milliseconds(Int(sseSeconds * 1000)))
            let cpu1 = Self.cpuSeconds(), wall = ContinuousClock.now - t0
            let after = await server.dashboardLiveStats()
            let secs = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
            let cpuPct = (cpu1 - cpu0) / secs * 100
            let reads = Double(after.reads - before.reads) / secs
            print("  \(label): \(after.streams) streams, \(after.pollers) pollers, \(fixed(reads, 1)) store reads/s, server CPU \(fixed(cpuPct, 2)) % of one core, RSS \(Self.rssMiB()) MiB")
            // SIGKILL: the server's service group ignores SIGTERM in this process (it handles it
            // itself), and children started since inherit that — a SIGTERM would not end them.
            for p in procs { kill(p.processIdentifier, SIGKILL) }
            for p in procs { p.waitUntilExit() }
            running.cancel()
            _ = try? await running.value
        }
    }

    static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
    }

    static func rssMiB() -> String {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let kb = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }?.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0
        return fixed(kb / 1024, 1)
    }

    static func curl(_ args: [String]) async throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func report(_ host: String, cpu: Double, stackRows: Int = 0) -> String {
        let rows = (0..<stackRows).map { #"["be_app_\#($0 / 50)","srv\#($0)","UP",\#($0 * 37 % 1000),12,0,1048576,2097152,"L7OK",200,3,1]"# }
        let stacks = stackRows == 0 ? "{}" : #"{"haproxy":{"installed":true,"stats":{"columns":["pxname","svname","status","scur","smax","ereq","bin","bout","check_status","check_code","weight","act"],"rows":[\#(rows.joined(separator: ","))]}}}"#
        return """
        {"hostname":"\(host)","agentVersion":"0.1.0","protocolVersion":1,"os":{"family":"debian","id":"debian","versionID":"12","prettyName":"Debian 12","kernel":"6.1.0"},"uptimeSec":1000,"load":[0.5,0.4,0.3],"cpuPercent":\(cpu),"cpuCount":2,"memory":{"totalBytes":1000,"availableBytes":400},"disks":[],"stacks":\(stacks),"commands":["host.echo"],"jobsInFlight":[]}
        """
    }
}
