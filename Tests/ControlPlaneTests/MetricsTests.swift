import BalctlPlugins
import BalctlProtocol
@testable import ControlPlane
import CurlClient
import Foundation
import ServiceLifecycle
import Testing

/// `GET /metrics` after known traffic over real HTTP: the values, and who may scrape.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct MetricsTests {
    struct Running {
        let server: ControlPlane
        let group: ServiceGroup
        let task: Task<Void, any Error>
        let base: String
        let dir: String
        func stop() async {
            await group.triggerGracefulShutdown()
            _ = await task.result
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    func start(_ configure: (inout ServerConfig) -> Void) async throws -> Running {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-metrics-\(UUID().uuidString.prefix(8))").path
        var config = ServerConfig(dataDir: dir)
        config.port = 0
        configure(&config)
        let server = try ControlPlane(config: config)
        _ = try server.store.bootstrapAdminIfNeeded()
        let (ports, sink) = AsyncStream.makeStream(of: Int.self)
        let group = try await server.serviceGroup { sink.yield($0) }
        let task = Task { try await group.run() }
        var it = ports.makeAsyncIterator()
        let port = try #require(await it.next())
        return Running(server: server, group: group, task: task, base: "http://127.0.0.1:\(port)", dir: dir)
    }

    let http = try! CurlSession(options: .init(requireHTTPS: false))

    func scrape(_ base: String, token: String?) async throws -> (status: Int, series: [String: Double]) {
        let r = try await http.request("GET", base + "/metrics", headers: token.map { [("Authorization", "Bearer \($0)")] } ?? [])
        var series: [String: Double] = [:]
        for line in String(decoding: r.body, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let v = Double(line[line.index(after: space)...]) else { continue }
            series[String(line[..<space])] = v
        }
        return (r.status, series)
    }

    static func body(_ hostname: String, inFlight: [JobRef] = []) throws -> [UInt8] {
        let report = HostReport(
            hostname: hostname, agentVersion: "0.1.0",
            os: OSInfo(family: "debian", id: "debian", versionID: "12", prettyName: "Debian 12", kernel: "6.1.0"),
            uptimeSec: 100, load: [0.1, 0.2, 0.3], cpuPercent: 5, cpuCount: 2,
            memory: MemoryInfo(totalBytes: 1000, availableBytes: 250), disks: [], publicIPv4: nil, publicIPSource: nil,
            stacks: [:], commands: ["host.echo"], jobsInFlight: inFlight)
        return Array(try JSONEncoder().encode(report))
    }

    @Test("after known traffic: heartbeats accepted and refused by reason, latencies, jobs by state, members fresh, lease expiries")
    func valuesAfterKnownTraffic() async throws {
        let token = "scrape-\(UUID().uuidString)"
        let run = try await start {
            $0.metrics = MetricsAccess(token: token)
            $0.queue.leaseSec = 1
            $0.sweepIntervalSec = 0.2
        }
        let store = run.server.store
        let admin = try #require(try await store.adminOperator())
        let pool = try await store.createPool(CreatePoolRequest(name: "edge", template: .generic), by: admin)
        let e = try await store.addMember(
            pool: pool.id, CreateMemberRequest(hostname: "web-1", allowedIPs: ["127.0.0.1"], family: .debian, role: nil),
            publicURL: run.base, by: admin)
        let auth = [("Authorization", "Bearer \(e.enrollmentSecret)"), ("Content-Type", "application/json")]
        let beat = run.base + AgentWire.heartbeatPath

        for _ in 0..<3 { #expect(try await http.request("POST", beat, headers: auth, body: Self.body("web-1")).status == 200) }
        #expect(try await http.request("POST", beat, headers: [("Authorization", "Bearer wrong")], body: Self.body("web-1")).status == 401)
        #expect(try await http.request("POST", beat, headers: auth, body: Self.body("web-2")).status == 403)
        #expect(try await http.request("POST", beat, headers: auth, body: Array("{\"hostname\":".utf8)).status == 400)

        // Two jobs enqueued, claimed by the next beat; one completes, the other's lease runs out.
        var jobs: [JobView] = []
        for _ in 0..<2 {
            jobs.append(try await store.enqueue(member: e.member.id, EnqueueJobRequest(command: "host.echo", params: .object(["message": .string("hi")])),
                                                catalogue: run.server.catalogue, policy: run.server.config.queue, by: admin))
        }
        let claimed = try await http.request("POST", beat, headers: auth, body: Self.body("web-1"))
        let reply = try JSONDecoder().decode(HeartbeatReply.self, from: Data(claimed.body))
        #expect(reply.jobs.count == 2)
        let done = JobCompletion(jobId: jobs[0].id, attempt: 1, status: .completed, exitCode: 0, output: "hi", result: nil,
                                 changed: false, error: nil, startedAt: nil, finishedAt: nil)
        #expect(try await http.request("POST", run.base + AgentWire.completePath, headers: auth,
                                       body: Array(try JSONEncoder().encode(done))).status == 200)

        // Scrapes: no token, a wrong one, the right one.
        #expect(try await scrape(run.base, token: nil).status == 401)
        #expect(try await scrape(run.base, token: "wrong").status == 401)
        var s: [String: Double] = [:]
        for _ in 0..<50 {  // the lease of the job left running runs out within ~1.2 s
            let r = try await scrape(run.base, token: token)
            #expect(r.status == 200)
            s = r.series
            if s["balctl_job_lease_expiries_total"] == 1 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(s["balctl_heartbeats_accepted_total"] == 4)
        #expect(s["balctl_heartbeats_refused_total{reason=\"unauthorized\"}"] == 1)
        #expect(s["balctl_heartbeats_refused_total{reason=\"forbidden\"}"] == 1)
        #expect(s["balctl_heartbeats_refused_total{reason=\"bad_request\"}"] == 1)
        #expect(s["balctl_heartbeats_refused_total{reason=\"too_large\"}"] == 0)
        #expect(s["balctl_heartbeat_duration_seconds_count"] == 4)
        #expect(s["balctl_job_enqueue_to_claim_seconds_count"] == 2)
        #expect(s["balctl_job_claim_to_complete_seconds_count"] == 1)
        #expect(s["balctl_job_lease_expiries_total"] == 1)
        #expect(s["balctl_jobs{state=\"completed\"}"] == 1)
        #expect(s["balctl_jobs{state=\"pending\"}"] == 1)  // offered again as attempt 2
        #expect(s["balctl_jobs{state=\"failed\"}"] == 0)
        #expect(s["balctl_members{pool_id=\"\(pool.id)\",pool=\"edge\",state=\"fresh\"}"] == 1)
        #expect(s["balctl_schedule_fires_total"] == 0)
        // A heartbeat is handled well within the histogram's top bucket.
        #expect((s["balctl_heartbeat_duration_seconds_bucket{le=\"5.0\"}"] ?? 0) == 4)
        await run.stop()
    }

    @Test("metrics are off without a token or an allow-list; the allow-list admits by source address")
    func access() async throws {
        let off = try await start { _ in }
        #expect(try await scrape(off.base, token: nil).status == 404)
        await off.stop()

        let allowed = try await start { $0.metrics = MetricsAccess(allow: [CIDR("127.0.0.1/32")!]) }
        let r = try await scrape(allowed.base, token: nil)
        #expect(r.status == 200)
        #expect(r.series["balctl_heartbeats_accepted_total"] == 0)
        await allowed.stop()

        let elsewhere = try await start { $0.metrics = MetricsAccess(allow: [CIDR("10.0.0.0/8")!]) }
        #expect(try await scrape(elsewhere.base, token: nil).status == 403)
        await elsewhere.stop()

        // Token or allow-list: a listed address needs no token; elsewhere the token is needed.
        let both = try await start { $0.metrics = MetricsAccess(token: "t0ken", allow: [CIDR("10.0.0.0/8")!]) }
        #expect(try await scrape(both.base, token: nil).status == 401)
        #expect(try await scrape(both.base, token: "t0ken").status == 200)
        await both.stop()
    }

    @Test("a pool deleted since the last scrape leaves no series behind")
    func deletedPoolSeriesGo() async throws {
        let run = try await start { $0.metrics = MetricsAccess(token: "t") }
        let store = run.server.store
        let admin = try #require(try await store.adminOperator())
        let pool = try await store.createPool(CreatePoolRequest(name: "gone", template: .generic), by: admin)
        _ = try await store.addMember(
            pool: pool.id, CreateMemberRequest(hostname: "web-9", allowedIPs: ["127.0.0.1"], family: .debian, role: nil),
            publicURL: run.base, by: admin)
        let key = "balctl_members{pool_id=\"\(pool.id)\",pool=\"gone\",state=\"never\"}"
        #expect(try await scrape(run.base, token: "t").series[key] == 1)
        try await store.deletePool(pool.id, by: admin)
        #expect(try await scrape(run.base, token: "t").series[key] == nil)
        await run.stop()
    }
}
