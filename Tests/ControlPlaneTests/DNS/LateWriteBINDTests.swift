import BalctlProtocol
@testable import ControlPlane
import Foundation
import Logging
import SQLEngine
import ServiceLaunchers
import Synchronization
import Testing
import TestSupport

/// Issue 22: a leader that stalls between deciding a failover and writing DNS (a SIGSTOP, a GC
/// pause, a VM frozen by its host) wakes up after another replica took over. Its late write must
/// not undo what happened since: the RFC 2136 UPDATE carries the prerequisite that the record
/// still holds the address its decision saw, and the pool's lease has moved on. Two control
/// planes on one database, one real `named`.
@Suite("A deposed leader's late DNS write", .serialized, .bindServer, .storeEngines)
struct LateWriteBINDTests {
    let bind: BINDServer
    init() throws { bind = try BINDServer.shared() }

    /// Holds a writer at `beforeWrite` until released.
    final class Gate: Sendable {
        let arrived: AsyncStream<Void>
        private let arrive: AsyncStream<Void>.Continuation
        private let waiting = Mutex<CheckedContinuation<Void, Never>?>(nil)
        init() { (arrived, arrive) = AsyncStream.makeStream() }
        func hold() async {
            await withCheckedContinuation { c in
                waiting.withLock { $0 = c }
                arrive.yield()
            }
        }
        func release() { waiting.withLock { $0.take() }?.resume() }
    }

    static func lease(_ store: Store, _ holder: String) -> LeaderLease {
        LeaderLease(db: store.db, holder: holder, logger: Logger(label: "test"))
    }

    /// Replica A leads and ticks after lb-1 died: it decides a failover and freezes right before
    /// its DNS write (held at `beforeWrite` until `gate.release()`). Replica B, on its own store,
    /// is a standby until the caller ends A's lease.
    func stallLeader(_ s: FailoverBINDTests.Setup) async throws
        -> (gate: Gate, stalled: Task<[FailoverAction], any Error>, leaseB: LeaderLease, replicaB: Failover) {
        let storeB = try s.f.openStore()
        let leaseA = Self.lease(s.f.store, "replica-a"), leaseB = Self.lease(storeB, "replica-b")
        #expect(try await leaseA.round() == .leader)
        let gate = Gate()
        let replicaA = Failover(store: s.f.store, box: s.box, heartbeatIntervalSec: 1, logger: Logger(label: "a"),
                                startedAt: now() - 3600, owner: "replica-a", leader: leaseA, beforeWrite: { _ in await gate.hold() })
        let replicaB = Failover(store: storeB, box: s.box, heartbeatIntervalSec: 1, logger: Logger(label: "b"),
                                startedAt: now() - 3600, owner: "replica-b", leader: leaseB)
        try await FailoverBINDTests().age(s, s.a, by: 11)
        let stalled = Task { try await replicaA.tick() }
        var arrivals = gate.arrived.makeAsyncIterator()
        _ = await arrivals.next()  // A decided (a standby is active in the database) and is frozen
        return (gate, stalled, leaseB, replicaB)
    }

    @Test("the stalled leader's write finds the record changed and writes nothing; the record ends where the new leader and the operator put it")
    func lateWriteIsHarmless() async throws {
        let s = try await FailoverBINDTests().setup("late")
        let c = try await s.f.member(pool: "edge", hostname: "lb-3").enrollment
        try await s.f.beat(c, publicIP: "81.2.69.13", stacks: FailoverBINDTests.haproxyUp)
        _ = try await s.failover.makeActive(member: s.a.member.id, force: false, by: s.f.admin)
        #expect(try bind.dig(s.name) == ["81.2.69.11"])

        let (gate, stalled, leaseB, replicaB) = try await stallLeader(s)
        let promoted = try #require(try await s.f.store.db.read {
            try Int64.fetchOne($0, sql: "SELECT active_member_id FROM pool_failover WHERE pool_id = ?", arguments: [s.pool.id])
        })
        let ips: [Int64: String] = [s.b.member.id: "81.2.69.12", c.member.id: "81.2.69.13"]
        let owed = try #require(ips[promoted])
        let other = promoted == c.member.id ? s.b.member.id : c.member.id

        // A's lease runs out; B takes over and finishes the failover A left owed.
        try await LeaderLeaseTests.expire(s.f.store)
        #expect(try await leaseB.round() == .leader)
        try await s.f.beat(s.b, publicIP: "81.2.69.12", stacks: FailoverBINDTests.haproxyUp)
        try await s.f.beat(c, publicIP: "81.2.69.13", stacks: FailoverBINDTests.haproxyUp)
        _ = try await replicaB.tick()
        #expect(try bind.dig(s.name) == [owed], "the new leader writes the address the old one owed")
        // Then an operator moves the pool on to the other standby.
        let moved = try await replicaB.makeActive(member: other, force: false, by: s.f.admin)
        #expect(moved.verified == true, "\(moved)")
        let serial = try bind.serial()

        // A wakes up: its write (the owed address, over lb-1's) must change nothing.
        gate.release()
        _ = try await stalled.value
        #expect(try bind.dig(s.name) == [ips[other]!])
        #expect(try bind.serial() == serial, "the zone was not written again")
        let events = try await s.f.store.failoverEvents(pool: s.pool.id, limit: 20, by: s.f.admin)
        let late = try #require(events.first { $0.decidedBy == "replica-a" && $0.kind == "failover" })
        #expect(late.error?.contains("superseded") == true && late.error?.contains("owed to DNS again") == true, "\(late)")
        #expect(late.dnsWrittenAt == nil)
        let pool = try await s.f.store.db.read { try SQLRow.fetchOne($0, sql: "SELECT * FROM pool_failover WHERE pool_id = ?", arguments: [s.pool.id]) }
        #expect(pool?["active_ip"] as String? == ips[other])
        #expect(pool?["active_member_id"] as Int64? == other)
        // A's write went out, so the pool's address is owed again; the leader's rewrite changes nothing.
        #expect(pool?["pending_ip"] as String? == ips[other])
        try await s.f.beat(c, publicIP: "81.2.69.13", stacks: FailoverBINDTests.haproxyUp)
        try await s.f.beat(s.b, publicIP: "81.2.69.12", stacks: FailoverBINDTests.haproxyUp)
        _ = try await replicaB.tick()
        #expect(try bind.dig(s.name) == [ips[other]!])
        let settled = try await s.f.store.db.read { try SQLRow.fetchOne($0, sql: "SELECT pending_ip FROM pool_failover WHERE pool_id = ?", arguments: [s.pool.id]) }
        #expect(settled?["pending_ip"] as String? == nil)
    }

    @Test("red team (issue 22): the record came back to the address the stalled leader saw (A→B→A); its late write lands, and the leader's next tick puts the record back")
    func lateWriteABAIsRepaired() async throws {
        let s = try await FailoverBINDTests().setup("aba")
        _ = try await s.failover.makeActive(member: s.a.member.id, force: false, by: s.f.admin)
        let (gate, stalled, leaseB, replicaB) = try await stallLeader(s)
        // B leads and finishes the owed write; lb-1 comes back and an operator moves the pool back to it.
        try await LeaderLeaseTests.expire(s.f.store)
        #expect(try await leaseB.round() == .leader)
        try await s.f.beat(s.b, publicIP: "81.2.69.12", stacks: FailoverBINDTests.haproxyUp)
        _ = try await replicaB.tick()
        #expect(try bind.dig(s.name) == ["81.2.69.12"])
        try await s.f.beat(s.a, publicIP: "81.2.69.11", stacks: FailoverBINDTests.haproxyUp)
        let back = try await replicaB.makeActive(member: s.a.member.id, force: false, by: s.f.admin)
        #expect(back.verified == true, "\(back)")
        // A wakes: "81.2.69.12 replacing 81.2.69.11" holds again, so it lands…
        gate.release()
        _ = try await stalled.value
        let late = try #require(try await s.f.store.failoverEvents(pool: s.pool.id, limit: 20, by: s.f.admin)
            .first { $0.decidedBy == "replica-a" && $0.kind == "failover" })
        #expect(late.error?.contains("owed to DNS again") == true, "\(late)")
        // …and the leader's next tick writes the pool's address back.
        try await s.f.beat(s.a, publicIP: "81.2.69.11", stacks: FailoverBINDTests.haproxyUp)
        _ = try await replicaB.tick()
        #expect(try bind.dig(s.name) == ["81.2.69.11"])
        let pool = try await s.f.store.db.read { try SQLRow.fetchOne($0, sql: "SELECT * FROM pool_failover WHERE pool_id = ?", arguments: [s.pool.id]) }
        #expect(pool?["active_member_id"] as Int64? == s.a.member.id)
        #expect(pool?["pending_ip"] as String? == nil)
    }

    @Test("a write over an address changed outside balctl still happens while the writer holds the pool (failover must not stall)")
    func outOfBandChangeIsOverwritten() async throws {
        let s = try await FailoverBINDTests().setup("oob")
        _ = try await s.failover.makeActive(member: s.a.member.id, force: false, by: s.f.admin)
        // Someone edits the record by hand.
        let provider = try await s.f.store.db.read { db in
            try Store.provider(db, id: try #require(try Int64.fetchOne(db, sql: "SELECT provider_id FROM pool_failover")), box: s.box)
        }
        _ = try await provider.setA(name: s.name, ip: IPv4("192.0.2.77")!, ttl: 30, proxied: false)
        await #expect(throws: DNSProviderError.self) {
            _ = try await provider.setA(name: s.name, ip: IPv4("81.2.69.12")!, ttl: 30, proxied: false, replacing: IPv4("81.2.69.11")!)
        }
        #expect(try bind.dig(s.name) == ["192.0.2.77"], "the prerequisite held the conditional write back")
        try await FailoverBINDTests().age(s, s.a, by: 11)
        _ = try await s.failover.tick()
        #expect(try bind.dig(s.name) == ["81.2.69.12"])
        let event = try #require(try await s.f.store.failoverEvents(pool: s.pool.id, limit: 5, by: s.f.admin).first)
        #expect(event.verified == true && event.providerReply?.contains("changed outside balctl") == true, "\(event)")
    }
}
