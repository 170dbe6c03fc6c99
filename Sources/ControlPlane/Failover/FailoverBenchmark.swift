import AgentKernel
import BalctlProtocol
import Foundation
import SQLEngine
import Logging

/// For `balctl-bench`: the evaluator's cost per tick on a large fleet, in process. The fleet is
/// built with the public store calls (pools, members, heartbeats through the ingest's batch path,
/// a provider, failover settings); only the active member is set with SQL, because `make-active`
/// writes DNS and the measurement must not touch a provider.
extension ControlPlane {
    public struct FailoverTickMeasurement: Sendable {
        /// Seconds per measured tick, in the order they ran.
        public var seconds: [Double]
        /// Seconds of the unmeasured first ticks (they do the one-off bookkeeping, such as
        /// recording heartbeat loss for members that fell silent).
        public var warmUpSeconds: [Double]
        /// Seconds per full read of the snapshot (`Store.failoverSnapshot`, what a tick does after
        /// a change), as many reads as measured ticks.
        public var snapshotSeconds: [Double]
        public var pools: Int
        public var members: Int
        /// Actions all ticks (warm-up included) decided, by kind (e.g. "heartbeatLost": 300).
        public var actions: [String: Int]
    }

    /// Gives every pool without failover settings the settings an operator would set (hostname
    /// `<pool>.bench.example`, an RFC 2136 provider, automatic failover, `delaySec`), and makes its
    /// first member active at the address in its latest heartbeat. The provider points at a closed
    /// loopback port: the benchmark's fleet is healthy, so nothing is ever sent to it (and
    /// `measureFailoverTicks` fails if a tick decides a DNS write).
    public func prepareFailoverBenchmark(delaySec: Int = 120) async throws {
        guard let admin = try await store.adminOperator() else { throw ControlPlaneError.conflict("no admin: bootstrap first") }
        let key = Data((0..<32).map { UInt8($0) }).base64EncodedString()
        let provider = try await store.addDNSProvider(CreateDNSProviderRequest(
            name: "bench-never-reached", kind: .rfc2136,
            settings: ["server": "127.0.0.1", "port": "9", "zone": "bench.example", "keyName": "bench-key"], secret: key),
            box: secrets, by: admin)
        let pools = try await store.db.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT id, name FROM pools WHERE id NOT IN (SELECT pool_id FROM pool_failover) ORDER BY id")
                .map { ($0["id"] as Int64, $0["name"] as String) }
        }
        for (id, name) in pools {
            _ = try await store.updateFailoverSettings(pool: id, UpdateFailoverSettingsRequest(
                hostname: "\(name).bench.example", providerId: provider.id, ttl: 60, autoFailover: true,
                delaySec: delaySec, minSpacingSec: 300), box: secrets, by: admin)
        }
        try await store.db.write { db in
            try db.execute(sql: """
                UPDATE pool_failover SET
                    active_member_id = (SELECT MIN(m.id) FROM members m WHERE m.pool_id = pool_failover.pool_id),
                    active_ip = (SELECT h.public_ip FROM members m JOIN heartbeat_latest h ON h.member_id = m.id
                                 WHERE m.pool_id = pool_failover.pool_id ORDER BY m.id LIMIT 1)
                WHERE active_member_id IS NULL
                """)
        }
    }

    /// Makes every `every`-th member (by id) silent: its latest heartbeat ten minutes old. Pools
    /// whose active member falls silent get automatic failover turned off, so the evaluator
    /// judges them (unhealthy, heartbeat loss) without a DNS write. Returns how many members.
    @discardableResult
    public func silenceFailoverBenchmarkMembers(every: Int) async throws -> Int {
        try await store.db.write { db in
            try db.execute(sql: """
                UPDATE heartbeat_latest SET received_at = received_at - 600
                WHERE member_id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS n FROM members) AS numbered WHERE n % ? = 0)
                """, arguments: [every])
            let silenced = db.changesCount
            try db.execute(sql: """
                UPDATE pool_failover SET auto_failover = 0
                WHERE active_member_id IN (SELECT member_id FROM heartbeat_latest WHERE received_at < ?)
                """, arguments: [now() - 300])
            return silenced
        }
    }

    /// Runs `count` evaluator ticks (after `warmUp` unmeasured ones), `spacingSec` apart (0: back
    /// to back), and returns each tick's duration. The evaluator is this control plane's own code
    /// path (`Failover.tick`), started an hour ago so the startup guard does not hide the
    /// heartbeat-loss bookkeeping. With `invalidate`, every measured tick follows a change that
    /// moves `failover_global.generation` (outside the timing): the cost of a full re-read.
    /// Throws if a tick decides a DNS write: the fleet was meant to need none.
    public func measureFailoverTicks(count: Int, warmUp: Int = 1, spacingSec: Double = 0,
                                     invalidate: Bool = false) async throws -> FailoverTickMeasurement {
        var quiet = logger
        quiet.logLevel = .warning
        let evaluator = Failover(store: store, box: secrets, heartbeatIntervalSec: config.heartbeat.intervalSec,
                                 logger: quiet, startedAt: now() - 3600)
        var seconds: [Double] = [], warmUpSeconds: [Double] = []
        var actions: [String: Int] = [:]
        for i in 0..<(warmUp + count) {
            if i > 0, spacingSec > 0 { try await Task.sleep(for: .seconds(spacingSec)) }
            if invalidate, i >= warmUp {
                try await store.db.write { try $0.execute(sql: "UPDATE failover_global SET generation = generation + 1 WHERE id = 1") }
            }
            let start = monotonicNow()
            let decided = try await evaluator.tick()
            let took = monotonicNow() - start
            for action in decided {
                switch action {
                case .promote, .syncAddress:
                    throw ControlPlaneError.conflict("benchmark fleet is not meant to need a DNS write, but a tick decided \(action)")
                default:
                    actions[String(describing: action).prefix { $0 != "(" }.description, default: 0] += 1
                }
            }
            if i >= warmUp { seconds.append(took) } else { warmUpSeconds.append(took) }
        }
        var snapshotSeconds: [Double] = []
        for _ in 0..<count {
            let start = monotonicNow()
            _ = try await store.db.read { try Store.failoverSnapshot($0) }
            snapshotSeconds.append(monotonicNow() - start)
        }
        let (pools, members) = try await store.db.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM pool_failover") ?? 0,
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM members m JOIN pool_failover f ON f.pool_id = m.pool_id") ?? 0)
        }
        return FailoverTickMeasurement(seconds: seconds, warmUpSeconds: warmUpSeconds, snapshotSeconds: snapshotSeconds, pools: pools, members: members, actions: actions)
    }
}
