import BalctlProtocol
@testable import ControlPlane
import Foundation
import SQLEngine
import Testing
import TestSupport

/// What the control plane does with the self-update fields of a heartbeat (issue 13): a trial
/// heartbeat is recorded but claims nothing; update events land once in the reporting member's
/// own job timeline, never in another member's.
@Suite(.storeEngines) struct AgentUpdateIngestTests {
    func send(_ f: Fixture, _ e: MemberEnrollment, trial: Bool? = nil, events: [AgentUpdateEvent]? = nil) async throws -> HeartbeatOutcome {
        let agent = try await f.store.authenticateAgent(secret: e.enrollmentSecret, clientIP: Fixture.agentIP,
                                                        hostname: e.member.hostname)
        var r = f.report(e.member.hostname)
        r.updateTrial = trial
        r.updateEvents = events
        let raw = String(decoding: try JSONEncoder().encode(r), as: UTF8.self)
        return try await HeartbeatWriter(store: f.store, heartbeat: f.heartbeat, queue: f.queue)
            .record(agent, report: try HeartbeatEnvelope.read(raw), raw: raw, ip: Fixture.agentIP)
    }

    func event(_ kind: AgentUpdateEvent.Kind, id: String = "0123456789abcdef", job: Int64?) -> AgentUpdateEvent {
        AgentUpdateEvent(id: id, kind: kind, from: "0.1.0", to: "0.2.0", at: now(), message: "\(kind.rawValue) for the test", jobId: job)
    }

    @Test func aTrialHeartbeatClaimsNothing() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let job = try await f.enqueue(e.member.id)
        let trial = try await send(f, e, trial: true)
        #expect(trial.jobs.isEmpty)
        #expect(try await f.store.job(job.id, by: f.admin).state == .pending)
        let normal = try await send(f, e)
        #expect(normal.jobs.map(\.id) == [job.id])
    }

    @Test func updateEventsLandOnceInTheMembersOwnTimeline() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        let (_, other) = try await f.member(hostname: "web-2")
        try await f.beat(e, commands: ["agent.update", "host.echo"])
        try await f.beat(other)
        let mine = try await f.enqueue(e.member.id, "agent.update", .emptyObject)
        let theirs = try await f.enqueue(other.member.id)
        let events = [event(.rolledBack, id: "00000000000000a1", job: mine.id),
                      event(.updated, id: "00000000000000a2", job: theirs.id),  // another member's job: not touched
                      event(.refused, id: "00000000000000a3", job: nil)]
        _ = try await send(f, e, events: events)
        _ = try await send(f, e, events: events)  // a lost reply: sent again
        let mineEvents = try await f.store.job(mine.id, by: f.admin).events ?? []
        #expect(mineEvents.filter { $0.kind == "agent_rolled_back" }.count == 1)
        let theirEvents = try await f.store.job(theirs.id, by: f.admin).events ?? []
        #expect(!theirEvents.contains { $0.kind.hasPrefix("agent_") })
        // The events without (or with a foreign) job each get a finished agent.update job of this member.
        let own = try await f.store.listJobs(member: e.member.id, pool: nil, limit: 50, by: f.admin)
            .filter { $0.command == "agent.update" && $0.params == .object(["source": .string("agent")]) }
        #expect(own.count == 2)
        #expect(own.contains { $0.state == .completed } && own.contains { $0.state == .failed })
        #expect(try await f.count("SELECT COUNT(*) FROM jobs WHERE member_id = ? AND command = 'agent.update'", [other.member.id]) == 0)
    }

    @Test func malformedEventsAreIgnoredNotFatal() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        _ = try await send(f, e, events: [event(.updated, id: "not-hex!", job: nil)])
        #expect(try await f.count("SELECT COUNT(*) FROM jobs WHERE command = 'agent.update'") == 0)
        #expect(try await f.store.member(e.member.id, by: f.admin).heartbeat != nil)
    }

    @Test func aMemberCannotFloodTheJobTable() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        for i in 0..<30 {
            let id = String(format: "%016x", 0xf000 + i)
            _ = try await send(f, e, events: [AgentUpdateEvent(id: id, kind: .refused, from: "0.1.0", to: "0.2.0",
                                                              at: -1e18, message: String(repeating: "x", count: 5000), jobId: nil)])
        }
        #expect(try await f.count("SELECT COUNT(*) FROM jobs WHERE member_id = ? AND command = 'agent.update'", [e.member.id])
                == AgentUpdateEvents.maxStandalonePerDay)
        #expect(try await f.count("SELECT COUNT(*) FROM jobs WHERE started_at < ?", [now() - 8 * 86_400]) == 0)
        #expect(try await f.count("SELECT MAX(LENGTH(output)) FROM jobs WHERE command = 'agent.update'") <= AgentUpdateEvents.maxMessageBytes + 1)
    }
}
