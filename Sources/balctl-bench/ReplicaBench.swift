import ArgumentParser
import BalctlProtocol
import ControlPlane
import CurlClient
import Foundation
import SQLEngine
import ServiceLaunchers

/// Issue 22's measurements: authenticated heartbeats/s on one and two `balctl-server` replicas
/// against one PostgreSQL, beside the SQLite single process, in the same run and as the same kind
/// of process (real `balctl-server serve`, TLS, wrk on the same 2 cores); then leader takeover
/// time over repeated kill -9 of the leader. Prints figures and ratios; asserts nothing.
struct ReplicaBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replicas",
        abstract: "Heartbeats/s on SQLite vs 1 and 2 PostgreSQL replicas, and leader takeover time over repeated kills.")

    @Option(help: "Simulated agents, each with its own member and secret.") var agents = 1000
    @Option(help: "Seconds per wrk run.") var duration = 10
    @Option(help: "wrk connections in all (split over the replicas).") var connections = 64
    @Option(help: "Leader kills for the takeover figures (0: skip).") var kills = 20
    @Option(help: "balctl-server binary (default: next to this executable).") var serverBinary: String?

    func run() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-replica-bench-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let tls = try LocalCA.create(in: dir.appendingPathComponent("tls").path)
        let exe = serverBinary ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("balctl-server").path
        guard FileManager.default.isExecutableFile(atPath: exe) else { throw ValidationError("no balctl-server at \(exe) (--server-binary)") }
        print("starting PostgreSQL 15 on loopback…")
        let pg = try PostgresServer.start()
        defer { pg.stop() }
        let url = try pg.createDatabase("bench") + "?sslmode=disable"

        // The same fleet in both databases, created in-process before any server starts.
        let sqliteDir = dir.appendingPathComponent("sqlite").path
        let sqliteEntries = try await Self.seed(ServerConfig(dataDir: sqliteDir), agents: agents)
        var pgConfig = ServerConfig(dataDir: dir.appendingPathComponent("pg-0").path)
        pgConfig.databaseURL = url
        let pgEntries = try await Self.seed(pgConfig, agents: agents)
        for i in 1..<3 {
            let d = dir.appendingPathComponent("pg-\(i)").path
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try FileManager.default.copyItem(atPath: pgConfig.dataDir + "/secrets.key", toPath: d + "/secrets.key")
        }
        let script = { (entries: [(secret: String, body: String)], name: String) throws -> String in
            let path = dir.appendingPathComponent(name).path
            try HeartbeatBench.luaScript(entries).write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let sqliteScript = try script(sqliteEntries, "sqlite.lua"), pgScript = try script(pgEntries, "pg.lua")

        func serve(_ dataDir: String, database: String?) throws -> Replica {
            try Replica.start(exe, dataDir: dataDir, database: database, tls: tls, log: dir.appendingPathComponent("\(UUID()).log").path)
        }
        print("\n== authenticated heartbeats, \(agents) agents, wrk -c\(connections) for \(duration) s after a 3 s warm-up ==")
        var results: [(String, Load)] = []
        do {
            let s = try serve(sqliteDir, database: nil)
            try await s.waitHealthy(tls: tls)
            results.append(("SQLite, 1 process", try await load([s], script: sqliteScript)))
            s.stop()
        }
        for count in [1, 2] {
            var replicas: [Replica] = []
            for i in 0..<count { replicas.append(try serve(dir.appendingPathComponent("pg-\(i)").path, database: url)) }
            for r in replicas { try await r.waitHealthy(tls: tls) }
            results.append(("PostgreSQL, \(count) replica\(count > 1 ? "s" : "")", try await load(replicas, script: pgScript)))
            for r in replicas { r.stop() }
        }
        let base = results[0].1.rps
        for (name, r) in results {
            print("\(name.padding(toLength: 22, withPad: " ", startingAt: 0)) \(fmt(r.rps)) hb/s  p50 \(r.p50)  p99 \(r.p99)  non-2xx \(r.errors)  "
                  + "server CPU \(String(format: "%.0f", r.cpuMicros)) µs/hb  ratio to SQLite \(String(format: "%.2f", r.rps / max(base, 1)))")
        }
        print("(PostgreSQL runs on the same 2 cores as the replicas and wrk: the figures compare engines on one machine, not a deployment.)")

        guard kills > 0 else { return }
        print("\n== leader takeover: kill -9 the leader of 2 replicas, \(kills) times ==")
        var replicas: [Replica?] = []
        for i in 0..<2 { replicas.append(try serve(dir.appendingPathComponent("pg-\(i)").path, database: url)) }
        for case let r? in replicas { try await r.waitHealthy(tls: tls) }
        var takeovers: [Double] = []
        for k in 1...kills {
            var leader: Int?
            let deadline = Date().addingTimeInterval(20)
            while leader == nil && Date() < deadline {
                for (i, r) in replicas.enumerated() where r != nil {
                    if try await r!.role(tls: tls) == "leader" { leader = i }
                }
                if leader == nil { try await Task.sleep(for: .milliseconds(50)) }
            }
            guard let l = leader else { print("kill \(k): no leader found"); break }
            // Kill at a random point of the renewal cycle, as a crash would.
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...1000)))
            replicas[l]!.kill()
            let killedAt = ContinuousClock.now
            let other = 1 - l
            var took: Double?
            while ContinuousClock.now - killedAt < .seconds(30) {
                if try await replicas[other]!.role(tls: tls) == "leader" {
                    let d = ContinuousClock.now - killedAt
                    took = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
                    break
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            guard let took else { print("kill \(k): no takeover within 30 s"); break }
            takeovers.append(took)
            print("kill \(k): takeover after \(String(format: "%.2f", took)) s")
            replicas[l] = try serve(dir.appendingPathComponent("pg-\(l)").path, database: url)
            try await replicas[l]!.waitHealthy(tls: tls)
        }
        for case let r? in replicas { r.stop() }
        let sorted = takeovers.sorted()
        if !sorted.isEmpty {
            let p = { (q: Double) in sorted[min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1)] }
            print("takeover over \(sorted.count) kills: p50 \(String(format: "%.2f", p(0.5))) s, p99 \(String(format: "%.2f", p(0.99))) s, "
                  + "max \(String(format: "%.2f", sorted.last!)) s (lease 4 s; goal ≤ 5 s: p99/goal \(String(format: "%.2f", p(0.99) / 5)))")
        }
    }

    /// The admin, a pool and `agents` members; their secrets and heartbeat bodies.
    static func seed(_ config: ServerConfig, agents: Int) async throws -> [(secret: String, body: String)] {
        let server = try ControlPlane(config: config)
        _ = try server.store.bootstrapAdminIfNeeded()
        let admin = try await server.store.adminOperator()!
        let pool = try await server.store.createPool(CreatePoolRequest(name: "bench", template: .generic), by: admin)
        var entries: [(secret: String, body: String)] = []
        for i in 0..<agents {
            let host = "bench-\(i)"
            let e = try await server.store.addMember(
                pool: pool.id, CreateMemberRequest(hostname: host, allowedIPs: ["127.0.0.1"], family: .debian, role: nil),
                publicURL: config.publicURL, by: admin)
            entries.append((e.enrollmentSecret, String(decoding: try JSONEncoder().encode(HeartbeatBench.report(hostname: host)), as: UTF8.self)))
        }
        try await server.store.db.close()
        return entries
    }

    struct Load { var rps: Double; var p50: String; var p99: String; var errors: Int; var cpuMicros: Double }

    /// wrk against every replica at once (connections split evenly); requests/s summed, the
    /// worst replica's latencies, the replicas' CPU per heartbeat (from /proc).
    func load(_ replicas: [Replica], script: String) async throws -> Load {
        let per = max(1, connections / replicas.count)
        @Sendable func wrk(_ r: Replica, seconds: Int) async throws -> HeartbeatBench.WrkResult {
            try await HeartbeatBench.runWrk(r.base + AgentWire.heartbeatPath, script: script, seconds: seconds,
                                            threads: 1, connections: per)
        }
        try await withThrowingTaskGroup(of: Void.self) { g in
            for r in replicas { g.addTask { _ = try await wrk(r, seconds: 3) } }
            try await g.waitForAll()
        }
        let cpuBefore = replicas.map(\.cpuSeconds).reduce(0, +)
        let runs = try await withThrowingTaskGroup(of: HeartbeatBench.WrkResult.self) { g in
            for r in replicas { g.addTask { try await wrk(r, seconds: duration) } }
            return try await g.reduce(into: []) { $0.append($1) }
        }
        let cpu = replicas.map(\.cpuSeconds).reduce(0, +) - cpuBefore
        let rps = runs.map(\.rps).reduce(0, +)
        func ms(_ s: String) -> Double {
            let v = Double(s.filter { $0.isNumber || $0 == "." }) ?? 0
            return s.hasSuffix("us") ? v / 1000 : s.hasSuffix("ms") ? v : v * 1000
        }
        let worst50 = runs.max { ms($0.p50) < ms($1.p50) }!.p50, worst99 = runs.max { ms($0.p99) < ms($1.p99) }!.p99
        return Load(rps: rps, p50: worst50, p99: worst99, errors: runs.map(\.errors).reduce(0, +),
                    cpuMicros: rps > 0 ? cpu / (rps * Double(duration)) * 1e6 : 0)
    }

    func fmt(_ v: Double) -> String { String(format: "%8.0f", v) }
}

/// One `balctl-server serve` process of the benchmark.
final class Replica: @unchecked Sendable {
    let process: Process
    let port: Int
    var base: String { "https://127.0.0.1:\(port)" }

    static func start(_ exe: String, dataDir: String, database: String?, tls: LocalCA.Files, log: String) throws -> Replica {
        let port = Int(try Loopback.freePort())
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = ["serve", "--data-dir", dataDir, "--port", "\(port)", "--tls-cert", tls.serverCert, "--tls-key", tls.serverKey]
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BALCTL_") }
        if let database { env["BALCTL_DATABASE_URL"] = database }
        p.environment = env
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        return Replica(process: p, port: port)
    }

    init(process: Process, port: Int) { self.process = process; self.port = port }

    func waitHealthy(tls: LocalCA.Files) async throws {
        for _ in 0..<300 {
            if (try? await health(tls: tls))?.status == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ValidationError("a balctl-server replica did not come up")
    }

    func health(tls: LocalCA.Files) async throws -> HTTPResponse {
        var options = CurlSession.Options(caFile: tls.caCert, requireHTTPS: true)
        options.timeoutMs = 2000
        return try await CurlSession(options: options).request("GET", base + "/healthz")
    }

    func role(tls: LocalCA.Files) async throws -> String? {
        guard let r = try? await health(tls: tls) else { return nil }
        return r.text.split(separator: "\n").first { $0.hasPrefix("role: ") }.map { String($0.dropFirst(6)) }
    }

    /// User + system CPU seconds of the process so far (/proc/<pid>/stat, clock ticks).
    var cpuSeconds: Double { ProcStat.cpuSeconds("/proc/\(process.processIdentifier)/stat") }

    func kill() {
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func stop() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }
}
