import BalctlProtocol
import SQLEngine

/// A pool's failover settings as stored (`pool_failover`; defaults when the pool has no row yet).
struct PoolFailoverSettings: Sendable, Equatable {
    var hostname: String?
    var providerID: Int64?
    var ttl = 60
    var proxied = false
    var autoFailover = false
    var delaySec = 30
    var minSpacingSec = 300
    var dynamicDNS = false
    var allowPrivateIPs = false

    init() {}
    init(row: SQLRow) {
        hostname = row["hostname"]; providerID = row["provider_id"]; ttl = row["ttl"]
        proxied = row["proxied"]; autoFailover = row["auto_failover"]; delaySec = row["delay_sec"]
        minSpacingSec = row["min_spacing_sec"]; dynamicDNS = row["dynamic_dns"]; allowPrivateIPs = row["allow_private_ips"]
    }
}

/// One member as the evaluator reads it: the columns the ingest keeps beside each report, never
/// the report itself (a tick over thousands of members must not parse JSON).
struct MemberSnapshot: Sendable, Equatable {
    var id: Int64
    var poolID: Int64
    var hostname: String
    var priority: Int
    var maintenance: Bool
    /// When the latest heartbeat arrived (nil: never).
    var lastHeartbeat: Double?
    var publicIP: IPv4?
    /// How many heartbeats in a row carried `publicIP`.
    var publicIPStreak: Int
    /// nil: the report has no haproxy stack.
    var haproxyActive: Bool?
    var haproxyInactiveSince: Double?
    /// When a heartbeat-loss alert went out and no recovery since.
    var lostAlertedAt: Double?
}

/// One pool with failover settings, its evaluator state and its members.
struct PoolSnapshot: Sendable {
    var id: Int64
    var name: String
    var template: PoolTemplate
    var settings: PoolFailoverSettings
    var activeMemberID: Int64?
    /// The address failover last wrote (what DNS should serve).
    var activeIP: String?
    var lastFailoverAt: Double?
    /// The last automatic failover (the spacing guard).
    var lastAutoFailoverAt: Double?
    var noStandbyAlerted: Bool
    /// An address whose write failed and is being retried (see `FailoverEvaluator`).
    var pendingIP: String?
    var pendingRetryAt: Double?
    var members: [MemberSnapshot]

    var active: MemberSnapshot? { members.first { $0.id == activeMemberID } }
    var watchesHAProxy: Bool { template == .haproxy }
}

/// The evaluator's last full read and the `failover_global.generation` it was read at.
struct CachedFailoverSnapshot: Sendable {
    var generation: Int64
    var pools: [PoolSnapshot]
}

extension Store {
    /// Moves whenever anything `failoverSnapshot` reads changes, except heartbeat times (v7 triggers).
    static func failoverGeneration(_ db: any SQLConnection) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT generation FROM failover_global WHERE id = 1")) ?? 0
    }

    /// Member id → latest heartbeat time, for the members last heard before `t` (an index range).
    static func heartbeatsBefore(_ db: any SQLConnection, _ t: Double) throws -> [Int64: Double] {
        var found: [Int64: Double] = [:]
        let rows = try SQLRow.fetchCursor(db.cachedStatement(sql: "SELECT member_id, received_at FROM heartbeat_latest WHERE received_at < ?"),
                                       arguments: [t])
        while let row = try rows.next() { found[row[0]] = row[1] }
        return found
    }

    static let memberSnapshotColumns = """
        m.id, m.pool_id, m.hostname, m.standby_priority, m.maintenance, m.lost_alerted_at,
        h.received_at, h.public_ip, h.public_ip_streak, h.haproxy_active, h.haproxy_inactive_since
        """

    /// By column index, in `memberSnapshotColumns` order: a tick reads thousands of rows, and
    /// looking columns up by name was most of its cost.
    static func memberSnapshot(_ row: SQLRow) -> MemberSnapshot {
        MemberSnapshot(id: row[0], poolID: row[1], hostname: row[2], priority: row[3], maintenance: row[4],
                       lastHeartbeat: row[6], publicIP: (row[7] as String?).flatMap(IPv4.init),
                       publicIPStreak: row[8] ?? 0, haproxyActive: row[9], haproxyInactiveSince: row[10], lostAlertedAt: row[5])
    }

    /// By column index, in `poolSnapshotSelect` order (see `memberSnapshot`).
    static func poolSnapshot(_ row: SQLRow, members: [MemberSnapshot]) -> PoolSnapshot {
        var settings = PoolFailoverSettings()
        if (row[3] as Int64?) != nil {
            settings.hostname = row[4]; settings.providerID = row[5]; settings.ttl = row[6]; settings.proxied = row[7]
            settings.autoFailover = row[8]; settings.delaySec = row[9]; settings.minSpacingSec = row[10]
            settings.dynamicDNS = row[11]; settings.allowPrivateIPs = row[12]
        }
        return PoolSnapshot(id: row[0], name: row[1], template: PoolTemplate(rawValue: row[2]) ?? .generic, settings: settings,
                            activeMemberID: row[13], activeIP: row[14], lastFailoverAt: row[15], lastAutoFailoverAt: row[16],
                            noStandbyAlerted: row[17] ?? false, pendingIP: row[18], pendingRetryAt: row[19], members: members)
    }

    static let poolSnapshotSelect = """
        SELECT p.id, p.name, p.template, f.pool_id, f.hostname, f.provider_id, f.ttl, f.proxied, f.auto_failover,
               f.delay_sec, f.min_spacing_sec, f.dynamic_dns, f.allow_private_ips, f.active_member_id, f.active_ip,
               f.last_failover_at, f.last_auto_failover_at, f.no_standby_alerted, f.pending_ip, f.pending_ip_at
        FROM pools p LEFT JOIN pool_failover f ON f.pool_id = p.id
        """

    /// Every pool that has failover settings, with its members: what one evaluator tick reads.
    /// Two statements, each one pass over its table (no per-pool query).
    static func failoverSnapshot(_ db: any SQLConnection) throws -> [PoolSnapshot] {
        var members: [Int64: [MemberSnapshot]] = [:]
        let rows = try SQLRow.fetchCursor(db.cachedStatement(sql: """
            SELECT \(memberSnapshotColumns) FROM pool_failover f JOIN members m ON m.pool_id = f.pool_id
            LEFT JOIN heartbeat_latest h ON h.member_id = m.id ORDER BY m.id
            """))
        while let row = try rows.next() {
            let m = memberSnapshot(row)
            members[m.poolID, default: []].append(m)
        }
        return try SQLRow.fetchAll(db.cachedStatement(sql: poolSnapshotSelect + " WHERE f.pool_id IS NOT NULL ORDER BY p.id"))
            .map { poolSnapshot($0, members: members[$0["id"] as Int64] ?? []) }
    }

    /// One pool (with or without settings), for status, manual actions and the drill.
    static func failoverSnapshot(_ db: any SQLConnection, pool id: Int64) throws -> PoolSnapshot? {
        guard let row = try SQLRow.fetchOne(db, sql: poolSnapshotSelect + " WHERE p.id = ?", arguments: [id]) else { return nil }
        let members = try SQLRow.fetchAll(db, sql: """
            SELECT \(memberSnapshotColumns) FROM members m LEFT JOIN heartbeat_latest h ON h.member_id = m.id
            WHERE m.pool_id = ? ORDER BY m.id
            """, arguments: [id]).map(memberSnapshot)
        return poolSnapshot(row, members: members)
    }
}
