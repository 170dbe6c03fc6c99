import BalctlProtocol
import Foundation
import GRDB

/// A member whose agent proved who it is.
struct AgentIdentity: Sendable {
    var memberID: Int64
    var hostname: String
    var historyAt: Double
}

/// Heartbeat settings.
public struct HeartbeatPolicy: Sendable {
    /// The authoritative interval handed to agents (1–60 s).
    public var intervalSec: Int = 1
    /// One report per member is kept in the history at most this often…
    public var historySampleSec: Double = 60
    /// …and this many are kept per member (a day at the default sampling).
    public var historyKeep: Int = 1440
    public init() {}
}

extension Store {
    /// Bearer secret → member (401 when unknown); client IP must be allow-listed and the hostname
    /// must match, case-insensitively (403 otherwise).
    func authenticateAgent(secret: String?, clientIP: IPv4?, hostname: String?) async throws -> AgentIdentity {
        guard let secret, Enrollment.isWellFormedSecret(secret) else {
            throw ControlPlaneError.unauthorized("missing or malformed enrollment secret (expected Authorization: Bearer <48 hex>)")
        }
        let hash = Secrets.sha256Hex(secret.lowercased())
        let row = try await db.read { db in
            try Row.fetchOne(db.cachedStatement(sql: """
                SELECT m.id, m.hostname, m.allowed_ips, h.history_at FROM members m
                LEFT JOIN heartbeat_latest h ON h.member_id = m.id WHERE m.secret_hash = ?
                """), arguments: [hash])
        }
        guard let row else { throw ControlPlaneError.unauthorized("unknown enrollment secret") }
        guard let clientIP else { throw ControlPlaneError.forbidden("no client IP could be determined") }
        let allowed: String = row["allowed_ips"]
        guard allowed.split(separator: ",").contains(where: { IPv4($0) == clientIP }) else {
            throw ControlPlaneError.forbidden("source IP \(clientIP) is not in this member's allowed IPs")
        }
        let enrolled: String = row["hostname"]
        if let hostname, hostname.lowercased() != enrolled.lowercased() {
            throw ControlPlaneError.forbidden("hostname '\(hostname)' does not match the enrolled hostname '\(enrolled)' (set BALCTL_HOSTNAME)")
        }
        return AgentIdentity(memberID: row["id"], hostname: enrolled, historyAt: row["history_at"] ?? 0)
    }

    /// Store the report (latest row, sampled history), renew the leases of the jobs the agent
    /// says it runs, and claim pending jobs — one write transaction.
    func recordHeartbeat(_ agent: AgentIdentity, report: HostReport, rawReport: String, sourceIP: IPv4,
                         heartbeat: HeartbeatPolicy, queue: QueuePolicy) async throws -> (jobs: [ClaimedJob], cancels: [JobRef]) {
        try await db.write { db in
            let t = now()
            let keepHistory = t - agent.historyAt >= heartbeat.historySampleSec
            try db.cachedStatement(sql: """
                INSERT INTO heartbeat_latest(member_id, received_at, source_ip, agent_version, report, history_at)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(member_id) DO UPDATE SET received_at = excluded.received_at,
                    source_ip = excluded.source_ip, agent_version = excluded.agent_version,
                    report = excluded.report, history_at = excluded.history_at
                """).execute(arguments: [agent.memberID, t, sourceIP.description, report.agentVersion,
                                         rawReport, keepHistory ? t : agent.historyAt])
            if keepHistory {
                try db.cachedStatement(sql: "INSERT INTO heartbeat_history(member_id, received_at, source_ip, report) VALUES (?, ?, ?, ?)")
                    .execute(arguments: [agent.memberID, t, sourceIP.description, rawReport])
                try db.cachedStatement(sql: """
                    DELETE FROM heartbeat_history WHERE member_id = ? AND id <= (
                        SELECT id FROM heartbeat_history WHERE member_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)
                    """).execute(arguments: [agent.memberID, agent.memberID, heartbeat.historyKeep])
            }
            let lease = t + Double(queue.leaseSec)
            var cancels: [JobRef] = []
            if !report.jobsInFlight.isEmpty {
                let renew = try db.cachedStatement(sql: """
                    UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND member_id = ? AND attempt = ? AND state = 'running'
                    """)
                for ref in report.jobsInFlight.prefix(256) {
                    try renew.execute(arguments: [lease, ref.id, agent.memberID, ref.attempt])
                }
                cancels = try Row.fetchAll(db.cachedStatement(sql: """
                    SELECT id, attempt FROM jobs WHERE member_id = ? AND state = 'running' AND cancel_requested = 1
                    """), arguments: [agent.memberID]).map { JobRef(id: $0["id"], attempt: $0["attempt"]) }
            }
            let pending = try Row.fetchAll(db.cachedStatement(sql: """
                SELECT id, command, params, attempt, timeout_sec, check_mode FROM jobs
                WHERE member_id = ? AND state = 'pending' ORDER BY priority DESC, id LIMIT ?
                """), arguments: [agent.memberID, queue.claimBatch])
            var jobs: [ClaimedJob] = []
            for row in pending {
                let id: Int64 = row["id"], attempt: Int = row["attempt"]
                try db.cachedStatement(sql: """
                    UPDATE jobs SET state = 'running', lease_expires_at = ?, started_at = COALESCE(started_at, ?) WHERE id = ?
                    """).execute(arguments: [lease, t, id])
                try Self.event(db, id, attempt, "claimed", "by \(agent.hostname) (attempt \(attempt))")
                let paramsText: String = row["params"]
                jobs.append(ClaimedJob(
                    id: id, command: row["command"],
                    params: (try? JSONDecoder().decode(JSONValue.self, from: Data(paramsText.utf8))) ?? .emptyObject,
                    attempt: attempt, leaseSec: queue.leaseSec, timeoutSec: row["timeout_sec"],
                    checkMode: row["check_mode"]))
            }
            return (jobs, cancels)
        }
    }
}
