import BalctlProtocol
import Foundation
import SQLEngine
import Logging

/// Carries out a decision to point a pool's record somewhere: takes the pool's lease in the same
/// transaction that records the decision, writes through the provider with the lease's fencing
/// token checked first, reads the record back, and records the outcome and the alert.
///
/// Exactly one writer: two control planes on one database that decide the same failover both
/// try the transaction; the first moves `active_member_id` and takes the lease, the second finds
/// the active member changed (or the lease held) and does nothing. The write itself goes out only
/// while the token it was decided under is still the pool's current one.
struct FailoverExecutor: Sendable {
    let store: Store
    let box: SecretBox
    /// This process, in events and leases ("host:pid:random").
    let owner: String
    let logger: Logger
    /// Failovers carried out and DNS write latency (nil: not counted, as in tests).
    var metrics: ServerMetrics? = nil
    /// Called between the lease check and the provider write. Tests pause a writer here to play
    /// a control plane that stalls at the worst moment.
    var beforeWrite: @Sendable (Decision) async -> Void = { _ in }
    /// A decision holds the pool this long at most (longer than any provider call with retries).
    static let leaseSec: Double = 120
    /// A failed write is retried after this long while the member stays active, doubling up to `maxRetrySec`.
    static let retrySec: Double = 10
    static let maxRetrySec: Double = 600

    enum Kind: String, Sendable {
        case failover, makeActive = "make_active", cut, dynamicDNS = "dynamic_dns", retry = "dns_retry"
        var movesActive: Bool { self == .failover || self == .makeActive || self == .cut }
    }

    struct Decision: Sendable {
        var pool: Int64
        var kind: Kind
        /// The active member the decision was taken against (nil: the pool had none).
        var expectedActive: Int64?
        var to: Int64
        var ip: IPv4
        var reason: String
        var unhealthySince: Double?
        var detectedAt: Double
        /// Who asked (operator name), or nil for the evaluator.
        var operatorName: String? = nil
        /// The evaluator's leadership (replicas): checked when deciding, and remembered on the
        /// pool's lease so a later leader may take over a deposed one's lease.
        var fence: LeaderFence? = nil
    }

    /// Nil when another decision got there first (the pool changed or its lease is held).
    @discardableResult
    func execute(_ d: Decision) async throws -> FailoverEventView? {
        guard let (eventID, token, hostname, providerID, ttl, proxied, fromIP) = try await decide(d) else { return nil }
        var reply: String?, failure: String?, verified: Bool?, writtenAt: Double?, superseded = false, sent = false
        var providerKind = "unknown", sentAt = 0.0
        do {
            let provider = try await store.db.read { try Store.provider($0, id: providerID, box: box) }
            providerKind = ServerMetrics.providerLabel(provider)
            guard try await holdsLease(d.pool, token) else {
                superseded = true
                throw DNSProviderError(.refused, "superseded: another control plane took the pool's lease after token \(token)")
            }
            await beforeWrite(d)
            sent = true  // from here the record may have changed, whatever comes back
            sentAt = now()
            do {
                // Only over the address this decision saw: a write that arrives late (this process
                // stalled, another leader decided since) finds the record changed and does nothing.
                reply = try await provider.setA(name: hostname, ip: d.ip, ttl: UInt32(ttl), proxied: proxied, replacing: fromIP).text
            } catch let e as DNSProviderError where e.kind == .preconditionFailed {
                guard try await holdsLease(d.pool, token) else {
                    superseded = true
                    throw DNSProviderError(.refused, "superseded: another control plane took the pool's lease after token \(token); \(e.message)")
                }
                // Still ours: the record was changed outside balctl. Failover must still happen.
                reply = try await provider.setA(name: hostname, ip: d.ip, ttl: UInt32(ttl), proxied: proxied, replacing: nil).text
                    + " (the record had been changed outside balctl: \(e.message))"
            }
            writtenAt = now()
            let served = try await provider.currentAddresses(name: hostname)
            verified = served.map(\.ip) == [d.ip]
            if verified == false {
                failure = "read-back shows \(served.isEmpty ? "no A record" : served.map(\.description).joined(separator: ", ")) instead of \(d.ip)"
            }
        } catch let e as DNSProviderError {
            failure = e.description
        } catch {
            failure = "\(error)"
        }
        let ok = writtenAt != nil && verified == true
        if sent { metrics?.dnsWrite(provider: providerKind, seconds: (writtenAt ?? now()) - sentAt, ok: writtenAt != nil) }
        if !superseded { metrics?.failover(kind: d.kind.rawValue, ok: ok) }
        let outcome = Outcome(eventID: eventID, token: token, ok: ok, writtenAt: writtenAt, reply: reply, verified: verified,
                              error: failure, superseded: superseded, sent: sent)
        return try await record(d, outcome)
    }

    private typealias Decided = (eventID: Int64, token: Int64, hostname: String, providerID: Int64, ttl: Int, proxied: Bool,
                                 fromIP: IPv4?)

    /// The transaction that takes the lease and records the decision.
    private func decide(_ d: Decision) async throws -> Decided? {
        let owner = self.owner
        return try await store.db.write { db -> Decided? in
            try d.fence?.check(db)
            guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM pool_failover WHERE pool_id = ?", arguments: [d.pool]) else { return nil }
            let t = now()
            guard (row["active_member_id"] as Int64?) == d.expectedActive else { return nil }
            if let holder: String = row["lease_owner"], holder != owner, (row["lease_expires_at"] as Double? ?? 0) > t {
                // Held by another writer: wait for it, unless it is an evaluator whose leadership
                // ended (its token is older than ours): its write, if it ever comes, is conditional
                // on the address it saw, and the pool must not wait two minutes for a dead replica.
                guard let mine = d.fence?.token, let theirs: Int64 = row["lease_leader_token"], theirs < mine else { return nil }
            }
            guard let hostname: String = row["hostname"], let providerID: Int64 = row["provider_id"] else {
                throw ControlPlaneError.conflict("pool \(d.pool) has no failover hostname or DNS provider")
            }
            let token = (row["lease_token"] as Int64) + 1
            // The address is owed to DNS from now on: if this process dies before recording the
            // write, the next evaluator (once the lease is free or its holder deposed) retries it.
            try db.execute(sql: """
                UPDATE pool_failover SET lease_owner = ?, lease_token = ?, lease_expires_at = ?, lease_leader_token = ?,
                    pending_ip = ?, pending_ip_at = ? WHERE pool_id = ?
                """, arguments: [owner, token, t + Self.leaseSec, d.fence?.token, d.ip.description, t, d.pool])
            if d.kind.movesActive {
                try db.execute(sql: """
                    UPDATE pool_failover SET active_member_id = ?, last_failover_at = ?, no_standby_alerted = 0,
                        pending_attempts = 0 WHERE pool_id = ?
                    """, arguments: [d.to, t, d.pool])
            }
            if d.kind == .failover {
                try db.execute(sql: "UPDATE pool_failover SET last_auto_failover_at = ? WHERE pool_id = ?", arguments: [t, d.pool])
            }
            let fromIP: String? = row["active_ip"]
            let eventID = try db.insertReturningID(sql: """
                INSERT INTO failover_events(pool_id, at, kind, reason, from_member_id, to_member_id, from_ip, to_ip,
                    unhealthy_since, detected_at, fencing_token, decided_by)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [d.pool, t, d.kind.rawValue, d.reason, d.expectedActive, d.to, fromIP, d.ip.description,
                                 d.unhealthySince, d.detectedAt, token, d.operatorName.map { "operator \($0) via \(owner)" } ?? owner])
            if let op = d.operatorName {
                let accountID = try Int64.fetchOne(db, sql: "SELECT account_id FROM pools WHERE id = ?", arguments: [d.pool])
                try Store.audit(db, accountID, "failover.\(d.kind.rawValue)", "pool:\(d.pool)", "\(op): member \(d.to) (\(d.ip)): \(d.reason)")
            }
            return (eventID, token, hostname, providerID, row["ttl"], row["proxied"], fromIP.flatMap(IPv4.init))
        }
    }

    private func holdsLease(_ pool: Int64, _ token: Int64) async throws -> Bool {
        let owner = self.owner
        return try await store.db.read { db in
            try SQLRow.fetchOne(db, sql: "SELECT lease_owner, lease_token FROM pool_failover WHERE pool_id = ?", arguments: [pool])
                .map { ($0["lease_owner"] as String?) == owner && ($0["lease_token"] as Int64) == token } ?? false
        }
    }

    struct Outcome: Sendable {
        var eventID: Int64
        var token: Int64
        var ok: Bool
        var writtenAt: Double?
        var reply: String?
        var verified: Bool?
        var error: String?
        /// Another writer took the pool's lease before this one wrote: nothing to record on the pool.
        var superseded = false
        /// The provider was asked to write (it may have, even if no answer or a refusal came back).
        var sent = false
    }

    /// Records the write's outcome on the event and the pool (only under the same token), and
    /// queues the alert.
    private func record(_ d: Decision, _ o: Outcome) async throws -> FailoverEventView {
        let owner = self.owner
        return try await store.db.write { db in
            try db.execute(sql: "UPDATE failover_events SET dns_written_at = ?, provider_reply = ?, verified = ?, error = ? WHERE id = ?",
                           arguments: [o.writtenAt, o.reply.map { AgentText.capped($0, maxBytes: 4096) }, o.verified,
                                       o.error.map { AgentText.capped($0, maxBytes: 4096) }, o.eventID])
            let stillOurs = try Bool.fetchOne(db, sql: """
                SELECT lease_owner = ? AND lease_token = ? FROM pool_failover WHERE pool_id = ?
                """, arguments: [owner, o.token, d.pool]) ?? false
            guard !o.superseded && stillOurs else {
                // Another writer took the pool over. If this one's write went out, it may have
                // landed (its condition holds when the record came back to the address this
                // decision saw, A→B→A; a retried UDP update can land while its answer is lost)
                // and replaced a newer address: owe the pool's current address to DNS again, the
                // leader rewrites it at its next tick (one idempotent write when nothing landed).
                // The newer writer owns the pool and its alert.
                if o.sent {
                    try db.execute(sql: """
                        UPDATE pool_failover SET pending_ip = active_ip, pending_ip_at = ?, pending_attempts = 0
                        WHERE pool_id = ? AND active_ip IS NOT NULL AND pending_ip IS NULL
                        """, arguments: [now(), d.pool])
                    try db.execute(sql: "UPDATE failover_events SET error = ? WHERE id = ?", arguments: [
                        AgentText.capped("superseded: another control plane took the pool over while this write was out; the pool's current address is owed to DNS again"
                                         + (o.error.map { " (\($0))" } ?? ""), maxBytes: 4096),
                        o.eventID])
                }
                guard let event = try Store.failoverEvent(db, o.eventID) else { throw ControlPlaneError.notFound("event vanished") }
                return event
            }
            let t = now()
            if o.ok {
                try db.execute(sql: """
                    UPDATE pool_failover SET active_ip = ?, pending_ip = NULL, pending_ip_at = NULL, pending_attempts = 0,
                        lease_owner = NULL, lease_expires_at = NULL
                    WHERE pool_id = ? AND lease_owner = ? AND lease_token = ?
                    """, arguments: [d.ip.description, d.pool, owner, o.token])
            } else {
                // Keep the address owed to DNS: the evaluator retries it while the member stays active.
                // 10 s, doubling to 10 min: a provider that keeps refusing does not fill the events.
                let attempts = d.kind == .retry
                    ? (try Int.fetchOne(db, sql: "SELECT pending_attempts FROM pool_failover WHERE pool_id = ?", arguments: [d.pool]) ?? 0) + 1 : 1
                let wait = min(Self.retrySec * Double(1 << min(attempts - 1, 10)), Self.maxRetrySec)
                try db.execute(sql: """
                    UPDATE pool_failover SET pending_ip = ?, pending_ip_at = ?, pending_attempts = ?,
                        lease_owner = NULL, lease_expires_at = NULL
                    WHERE pool_id = ? AND lease_owner = ? AND lease_token = ?
                    """, arguments: [d.ip.description, t + wait, attempts, d.pool, owner, o.token])
            }
            if d.kind != .retry || o.ok {
                try Store.enqueueAlert(db, try Self.alert(db, d, o))
            }
            guard let event = try Store.failoverEvent(db, o.eventID) else { throw ControlPlaneError.notFound("event vanished") }
            return event
        }
    }

    static func alert(_ db: any SQLConnection, _ d: Decision, _ o: Outcome) throws -> AlertMessage {
        let pool = try String.fetchOne(db, sql: "SELECT name FROM pools WHERE id = ?", arguments: [d.pool]) ?? "pool \(d.pool)"
        let names = Dictionary(uniqueKeysWithValues: try SQLRow.fetchAll(
            db, sql: "SELECT id, hostname FROM members WHERE id IN (?, ?)", arguments: [d.expectedActive ?? -1, d.to])
            .map { ($0["id"] as Int64, $0["hostname"] as String) })
        let to = names[d.to] ?? "member \(d.to)"
        let from = d.expectedActive.map { names[$0] ?? "member \($0)" } ?? "none"
        let what = d.kind.movesActive ? "moved from \(from) to \(to) (\(d.ip))" : "now points at \(to) (\(d.ip))"
        let subject = o.ok ? "[balctl] \(pool): DNS \(what)" : "[balctl] \(pool): DNS write FAILED (\(d.kind.rawValue) to \(to))"
        var lines = ["Pool: \(pool)", "Kind: \(d.kind.rawValue)", "Reason: \(d.reason)", "From: \(from)", "To: \(to) (\(d.ip))"]
        if let s = d.unhealthySince { lines.append("Unhealthy since: \(Render.dateTime(s))") }
        lines.append("Detected: \(Render.dateTime(d.detectedAt))")
        if let w = o.writtenAt { lines.append("DNS written: \(Render.dateTime(w))") }
        lines.append("Verified by read-back: \(o.verified.map { $0 ? "yes" : "no" } ?? "not checked")")
        if let r = o.reply { lines.append("Provider reply: \(r)") }
        if let e = o.error { lines.append("Error: \(e)") }
        return AlertMessage(kind: o.ok ? .failover : .dnsFailed, poolID: d.pool, subject: subject,
                            text: lines.joined(separator: "\n") + "\n",
                            facts: ["pool": .string(pool), "kind": .string(d.kind.rawValue), "from": .string(from), "to": .string(to),
                                    "ip": .string(d.ip.description), "reason": .string(d.reason), "verified": .bool(o.verified ?? false),
                                    "error": o.error.map { .string($0) } ?? .null])
    }
}
