import BalctlProtocol
import Foundation
import GRDB

/// Queue settings.
public struct QueuePolicy: Sendable {
    /// A claimed job's lease: renewed by every heartbeat that lists the job, by progress posts,
    /// and ended by a completion.
    public var leaseSec: Int = 30
    public var defaultMaxAttempts = 3
    public var defaultTimeoutSec = 600
    /// Jobs handed out per heartbeat at most.
    public var claimBatch = 16
    public init() {}
}

/// The job queue: pending → running → completed | failed | cancelled. The attempt number is the
/// fencing token: only the current attempt may report progress or completion.
extension Store {
    static func jobView(_ row: Row, events: [JobEventView]?) -> JobView {
        func json(_ col: String) -> JSONValue? {
            guard let text: String = row[col] else { return nil }
            return try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        }
        return JobView(
            id: row["id"], poolId: row["pool_id"], memberId: row["member_id"],
            hostname: row["hostname"] ?? "", command: row["command"], params: json("params") ?? .emptyObject,
            state: JobState(rawValue: row["state"]) ?? .failed, attempt: row["attempt"],
            maxAttempts: row["max_attempts"], priority: row["priority"], timeoutSec: row["timeout_sec"],
            checkMode: row["check_mode"], cancelRequested: row["cancel_requested"],
            createdAt: row["created_at"], startedAt: row["started_at"], finishedAt: row["finished_at"],
            exitCode: row["exit_code"], changed: row["changed"], error: row["error"],
            progressMessage: row["progress_message"], progressPercent: row["progress_percent"],
            output: row["output"], result: json("result"), events: events,
            recipeRunId: row["recipe_run_id"], recipeStep: row["recipe_step"])
    }

    static let jobSelect = "SELECT j.*, m.hostname FROM jobs j JOIN members m ON m.id = j.member_id"

    static func event(_ db: Database, _ job: Int64, _ attempt: Int, _ kind: String, _ message: String?) throws {
        try db.cachedStatement(sql: "INSERT INTO job_events(job_id, attempt, at, kind, message) VALUES (?, ?, ?, ?, ?)")
            .execute(arguments: [job, attempt, now(), kind, message])
    }

    /// Enqueue: refused when the command is unknown, its parameters are bad, or the member's agent
    /// does not report the command.
    public func enqueue(member memberID: Int64, _ req: EnqueueJobRequest, catalogue: CommandCatalogue,
                        policy: QueuePolicy, by op: Operator) async throws -> JobView {
        let params = req.params ?? .emptyObject
        let checkMode = req.checkMode ?? false
        do {
            try catalogue.validate(command: req.command, params: params, checkMode: checkMode)
        } catch let e as ParameterError {
            throw ControlPlaneError.badRequest(e.message)
        }
        let priority = req.priority ?? 0
        let maxAttempts = req.maxAttempts ?? policy.defaultMaxAttempts
        let timeout = req.timeoutSec ?? policy.defaultTimeoutSec
        guard (-100...100).contains(priority) else { throw ControlPlaneError.badRequest("priority must be -100…100") }
        guard (1...20).contains(maxAttempts) else { throw ControlPlaneError.badRequest("maxAttempts must be 1…20") }
        guard (1...86_400).contains(timeout) else { throw ControlPlaneError.badRequest("timeoutSec must be 1…86400") }

        return try await db.write { db in
            let member = try Self.member(db, memberID, op)
            try Self.requireAgentReports(member, req.command)
            let id = try Self.insertJob(db, member: member, command: req.command, params: params, priority: priority,
                                        maxAttempts: maxAttempts, timeoutSec: timeout, checkMode: checkMode,
                                        accountID: op.accountID, by: op.name)
            try Self.audit(db, op.accountID, "job.enqueue", "job:\(id)", "\(req.command) on member \(memberID)")
            return try Self.job(db, id, op, withEvents: true)
        }
    }

    /// A command can be queued only for an agent that says it can run it.
    static func requireAgentReports(_ member: MemberView, _ command: String) throws {
        guard let hb = member.heartbeat else {
            throw ControlPlaneError.conflict("member \(member.id) (\(member.hostname)) has not sent a heartbeat yet, so its commands are unknown")
        }
        guard hb.commands.contains(command) else {
            throw ControlPlaneError.conflict("the agent on \(member.hostname) (version \(hb.agentVersion)) does not report command '\(command)'")
        }
    }

    /// Insert a pending job (parameters already validated) and its `enqueued` event.
    static func insertJob(_ db: Database, member: MemberView, command: String, params: JSONValue, priority: Int = 0,
                          maxAttempts: Int, timeoutSec: Int, checkMode: Bool = false, accountID: Int64, by who: String,
                          recipeRun: Int64? = nil, recipeStep: Int? = nil) throws -> Int64 {
        try db.execute(sql: """
            INSERT INTO jobs(account_id, pool_id, member_id, command, params, priority, max_attempts,
                             timeout_sec, check_mode, state, attempt, created_at, recipe_run_id, recipe_step)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 1, ?, ?, ?)
            """, arguments: [accountID, member.poolId, member.id, command, params.jsonString(),
                             priority, maxAttempts, timeoutSec, checkMode, now(), recipeRun, recipeStep])
        let id = db.lastInsertedRowID
        try event(db, id, 1, "enqueued", "\(command)\(checkMode ? " (check mode)" : "") by \(who)")
        return id
    }

    static func job(_ db: Database, _ id: Int64, _ op: Operator, withEvents: Bool) throws -> JobView {
        guard let row = try Row.fetchOne(db, sql: jobSelect + " WHERE j.id = ? AND j.account_id = ?",
                                         arguments: [id, op.accountID]) else {
            throw ControlPlaneError.notFound("no job \(id)")
        }
        let events = withEvents ? try Row.fetchAll(db, sql: "SELECT * FROM job_events WHERE job_id = ? ORDER BY id",
                                                   arguments: [id]).map {
            JobEventView(at: $0["at"], attempt: $0["attempt"], kind: $0["kind"], message: $0["message"])
        } : nil
        return jobView(row, events: events)
    }

    public func job(_ id: Int64, by op: Operator) async throws -> JobView {
        try await db.read { try Self.job($0, id, op, withEvents: true) }
    }

    /// The timeline of a member or a pool (or the whole account), newest first, without output.
    public func listJobs(member: Int64?, pool: Int64?, limit: Int, by op: Operator) async throws -> [JobView] {
        try await db.read { db in
            var sql = Self.jobSelect + " WHERE j.account_id = ?"
            var args: [any DatabaseValueConvertible] = [op.accountID]
            if let member { _ = try Self.member(db, member, op); sql += " AND j.member_id = ?"; args.append(member) }
            if let pool { _ = try Self.pool(db, pool, op); sql += " AND j.pool_id = ?"; args.append(pool) }
            sql += " ORDER BY j.id DESC LIMIT ?"
            args.append(limit)
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map {
                var v = Self.jobView($0, events: nil)
                v.output = nil
                return v
            }
        }
    }

    /// Pending: cancelled at once. Running: the agent is told on its next heartbeat.
    public func cancelJob(_ id: Int64, by op: Operator) async throws -> JobView {
        try await db.write { db in
            let job = try Self.job(db, id, op, withEvents: false)
            switch job.state {
            case .pending:
                try db.execute(sql: "UPDATE jobs SET state = 'cancelled', finished_at = ?, error = ? WHERE id = ?",
                               arguments: [now(), "cancelled by \(op.name) before it started", id])
                try Self.event(db, id, job.attempt, "cancelled", "cancelled by \(op.name) before it started")
                try Self.advanceRecipeRun(db, afterJob: id)
            case .running:
                guard !job.cancelRequested else { break }
                try db.execute(sql: "UPDATE jobs SET cancel_requested = 1 WHERE id = ?", arguments: [id])
                try Self.event(db, id, job.attempt, "cancel_requested", "by \(op.name); the agent stops it on its next heartbeat")
            case .completed, .failed, .cancelled:
                throw ControlPlaneError.conflict("job \(id) already ended (\(job.state.rawValue))")
            }
            try Self.audit(db, op.accountID, "job.cancel", "job:\(id)", job.command)
            return try Self.job(db, id, op, withEvents: true)
        }
    }

    // MARK: agent side

    /// Progress from the attempt holder: stored, and the lease extended.
    func recordProgress(_ p: JobProgress, member: Int64, policy: QueuePolicy) async throws {
        try await db.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT state, attempt, progress_message FROM jobs WHERE id = ? AND member_id = ?",
                                             arguments: [p.jobId, member]) else {
                throw ControlPlaneError.notFound("no job \(p.jobId) for this member")
            }
            let attempt: Int = row["attempt"]
            guard row["state"] == "running", attempt == p.attempt else {
                throw ControlPlaneError.conflict("attempt \(p.attempt) of job \(p.jobId) is not current (job is \(row["state"] as String) on attempt \(attempt))")
            }
            let message = p.message.map { String($0.prefix(500)) }
            let percent = p.percent.map { min(100, max(0, $0)) }
            try db.execute(sql: "UPDATE jobs SET progress_message = ?, progress_percent = ?, lease_expires_at = ? WHERE id = ?",
                           arguments: [message, percent, now() + Double(policy.leaseSec), p.jobId])
            // The timeline gets an event when the message changes, not for every percent.
            if let message, message != (row["progress_message"] as String?) {
                try Self.event(db, p.jobId, attempt, "progress", message)
            }
        }
    }

    /// Completion, idempotent per (job, attempt): a repeat of the recorded attempt is accepted and
    /// changes nothing; a stale attempt gets 409 and changes nothing.
    @discardableResult
    func recordCompletion(_ c: JobCompletion, member: Int64) async throws -> JobState {
        try await db.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT state, attempt, max_attempts, cancel_requested FROM jobs WHERE id = ? AND member_id = ?",
                                             arguments: [c.jobId, member]) else {
                throw ControlPlaneError.notFound("no job \(c.jobId) for this member")
            }
            let state = JobState(rawValue: row["state"]) ?? .failed
            let attempt: Int = row["attempt"]
            let maxAttempts: Int = row["max_attempts"]
            guard attempt == c.attempt else {
                throw ControlPlaneError.conflict("attempt \(c.attempt) of job \(c.jobId) is stale: the job is on attempt \(attempt) (\(state.rawValue))")
            }
            guard state == .running else {
                if state.isTerminal { return state }  // a repeat: already recorded
                throw ControlPlaneError.conflict("job \(c.jobId) is \(state.rawValue), not running")
            }
            let output = String(decoding: c.output.utf8.suffix(AgentWire.maxOutputTailBytes), as: UTF8.self)
            let t = now()
            switch c.status {
            case .interrupted where attempt < maxAttempts:
                // Lost with the agent: offer it again at once rather than waiting for the lease.
                try db.execute(sql: """
                    UPDATE jobs SET state = 'pending', attempt = attempt + 1, lease_expires_at = NULL,
                        progress_message = NULL, progress_percent = NULL WHERE id = ?
                    """, arguments: [c.jobId])
                try Self.event(db, c.jobId, attempt, "interrupted", c.error ?? "the agent lost this attempt")
                return .pending
            default:
                let final: JobState
                switch c.status {
                case .completed: final = .completed
                case .cancelled: final = .cancelled
                case .failed, .interrupted: final = .failed
                }
                let error = c.status == .interrupted
                    ? "interrupted on the last of \(maxAttempts) attempts: \(c.error ?? "")" : c.error
                try db.execute(sql: """
                    UPDATE jobs SET state = ?, finished_at = ?, lease_expires_at = NULL, exit_code = ?,
                        changed = ?, error = ?, output = ?, result = ? WHERE id = ?
                    """, arguments: [final.rawValue, t, c.exitCode, c.changed, error, output,
                                     c.result?.jsonString(), c.jobId])
                let summary: String
                switch final {
                case .completed: summary = c.changed == false ? "unchanged" : "changed"
                default: summary = error ?? final.rawValue
                }
                try Self.event(db, c.jobId, attempt, c.status == .interrupted ? "failed" : final.rawValue, summary)
                try Self.advanceRecipeRun(db, afterJob: c.jobId)
                return final
            }
        }
    }

    /// Leases that ran out: back to pending with attempt + 1, or failed after the last attempt
    /// (cancelled if an operator had asked). Returns how many jobs moved.
    @discardableResult
    public func expireLeases(at t: Double = now()) async throws -> Int {
        try await db.write { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT id, attempt, max_attempts, cancel_requested FROM jobs
                WHERE state = 'running' AND lease_expires_at < ?
                """, arguments: [t])
            for row in rows {
                let id: Int64 = row["id"], attempt: Int = row["attempt"], maxAttempts: Int = row["max_attempts"]
                if row["cancel_requested"] as Bool {
                    try db.execute(sql: "UPDATE jobs SET state = 'cancelled', finished_at = ?, lease_expires_at = NULL, error = ? WHERE id = ?",
                                   arguments: [t, "cancelled; the agent never confirmed", id])
                    try Self.event(db, id, attempt, "cancelled", "lease expired after the cancel request")
                } else if attempt < maxAttempts {
                    try db.execute(sql: """
                        UPDATE jobs SET state = 'pending', attempt = attempt + 1, lease_expires_at = NULL,
                            progress_message = NULL, progress_percent = NULL WHERE id = ?
                        """, arguments: [id])
                    try Self.event(db, id, attempt, "lease_expired", "no word from the agent; offered again as attempt \(attempt + 1)")
                } else {
                    let why = "lease expired on attempt \(attempt) of \(maxAttempts): the agent stopped reporting"
                    try db.execute(sql: "UPDATE jobs SET state = 'failed', finished_at = ?, lease_expires_at = NULL, error = ? WHERE id = ?",
                                   arguments: [t, why, id])
                    try Self.event(db, id, attempt, "failed", why)
                }
                try Self.advanceRecipeRun(db, afterJob: id)
            }
            return rows.count
        }
    }

    /// After a control-plane restart agents need a moment to reach us again: no running job's
    /// lease ends sooner than one full lease from now.
    public func graceRunningLeases(policy: QueuePolicy) async throws {
        try await db.write { db in
            try db.execute(sql: "UPDATE jobs SET lease_expires_at = MAX(lease_expires_at, ?) WHERE state = 'running'",
                           arguments: [now() + Double(policy.leaseSec)])
        }
    }
}
