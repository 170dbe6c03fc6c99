import BalctlProtocol
import Foundation
import Testing
import TestSupport

/// The wake path with real processes: a server whose heartbeat interval is 10 s and a real agent
/// parked on `GET /api/agents/wait`. Without the wake a job would wait up to 10 s for the next
/// heartbeat; with it, the agent beats as soon as the job is committed and claims it.
@Suite(.serialized)
struct WakeEndToEndTests {
    @Test("with a 10 s heartbeat interval, 50 enqueued jobs are each claimed within 1 s; a cancel reaches a running job at once")
    func jobsStartWithoutWaitingForTheHeartbeat() async throws {
        let h = try Harness(extraServerArgs: ["--heartbeat-interval", "10"])
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("wake")
        let e = try await api.member(pool: pool.id, hostname: "wake-1")
        h.agents.append(try h.run(try Harness.binary("balctl-heartbeat"), [],
                                  env: h.agentEnv(secret: e.enrollmentSecret, hostname: "wake-1", stateDir: h.dir.appendingPathComponent("state").path),
                                  log: "agent.log"))
        _ = try await api.waitForHeartbeat(e.member.id)

        var delays: [Double] = []
        for i in 0..<50 {
            let job = try await api.enqueue(e.member.id, "host.echo", .object(["message": .string("job \(i)")]))
            let done = try await api.waitForJob(job.id, timeout: 15) { $0.state.isTerminal }
            #expect(done.state == .completed, "\(done.error ?? "")")
            // Both times are the server's: committed, then claimed by the agent's heartbeat.
            let delay = (done.startedAt ?? .infinity) - done.createdAt
            #expect(delay <= 1.0, "job \(i) waited \(delay) s for its claim")
            delays.append(delay)
        }
        delays.sort()
        print("enqueue → claim over \(delays.count) jobs at a 10 s interval: p50 \(Int(delays[delays.count / 2] * 1000)) ms, p99 \(Int(delays[delays.count * 99 / 100] * 1000)) ms, max \(Int(delays.last! * 1000)) ms")

        // A cancel is work too: the agent hears it within a round trip, not at the next beat.
        let long = try await api.enqueue(e.member.id, "host.echo", .object(["message": .string("long"), "delaySeconds": .number(60)]))
        _ = try await api.waitForJob(long.id, timeout: 15) { $0.state == .running }
        let asked = Date()
        let _: JobView = try await api.call("POST", "/jobs/\(long.id)/cancel")
        let cancelled = try await api.waitForJob(long.id, timeout: 15) { $0.state.isTerminal }
        #expect(cancelled.state == .cancelled, "\(cancelled.state)")
        #expect(Date().timeIntervalSince(asked) < 5, "the cancel took \(Date().timeIntervalSince(asked)) s")
    }
}
