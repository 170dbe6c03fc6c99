import BalctlProtocol
@testable import ControlPlane
import Foundation
import Logging
import SQLEngine
import Testing
import TestSupport

/// Issue 22: one leader for the singletons, chosen by the `leader_lease` row; its fencing token
/// refuses a deposed leader's writes inside their own transactions.
@Suite("Leader lease and fence", .storeEngines)
struct LeaderLeaseTests {
    /// Long leases by default: the tests end them by hand (`expire`), so a slow machine cannot
    /// end one between two steps.
    static func lease(_ store: Store, _ holder: String, ttl: Double = 60) -> LeaderLease {
        var p = LeaderLease.Policy()
        p.ttlSec = ttl
        p.marginSec = 0.2
        return LeaderLease(db: store.db, holder: holder, policy: p, logger: Logger(label: "test"))
    }

    /// Makes the current holder's lease run out now (a leader that stopped renewing, ttl later).
    static func expire(_ store: Store) async throws {
        try await store.db.write { try $0.execute("UPDATE leader_lease SET expires_at = 0") }
    }

    @Test("a standby takes the lease only once the leader's runs out, with a newer token; the old token is refused by the fence")
    func takeoverAndFence() async throws {
        let f = try await Fixture()
        let other = try f.openStore()
        let a = Self.lease(f.store, "replica-a"), b = Self.lease(other, "replica-b")
        #expect(try await a.round() == .leader)
        let tokenA = try #require(a.fence())
        if f.store.db.dialect == .postgres {
            // On a shared database the lease is exclusive while it runs.
            #expect(try await b.round() == .standby)
            #expect(b.fence() == nil)
            #expect(try await a.round() == .leader, "renewing keeps the token")
            #expect(a.fence() == tokenA)
            try await Self.expire(f.store)
        }
        #expect(try await b.round() == .leader)
        let tokenB = try #require(b.fence())
        #expect(tokenB.token > tokenA.token)
        // A still believes it leads (it has not looked since): the database refuses it.
        #expect(a.fence() != nil)
        await #expect(throws: NotLeader.self) { try await f.store.db.write { try tokenA.check($0) } }
        try await f.store.db.write { try tokenB.check($0) }
        guard f.store.db.dialect == .postgres else { return }  // SQLite: one process; a second one takes the lease back
        // And A learns it at its next round.
        #expect(try await a.round() == .standby)
        #expect(a.fence() == nil)
        #expect(a.changes == 2 && b.changes == 1)
    }

    @Test("a deposed leader's late schedule fire and sweep write nothing; the new leader's fire once")
    func lateSingletonWritesAreRefused() async throws {
        let f = try await Fixture()
        let e = try await f.member().enrollment
        try await f.beat(e)
        let a = Self.lease(f.store, "replica-a"), b = Self.lease(try f.openStore(), "replica-b")
        _ = try await a.round()
        let tokenA = try #require(a.fence())
        let schedule = try await f.store.createSchedule(
            member: e.member.id,
            CreateScheduleRequest(name: "every-minute", cron: "* * * * *", command: "host.echo", recipe: nil,
                                  params: .object(["message": .string("tick")]), enabled: true, missed: .skip),
            recipes: [:], catalogue: f.catalogue, policy: f.queue, by: f.admin)
        let due = try #require(schedule.nextRunAt)
        try await Self.expire(f.store)
        _ = try await b.round()
        let tokenB = try #require(b.fence())

        let at = Date(timeIntervalSince1970: due + 1)
        await #expect(throws: NotLeader.self) {
            _ = try await f.store.schedulerTick(now: at, recipes: [:], catalogue: f.catalogue, policy: f.queue, fence: tokenA)
        }
        #expect(try await f.count("SELECT COUNT(*) FROM jobs") == 0)
        #expect(try await f.store.schedulerTick(now: at, recipes: [:], catalogue: f.catalogue, policy: f.queue, fence: tokenB) == 1)
        #expect(try await f.count("SELECT COUNT(*) FROM jobs") == 1)

        // A running job whose lease ran out: only the leader's sweep may move it.
        let claimed = try await f.beat(e).jobs
        #expect(claimed.count == 1)
        let late = now() + Double(f.queue.leaseSec) + 5
        await #expect(throws: NotLeader.self) { _ = try await f.store.sweep(at: late, policy: f.queue, fence: tokenA) }
        #expect(try await f.count("SELECT COUNT(*) FROM jobs WHERE state = 'running'") == 1)
        #expect(try await f.store.sweep(at: late, policy: f.queue, fence: tokenB) == 1)
        #expect(try await f.count("SELECT COUNT(*) FROM jobs WHERE state = 'pending'") == 1)
    }

    @Test("a leader that resigns is replaced at the standby's next round; a silent one within its lease (by the database's clock)")
    func resignAndTimedTakeover() async throws {
        let f = try await Fixture()
        let other = try f.openStore()
        let a = Self.lease(f.store, "replica-a", ttl: 2), b = Self.lease(other, "replica-b", ttl: 2)
        _ = try await a.round()
        await a.resign()
        #expect(a.fence() == nil)
        #expect(try await b.round() == .leader)
        guard f.store.db.dialect == .postgres else { return }  // SQLite: one process, it takes over at once anyway
        // B goes silent (no more rounds): A polls as a standby would and takes over after the
        // 2 s lease, not before.
        let silentAt = ContinuousClock.now
        var tookAfter: Duration?
        while ContinuousClock.now - silentAt < .seconds(10) {
            if try await a.round() == .leader { tookAfter = ContinuousClock.now - silentAt; break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let took = try #require(tookAfter)
        #expect(took >= .milliseconds(1500), "took the lease \(took) after the last renewal: before it ran out")
        // Liveness, with room for a loaded machine: the lease (2 s) plus polls.
        #expect(took <= .seconds(6), "took the lease \(took) after the last renewal")
    }
}
