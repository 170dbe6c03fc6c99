import BalctlProtocol
import Foundation
import SQLEngine

/// Queue settings.
public struct QueuePolicy: Sendable {
    /// A claimed job's lease: renewed by every heartbeat that lists the job, by progress posts,
    /// and ended by a completion.
    public var leaseSec: Int = 30
    public var defaultMaxAttempts = 3
    public var defaultTimeoutSec = 600
    /// Jobs handed out per heartbeat at most.
    public var claimBatch = 16
    /// A running attempt has a deadline on the control plane: its `timeoutSec` from the claim (from
    /// the end of the jobs ahead of it on the same lock, which the agent runs first) plus this
    /// grace, in which the agent's own timeout stops the job and reports it. Past it the job fails
    /// even if heartbeats still list it, and the agent is told to cancel it.
    public var deadlineGraceSec = 60
    /// A job still pending this long after it was enqueued expires (its agent never took it).
    public var pendingExpirySec: Double = 24 * 3600
    /// The lock of each command that has one (from the catalogue): the agent runs the jobs on one
    /// lock one after another, so a job's deadline starts where the one ahead of it ends.
    public var commandLocks: [String: String] = [:]
    public init() {}

    public static func locks(of catalogue: CommandCatalogue) -> [String: String] {
        catalogue.descriptors.compactMapValues(\.info.lock)
    }
}

/// The job queue: pending → running → completed | failed | cancelled. The attempt number is the
/// fencing token: only the current attempt may report progress or completion.
extension Store {
    static func jobView(_ row: SQLRow, events: [JobEventView]?) -> JobView {
        func json(_ col: String) -> JSONValue? {
            guard let text: String = row[col] else { return nil }
            return try? JSONTree.parse(text)
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

    static func event(_ db: any SQLConnection, _ job: Int64, _ attempt: Int, _ kind: String, _ message: String?) throws {
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
        let timeout = req.timeoutSec ?? catalogue.defaultTimeout(for: req.command, fallback: policy.defaultTimeoutSec)
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
    static func insertJob(_ db: any SQLConnection, member: MemberView, command: String, params: JSONValue, priority: Int = 0,
                          maxAttempts: Int, timeoutSec: Int, checkMode: Bool = false, accountID: Int64, by who: String,
                          recipeRun: Int64? = nil, recipeStep: Int? = nil) throws -> Int64 {
        // Every way in (operator, recipe, schedule) passes here: a restore never names a snapshot
        // of another account.
        if Backups.restoreCommands.contains(command), case .object(let o) = params, case .string(let snapshot)? = o["snapshot"] {
            guard let owner = try Backups.fetch(db, snapshot) else { throw ControlPlaneError.notFound("no snapshot \(snapshot)") }
            guard owner.view.accountId == accountID else {
                throw ControlPlaneError.forbidden("snapshot \(snapshot) belongs to another account: restores never cross accounts")
            }
            guard owner.view.state == "complete" else { throw ControlPlaneError.conflict("snapshot \(snapshot) is \(owner.view.state), not complete") }
        }
        let id = try db.insertReturningID(sql: """
            INSERT INTO jobs(account_id, pool_id, member_id, command, params, priority, max_attempts,
                             timeout_sec, check_mode, state, attempt, created_at, recipe_run_id, recipe_step)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 1, ?, ?, ?)
            """, arguments: [accountID, member.poolId, member.id, command, params.jsonString(),
                             priority, maxAttempts, timeoutSec, checkMode, now(), recipeRun, recipeStep])
        try event(db, id, 1, "enqueued", "\(command)\(checkMode ? " (check mode)" : "") by \(who)")
        return id
    }

    static func job(_ db: any SQLConnection, _ id: Int64, _ op: Operator, withEvents: Bool) throws -> JobView {
        guard let row = try SQLRow.fetchOne(db, sql: jobSelect + " WHERE j.id = ? AND j.account_id = ?",
                                         arguments: [id, op.accountID]) else {
            throw ControlPlaneError.notFound("no job \(id)")
        }
        let events = withEvents ? try SQLRow.fetchAll(db, sql: "SELECT * FROM job_events WHERE job_id = ? ORDER BY id",
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
            var args: [any SQLValueConvertible] = [op.accountID]
            if let member { _ = try Self.member(db, member, op); sql += " AND j.member_id = ?"; args.append(member) }
            if let pool { _ = try Self.pool(db, pool, op); sql += " AND j.pool_id = ?"; args.append(pool) }
            sql += " ORDER BY j.id DESC LIMIT ?"
            args.append(limit)
            return try SQLRow.fetchAll(db, sql: sql, arguments: SQLArguments(args)).map {
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
                let why = "cancelled by \(op.name) before it started"
                try Self.endJob(db, id, attempt: job.attempt, .cancelled, error: why, event: "cancelled", why, at: now())
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
            guard let row = try SQLRow.fetchOne(db, sql: "SELECT state, attempt, progress_message FROM jobs WHERE id = ? AND member_id = ?",
                                             arguments: [p.jobId, member]) else {
                throw ControlPlaneError.notFound("no job \(p.jobId) for this member")
            }
            let attempt: Int = row["attempt"]
            guard row["state"] == "running", attempt == p.attempt else {
                throw ControlPlaneError.conflict("attempt \(p.attempt) of job \(p.jobId) is not current (job is \(row["state"] as String) on attempt \(attempt))")
            }
            let message = p.message.map { AgentText.capped($0, maxBytes: AgentText.maxProgressBytes) }
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
    /// changes nothing; a stale attempt gets 409 and changes nothing. A completion for an attempt
    /// the control plane already ended itself (lease, deadline, cancel) also gets 409; what the
    /// agent reported is kept on the timeline as a `late_result` event, the job stays as it ended.
    /// An attempt interrupted after a cancel request ends the job cancelled: a cancel is final.
    /// `ranFor` gets the seconds from the job's first claim to its end (metrics), once it is recorded.
    @discardableResult
    func recordCompletion(_ c: JobCompletion, member: Int64, ranFor: @Sendable (Double) -> Void = { _ in }) async throws -> JobState {
        let verdict: Result<(JobState, Double?), ControlPlaneError> = try await db.write { db in
            guard let row = try SQLRow.fetchOne(db, sql: """
                SELECT state, attempt, max_attempts, cancel_requested, agent_reported, error, started_at FROM jobs
                WHERE id = ? AND member_id = ?
                """, arguments: [c.jobId, member]) else {
                throw ControlPlaneError.notFound("no job \(c.jobId) for this member")
            }
            let state = JobState(rawValue: row["state"]) ?? .failed
            let attempt: Int = row["attempt"]
            let maxAttempts: Int = row["max_attempts"]
            guard attempt == c.attempt else {
                throw ControlPlaneError.conflict("attempt \(c.attempt) of job \(c.jobId) is stale: the job is on attempt \(attempt) (\(state.rawValue))")
            }
            guard state == .running else {
                guard state.isTerminal else { throw ControlPlaneError.conflict("job \(c.jobId) is \(state.rawValue), not running") }
                if row["agent_reported"] as Bool { return .success((state, nil)) }  // a repeat: already recorded
                try Self.recordLateResult(db, c)
                return .failure(ControlPlaneError.conflict(
                    "attempt \(c.attempt) of job \(c.jobId) was already ended by the control plane (\(state.rawValue): \((row["error"] as String?) ?? "")); this late \(c.status.rawValue) is kept on the timeline only"))
            }
            let output = String(decoding: c.output.utf8.suffix(AgentWire.maxOutputTailBytes), as: UTF8.self)
            // red team finding F8: the agent's error text is stored bounded (jobs.error and the event).
            let agentError = c.error.map { AgentText.capped($0, maxBytes: AgentText.maxErrorBytes) }
            let t = now()
            let cancelRequested: Bool = row["cancel_requested"]
            if c.status == .interrupted && !cancelRequested && attempt < maxAttempts {
                // Lost with the agent: offer it again at once rather than waiting for the lease.
                try db.execute(sql: """
                    UPDATE jobs SET state = 'pending', attempt = attempt + 1, lease_expires_at = NULL, deadline_at = NULL,
                        progress_message = NULL, progress_percent = NULL WHERE id = ?
                    """, arguments: [c.jobId])
                try Self.event(db, c.jobId, attempt, "interrupted", agentError ?? "the agent lost this attempt")
                return .success((.pending, nil))
            }
            let final: JobState
            let error: String?
            switch c.status {
            case .completed: final = .completed; error = agentError
            case .cancelled: final = .cancelled; error = agentError
            case .failed: final = .failed; error = agentError
            case .interrupted where cancelRequested:
                // An operator asked for the cancel: the job is not offered again.
                final = .cancelled; error = "cancelled; the attempt was interrupted: \(agentError ?? "")"
            case .interrupted:
                final = .failed; error = "interrupted on the last of \(maxAttempts) attempts: \(agentError ?? "")"
            }
            try db.execute(sql: """
                UPDATE jobs SET state = ?, finished_at = ?, lease_expires_at = NULL, deadline_at = NULL, exit_code = ?,
                    changed = ?, error = ?, output = ?, result = ?, agent_reported = 1 WHERE id = ?
                """, arguments: [final.rawValue, t, c.exitCode, c.changed, error, output,
                                 c.result?.jsonString(), c.jobId])
            let summary: String
            switch final {
            case .completed: summary = c.changed == false ? "unchanged" : "changed"
            default: summary = error ?? final.rawValue
            }
            try Self.event(db, c.jobId, attempt, final.rawValue, summary)
            try Self.advanceRecipeRun(db, afterJob: c.jobId)
            return .success((final, (row["started_at"] as Double?).map { t - $0 }))
        }
        let (state, seconds) = try verdict.get()
        if let seconds { ranFor(seconds) }
        return state
    }

    /// What an agent reported for an attempt the control plane had already ended, once per
    /// attempt (a resend of the same late completion adds nothing).
    static func recordLateResult(_ db: any SQLConnection, _ c: JobCompletion) throws {
        let known = try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM job_events WHERE job_id = ? AND attempt = ? AND kind = 'late_result')",
                                      arguments: [c.jobId, c.attempt]) ?? false
        guard !known else { return }
        var message = "the agent reported \(c.status.rawValue) after the control plane had ended this attempt"
        if let code = c.exitCode { message += "; exit code \(code)" }
        if let e = c.error, !e.isEmpty { message += ": " + AgentText.capped(e, maxBytes: AgentText.maxErrorBytes) }
        try event(db, c.jobId, c.attempt, "late_result", message)
    }

    /// End a job on the control plane's own word (never an agent's report): terminal state, the
    /// reason, a timeline event, and the recipe run moves on.
    static func endJob(_ db: any SQLConnection, _ id: Int64, attempt: Int, _ state: JobState, error: String,
                       event kind: String, _ message: String, at t: Double) throws {
        try db.execute(sql: """
            UPDATE jobs SET state = ?, finished_at = ?, lease_expires_at = NULL, deadline_at = NULL, error = ? WHERE id = ?
            """, arguments: [state.rawValue, t, error, id])
        try event(db, id, attempt, kind, message)
        try advanceRecipeRun(db, afterJob: id)
    }

    /// Everything the sweeper does at `t`: leases, deadlines, pending expiry. Returns how many
    /// jobs moved. `fence`: the leader's (replicas), checked in each transaction that moves a job.
    @discardableResult
    public func sweep(at t: Double = now(), policy: QueuePolicy, fence: LeaderFence? = nil) async throws -> Int {
        try await expireLeases(at: t, fence: fence) + enforceDeadlines(at: t, policy: policy, fence: fence)
    }

    /// Leases that ran out: back to pending with attempt + 1, or failed after the last attempt
    /// (cancelled if an operator had asked). Returns how many jobs moved.
    @discardableResult
    public func expireLeases(at t: Double = now(), fence: LeaderFence? = nil) async throws -> Int {
        try await db.write { db in
            let rows = try SQLRow.fetchAll(db, sql: """
                SELECT id, attempt, max_attempts, cancel_requested FROM jobs
                WHERE state = 'running' AND lease_expires_at < ?
                """, arguments: [t])
            if !rows.isEmpty { try fence?.check(db) }
            for row in rows {
                let id: Int64 = row["id"], attempt: Int = row["attempt"], maxAttempts: Int = row["max_attempts"]
                if row["cancel_requested"] as Bool {
                    try Self.endJob(db, id, attempt: attempt, .cancelled, error: "cancelled; the agent never confirmed",
                                    event: "cancelled", "lease expired after the cancel request", at: t)
                } else if attempt < maxAttempts {
                    try db.execute(sql: """
                        UPDATE jobs SET state = 'pending', attempt = attempt + 1, lease_expires_at = NULL, deadline_at = NULL,
                            progress_message = NULL, progress_percent = NULL WHERE id = ?
                        """, arguments: [id])
                    try Self.event(db, id, attempt, "lease_expired", "no word from the agent; offered again as attempt \(attempt + 1)")
                } else {
                    let why = "lease expired on attempt \(attempt) of \(maxAttempts): the agent stopped reporting"
                    try Self.endJob(db, id, attempt: attempt, .failed, error: why, event: "failed", why, at: t)
                }
            }
            return rows.count
        }
    }

    /// Jobs can not live forever: a running attempt past its deadline fails (or ends cancelled when
    /// an operator asked), however many heartbeats still list it; a job pending longer than
    /// `pendingExpirySec` after it was enqueued fails as expired. Returns how many jobs moved.
    @discardableResult
    public func enforceDeadlines(at t: Double = now(), policy: QueuePolicy, fence: LeaderFence? = nil) async throws -> Int {
        try await db.write { db in
            let overdue = try SQLRow.fetchAll(db, sql: """
                SELECT id, attempt, timeout_sec, cancel_requested FROM jobs WHERE state = 'running' AND deadline_at < ?
                """, arguments: [t])
            if !overdue.isEmpty { try fence?.check(db) }
            for row in overdue {
                let id: Int64 = row["id"], attempt: Int = row["attempt"], timeout: Int = row["timeout_sec"]
                let late = "no completion \(policy.deadlineGraceSec) s after its \(timeout) s timeout"
                if row["cancel_requested"] as Bool {
                    try Self.endJob(db, id, attempt: attempt, .cancelled, error: "cancelled; the agent did not stop it: \(late)",
                                    event: "cancelled", "deadline passed after the cancel request: \(late); the agent is told to cancel it", at: t)
                } else {
                    try Self.endJob(db, id, attempt: attempt, .failed, error: "timed out on the control plane: \(late)",
                                    event: "timed_out", "\(late); the agent is told to cancel it", at: t)
                }
            }
            let expired = try SQLRow.fetchAll(db, sql: """
                SELECT id, attempt FROM jobs WHERE state = 'pending' AND created_at < ?
                """, arguments: [t - policy.pendingExpirySec])
            if overdue.isEmpty && !expired.isEmpty { try fence?.check(db) }
            for row in expired {
                let why = "expired: still pending \(Self.hours(policy.pendingExpirySec)) after it was enqueued (its agent never claimed it)"
                try Self.endJob(db, row["id"], attempt: row["attempt"], .failed, error: why, event: "expired", why, at: t)
            }
            return overdue.count + expired.count
        }
    }

    static func hours(_ seconds: Double) -> String {
        seconds.truncatingRemainder(dividingBy: 3600) == 0 ? "\(Int(seconds / 3600)) h" : "\(Int(seconds)) s"
    }

    /// After a control-plane restart agents need a moment to reach us again: no running job's
    /// lease (or deadline: the completion may be waiting on the agent) ends sooner than one full
    /// lease from now.
    public func graceRunningLeases(policy: QueuePolicy, at t: Double = now()) async throws {
        try await db.write { db in
            try db.execute(sql: """
                UPDATE jobs SET lease_expires_at = \(db.dialect.greatest("lease_expires_at", "?1")),
                                deadline_at = \(db.dialect.greatest("deadline_at", "?1"))
                WHERE state = 'running'
                """, arguments: [t + Double(policy.leaseSec)])
        }
    }
}
