#if canImport(Glibc)
import Glibc
#endif
import BalctlProtocol
import ControlPlane
import CurlClient
import Foundation
import ServiceLaunchers
import Synchronization
import Testing
import TestSupport

/// Issue 22 end to end: three real `balctl-server` replicas on one real PostgreSQL 15 (the test
/// process's cluster, a fresh database per test), sharing `secrets.key` and a TLS certificate.
/// Agents are played by heartbeat requests spread over the replicas; DNS is the suite's `named`.
@Suite("Replicas on PostgreSQL", .serialized, .bindServer)
struct ReplicaTests {
    let bind: BINDServer
    init() throws { bind = try BINDServer.shared() }

    final class Rig: @unchecked Sendable {
        let h: Harness
        let url: String
        let pg: PostgresServer
        let database: String
        var ports: [Int] = []
        var servers: [Process?] = []

        init(replicas: Int = 3) async throws {
            h = try Harness()
            pg = try StoreEngine.postgres()
            url = try pg.createDatabase() + "?sslmode=disable"
            database = String(url.split(separator: "/").last!.split(separator: "?").first!)
            // Replica 0 creates the schema and the admin; the others get its secrets.key.
            let initProc = Process()
            initProc.executableURL = URL(fileURLWithPath: try Harness.binary("balctl-server"))
            initProc.arguments = ["init", "--data-dir", dataDir(0), "--json"]
            initProc.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BALCTL_") }
                .merging(["BALCTL_DATABASE_URL": url]) { $1 }
            let pipe = Pipe()
            initProc.standardOutput = pipe
            try initProc.run()
            let out = pipe.fileHandleForReading.readDataToEndOfFile()
            initProc.waitUntilExit()
            guard initProc.terminationStatus == 0 else { throw Harness.HarnessError("init failed: \(String(decoding: out, as: UTF8.self))") }
            h.adminToken = try JSONDecoder().decode(TokenIssued.self, from: out).token
            for i in 1..<replicas {
                try FileManager.default.createDirectory(atPath: dataDir(i), withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
                try FileManager.default.copyItem(atPath: dataDir(0) + "/secrets.key", toPath: dataDir(i) + "/secrets.key")
            }
            for i in 0..<replicas {
                ports.append(try Harness.freePort())
                servers.append(nil)
                try await start(i)
            }
        }

        deinit {
            for case let s? in servers where s.isRunning { kill(s.processIdentifier, SIGCONT); kill(s.processIdentifier, SIGKILL) }
        }

        func dataDir(_ i: Int) -> String { h.dir.appendingPathComponent("data-\(i)").path }
        func base(_ i: Int) -> String { "https://127.0.0.1:\(ports[i])" }

        func start(_ i: Int) async throws {
            servers[i] = try h.run(try Harness.binary("balctl-server"), [
                "serve", "--data-dir", dataDir(i), "--port", "\(ports[i])", "--heartbeat-interval", "1",
                "--tls-cert", h.tls.serverCert, "--tls-key", h.tls.serverKey, "--allow-loopback-http",
            ], env: ["BALCTL_DATABASE_URL": url], log: "replica-\(i).log")
            let deadline = Date().addingTimeInterval(15)
            while Date() < deadline {
                if (try? await health(i))?.status == 200 { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw Harness.HarnessError("replica \(i) did not come up:\n\(h.log("replica-\(i).log"))")
        }

        func health(_ i: Int) async throws -> (status: Int, text: String) {
            let r = try await h.session(timeoutMs: 2000).request("GET", base(i) + "/healthz")
            return (r.status, r.text)
        }

        /// The replica that says it leads (nil: none does right now).
        func leader(among live: [Int]? = nil) async -> Int? {
            for i in live ?? Array(ports.indices) {
                if let r = try? await health(i), r.text.contains("role: leader") { return i }
            }
            return nil
        }

        func waitForLeader(among live: [Int], timeout: Double = 15) async throws -> Int {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if let l = await leader(among: live) { return l }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw Harness.HarnessError("no leader among replicas \(live)")
        }

        func api(_ i: Int) throws -> Harness.Operator {
            try Harness.Operator(base: base(i), token: h.adminToken, session: try h.session())
        }

        func signal(_ i: Int, _ sig: Int32) {
            guard let s = servers[i] else { return }
            kill(s.processIdentifier, sig)
            if sig == SIGKILL { s.waitUntilExit(); servers[i] = nil }
        }

        /// One agent heartbeat to replica `i`.
        func beat(_ i: Int, _ e: MemberEnrollment, secret: String? = nil, publicIP: String? = nil,
                  inFlight: [JobRef] = []) async throws -> (status: Int, reply: HeartbeatReply?) {
            var report = Harness.report(hostname: e.member.hostname, jobs: inFlight)
            if let publicIP { report.publicIPv4 = publicIP; report.publicIPSource = "declared" }
            let r = try await h.session(timeoutMs: 10_000).request(
                "POST", base(i) + AgentWire.heartbeatPath,
                headers: [("Authorization", "Bearer \(secret ?? e.enrollmentSecret)"), ("Content-Type", "application/json")],
                body: Array(try JSONEncoder().encode(report)))
            return (r.status, r.status == 200 ? try JSONDecoder().decode(HeartbeatReply.self, from: Data(r.body)) : nil)
        }
    }

    final class Tally: Sendable { let counts = Mutex<[Int64: Int]>([:]) }
    final class Flag<T: Sendable>: Sendable {
        let value: Mutex<T>
        init(_ v: T) { value = Mutex(v) }
        func get() -> T { value.withLock { $0 } }
        func set(_ v: T) { value.withLock { $0 = v } }
    }

    @Test("400 concurrent heartbeats over three replicas: every job is claimed exactly once")
    func claimsExactlyOnce() async throws {
        let rig = try await Rig()
        let api = try rig.api(0)
        let pool = try await api.pool("fleet")
        var members: [MemberEnrollment] = []
        for i in 0..<40 { members.append(try await api.member(pool: pool.id, hostname: "node-\(i)")) }
        for (i, m) in members.enumerated() { _ = try await rig.beat(i % 3, m) }  // each reports host.echo
        var enqueued: Set<Int64> = []
        for (i, m) in members.enumerated() {
            for k in 0..<5 {
                let job = try await rig.api(i % 3).enqueue(m.member.id, "host.echo", .object(["message": .string("\(i).\(k)")]))
                enqueued.insert(job.id)
            }
        }
        // Ten heartbeats per member at once, spread over the three replicas: 400 in flight.
        let claims = Tally()
        let fleet = members
        var failures = 0
        for _ in 0..<5 {
            failures += try await withThrowingTaskGroup(of: Int.self) { group in
                for (i, m) in fleet.enumerated() {
                    for copy in 0..<10 {
                        group.addTask {
                            let r = try await rig.beat((i + copy) % 3, m)
                            guard r.status == 200, let reply = r.reply else { return 1 }
                            claims.counts.withLock { c in for j in reply.jobs { c[j.id, default: 0] += 1 } }
                            return 0
                        }
                    }
                }
                return try await group.reduce(0, +)
            }
            if claims.counts.withLock({ $0.count }) == enqueued.count { break }
        }
        let counted = claims.counts.withLock { $0 }
        #expect(failures == 0, "\(failures) heartbeat(s) failed")
        #expect(Set(counted.keys) == enqueued, "claimed \(counted.count) of \(enqueued.count)")
        let twice = counted.filter { $0.value > 1 }
        #expect(twice.isEmpty, "jobs handed out more than once: \(twice)")
        let running = try rig.pg.psql("SELECT COUNT(*) FROM jobs WHERE state = 'running' AND attempt = 1", database: rig.database)
        #expect(running.trimmingCharacters(in: .whitespacesAndNewlines) == "200")
    }

    @Test("a secret rotated on replica A is refused on replica C within 1 s (LISTEN/NOTIFY), also after the database dropped every connection")
    func rotationReachesEveryReplica() async throws {
        let rig = try await Rig()
        let api = try rig.api(0)
        let pool = try await api.pool("web")
        let e = try await api.member(pool: pool.id, hostname: "web-1")
        var current = e.enrollmentSecret
        for round in 0..<2 {
            // C has the secret cached (it authenticated it just now).
            #expect(try await rig.beat(2, e, secret: current).status == 200)
            let rotated: MemberEnrollment = try await api.call("POST", "/members/\(e.member.id)/rotate-secret")
            let start = ContinuousClock.now
            var refusedAfter: Duration?
            while ContinuousClock.now - start < .seconds(5) {
                if try await rig.beat(2, e, secret: current).status == 401 { refusedAfter = ContinuousClock.now - start; break }
                try await Task.sleep(for: .milliseconds(20))
            }
            let took = try #require(refusedAfter, "round \(round): replica C still accepts the old secret 5 s after the rotation")
            #expect(took <= .seconds(1), "round \(round): replica C refused the old secret only \(took) after the rotation")
            current = rotated.enrollmentSecret
            #expect(try await rig.beat(2, e, secret: current).status == 200)
            if round == 0 {
                // Every connection of every replica is killed (a PostgreSQL failover, a proxy restart).
                _ = try rig.pg.psql("""
                    SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(rig.database)' AND pid <> pg_backend_pid()
                    """)
                try await Task.sleep(for: .milliseconds(500))
                #expect(try await rig.beat(2, e, secret: current).status == 200)
            }
        }
    }

    @Test("the database drops every connection: replicas reconnect, nothing acknowledged is lost, a leader remains")
    func connectionsKilled() async throws {
        let rig = try await Rig()
        let api = try rig.api(0)
        let pool = try await api.pool("q")
        let e = try await api.member(pool: pool.id, hostname: "q-1")
        _ = try await rig.beat(0, e)
        var acknowledged: [Int64] = []
        let killer = Task {
            for _ in 0..<5 {
                _ = try? rig.pg.psql("""
                    SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(rig.database)' AND pid <> pg_backend_pid()
                    """)
                try await Task.sleep(for: .milliseconds(150))
            }
        }
        var refused = 0
        for k in 0..<60 {
            let r: HTTPResponse
            do {
                r = try await rig.api(k % 3).raw("POST", "/members/\(e.member.id)/jobs", try JSONEncoder().encode(
                    EnqueueJobRequest(command: "host.echo", params: .object(["message": .string("\(k)")]))))
            } catch {
                Issue.record(error, "enqueue \(k) on replica \(k % 3); its log:\n\(rig.h.log("replica-\(k % 3).log"))")
                throw error
            }
            if r.status == 201 || r.status == 200 {
                acknowledged.append(try JSONDecoder().decode(JobView.self, from: Data(r.body)).id)
            } else {
                refused += 1  // an error answer is fine: the client knows it was not taken
            }
        }
        _ = await killer.result
        #expect(acknowledged.count >= 50, "only \(acknowledged.count) of 60 enqueues answered; \(refused) refused")
        let stored = try rig.pg.psql("SELECT id FROM jobs ORDER BY id", database: rig.database)
            .split(whereSeparator: \.isNewline).compactMap { Int64($0.trimmingCharacters(in: .whitespaces)) }
        #expect(Set(acknowledged).isSubset(of: Set(stored)), "acknowledged jobs missing: \(Set(acknowledged).subtracting(stored))")
        for i in 0..<3 {
            let health = try await rig.health(i)
            #expect(health.status == 200, "replica \(i): \(health.text)")
        }
        _ = try await rig.waitForLeader(among: [0, 1, 2])
        // The queue works on after it: the jobs are claimed through any replica.
        var claimed: Set<Int64> = []
        for k in 0..<20 where claimed.count < acknowledged.count {
            claimed.formUnion(try await rig.beat(k % 3, e).reply?.jobs.map(\.id) ?? [])
        }
        #expect(Set(acknowledged).isSubset(of: claimed), "acknowledged but never offered: \(Set(acknowledged).subtracting(claimed))")
    }

    @Test("kill -9 the leader while the failover delay runs: another replica leads and fails over once (one DNS UPDATE) in time")
    func leaderKilledDuringDelay() async throws {
        let rig = try await Rig()
        let api = try rig.api(0)
        let provider: DNSProviderView = try await api.call("POST", "/dns/providers", CreateDNSProviderRequest(
            name: "named", kind: .rfc2136,
            settings: ["server": "127.0.0.1", "port": "\(bind.port)", "zone": BINDServer.zone, "keyName": BINDServer.keyName],
            secret: bind.keySecretBase64))
        let pool = try await api.pool("ha")
        let name = "replicas.\(BINDServer.zone)"
        let delay = 5
        let _: FailoverSettingsView = try await api.call("PATCH", "/pools/\(pool.id)/failover", UpdateFailoverSettingsRequest(
            hostname: name, providerId: provider.id, ttl: 30, autoFailover: true, delaySec: delay, minSpacingSec: 300))
        let a = try await api.member(pool: pool.id, hostname: "app-1")
        let b = try await api.member(pool: pool.id, hostname: "app-2")
        // Both agents heartbeat every second through whichever replicas are alive.
        let live = Flag<[Int]>([0, 1, 2])
        let aBeats = Flag(true)
        let lastA = Flag(Date())
        let beater = Task {
            var n = 0
            while !Task.isCancelled {
                n += 1
                let targets = live.get()
                for (m, ip) in [(a, "81.2.69.21"), (b, "81.2.69.22")] {
                    if m.member.id == a.member.id && !aBeats.get() { continue }
                    for k in 0..<targets.count {  // an agent behind a load balancer is sent to a live replica
                        if (try? await rig.beat(targets[(n + k) % targets.count], m, publicIP: ip))?.status == 200 {
                            if m.member.id == a.member.id { lastA.set(Date()) }
                            break
                        }
                    }
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        defer { beater.cancel() }
        try await Task.sleep(for: .seconds(3))
        let made: FailoverEventView = try await api.call("POST", "/members/\(a.member.id)/make-active", MakeActiveRequest())
        #expect(made.verified == true, "\(made)")
        #expect(try bind.dig(name) == ["81.2.69.21"])
        let updatesBefore = try await bind.opcodeCount("UPDATE")

        aBeats.set(false)  // app-1 dies
        let diedAt = lastA.get()
        let leader = try await rig.waitForLeader(among: [0, 1, 2])
        try await Task.sleep(for: .seconds(2))  // into the delay
        live.set(live.get().filter { $0 != leader })
        rig.signal(leader, SIGKILL)
        let survivors = live.get()
        let killedAt = Date()

        var movedAt: Date?
        while Date().timeIntervalSince(diedAt) < 30 {
            if try bind.dig(name) == ["81.2.69.22"] { movedAt = Date(); break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let moved = try #require(movedAt, "the record never moved to app-2")
        let newLeader = try await rig.waitForLeader(among: survivors)
        #expect(newLeader != leader)
        // Detection needs the delay after app-1's silence began (3 heartbeat intervals); the new
        // leader needs up to its lease (4 s) plus a poll after the kill.
        let budget = Double(delay) + 3 + 4.5 + 2
        #expect(moved.timeIntervalSince(diedAt) <= budget,
                "record moved \(moved.timeIntervalSince(diedAt)) s after app-1 died (killed leader at +\(killedAt.timeIntervalSince(diedAt)) s)")
        try await Task.sleep(for: .seconds(3))  // any second write would land by now
        #expect(try await bind.opcodeCount("UPDATE") == updatesBefore + 1, "exactly one DNS UPDATE for the failover")
        let events: [FailoverEventView] = try await rig.api(survivors[0]).call("GET", "/pools/\(pool.id)/failover/events")
        #expect(events.filter { $0.kind == "failover" }.count == 1, "\(events.map { "\($0.kind) \($0.decidedBy ?? "")" })")
    }

    @Test("100 schedules at a minute boundary over three replicas, the leader frozen (SIGSTOP) across it and resumed: one job per schedule and due time")
    func cronExactlyOnceWithFrozenLeader() async throws {
        let rig = try await Rig()
        let api = try rig.api(0)
        let pool = try await api.pool("cron")
        var members: [MemberEnrollment] = []
        for i in 0..<10 {
            let m = try await api.member(pool: pool.id, hostname: "cron-\(i)")
            _ = try await rig.beat(i % 3, m)
            members.append(m)
        }
        for k in 0..<100 {
            let _: ScheduleView = try await rig.api(k % 3).call("POST", "/members/\(members[k % 10].member.id)/schedules", CreateScheduleRequest(
                name: "s\(k)", cron: "* * * * *", command: "host.echo", recipe: nil,
                params: .object(["message": .string("\(k)")]), enabled: true, missed: .runOnce))
        }
        // Freeze the leader 1.5 s before the next minute; resume it 8 s after (its lease is long gone).
        let t = Date().timeIntervalSince1970
        var boundary = (t / 60).rounded(.up) * 60
        if boundary - t < 4 { boundary += 60 }
        try await Task.sleep(for: .seconds(boundary - 1.5 - Date().timeIntervalSince1970))
        let leader = try await rig.waitForLeader(among: [0, 1, 2])
        rig.signal(leader, SIGSTOP)
        let others = [0, 1, 2].filter { $0 != leader }
        let newLeader = try await rig.waitForLeader(among: others)
        try await Task.sleep(for: .seconds(boundary + 8 - Date().timeIntervalSince1970))
        rig.signal(leader, SIGCONT)
        try await Task.sleep(for: .seconds(4))
        let fires = try rig.pg.psql("""
            SELECT COUNT(*), COUNT(DISTINCT schedule_id) FROM schedule_fires WHERE due_at = \(Int(boundary))
            """, database: rig.database).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(fires == "100|100", "fires at the boundary (count|distinct schedules): \(fires)")
        let jobs = try rig.pg.psql("SELECT COUNT(*) FROM jobs", database: rig.database).trimmingCharacters(in: .whitespacesAndNewlines)
        let allFires = try rig.pg.psql("SELECT COUNT(*) FROM schedule_fires", database: rig.database).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(jobs == allFires, "one job per fire: \(jobs) jobs, \(allFires) fires")
        // The resumed replica is a standby now and says so.
        #expect(try await rig.health(leader).text.contains("role: standby"))
        #expect(try await rig.health(newLeader).text.contains("role: leader"))
    }
}
