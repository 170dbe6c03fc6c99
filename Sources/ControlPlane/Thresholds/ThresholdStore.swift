import BalctlProtocol
import Foundation
import SQLEngine

/// Threshold settings (pool presets, member overrides), the raised states, and the history.
extension Store {
    // MARK: settings

    public func thresholds(pool: Int64, by op: Operator) async throws -> ThresholdsView {
        try await db.read { db in
            _ = try Self.pool(db, pool, op)
            return ThresholdsView(own: try Self.settings(db, table: "pool_thresholds", owner: "pool_id", id: pool), effective: nil)
        }
    }

    public func thresholds(member: Int64, by op: Operator) async throws -> ThresholdsView {
        try await db.read { db in
            let m = try Self.member(db, member, op)
            let own = try Self.settings(db, table: "member_thresholds", owner: "member_id", id: member)
            let preset = try Self.settings(db, table: "pool_thresholds", owner: "pool_id", id: m.poolId)
            return ThresholdsView(own: own, effective: Self.effective(own: own, preset: preset))
        }
    }

    /// Sets one threshold on a pool (`member` nil) or a member. Returns the owner's view.
    public func setThreshold(pool: Int64? = nil, member: Int64? = nil, _ metric: ThresholdMetric, _ req: SetThresholdRequest,
                             by op: Operator) async throws -> ThresholdsView {
        let setting = ThresholdSetting(metric: metric, raiseAt: req.raiseAt, clearAt: req.clearAt, enabled: req.enabled ?? true)
        if let problem = setting.problem { throw ControlPlaneError.badRequest(problem) }
        let (table, owner, id) = try Self.owner(pool: pool, member: member)
        try await db.write { db in
            if let pool { _ = try Self.pool(db, pool, op) } else { _ = try Self.member(db, id, op) }
            try db.execute(sql: """
                INSERT INTO \(table)(\(owner), metric, raise_at, clear_at, enabled) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(\(owner), metric) DO UPDATE SET raise_at = excluded.raise_at, clear_at = excluded.clear_at,
                    enabled = excluded.enabled
                """, arguments: [id, metric.rawValue, setting.raiseAt, setting.clearAt, setting.enabled])
            try Self.audit(db, op.accountID, "threshold.set", "\(owner == "pool_id" ? "pool" : "member"):\(id)",
                           "\(metric.rawValue) raise \(Render.number(setting.raiseAt)) clear \(Render.number(setting.clearAt))\(setting.enabled ? "" : " (off)")")
        }
        return pool != nil ? try await thresholds(pool: id, by: op) : try await thresholds(member: id, by: op)
    }

    /// Removes a pool's preset or a member's override (the member falls back to the preset).
    public func removeThreshold(pool: Int64? = nil, member: Int64? = nil, _ metric: ThresholdMetric, by op: Operator) async throws -> ThresholdsView {
        let (table, owner, id) = try Self.owner(pool: pool, member: member)
        try await db.write { db in
            if let pool { _ = try Self.pool(db, pool, op) } else { _ = try Self.member(db, id, op) }
            try db.execute(sql: "DELETE FROM \(table) WHERE \(owner) = ? AND metric = ?", arguments: [id, metric.rawValue])
            guard db.changesCount == 1 else { throw ControlPlaneError.notFound("no \(metric.rawValue) threshold set there") }
            try Self.audit(db, op.accountID, "threshold.remove", "\(owner == "pool_id" ? "pool" : "member"):\(id)", metric.rawValue)
        }
        return pool != nil ? try await thresholds(pool: id, by: op) : try await thresholds(member: id, by: op)
    }

    private static func owner(pool: Int64?, member: Int64?) throws -> (table: String, owner: String, id: Int64) {
        if let pool { return ("pool_thresholds", "pool_id", pool) }
        guard let member else { throw ControlPlaneError.badRequest("a pool or a member") }
        return ("member_thresholds", "member_id", member)
    }

    static func settings(_ db: any SQLConnection, table: String, owner: String, id: Int64) throws -> [ThresholdSetting] {
        try SQLRow.fetchAll(db, sql: "SELECT metric, raise_at, clear_at, enabled FROM \(table) WHERE \(owner) = ? ORDER BY metric",
                            arguments: [id]).compactMap(setting)
    }

    static func setting(_ row: SQLRow) -> ThresholdSetting? {
        guard let metric = ThresholdMetric(rawValue: row["metric"]) else { return nil }
        return ThresholdSetting(metric: metric, raiseAt: row["raise_at"], clearAt: row["clear_at"], enabled: row["enabled"])
    }

    /// A member's own setting wins over its pool's preset; a disabled one switches the metric off.
    static func effective(own: [ThresholdSetting], preset: [ThresholdSetting]) -> [EffectiveThreshold] {
        var out: [ThresholdMetric: EffectiveThreshold] = [:]
        for p in preset where p.enabled { out[p.metric] = EffectiveThreshold(setting: p, source: "pool") }
        for o in own { out[o.metric] = o.enabled ? EffectiveThreshold(setting: o, source: "member") : nil }
        return ThresholdMetric.allCases.compactMap { out[$0] }
    }

    /// Every member with at least one threshold in effect, with those thresholds and its raised
    /// alerts (the monitor's view, refreshed every few seconds); and the raised states whose
    /// threshold is no longer in effect.
    func watchedMembers() async throws -> (watched: [Int64: WatchedMember], orphaned: [(member: Int64, key: StateKey)]) {
        try await db.read { db in
            var own: [Int64: [ThresholdSetting]] = [:]
            for row in try SQLRow.fetchAll(db, sql: "SELECT member_id, metric, raise_at, clear_at, enabled FROM member_thresholds") {
                if let s = Self.setting(row) { own[row["member_id"], default: []].append(s) }
            }
            var presets: [Int64: [ThresholdSetting]] = [:]
            for row in try SQLRow.fetchAll(db, sql: "SELECT pool_id, metric, raise_at, clear_at, enabled FROM pool_thresholds") {
                if let s = Self.setting(row) { presets[row["pool_id"], default: []].append(s) }
            }
            var out: [Int64: WatchedMember] = [:]
            if !own.isEmpty || !presets.isEmpty {
                for row in try SQLRow.fetchAll(db, sql: "SELECT id, pool_id, account_id, hostname FROM members") {
                    let id: Int64 = row["id"], pool: Int64 = row["pool_id"]
                    guard own[id] != nil || presets[pool] != nil else { continue }
                    let settings = Self.effective(own: own[id] ?? [], preset: presets[pool] ?? []).map(\.setting)
                    guard !settings.isEmpty else { continue }
                    out[id] = WatchedMember(id: id, poolID: pool, accountID: row["account_id"], hostname: row["hostname"],
                                            settings: Dictionary(uniqueKeysWithValues: settings.map { ($0.metric, $0) }))
                }
            }
            var orphaned: [(member: Int64, key: StateKey)] = []
            for row in try SQLRow.fetchAll(db, sql: "SELECT member_id, metric, subject FROM threshold_states") {
                let id: Int64 = row["member_id"]
                guard let metric = ThresholdMetric(rawValue: row["metric"]) else { continue }
                let key = StateKey(metric: metric, subject: row["subject"])
                if out[id]?.settings[metric] != nil { out[id]?.raised.insert(key) } else { orphaned.append((id, key)) }
            }
            return (out, orphaned)
        }
    }

    // MARK: crossings

    /// Applies the crossings found in one pass, each only if the stored state still allows it
    /// (another replica may have recorded it first): a raise inserts the state row, a clear
    /// deletes it; each that happens adds a history row and queues the alert. Returns the
    /// crossings that took effect.
    func applyCrossings(_ crossings: [ThresholdCrossing], at t: Double = now()) async throws -> [ThresholdCrossing] {
        guard !crossings.isEmpty else { return [] }
        return try await db.write { db in
            var done: [ThresholdCrossing] = []
            for c in crossings {
                let r = c.reading, s = c.setting, m = c.member
                if c.raise {
                    try db.execute(sql: """
                        INSERT INTO threshold_states(member_id, metric, subject, raised_at, value, raise_at, clear_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                        """, arguments: [m.id, r.metric.rawValue, r.subject, t, r.value, s.raiseAt, s.clearAt])
                } else {
                    try db.execute(sql: "DELETE FROM threshold_states WHERE member_id = ? AND metric = ? AND subject = ?",
                                   arguments: [m.id, r.metric.rawValue, r.subject])
                }
                guard db.changesCount == 1 else { continue }
                // The member may have been removed since the pass began: nothing to record then.
                guard try SQLRow.fetchOne(db, sql: "SELECT 1 AS x FROM members WHERE id = ?", arguments: [m.id]) != nil else { continue }
                try db.execute(sql: """
                    INSERT INTO threshold_events(account_id, member_id, metric, subject, state, value, raise_at, clear_at, at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [m.accountID, m.id, r.metric.rawValue, r.subject, c.raise ? "raised" : "cleared",
                                     r.value, s.raiseAt, s.clearAt, t])
                let subject = ThresholdEvaluation.subject(r, hostname: m.hostname, s, raised: c.raise)
                try Self.enqueueAlert(db, AlertMessage(
                    kind: c.raise ? .thresholdRaised : .thresholdCleared, poolID: m.poolID, subject: subject,
                    text: subject + (c.detail.map { "\n\($0)" } ?? ""),
                    facts: ["member": .string(m.hostname), "memberId": .number(Double(m.id)), "metric": .string(r.metric.rawValue),
                            "subject": .string(r.subject), "value": .number(r.value), "raiseAt": .number(s.raiseAt),
                            "clearAt": .number(s.clearAt)]), at: t)
                done.append(c)
            }
            return done
        }
    }

    // MARK: listing

    public func alerts(member: Int64?, limit: Int, by op: Operator) async throws -> AlertsView {
        try await db.read { db in
            if let member { _ = try Self.member(db, member, op) }
            let filter = member == nil ? "" : " AND m.id = ?"
            let args: SQLArguments = member.map { [op.accountID, $0] } ?? [op.accountID]
            let firing = try SQLRow.fetchAll(db, sql: """
                SELECT s.member_id, m.hostname, m.pool_id, s.metric, s.subject, 'raised' AS state, s.value, s.raise_at, s.clear_at,
                       s.raised_at AS at
                FROM threshold_states s JOIN members m ON m.id = s.member_id
                WHERE m.account_id = ?\(filter) ORDER BY s.raised_at DESC
                """, arguments: args).compactMap(Self.alertView)
            let historyArgs = SQLArguments(args.values + [.int(Int64(max(1, min(limit, 1000))))])
            let history = try SQLRow.fetchAll(db, sql: """
                SELECT e.member_id, m.hostname, m.pool_id, e.metric, e.subject, e.state, e.value, e.raise_at, e.clear_at, e.at
                FROM threshold_events e JOIN members m ON m.id = e.member_id
                WHERE e.account_id = ?\(filter) ORDER BY e.id DESC LIMIT ?
                """, arguments: historyArgs).compactMap(Self.alertView)
            return AlertsView(firing: firing, history: history)
        }
    }

    static func alertView(_ row: SQLRow) -> ThresholdAlertView? {
        guard let metric = ThresholdMetric(rawValue: row["metric"]) else { return nil }
        return ThresholdAlertView(memberId: row["member_id"], hostname: row["hostname"], poolId: row["pool_id"], metric: metric,
                                  subject: row["subject"], state: row["state"], value: row["value"], raiseAt: row["raise_at"],
                                  clearAt: row["clear_at"], at: row["at"])
    }
}

/// A member the monitor watches: its thresholds in effect and which of its alerts are raised.
struct WatchedMember: Sendable {
    var id: Int64
    var poolID: Int64
    var accountID: Int64
    var hostname: String
    var settings: [ThresholdMetric: ThresholdSetting]
    var raised: Set<StateKey> = []
}

struct StateKey: Hashable, Sendable {
    var metric: ThresholdMetric
    var subject: String
}

/// A raise or a clear to record.
struct ThresholdCrossing: Sendable {
    var member: WatchedMember
    var reading: ThresholdEvaluation.Reading
    var setting: ThresholdSetting
    var raise: Bool
    /// More for the alert text (which HAProxy servers are down).
    var detail: String? = nil
}
