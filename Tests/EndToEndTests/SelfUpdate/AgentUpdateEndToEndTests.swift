import BalctlProtocol
import ControlPlane
import Foundation
import Testing

/// Self-update through the real control plane (issue 13): a server serves a bundle for a newer
/// version over HTTPS; an installed agent takes the `agent.update` job, restarts into the new
/// version, and heartbeats; a new binary that never heartbeats is rolled back, and the rollback
/// reaches the job timeline from the old binary.
@Suite(.serialized) struct AgentUpdateEndToEndTests {
    static let next = "99.0.0"

    struct Setup {
        let kit: UpdateKit
        let harness: Harness
        let enrollment: MemberEnrollment
        let host: (binary: String, state: String)
        let agent: Process
    }

    /// A server serving `bundle`, a member, and the installed agent running as the service would.
    static func start(_ name: String, bundle: (UpdateKit) throws -> URL, rollbackSec: Int = 60,
                      extraEnv: [String: String] = [:]) async throws -> Setup {
        let kit = try UpdateKit()
        let dir = try bundle(kit)
        let h = try Harness(extraServerArgs: ["--agent-bundle", dir.path])
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("updates-\(name)")
        let e = try await api.member(pool: pool.id, hostname: "vm-\(name)")
        let host = try kit.install(name)
        var env = h.agentEnv(secret: e.enrollmentSecret, hostname: e.member.hostname, stateDir: host.state)
        env["BALCTL_UPDATE_PUBKEY"] = kit.publicKey
        env["BALCTL_UPDATE_ROLLBACK_SEC"] = "\(rollbackSec)"
        env.merge(extraEnv) { $1 }
        let agent = try h.run(host.binary, [], env: env, log: "agent.log")
        h.agents.append(agent)
        _ = try await api.waitForHeartbeat(e.member.id)
        return Setup(kit: kit, harness: h, enrollment: e, host: host, agent: agent)
    }

    static func waitForVersion(_ s: Setup, _ version: String, timeout: Double = 30) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try await s.harness.api().memberView(s.enrollment.member.id).heartbeat?.agentVersion == version { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw Harness.HarnessError("the member never heartbeat at \(version):\n\(s.harness.log("agent.log"))")
    }

    @Test func updateJobBringsTheAgentToTheNewVersion() async throws {
        let s = try await Self.start("happy") { try $0.bundle("next", version: Self.next) }
        let api = try s.harness.api()
        // Before: the member list flags the agent as outdated.
        let listed = try s.harness.balctl(["members", "list"])
        #expect(listed.text.contains("\(BalctlVersion.current) (outdated: \(Self.next))"), "\(listed.text)")

        let enqueued = Date()
        let job = try await api.enqueue(s.enrollment.member.id, "agent.update", .emptyObject)
        try await Self.waitForVersion(s, Self.next)
        let seconds = Date().timeIntervalSince(enqueued)
        print("agent.update enqueued → first heartbeat of \(Self.next): \(String(format: "%.2f", seconds)) s")
        #expect(seconds < 10, "the update took \(seconds) s")

        let done = try await api.waitForJob(job.id, timeout: 30) { j in j.events?.contains { $0.kind == "agent_updated" } == true }
        #expect(done.state == .completed)
        #expect(done.output?.contains("installed \(Self.next)") == true, "\(done.output ?? "")")
        // The same process (exec), now running the new binary; it keeps heartbeating.
        #expect(s.agent.isRunning)
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.host.binary)) == s.kit.bundledBinary(s.kit.dir.appendingPathComponent("bundles/next")))
        #expect(try String(contentsOfFile: s.host.state + "/update/highest-version", encoding: .utf8) == "\(Self.next)\n")
        #expect(!FileManager.default.fileExists(atPath: s.host.state + "/update/pending.json"))
        let after = try s.harness.balctl(["members", "list"])
        #expect(after.text.contains(Self.next) && !after.text.contains("outdated"), "\(after.text)")

        // A second run finds nothing to do.
        let again = try await api.enqueue(s.enrollment.member.id, "agent.update", .emptyObject)
        let second = try await api.waitForJob(again.id, timeout: 20) { $0.state == .completed || $0.state == .failed }
        #expect(second.state == .completed && second.changed == false, "\(second.output ?? "")")
    }

    @Test func aBuildThatExitsAtStartIsRolledBack() async throws {
        let s = try await Self.start("exits", bundle: { kit in
            // A "build" that exits at once, carrying a version stamp like a real one.
            let script = kit.dir.appendingPathComponent("broken-agent")
            var bytes = Data("#!/bin/sh\necho broken build >&2\nexit 3\n#".utf8)
            bytes += Data(AgentBundleBuilder.stampMarker) + Data("0.0.1".utf8) + Data(repeating: 0, count: 40)
            try bytes.write(to: script)
            return try kit.bundle("broken", version: Self.next, binary: script.path)
        }, rollbackSec: 10)
        let api = try s.harness.api()
        let before = try Data(contentsOf: URL(fileURLWithPath: s.host.binary))
        let job = try await api.enqueue(s.enrollment.member.id, "agent.update", .emptyObject)
        let done = try await api.waitForJob(job.id, timeout: 30) { j in j.events?.contains { $0.kind == "agent_rolled_back" } == true }
        let event = try #require(done.events?.first { $0.kind == "agent_rolled_back" })
        #expect(event.message?.contains("exited with status 3") == true, "\(event.message ?? "")")
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.host.binary)) == before)
        #expect(s.agent.isRunning)
        // The old binary is back and heartbeating.
        let hb = try await api.waitForHeartbeat(s.enrollment.member.id)
        #expect(hb.agentVersion == BalctlVersion.current)
    }

    @Test func aNewVersionPointedAtADeadAPIIsRolledBack() async throws {
        let s = try await Self.start("dead-api", bundle: { kit in
            // A build that starts fine but talks to an address where nothing listens.
            let wrapper = kit.dir.appendingPathComponent("dead-api-agent")
            var bytes = Data("#!/bin/sh\nBALCTL_API_BASE=https://127.0.0.1:1 exec '\(try Harness.binary("balctl-heartbeat"))' \"$@\"\n#".utf8)
            bytes += Data(AgentBundleBuilder.stampMarker) + Data("0.0.1".utf8) + Data(repeating: 0, count: 40)
            try bytes.write(to: wrapper)
            return try kit.bundle("dead-api", version: Self.next, binary: wrapper.path)
        }, rollbackSec: 4)
        let api = try s.harness.api()
        let before = try Data(contentsOf: URL(fileURLWithPath: s.host.binary))
        let started = Date()
        let job = try await api.enqueue(s.enrollment.member.id, "agent.update", .emptyObject)
        let done = try await api.waitForJob(job.id, timeout: 30) { j in j.events?.contains { $0.kind == "agent_rolled_back" } == true }
        let event = try #require(done.events?.first { $0.kind == "agent_rolled_back" })
        #expect(event.message?.contains("no heartbeat accepted within the rollback deadline") == true, "\(event.message ?? "")")
        #expect(Date().timeIntervalSince(started) < 15)
        #expect(done.events?.filter { $0.kind == "agent_rolled_back" }.count == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.host.binary)) == before)
        #expect(try await api.waitForHeartbeat(s.enrollment.member.id).agentVersion == BalctlVersion.current)
    }

    /// BALCTL_AUTO_UPDATE=1: the agent follows the version the heartbeat reply advertises, and
    /// the outcome shows in the member's timeline as an agent.update job of its own.
    @Test func autoUpdateFollowsTheAdvertisedVersion() async throws {
        let s = try await Self.start("auto", bundle: { try $0.bundle("next", version: Self.next) },
                                     extraEnv: ["BALCTL_AUTO_UPDATE": "1"])
        try await Self.waitForVersion(s, Self.next)
        let api = try s.harness.api()
        let deadline = Date().addingTimeInterval(20)
        var recorded: [JobView] = []
        while Date() < deadline {
            recorded = try await api.call("GET", "/members/\(s.enrollment.member.id)/jobs")
            if recorded.contains(where: { $0.command == "agent.update" && $0.state == .completed }) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let listed = try #require(recorded.first { $0.command == "agent.update" }, "\(recorded.map(\.command))")
        let job = try await api.job(listed.id)
        #expect(job.output?.contains("updated from \(BalctlVersion.current) to \(Self.next)") == true, "\(job.output ?? "")")
        #expect(s.agent.isRunning)
    }
}
