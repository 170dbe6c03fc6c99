import BalctlProtocol
@testable import ControlPlane
import Foundation
import SQLEngine
import Testing
import TestSupport

/// The wake hub behind `GET /api/agents/wait`, fed by the database at commit (SQLite: the
/// transaction observer; PostgreSQL: the `jobs` triggers' NOTIFY, heard by the listener).
@Suite("Agent wake", .timeLimit(.minutes(1)), .storeEngines)
struct AgentWakeTests {
    /// The hub attached to the fixture's store, listening (PostgreSQL) before it is returned.
    func attachedHub(_ f: Fixture) async throws -> (AgentWakeHub, Task<Void, any Error>?) {
        let hub = AgentWakeHub()
        guard let listener = hub.attach(to: f.store.db) else { return (hub, nil) }
        let task = Task { try await listener.run() }
        // The listener wakes every parked agent once its LISTEN is in place: park a stand-in.
        for _ in 0..<100 {
            if await hub.wait(member: -1, timeoutSec: 0.1) { break }
        }
        return (hub, task)
    }

    func parked(_ hub: AgentWakeHub, _ count: Int) async {
        for _ in 0..<200 where hub.waiting < count { try? await Task.sleep(for: .milliseconds(5)) }
    }

    @Test("a committed job wakes its own member's wait at once, and only that one; a cancel wakes too")
    func committedWorkWakesItsMember() async throws {
        let f = try await Fixture()
        let (hub, listener) = try await attachedHub(f)
        defer { listener?.cancel() }
        let a = try await f.member(hostname: "a").enrollment
        let b = try await f.member(hostname: "b").enrollment
        try await f.beat(a)
        try await f.beat(b)

        async let aWoken = hub.wait(member: a.member.id, timeoutSec: 10)
        await parked(hub, 1)
        #expect(hub.waiting == 1)
        _ = try await f.enqueue(b.member.id)
        try await Task.sleep(for: .milliseconds(200))
        #expect(hub.waiting == 1, "b's job must not wake a")
        let t0 = Date()
        let job = try await f.enqueue(a.member.id)
        #expect(await aWoken)
        #expect(Date().timeIntervalSince(t0) < 1)

        // b had work while it was not waiting: its next wait answers at once.
        #expect(await hub.wait(member: b.member.id, timeoutSec: 5))
        // Nothing for a now: its wait runs out and says so.
        let t1 = Date()
        #expect(await hub.wait(member: a.member.id, timeoutSec: 0.3) == false)
        #expect(Date().timeIntervalSince(t1) >= 0.25)

        // A running job's cancel is work for its agent too.
        let claimed = try await f.beat(a)
        #expect(claimed.jobs.map(\.id) == [job.id])
        async let cancelWoken = hub.wait(member: a.member.id, timeoutSec: 10)
        await parked(hub, 1)
        _ = try await f.store.cancelJob(job.id, by: f.admin)
        #expect(await cancelWoken)
    }

    @Test("a second wait of the same member answers the first with false; a rolled-back insert wakes no one")
    func displacedWaitsAndRollbacks() async throws {
        let f = try await Fixture()
        let (hub, listener) = try await attachedHub(f)
        defer { listener?.cancel() }
        let a = try await f.member(hostname: "a").enrollment
        try await f.beat(a)
        async let first = hub.wait(member: a.member.id, timeoutSec: 10)
        await parked(hub, 1)
        async let second = hub.wait(member: a.member.id, timeoutSec: 10)
        #expect(await first == false)
        await parked(hub, 1)

        // A job inserted by a transaction that then fails is never seen: no wake.
        struct Abort: Error {}
        let job = try await f.enqueue(a.member.id)
        #expect(await second)
        async let third = hub.wait(member: a.member.id, timeoutSec: 0.5)
        await parked(hub, 1)
        do {
            try await f.store.db.write { db in
                try db.execute("""
                    INSERT INTO jobs(account_id, pool_id, member_id, command, params, priority, max_attempts, timeout_sec,
                                     check_mode, state, attempt, created_at)
                    SELECT account_id, pool_id, member_id, command, params, priority, max_attempts, timeout_sec,
                           check_mode, 'pending', 1, created_at FROM jobs WHERE id = ?
                    """, job.id)
                throw Abort()
            }
        } catch is Abort {}
        #expect(await third == false)
    }
}

@Suite("Agent wake: shutdown")
struct AgentWakeShutdownTests {
    @Test("close answers every parked wait at once and parks none after it")
    func closeReleasesWaiters() async {
        let hub = AgentWakeHub()
        async let a = hub.wait(member: 1, timeoutSec: 30)
        async let b = hub.wait(member: 2, timeoutSec: 30)
        for _ in 0..<200 where hub.waiting < 2 { try? await Task.sleep(for: .milliseconds(5)) }
        let t0 = Date()
        hub.close()
        #expect(await a == false)
        #expect(await b == false)
        #expect(await hub.wait(member: 3, timeoutSec: 30) == false)
        #expect(Date().timeIntervalSince(t0) < 1)
        #expect(hub.waiting == 0)
    }
}
