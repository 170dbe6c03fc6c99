import BalctlProtocol
import Foundation
import SQLEngine

/// What the control plane alerts about.
public enum AlertKind: String, Sendable, Codable, CaseIterable {
    case failover
    case noReadyStandby = "no_ready_standby"
    case heartbeatLost = "heartbeat_lost"
    case heartbeatRecovered = "heartbeat_recovered"
    case allSilent = "all_silent"
    case dnsFailed = "dns_failed"
    /// A member's figure crossed one of its alert thresholds, or came back.
    case thresholdRaised = "threshold_raised"
    case thresholdCleared = "threshold_cleared"
}

/// One alert, before it is fanned out to a pool's recipients.
public struct AlertMessage: Sendable {
    public var kind: AlertKind
    /// nil: about the control plane itself, sent to the recipients of every pool of `accountID`
    /// (once per address): one account's alert never names or counts another account's pools.
    public var poolID: Int64?
    public var accountID: Int64?
    public var subject: String
    public var text: String
    /// Machine-readable facts for the webhook payload (member names, IPs, times).
    public var facts: [String: JSONValue]

    public init(kind: AlertKind, poolID: Int64?, accountID: Int64? = nil, subject: String, text: String,
                facts: [String: JSONValue] = [:]) {
        self.kind = kind; self.poolID = poolID; self.accountID = accountID; self.subject = subject; self.text = text
        self.facts = facts
    }
}

extension Store {
    /// Queues `message` for every recipient, inside the caller's transaction: the alert exists
    /// exactly when the decision it reports was committed. `AlertDispatcher` sends the rows.
    ///
    /// Email rows hold the text; webhook rows hold the JSON payload and carry the pool whose
    /// webhook (and signing secret) they go to, so a control-plane-wide alert fans out to each
    /// of the account's pools' webhooks with that pool's secret.
    static func enqueueAlert(_ db: any SQLConnection, _ message: AlertMessage, at t: Double = now()) throws {
        let rows: [SQLRow]
        if let pool = message.poolID {
            rows = try SQLRow.fetchAll(db, sql: "SELECT pool_id, alert_emails, webhook_url FROM pool_failover WHERE pool_id = ?",
                                    arguments: [pool])
        } else {
            rows = try SQLRow.fetchAll(db, sql: """
                SELECT f.pool_id, f.alert_emails, f.webhook_url FROM pool_failover f JOIN pools p ON p.id = f.pool_id
                WHERE p.account_id = ? ORDER BY f.pool_id
                """, arguments: [message.accountID])
        }
        var emailed = Set<String>()
        let insert = """
            INSERT INTO alert_outbox(pool_id, channel, target, kind, subject, body, next_attempt_at, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """
        for row in rows {
            let poolID: Int64 = row["pool_id"]
            let emails = (row["alert_emails"] as String? ?? "").split(separator: ",").map { String($0) }
            for address in emails where emailed.insert(address.lowercased()).inserted {
                try db.execute(sql: insert, arguments: [message.poolID, "email", address, message.kind.rawValue,
                                                        message.subject, message.text, t, t])
            }
            if let url: String = row["webhook_url"], !url.isEmpty {
                let payload: JSONValue = .object([
                    "kind": .string(message.kind.rawValue),
                    "pool": message.poolID.map { .number(Double($0)) } ?? .null,
                    "subject": .string(message.subject),
                    "text": .string(message.text),
                    "facts": .object(message.facts),
                    "at": .number(t),
                ])
                try db.execute(sql: insert, arguments: [poolID, "webhook", url, message.kind.rawValue,
                                                        message.subject, payload.jsonString(), t, t])
            }
        }
    }
}
