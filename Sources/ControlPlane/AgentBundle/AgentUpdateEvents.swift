import BalctlProtocol
import SQLEngine

/// Self-update outcomes agents report in heartbeats (`updateEvents`): updated, rolled back,
/// refused, interrupted. Each lands in the job timeline: on the `agent.update` job that started
/// it, or — for `balctl-heartbeat --update` and automatic updates — on a job row of its own
/// (command `agent.update`, already finished), so `balctl jobs list` shows every update.
enum AgentUpdateEvents {
    private struct Carrier: Decodable { var updateEvents: [AgentUpdateEvent]? }
    static let maxPerHeartbeat = 20

    static func record(_ db: any SQLConnection, member: Int64, rawReport: String) throws {
        guard let events = (try? JSONTree.decode(Carrier.self, from: rawReport))?.updateEvents else { return }
        for e in events.prefix(maxPerHeartbeat) {
            guard (8...32).contains(e.id.utf8.count), e.id.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else { continue }
            let kind = "agent_" + e.kind.rawValue
            let message = String(e.message.prefix(2000)) + " [event \(e.id)]"
            // A reply lost on the way back makes the agent send the event again: record it once.
            let seen = try Bool.fetchOne(db.cachedStatement(sql: """
                SELECT EXISTS(SELECT 1 FROM job_events ev JOIN jobs j ON j.id = ev.job_id
                              WHERE j.member_id = ? AND ev.kind = ? AND ev.message = ?)
                """), arguments: [member, kind, message]) ?? false
            if seen { continue }
            if let job = e.jobId,
               let attempt = try Int.fetchOne(db.cachedStatement(sql: "SELECT attempt FROM jobs WHERE id = ? AND member_id = ?"),
                                              arguments: [job, member]) {
                try Store.event(db, job, attempt, kind, message)
                continue
            }
            let failed = e.kind != .updated
            let at = min(e.at, now())
            let id = try db.insertReturningID(sql: """
                INSERT INTO jobs(account_id, pool_id, member_id, command, params, priority, max_attempts, timeout_sec,
                                 check_mode, state, attempt, created_at, started_at, finished_at, changed, error, output)
                SELECT account_id, pool_id, id, 'agent.update', '{}', 0, 1, 0, 0, ?, 1, ?, ?, ?, ?, ?, ?
                FROM members WHERE id = ?
                """, arguments: [failed ? "failed" : "completed", at, at, at, failed ? 0 : 1,
                                 failed ? message : nil, message + "\n", member])
            try Store.event(db, id, 1, kind, message)
        }
    }
}
