import Foundation
import SQLEngine

/// An outbox row claimed for sending.
struct OutboxAlert: Sendable, Equatable {
    var id: Int64
    var poolID: Int64?
    var channel: String
    var target: String
    var kind: String
    var subject: String
    var body: String
    /// Attempts made before this one.
    var attempts: Int
    var createdAt: Double
}

extension Store {
    /// Claims up to `limit` due rows of `channel` (pending, due, not claimed by anyone whose claim
    /// still runs) until `until`, in one IMMEDIATE transaction: control planes sharing the
    /// database take turns, and a row one of them claimed is invisible to the others until the
    /// claim ends (sent, failed, or its holder died and `until` passed).
    func claimDueAlerts(channel: String, limit: Int, at t: Double, until: Double) async throws -> [OutboxAlert] {
        guard limit > 0 else { return [] }
        return try await db.write { db in
            var claimed: [OutboxAlert] = []
            let rows = try SQLRow.fetchAll(db, sql: """
                SELECT id, pool_id, channel, target, kind, subject, body, attempts, created_at FROM alert_outbox
                WHERE state = 'pending' AND next_attempt_at <= ? AND channel = ?
                  AND (claimed_until IS NULL OR claimed_until <= ?)
                ORDER BY next_attempt_at, id LIMIT ?
                """, arguments: [t, channel, t, limit])
            for row in rows {
                let alert = OutboxAlert(id: row["id"], poolID: row["pool_id"], channel: row["channel"], target: row["target"],
                                        kind: row["kind"], subject: row["subject"], body: row["body"],
                                        attempts: row["attempts"], createdAt: row["created_at"])
                try db.execute(sql: "UPDATE alert_outbox SET claimed_until = ? WHERE id = ?", arguments: [until, alert.id])
                claimed.append(alert)
            }
            return claimed
        }
    }

    /// The row went out. An earlier attempt's error stays in last_error (it says why it was late).
    func markAlertSent(_ id: Int64, at t: Double) async throws {
        try await db.write { db in
            try db.execute(sql: """
                UPDATE alert_outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1, claimed_until = NULL
                WHERE id = ? AND state = 'pending'
                """, arguments: [t, id])
        }
    }

    /// The attempt failed: record why, and try again after `retryAfter` seconds, or give up
    /// ('failed', the error kept) when `retryAfter` is nil.
    func markAlertFailed(_ id: Int64, error: String, retryAfter: Double?, at t: Double) async throws {
        try await db.write { db in
            if let retryAfter {
                try db.execute(sql: """
                    UPDATE alert_outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, claimed_until = NULL
                    WHERE id = ? AND state = 'pending'
                    """, arguments: [error, t + retryAfter, id])
            } else {
                try db.execute(sql: """
                    UPDATE alert_outbox SET state = 'failed', attempts = attempts + 1, last_error = ?, claimed_until = NULL
                    WHERE id = ? AND state = 'pending'
                    """, arguments: [error, id])
            }
        }
    }

    /// Deletes sent and failed rows created before `before`; returns how many.
    @discardableResult
    func pruneAlerts(createdBefore before: Double) async throws -> Int {
        try await db.write { db in
            try db.execute(sql: "DELETE FROM alert_outbox WHERE state IN ('sent', 'failed') AND created_at < ?",
                           arguments: [before])
            return db.changesCount
        }
    }

    /// The sealed webhook secret of a pool (nil: none saved).
    func webhookSecret(pool: Int64) async throws -> Data? {
        try await db.read { db in
            try Data.fetchOne(db, sql: "SELECT webhook_secret FROM pool_failover WHERE pool_id = ?", arguments: [pool])
        }
    }
}
