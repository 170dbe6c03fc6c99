import BalctlProtocol
import ControlPlane
import Foundation
import Testing

/// The agent binary's own lifecycle: enrolment file, --once, SIGTERM with a grace period, and the
/// operator CLI against a real server.
@Suite(.serialized)
struct AgentLifecycleTests {
    @Test("--enrol writes agent.env with mode 600; the agent then runs from it with --once")
    func enrolThenOnce() async throws {
        let h = try Harness()
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("enrol")
        let e = try await api.member(pool: pool.id, hostname: "fresh-1")
        let envFile = h.dir.appendingPathComponent("etc/agent.env").path
        let enrol = try h.run(try Harness.binary("balctl-heartbeat"), [
            "--enrol", "--key", e.enrollmentSecret, "--hostname", "fresh-1", "--api-base", h.base,
            "--ca-file", h.tls.caCert, "--env-file", envFile,
        ], log: "enrol.log")
        enrol.waitUntilExit()
        #expect(enrol.terminationStatus == 0)
        let attrs = try FileManager.default.attributesOfItem(atPath: envFile)
        #expect((attrs[.posixPermissions] as? Int) == 0o600)
        let text = try String(contentsOfFile: envFile, encoding: .utf8)
        #expect(text.contains("BALCTL_ENROLLMENT_SECRET=\(e.enrollmentSecret)"))
        #expect(text.contains("BALCTL_API_BASE=\(h.base)"))

        // Refuses a plaintext API base or a malformed key, writing nothing.
        let plainFile = h.dir.appendingPathComponent("plain.env").path
        let plain = try h.run(try Harness.binary("balctl-heartbeat"), [
            "--enrol", "--key", e.enrollmentSecret, "--hostname", "fresh-1", "--api-base", "http://x", "--env-file", plainFile,
        ], log: "enrol-plain.log")
        plain.waitUntilExit()
        #expect(plain.terminationStatus != 0)
        #expect(!FileManager.default.fileExists(atPath: plainFile))

        // A job queued before the first heartbeat cannot be (commands unknown): beat once first.
        let stateDir = h.dir.appendingPathComponent("once-state").path
        let env = ["BALCTL_ENV_FILE": envFile, "BALCTL_STATE_DIR": stateDir]
        let first = try h.run(try Harness.binary("balctl-heartbeat"), ["--once"], env: env, log: "once1.log")
        first.waitUntilExit()
        #expect(first.terminationStatus == 0, "\(h.log("once1.log"))")
        let job = try await api.enqueue(e.member.id, "host.echo", .object(["message": .string("once")]))
        let second = try h.run(try Harness.binary("balctl-heartbeat"), ["--once"], env: env, log: "once2.log")
        second.waitUntilExit()
        #expect(second.terminationStatus == 0)
        #expect(try await api.job(job.id).state == .completed, "--once runs the claimed job to the end")
        let failing = try await api.enqueue(e.member.id, "host.echo", .object(["message": .string("no"), "fail": .bool(true)]))
        let third = try h.run(try Harness.binary("balctl-heartbeat"), ["--once"], env: env, log: "once3.log")
        third.waitUntilExit()
        #expect(third.terminationStatus == 1, "a failed job makes --once exit non-zero")
        #expect(try await api.job(failing.id).state == .failed)
    }

    @Test("SIGTERM: a job that finishes within the grace period completes; one that does not is reported interrupted and re-offered at once")
    func gracefulShutdown() async throws {
        let h = try Harness()
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("term")
        let e = try await api.member(pool: pool.id, hostname: "term-1")
        let agent = try h.startAgent(e, log: "agent-term.log")  // grace: 5 s (Harness)
        _ = try await api.waitForHeartbeat(e.member.id)
        let short = try await api.enqueue(e.member.id, "host.echo", .object(["message": .string("short"), "delaySeconds": .number(2)]))
        let long = try await api.enqueue(e.member.id, "host.echo", .object(["message": .string("long"), "delaySeconds": .number(60)]))
        _ = try await api.waitForJob(long.id) { $0.state == .running }
        _ = try await api.waitForJob(short.id) { $0.state == .running }
        let sent = Date()
        kill(agent.processIdentifier, SIGTERM)
        agent.waitUntilExit()
        #expect(agent.terminationStatus == 0)
        #expect(Date().timeIntervalSince(sent) < 15, "the agent stops within the grace period")
        #expect(try await api.job(short.id).state == .completed)
        let lost = try await api.job(long.id)
        #expect(lost.state == .pending && lost.attempt == 2, "re-offered at once, not after the 30 s lease")
        #expect(lost.events?.contains { $0.kind == "interrupted" && $0.attempt == 1 } == true)
    }

    @Test("the balctl CLI: tables, --json, follow, and clear errors with non-zero exit")
    func cli() async throws {
        let h = try Harness()
        try await h.startServer()
        let env = ["BALCTL_SERVER": h.base, "BALCTL_TOKEN": h.adminToken, "BALCTL_CA_FILE": h.tls.caCert]
        func balctl(_ args: [String], env extra: [String: String] = [:]) async throws -> (Int32, String) {
            let r = try await Harness.cli(args, env: env.merging(extra) { $1 })
            return (r.status, r.stdout + r.stderr)
        }
        var (code, out) = try await balctl(["pools", "create", "cli-pool", "--template", "haproxy"])
        #expect(code == 0 && out.contains("created pool 1 'cli-pool' (haproxy)"))
        (code, out) = try await balctl(["members", "add", "--pool", "1", "--hostname", "cli-host", "--ip", "127.0.0.1", "--json"])
        #expect(code == 0)
        let enrollment = try JSONDecoder().decode(MemberEnrollment.self, from: Data(out.utf8))
        #expect(enrollment.member.role == "haproxy-balancer")
        (code, out) = try await balctl(["members", "list"])
        #expect(code == 0 && out.contains("HOSTNAME") && out.contains("cli-host") && out.contains("never"))

        try h.startAgent(enrollment)
        _ = try await h.api().waitForHeartbeat(enrollment.member.id)
        (code, out) = try await balctl(["jobs", "enqueue", "--member", "1", "host.echo", "--params", #"{"message":"from the cli"}"#, "--follow"])
        #expect(code == 0, "\(out)")
        #expect(out.contains("completed") && out.contains("from the cli"))
        (code, out) = try await balctl(["jobs", "enqueue", "--member", "1", "host.echo", "--params", #"{"message":"x","fail":true}"#, "--follow"])
        #expect(code == 1, "following a failed job exits non-zero")
        (code, out) = try await balctl(["jobs", "list", "--member", "1"])
        #expect(code == 0 && out.contains("completed") && out.contains("failed"))

        (code, out) = try await balctl(["jobs", "enqueue", "--member", "1", "host.nope"])
        #expect(code == 1 && out.contains("unknown command 'host.nope'") && out.contains("HTTP 400"))
        (code, out) = try await balctl(["pools", "list"], env: ["BALCTL_TOKEN": "bct_" + String(repeating: "1", count: 40)])
        #expect(code == 1 && out.contains("HTTP 401"))
        (code, out) = try await balctl(["pools", "delete", "1"])
        #expect(code != 0 && out.contains("--yes"), "deleting without confirmation is refused")
        (code, out) = try await balctl(["pools", "delete", "1", "--yes"])
        #expect(code == 0)
        (code, out) = try await balctl(["pools", "list", "--json"])
        #expect(try JSONDecoder().decode([PoolView].self, from: Data(out.utf8)).isEmpty)
        (code, out) = try await balctl(["pools", "list"], env: ["BALCTL_SERVER": "http://203.0.113.1:1"])
        #expect(code != 0 && out.contains("refusing plaintext"))
    }
}
