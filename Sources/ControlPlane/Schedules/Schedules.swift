import BalctlProtocol
import Foundation
import SQLEngine

/// Cron schedules per member (UTC): each due time enqueues one job or recipe run for the member's
/// next heartbeat — exactly once, even across restarts and with two schedulers on one database.
extension Store {
    /// A due time older than this when the scheduler sees it was missed (the control plane was
    /// down or stalled): run once or skip, per schedule.
    static let missedAfterSec: Double = 120

    static func scheduleView(_ row: SQLRow) -> ScheduleView {
        let params = (row["params"] as String?).flatMap { try? JSONTree.parse($0) }
        return ScheduleView(
            id: row["id"], memberId: row["member_id"], name: row["name"], cron: row["cron"], command: row["command"],
            recipe: row["recipe_id"], params: params ?? .emptyObject, enabled: row["enabled"],
            missed: MissedRunPolicy(rawValue: row["missed"]) ?? .runOnce, nextRunAt: row["next_run_at"],
            lastRunAt: row["last_run_at"], lastJobId: row["last_job_id"], lastRecipeRunId: row["last_recipe_run_id"],
            lastError: row["last_error"])
    }

    static func schedule(_ db: any SQLConnection, _ id: Int64, _ op: Operator) throws -> ScheduleView {
        guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM schedules WHERE id = ? AND account_id = ?",
                                         arguments: [id, op.accountID]) else {
            throw ControlPlaneError.notFound("no schedule \(id)")
        }
        return scheduleView(row)
    }

    static func parseCron(_ text: String) throws -> CronExpression {
        do { return try CronExpression(text) } catch let e as CronExpression.ParseError {
            throw ControlPlaneError.badRequest("cron: \(e.description)")
        }
    }

    /// Check what a schedule would run, as the scheduler will run it.
    static func validateTarget(command: String?, recipe: String?, params: JSONValue, recipes: [String: Recipe],
                               catalogue: CommandCatalogue, policy: QueuePolicy) throws {
        switch (command, recipe) {
        case (let c?, nil):
            do { try catalogue.validate(command: c, params: params, checkMode: false) }
            catch let e as ParameterError { throw ControlPlaneError.badRequest(e.message) }
        case (nil, let r?):
            guard let recipe = recipes[r] else { throw ControlPlaneError.badRequest("unknown recipe '\(r)'") }
            guard case .object(let given) = params else { throw ControlPlaneError.badRequest("recipe parameters must be an object") }
            _ = try resolveSteps(recipe, disable: false, params: try resolveParameters(recipe, given),
                                 catalogue: catalogue, policy: policy)
        default:
            throw ControlPlaneError.badRequest("a schedule runs exactly one of: command, recipe")
        }
    }

    public func createSchedule(member memberID: Int64, _ req: CreateScheduleRequest, recipes: [String: Recipe],
                               catalogue: CommandCatalogue, policy: QueuePolicy, by op: Operator,
                               now: Date = Date()) async throws -> ScheduleView {
        try Validation.name(req.name, what: "schedule name")
        let cron = try Self.parseCron(req.cron)
        let params = req.params ?? .emptyObject
        try Self.validateTarget(command: req.command, recipe: req.recipe, params: params, recipes: recipes,
                                catalogue: catalogue, policy: policy)
        let enabled = req.enabled ?? true
        return try await db.write { db in
            _ = try Self.member(db, memberID, op)
            let id = try db.insertReturningID(sql: """
                INSERT INTO schedules(account_id, member_id, name, cron, command, recipe_id, params, enabled, missed,
                                      next_run_at, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [op.accountID, memberID, req.name, cron.source, req.command, req.recipe, params.jsonString(),
                                 enabled, (req.missed ?? .runOnce).rawValue,
                                 enabled ? cron.next(after: now)?.timeIntervalSince1970 : nil, now.timeIntervalSince1970])
            try Self.audit(db, op.accountID, "schedule.create", "schedule:\(id)", "\(req.name): \(cron.source) on member \(memberID)")
            return try Self.schedule(db, id, op)
        }
    }

    public func listSchedules(member: Int64?, by op: Operator) async throws -> [ScheduleView] {
        try await db.read { db in
            if let member {
                _ = try Self.member(db, member, op)
                return try SQLRow.fetchAll(db, sql: "SELECT * FROM schedules WHERE member_id = ? ORDER BY id", arguments: [member])
                    .map(Self.scheduleView)
            }
            return try SQLRow.fetchAll(db, sql: "SELECT * FROM schedules WHERE account_id = ? ORDER BY id", arguments: [op.accountID])
                .map(Self.scheduleView)
        }
    }

    public func schedule(_ id: Int64, by op: Operator) async throws -> ScheduleView {
        try await db.read { try Self.schedule($0, id, op) }
    }

    /// Edit; a new expression or re-enabling recomputes the next run from now.
    public func updateSchedule(_ id: Int64, _ req: UpdateScheduleRequest, recipes: [String: Recipe],
                               catalogue: CommandCatalogue, policy: QueuePolicy, by op: Operator,
                               now: Date = Date()) async throws -> ScheduleView {
        if let n = req.name { try Validation.name(n, what: "schedule name") }
        let newCron = try req.cron.map(Self.parseCron)
        return try await db.write { db in
            let old = try Self.schedule(db, id, op)
            let params = req.params ?? old.params
            if req.params != nil {
                try Self.validateTarget(command: old.command, recipe: old.recipe, params: params, recipes: recipes,
                                        catalogue: catalogue, policy: policy)
            }
            let cron = try newCron ?? Self.parseCron(old.cron)
            let enabled = req.enabled ?? old.enabled
            var next = old.nextRunAt
            if !enabled { next = nil }
            else if newCron != nil || !old.enabled || next == nil { next = cron.next(after: now)?.timeIntervalSince1970 }
            try db.execute(sql: """
                UPDATE schedules SET name = ?, cron = ?, params = ?, enabled = ?, missed = ?, next_run_at = ? WHERE id = ?
                """, arguments: [req.name ?? old.name, cron.source, params.jsonString(), enabled,
                                 (req.missed ?? old.missed).rawValue, next, id])
            try Self.audit(db, op.accountID, "schedule.update", "schedule:\(id)",
                           "\(req.name ?? old.name): \(cron.source), \(enabled ? "enabled" : "disabled")")
            return try Self.schedule(db, id, op)
        }
    }

    public func deleteSchedule(_ id: Int64, by op: Operator) async throws {
        try await db.write { db in
            let s = try Self.schedule(db, id, op)
            try db.execute(sql: "DELETE FROM schedules WHERE id = ?", arguments: [id])
            try Self.audit(db, op.accountID, "schedule.delete", "schedule:\(id)", s.name)
        }
    }

    /// One scheduler pass at `now`: fire every due schedule once per due time. Runs in an
    /// IMMEDIATE transaction (schedulers on one database take turns) and records each firing in
    /// `schedule_fires`, whose primary key makes a second firing of the same due time impossible.
    /// Returns the number of firings.
    @discardableResult
    public func schedulerTick(now: Date, recipes: [String: Recipe], catalogue: CommandCatalogue,
                              policy: QueuePolicy, fence: LeaderFence? = nil) async throws -> Int {
        try await db.write { db in
            var fired = 0
            let t = now.timeIntervalSince1970
            let due = try SQLRow.fetchAll(db, sql: """
                SELECT * FROM schedules WHERE enabled = 1 AND next_run_at IS NOT NULL AND next_run_at <= ? ORDER BY next_run_at
                """, arguments: [t])
            // A deposed leader that wakes up late fires nothing (replicas; see LeaderLease).
            if !due.isEmpty { try fence?.check(db) }
            for row in due {
                let s = Self.scheduleView(row)
                let accountID: Int64 = row["account_id"]
                guard let cron = try? CronExpression(s.cron), let first = s.nextRunAt else { continue }
                var dueAt = first
                var fire = true
                if t - first > Self.missedAfterSec {
                    // Missed while down: fire once for the latest missed time, or skip.
                    var latest = Date(timeIntervalSince1970: first)
                    while let n = cron.next(after: latest), n <= now { latest = n }
                    dueAt = latest.timeIntervalSince1970
                    fire = s.missed == .runOnce
                }
                let next = cron.next(after: Date(timeIntervalSince1970: max(dueAt, fire ? dueAt : t)))?.timeIntervalSince1970
                try db.execute(sql: "UPDATE schedules SET next_run_at = ? WHERE id = ?", arguments: [next, s.id])
                guard fire else { continue }
                try db.execute(sql: "INSERT INTO schedule_fires(schedule_id, due_at, fired_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                               arguments: [s.id, dueAt, t])
                guard db.changesCount == 1 else { continue }  // another scheduler fired it
                fired += 1
                try Self.fire(db, s, accountID: accountID, dueAt: dueAt, recipes: recipes, catalogue: catalogue, policy: policy)
            }
            return fired
        }
    }

    /// Enqueue what a schedule runs. Failures (agent offline, command not reported) are recorded on
    /// the schedule, not thrown: one bad schedule must not stop the others.
    static func fire(_ db: any SQLConnection, _ s: ScheduleView, accountID: Int64, dueAt: Double, recipes: [String: Recipe],
                     catalogue: CommandCatalogue, policy: QueuePolicy) throws {
        let who = "schedule \(s.id) '\(s.name)' (due \(Render.dateTime(dueAt)))"
        var jobID: Int64? = nil, runID: Int64? = nil, error: String? = nil
        do {
            guard let memberRow = try SQLRow.fetchOne(db, sql: memberSelect + " WHERE m.id = ?", arguments: [s.memberId]) else { return }
            let member = memberView(memberRow)
            if let command = s.command {
                try catalogue.validate(command: command, params: s.params, checkMode: false)
                try requireAgentReports(member, command)
                jobID = try insertJob(db, member: member, command: command, params: s.params,
                                      maxAttempts: policy.defaultMaxAttempts, timeoutSec: catalogue.defaultTimeout(for: command, fallback: policy.defaultTimeoutSec),
                                      accountID: accountID, by: who)
            } else if let recipeID = s.recipe, let recipe = recipes[recipeID] {
                guard case .object(let given) = s.params else { throw ControlPlaneError.badRequest("recipe parameters must be an object") }
                let params = try resolveParameters(recipe, given)
                let steps = try resolveSteps(recipe, disable: false, params: params, catalogue: catalogue, policy: policy)
                runID = try insertRun(db, recipe: recipe, disable: false, params: params, steps: steps, member: member,
                                      accountID: accountID, by: who)
            } else {
                throw ControlPlaneError.badRequest("recipe '\(s.recipe ?? "")' is no longer loaded")
            }
        } catch let e as ControlPlaneError {
            error = e.message
        } catch let e as ParameterError {
            error = e.message
        }
        try db.execute(sql: "UPDATE schedule_fires SET job_id = ?, recipe_run_id = ?, error = ? WHERE schedule_id = ? AND due_at = ?",
                       arguments: [jobID, runID, error, s.id, dueAt])
        try db.execute(sql: """
            UPDATE schedules SET last_run_at = ?, last_job_id = COALESCE(?, last_job_id),
                last_recipe_run_id = COALESCE(?, last_recipe_run_id), last_error = ? WHERE id = ?
            """, arguments: [dueAt, jobID, runID, error, s.id])
    }
}
