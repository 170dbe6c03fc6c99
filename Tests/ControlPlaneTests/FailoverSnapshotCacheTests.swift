import BalctlProtocol
@testable import ControlPlane
import Foundation
import SQLEngine
import Logging
import Testing
import TestSupport

/// Issue 12, evaluator cost: a tick reuses its snapshot of pools, members and heartbeat facts
/// while `failover_global.generation` stands (migration v7's triggers move it), and reads only the
/// members heard too long ago. These tests hold the two halves of that bargain: every change a
/// tick reads moves the generation (whoever makes it), and the cached path decides exactly what a
/// full read decides.
@Suite("Failover snapshot cache", .storeEngines)
struct FailoverSnapshotCacheTests {
    static let up: [String: JSONValue] = ["haproxy": .object(["active": .bool(true)])]
    static let down: [String: JSONValue] = ["haproxy": .object(["active": .bool(false)])]

    struct Fleet {
        let f: Fixture
        let failover: Failover
        /// Per pool, its members' enrollments.
        let pools: [(pool: PoolView, members: [MemberEnrollment])]
    }

    /// `pools` haproxy pools × `members`, failover configured (a provider nothing is sent to),
    /// automatic failover on, the first member active; every member heartbeats once.
    func fleet(pools: Int, members: Int) async throws -> Fleet {
        let f = try await Fixture()
        let box = try SecretBox.open(dataDir: f.dir.path)
        let provider = try await f.store.addDNSProvider(CreateDNSProviderRequest(
            name: "never-reached", kind: .rfc2136,
            settings: ["server": "127.0.0.1", "port": "9", "zone": "cache.example", "keyName": "k"],
            secret: Data(repeating: 1, count: 32).base64EncodedString()), box: box, by: f.admin)
        var made: [(PoolView, [MemberEnrollment])] = []
        for p in 0..<pools {
            let pool = try await f.store.createPool(CreatePoolRequest(name: "p\(p)", template: .haproxy), by: f.admin)
            var list: [MemberEnrollment] = []
            for m in 0..<members {
                let e = try await f.member(pool: pool.name, hostname: "p\(p)-m\(m)").enrollment
                try await f.beat(e, publicIP: "81.2.\(p).\(m + 1)", stacks: Self.up)
                list.append(e)
            }
            _ = try await f.store.updateFailoverSettings(pool: pool.id, UpdateFailoverSettingsRequest(
                hostname: "p\(p).cache.example", providerId: provider.id, autoFailover: true, delaySec: 10, minSpacingSec: 300),
                box: box, by: f.admin)
            let first = list[0].member.id
            try await f.store.db.write { db in
                try db.execute(sql: "UPDATE pool_failover SET active_member_id = ?, active_ip = ? WHERE pool_id = ?",
                               arguments: [first, "81.2.\(p).1", pool.id])
            }
            made.append((pool, list))
        }
        let failover = Failover(store: f.store, box: box, heartbeatIntervalSec: 1, logger: Logger(label: "test"),
                                startedAt: now() - 3600)
        return Fleet(f: f, failover: failover, pools: made)
    }

    func generation(_ f: Fixture) async throws -> Int64 {
        try await f.store.db.read { try Store.failoverGeneration($0) }
    }

    @Test("every change a tick reads moves the generation, by API or by hand; a heartbeat that changes no fact does not")
    func generationMoves() async throws {
        let fl = try await fleet(pools: 2, members: 2)
        let f = fl.f, a = fl.pools[0].members[0], b = fl.pools[0].members[1]
        // The public-IP streak settles at 2, after which a same-facts heartbeat changes nothing.
        try await f.beat(a, publicIP: "81.2.0.1", stacks: Self.up)
        var g = try await generation(f)
        func moved(_ what: Comment, _ change: () async throws -> Void) async throws {
            try await change()
            let now = try await generation(f)
            #expect(now > g, what)
            g = now
        }
        for _ in 0..<3 { try await f.beat(a, publicIP: "81.2.0.1", stacks: Self.up) }
        #expect(try await generation(f) == g, "a heartbeat with the same facts")
        try await f.store.db.write { try $0.execute(sql: "UPDATE heartbeat_latest SET received_at = received_at - 100") }
        #expect(try await generation(f) == g, "heartbeat times are read through the index, not cached")

        try await moved("haproxy went inactive") { try await f.beat(a, publicIP: "81.2.0.1", stacks: Self.down) }
        try await moved("haproxy active again") { try await f.beat(a, publicIP: "81.2.0.1", stacks: Self.up) }
        try await moved("a new public IP") { try await f.beat(a, publicIP: "81.2.0.9", stacks: Self.up) }
        try await moved("its second heartbeat (dynamic DNS acts on it)") { try await f.beat(a, publicIP: "81.2.0.9", stacks: Self.up) }
        try await moved("the report lost its haproxy stack") { try await f.beat(a, publicIP: "81.2.0.9") }
        try await moved("priority, by API") {
            _ = try await f.store.updateMemberFailover(b.member.id, UpdateMemberFailoverRequest(priority: 5), by: f.admin)
        }
        try await moved("maintenance, by hand") {
            try await f.store.db.write { try $0.execute(sql: "UPDATE members SET maintenance = 1 WHERE id = ?", arguments: [b.member.id]) }
        }
        try await moved("settings") {
            try await f.store.db.write { try $0.execute(sql: "UPDATE pool_failover SET delay_sec = 20 WHERE pool_id = ?", arguments: [fl.pools[0].pool.id]) }
        }
        try await moved("a new member") { _ = try await f.member(pool: "p0", hostname: "p0-m9") }
        try await moved("its first heartbeat") {
            let e = try await f.member(pool: "p1", hostname: "p1-m9").enrollment
            g = try await generation(f)
            try await f.beat(e, publicIP: "81.2.1.9", stacks: Self.up)
        }
        try await moved("a pool removed") {
            try await f.store.db.write { try $0.execute(sql: "DELETE FROM pools WHERE id = ?", arguments: [fl.pools[1].pool.id]) }
        }
    }

    @Test("a snapshot is re-read after a change made outside the evaluator, and reused while nothing changed")
    func reuse() async throws {
        let fl = try await fleet(pools: 1, members: 2)
        let f = fl.f, b = fl.pools[0].members[1]
        try await f.beat(b, publicIP: "81.2.0.2", stacks: Self.up)  // its streak settles at 2
        let first = try await f.store.db.read { try fl.failover.snapshot($0, at: now()) }
        #expect(first[0].members[1].maintenance == false)
        let cachedAt = try #require(fl.failover.cache.withLock { $0?.generation })
        try await f.beat(b, publicIP: "81.2.0.2", stacks: Self.up)  // same facts
        _ = try await f.store.db.read { try fl.failover.snapshot($0, at: now()) }
        #expect(fl.failover.cache.withLock { $0?.generation } == cachedAt)
        try await f.store.db.write { try $0.execute(sql: "UPDATE members SET maintenance = 1 WHERE id = ?", arguments: [b.member.id]) }
        let after = try await f.store.db.read { try fl.failover.snapshot($0, at: now()) }
        #expect(after[0].members[1].maintenance == true)
        #expect(fl.failover.cache.withLock { $0?.generation } != cachedAt)
    }

    @Test("over a random walk of heartbeats, silences, settings and roles, the cached path decides what a full read decides")
    func cachedDecidesAsFullRead() async throws {
        let fl = try await fleet(pools: 3, members: 3)
        let f = fl.f
        var rng = SplitMix64(seed: 12)
        var decisive = 0
        for step in 0..<250 {
            let (pool, members) = fl.pools[Int.random(in: 0..<fl.pools.count, using: &rng)]
            let e = members[Int.random(in: 0..<members.count, using: &rng)]
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<4:
                try await f.beat(e, publicIP: Bool.random(using: &rng) ? "81.2.9.\(e.member.id)" : "81.2.8.\(e.member.id)",
                                 stacks: Int.random(in: 0..<5, using: &rng) == 0 ? Self.down : Self.up)
            case 4..<7:
                let by = Double.random(in: 0...15, using: &rng)
                try await f.store.db.write { db in
                    try db.execute(sql: "UPDATE heartbeat_latest SET received_at = received_at - ? WHERE member_id = ?",
                                   arguments: [by, e.member.id])
                }
            case 7:
                _ = try await f.store.updateMemberFailover(e.member.id, UpdateMemberFailoverRequest(
                    priority: Int.random(in: 0...2, using: &rng) * 10, maintenance: Int.random(in: 0..<4, using: &rng) == 0), by: f.admin)
            case 8:
                let (auto, dynamic) = (Int.random(in: 0..<4, using: &rng) > 0, Bool.random(using: &rng))
                try await f.store.db.write { db in
                    try db.execute(sql: "UPDATE pool_failover SET active_member_id = ?, auto_failover = ?, dynamic_dns = ? WHERE pool_id = ?",
                                   arguments: [e.member.id, auto, dynamic, pool.id])
                }
            default:
                try await f.store.db.write { db in
                    try db.execute(sql: "UPDATE members SET lost_alerted_at = CASE WHEN lost_alerted_at IS NULL THEN ? END WHERE id = ?",
                                   arguments: [now() - 5, e.member.id])
                }
            }
            let t = now()
            let planner = FailoverPlanner(readiness: fl.failover.readiness(at: t), allSilent: false)
            var pools = try await f.store.db.read { try fl.failover.snapshot($0, at: t) }
            let cached = try await fl.failover.exactly(planner.plan(pools), pools: &pools, planner: planner)
            let full = planner.plan(try await f.store.db.read { try Store.failoverSnapshot($0) })
            #expect(cached == full, "step \(step)")
            if cached.contains(where: { if case .promote = $0 { true } else { false } }) { decisive += 1 }
        }
        // The walk must reach the decisions that matter, or it proves little.
        #expect(decisive > 10, "only \(decisive) steps decided a failover")
    }
}
