import BalctlProtocol
import SQLEngine

/// Self-update outcomes agents report in heartbeats (`updateEvents`): updated, rolled back,
/// refused, interrupted. Each lands in the job timeline: on the member's own `agent.update` job
/// that started it, or — for `balctl-heartbeat --update` and automatic updates — on a finished
/// `agent.update` job of its own, so `balctl jobs list` shows every update.
///
/// An agent's credential is not trusted with more than that (red team, issue 13): an event is
/// recorded once per (member, event id) through an indexed key; events that would create a job
/// row are limited per member and day; times are clamped to the last week.
enum AgentUpdateEvents {
    private struct Carrier: Decodable { var updateEvents: [AgentUpdateEvent]? }
    static let maxPerHeartbeat = 20
    /// Standalone events (each a job row) a member may add per day.
    static let maxStandalonePerDay = 20
    static let maxMessageBytes = 2000
    /// Events (of any kind) a member may report per day; beyond, they are dropped.
    static let maxEventsPerDay = 200

    static func record(_ db: any SQLConnection, member: Int64, rawReport: String) throws {
        guard let events = (try? JSONTree.decode(Carrier.self, from: rawReport))?.updateEvents else { return }
        let t = now()
        // Ids are remembered for 30 days (longer than any agent keeps an unsent event).
        try db.cachedStatement(sql: "DELETE FROM agent_update_events WHERE member_id = ? AND received_at < ?")
            .execute(arguments: [member, t - 30 * 86_400])
        var budget = maxEventsPerDay - (try Int.fetchOne(db.cachedStatement(sql: """
            SELECT COUNT(*) FROM agent_update_events WHERE member_id = ? AND received_at > ?
            """), arguments: [member, t - 86_400]) ?? 0)
        for e in events.prefix(maxPerHeartbeat) where budget > 0 {
            guard (8...32).contains(e.id.utf8.count), e.id.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else { continue }
            try db.cachedStatement(sql: """
                INSERT INTO agent_update_events(member_id, event_id, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING
                """).execute(arguments: [member, e.id, t])
            if db.changesCount == 0 { continue }  // seen before
            budget -= 1
            let kind = "agent_" + e.kind.rawValue
            var message = String(e.message.prefix(maxMessageBytes))
            while message.utf8.count > maxMessageBytes { message.removeLast() }
            if let job = e.jobId,
               let attempt = try Int.fetchOne(db.cachedStatement(sql: """
                   SELECT attempt FROM jobs WHERE id = ? AND member_id = ? AND command = 'agent.update'
                   """), arguments: [job, member]) {
                try Store.event(db, job, attempt, kind, message)
                continue
            }
            let today = try Int.fetchOne(db.cachedStatement(sql: """
                SELECT COUNT(*) FROM jobs WHERE member_id = ? AND command = 'agent.update' AND params = '{"source":"agent"}'
                    AND created_at > ?
                """), arguments: [member, t - 86_400]) ?? 0
            guard today < maxStandalonePerDay else { continue }
            let failed = e.kind != .updated
            // Created now (the daily limit counts by it); the agent's time, clamped, as when it ran.
            let at = min(max(e.at.isFinite ? e.at : t, t - 7 * 86_400), t)
            let id = try db.insertReturningID(sql: """
                INSERT INTO jobs(account_id, pool_id, member_id, command, params, priority, max_attempts, timeout_sec,
                                 check_mode, state, attempt, created_at, started_at, finished_at, changed, error, output)
                SELECT account_id, pool_id, id, 'agent.update', '{"source":"agent"}', 0, 1, 0, 0, ?, 1, ?, ?, ?, ?, ?, ?
                FROM members WHERE id = ?
                """, arguments: [failed ? "failed" : "completed", t, at, at, failed ? 0 : 1,
                                 failed ? message : nil, message + "\n", member])
            try Store.event(db, id, 1, kind, message)
        }
    }
}
