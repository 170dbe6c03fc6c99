#if canImport(Glibc)
import Glibc
#endif
import BalctlProtocol
@testable import ControlPlane
import Dispatch
import Foundation
import Logging
import SQLEngine
import Testing
import TestSupport

/// Issue 22 red team (helper review of the replica work, reproduced before the fixes): two ways
/// a replica could go on trusting what it no longer knows. PostgreSQL only (SQLite runs one
/// process); the suite still runs on both so the fixture is the store suite's.
@Suite("Replica red team: frozen leaders and deaf listeners", .serialized, .storeEngines)
struct ReplicaRedTeamTests {
    /// Found: a leader frozen between its fence check and COMMIT kept the lease row locked for as
    /// long as it was frozen (a cut-off one: until TCP gave up, hours), so no standby could take
    /// over. Fixed: sessions end an idle transaction after 3 s; the lease round waits 1 s at most.
    @Test("a leader frozen inside a fenced transaction does not hold the takeover back beyond its lease and the idle-transaction limit")
    func frozenInsideFence() async throws {
        let f = try await Fixture()
        guard f.store.db.dialect == .postgres else { return }
        let other = try f.openStore()
        let a = LeaderLeaseTests.lease(f.store, "replica-a", ttl: 2), b = LeaderLeaseTests.lease(other, "replica-b", ttl: 2)
        #expect(try await a.round() == .leader)
        #expect(try await b.round() == .standby)
        let fence = try #require(a.fence())
        let freeze = 12.0
        let stalled = Task {
            try await f.store.db.write { db in
                try fence.check(db)
                Thread.sleep(forTimeInterval: freeze)  // frozen between its check and its COMMIT
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        let start = ContinuousClock.now
        var took: Duration?
        while ContinuousClock.now - start < .seconds(freeze) {
            if (try? await b.round()) == .leader { took = ContinuousClock.now - start; break }
            try await Task.sleep(for: .milliseconds(250))
        }
        let after = try #require(took, "the standby never took over while the leader was frozen")
        #expect(after <= .seconds(5), "the takeover waited \(after) for the frozen leader")
        // The server ended the frozen writer's session: its COMMIT fails (never a silent success).
        await #expect(throws: (any Error).self) { try await stalled.value }
    }

    /// Found: a LISTEN connection that stops delivering without closing went unnoticed for 6–8 s,
    /// longer than the cache's 5 s: a rotated secret kept working on that replica. Fixed: entries
    /// serve only within 1 s of a self-ping heard back on the channel.
    @Test("a listener whose backend stops delivering: a rotated secret is refused within about 1 s anyway")
    func deafListener() async throws {
        let f = try await Fixture()
        guard f.store.db.dialect == .postgres else { return }
        let other = try f.openStore()
        let engine = try #require(other.db as? PostgresEngine)
        other.authCache.requireProof()
        let listener = Task { try await AuthChangeListener(engine: engine, store: other).run() }
        defer { listener.cancel() }
        let (_, e) = try await f.member()
        try await Task.sleep(for: .seconds(1))
        // With the listener alive, a rotation is seen at once.
        _ = try await other.authenticateAgent(secret: e.enrollmentSecret, clientIP: Fixture.agentIP, hostname: nil)
        let rotated = try await f.store.rotateSecret(e.member.id, publicURL: "https://cp.example", by: f.admin)
        try await Task.sleep(for: .milliseconds(300))
        #expect(await cpError { _ = try await other.authenticateAgent(secret: e.enrollmentSecret, clientIP: Fixture.agentIP, hostname: nil) }?.kind == .unauthorized)

        let pid = try #require(try await f.store.db.read { db in
            try Int64.fetchOne(db, sql: """
                SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
                  AND (query LIKE 'LISTEN%' OR query LIKE 'SELECT pg_notify%') ORDER BY backend_start DESC LIMIT 1
                """)
        })
        let secret2 = rotated.enrollmentSecret
        _ = try await other.authenticateAgent(secret: secret2, clientIP: Fixture.agentIP, hostname: nil)  // cached
        kill(pid_t(pid), SIGSTOP)
        defer { kill(pid_t(pid), SIGCONT) }
        let t0 = ContinuousClock.now
        _ = try await f.store.rotateSecret(e.member.id, publicURL: "https://cp.example", by: f.admin)
        var samples: [(Duration, Bool)] = []
        for _ in 0..<8 {
            try await Task.sleep(for: .milliseconds(250))
            let refused = await cpError { _ = try await other.authenticateAgent(secret: secret2, clientIP: Fixture.agentIP, hostname: nil) } != nil
            samples.append((ContinuousClock.now - t0, refused))
        }
        let lateAccepts = samples.filter { $0.0 > .milliseconds(1300) && !$0.1 }
        #expect(lateAccepts.isEmpty, "the rotated secret still authenticated: \(samples)")
    }

    /// Found: a ping stamp is readable by any role that can LISTEN; a forged one (UInt64.max)
    /// crashed the replica on an overflow, and a far-future one extended the trust. The listener
    /// now counts only stamps it sent on its connection; the cache also never trusts past now + 1 s.
    @Test("a forged proof stamp neither crashes nor extends the cache's trust beyond 1 s")
    func forgedStamp() async throws {
        let cache = AgentAuthCache()
        cache.requireProof()
        cache.heard(asOf: UInt64.max)
        cache.heard(asOf: DispatchTime.now().uptimeNanoseconds + 3_600_000_000_000)
        var reads = 0
        let entry = AgentAuthCache.Entry(identity: AgentIdentity(memberID: 1, hostname: "h"), allowed: [], expires: now() + 60)
        _ = try await cache.entry("k", at: now()) { reads += 1; return entry }
        _ = try await cache.entry("k", at: now()) { reads += 1; return entry }
        #expect(reads == 1, "trusted right after the proof")
        try await Task.sleep(for: .milliseconds(1300))
        _ = try await cache.entry("k", at: now()) { reads += 1; return entry }
        #expect(reads == 2, "still trusted 1.3 s after a forged far-future proof")
    }
}
