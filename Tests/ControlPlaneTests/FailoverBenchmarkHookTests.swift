import BalctlProtocol
@testable import ControlPlane
import Foundation
import SQLEngine
import Testing
import TestSupport

/// Issue 12 benchmark: `balctl-bench failover-ticks` builds its fleet and times ticks through
/// these hooks. They must give every pool an active member and evaluate it, and the silent
/// variant must decide heartbeat loss but never a DNS write, so the figures time evaluation alone.
@Suite("Failover benchmark hooks", .storeEngines)
struct FailoverBenchmarkHookTests {
    @Test("issue 12 benchmark: a prepared fleet is evaluated with no action; silencing the active members decides heartbeat loss, never a DNS write")
    func preparedFleet() async throws {
        let f = try await Fixture()  // its report builder; the control plane has a data directory of its own
        let dir = f.dir.appendingPathComponent("cp").path
        let server = try ControlPlane(config: ServerConfig(dataDir: dir))
        _ = try server.store.bootstrapAdminIfNeeded()
        let admin = try #require(try await server.store.adminOperator())
        var bodies: [String: String] = [:]
        for p in 0..<3 {
            let pool = try await server.store.createPool(CreatePoolRequest(name: "pool-\(p)", template: .haproxy), by: admin)
            for m in 0..<3 {
                let host = "p\(p)-m\(m)"
                _ = try await server.store.addMember(
                    pool: pool.id, CreateMemberRequest(hostname: host, allowedIPs: ["127.0.0.1"], family: .debian, role: nil),
                    publicURL: "https://cp.example", by: admin)
                let report = f.report(host, publicIP: "81.2.69.\(p * 3 + m + 1)", stacks: FailoverBINDTests.haproxyUp)
                bodies[host] = String(decoding: try JSONEncoder().encode(report), as: UTF8.self)
            }
        }
        let reports = bodies
        _ = try await server.measureStoreIngest(count: 9, batch: 4) { reports[$0]! }
        try await server.prepareFailoverBenchmark()
        let set = try await server.store.db.read {
            try Int.fetchOne($0, sql: """
                SELECT COUNT(*) FROM pool_failover f JOIN heartbeat_latest h ON h.member_id = f.active_member_id
                WHERE f.active_ip = h.public_ip AND f.auto_failover = 1 AND f.hostname IS NOT NULL AND f.provider_id IS NOT NULL
                """)
        }
        #expect(set == 3)

        let healthy = try await server.measureFailoverTicks(count: 3)
        #expect(healthy.pools == 3 && healthy.members == 9 && healthy.seconds.count == 3 && healthy.warmUpSeconds.count == 1)
        #expect(healthy.actions.isEmpty, "\(healthy.actions)")

        // Every third member by id is the first of its pool: the active one. Left with automatic
        // failover on, the next tick would promote a standby (a DNS write, which the hook refuses).
        #expect(try await server.silenceFailoverBenchmarkMembers(every: 3) == 3)
        let silent = try await server.measureFailoverTicks(count: 2)
        #expect(silent.actions == ["heartbeatLost": 3])
    }
}
