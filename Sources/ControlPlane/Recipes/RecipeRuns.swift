import BalctlProtocol
import Foundation
import SQLEngine

/// A recipe step with its parameters resolved, as stored with the run (so editing a recipe file
/// never changes a run in progress).
struct ResolvedStep: Codable, Sendable {
    var name: String
    var command: String
    var params: JSONValue
    var timeoutSec: Int
    var onFailure: StepFailurePolicy
}

/// Recipe runs: steps enqueued one at a time, step n+1 only after step n completed.
extension Store {
    /// Parameters supplied by the operator merged over `previous` (a disable run: the last
    /// completed enable run's, where they still fit the recipe) and then the defaults, each
    /// checked against its type.
    static func resolveParameters(_ recipe: Recipe, _ given: [String: JSONValue],
                                  previous: [String: JSONValue] = [:]) throws -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for name in given.keys where !recipe.parameters.contains(where: { $0.name == name }) {
            throw ControlPlaneError.badRequest("recipe \(recipe.id) has no parameter '\(name)'")
        }
        for p in recipe.parameters {
            let earlier = previous[p.name].flatMap { p.type.accepts($0) ? $0 : nil }
            guard let v = given[p.name] ?? earlier ?? p.defaultValue else {
                throw ControlPlaneError.badRequest("recipe \(recipe.id): parameter '\(p.name)' is required")
            }
            guard p.type.accepts(v) else { throw ControlPlaneError.badRequest("recipe \(recipe.id): parameter '\(p.name)' must be a \(p.type.rawValue)") }
            out[p.name] = v
        }
        return out
    }

    /// The parameters of the last completed enable run of `recipe` on the member, if any.
    static func lastEnableParameters(_ db: any SQLConnection, recipe: String, member: Int64) throws -> [String: JSONValue] {
        guard let text = try String.fetchOne(db, sql: """
            SELECT params FROM recipe_runs WHERE member_id = ? AND recipe_id = ? AND mode = 'enable' AND state = 'completed'
                AND params IS NOT NULL ORDER BY id DESC LIMIT 1
            """, arguments: [member, recipe]),
              case .object(let o)? = try? JSONTree.parse(text) else { return [:] }
        return o
    }

    static func resolveSteps(_ recipe: Recipe, disable: Bool, params: [String: JSONValue],
                             catalogue: CommandCatalogue, policy: QueuePolicy) throws -> [ResolvedStep] {
        let steps = disable ? recipe.disable : recipe.steps + (recipe.check.map { [$0] } ?? [])
        guard !steps.isEmpty else { throw ControlPlaneError.badRequest("recipe \(recipe.id) has no disable steps") }
        return try steps.map { step in
            let resolved: JSONValue
            do {
                resolved = try RecipeLoader.substitute(step.with, with: params, file: recipe.file, line: step.line)
                try catalogue.validate(command: step.run, params: resolved, checkMode: false)
            } catch let e as ParameterError {
                throw ControlPlaneError.badRequest("step '\(step.name)': \(e.message)")
            } catch let e as RecipeError {
                throw ControlPlaneError.badRequest(e.description)
            }
            return ResolvedStep(name: step.name, command: step.run, params: resolved,
                                timeoutSec: step.timeoutSec ?? catalogue.defaultTimeout(for: step.run, fallback: policy.defaultTimeoutSec), onFailure: step.onFailure)
        }
    }

    /// Is this recipe offered for this member (pool template, detected stacks)? Nil when it is.
    static func notApplicable(_ recipe: Recipe, member: MemberView, template: PoolTemplate) -> String? {
        if !recipe.templates.isEmpty && !recipe.templates.contains(template.rawValue) {
            return "recipe \(recipe.id) applies to \(recipe.templates.joined(separator: "/")) pools, not \(template.rawValue)"
        }
        let detected = Set(member.heartbeat?.stacks ?? [])
        if let missing = recipe.stacks.first(where: { !detected.contains($0) }) {
            return "recipe \(recipe.id) needs \(missing), which the agent on \(member.hostname) does not report"
        }
        return nil
    }

    public func applicableRecipes(_ recipes: [Recipe], member id: Int64, by op: Operator) async throws -> [Recipe] {
        try await db.read { db in
            let member = try Self.member(db, id, op)
            let pool = try Self.pool(db, member.poolId, op)
            return recipes.filter { Self.notApplicable($0, member: member, template: pool.template) == nil }
        }
    }

    /// Start a run: record it and enqueue its first step. A disable run's parameters default to
    /// those of the last completed enable run on the member (so it undoes what was done).
    public func startRecipe(_ recipe: Recipe, disable: Bool = false, member memberID: Int64, params given: [String: JSONValue],
                            catalogue: CommandCatalogue, policy: QueuePolicy, by op: Operator) async throws -> RecipeRunView {
        try await db.write { db in
            let member = try Self.member(db, memberID, op)
            let pool = try Self.pool(db, member.poolId, op)
            if let why = Self.notApplicable(recipe, member: member, template: pool.template) {
                throw ControlPlaneError.conflict(why)
            }
            let previous = disable ? try Self.lastEnableParameters(db, recipe: recipe.id, member: memberID) : [:]
            let params = try Self.resolveParameters(recipe, given, previous: previous)
            let steps = try Self.resolveSteps(recipe, disable: disable, params: params, catalogue: catalogue, policy: policy)
            let runID = try Self.insertRun(db, recipe: recipe, disable: disable, params: params, steps: steps, member: member,
                                           accountID: op.accountID, by: op.name)
            try Self.audit(db, op.accountID, disable ? "recipe.disable" : "recipe.run", "recipe_run:\(runID)",
                           "\(recipe.id) on member \(memberID)")
            return try Self.recipeRun(db, runID, op)
        }
    }

    /// Insert a run and its first job (every step's command must be one the agent reports).
    /// One run of a recipe per member at a time, enable and disable alike: checked here, inside
    /// the caller's write transaction, so two requests (or a request and a schedule) cannot
    /// both pass the check (issue 21 item 6).
    static func insertRun(_ db: any SQLConnection, recipe: Recipe, disable: Bool, params: [String: JSONValue], steps: [ResolvedStep],
                          member: MemberView, accountID: Int64, by who: String) throws -> Int64 {
        if let running = try Int64.fetchOne(db, sql: """
            SELECT id FROM recipe_runs WHERE member_id = ? AND recipe_id = ? AND state = 'running' ORDER BY id LIMIT 1
            """, arguments: [member.id, recipe.id]) {
            throw ControlPlaneError.conflict(
                "recipe \(recipe.id) is already running on member \(member.id) (recipe run \(running)): wait for it to end or cancel it")
        }
        for step in steps { try requireAgentReports(member, step.command) }
        let stepsJSON = String(decoding: try JSONEncoder().encode(steps), as: UTF8.self)
        let runID = try db.insertReturningID(sql: """
            INSERT INTO recipe_runs(account_id, member_id, recipe_id, mode, steps, params, state, current_step, created_at)
            VALUES (?, ?, ?, ?, ?, ?, 'running', 0, ?)
            """, arguments: [accountID, member.id, recipe.id, disable ? "disable" : "enable", stepsJSON,
                             JSONValue.object(params).jsonString(), now()])
        try enqueueStep(db, runID: runID, index: 0, steps: steps, member: member, accountID: accountID, by: who)
        return runID
    }

    static func enqueueStep(_ db: any SQLConnection, runID: Int64, index: Int, steps: [ResolvedStep], member: MemberView,
                            accountID: Int64, by who: String) throws {
        let step = steps[index]
        // A step is not retried on a new attempt unless its lease ran out: steps change hosts.
        _ = try insertJob(db, member: member, command: step.command, params: step.params, maxAttempts: 2,
                          timeoutSec: step.timeoutSec, accountID: accountID, by: "\(who) (recipe run \(runID), step \(index + 1)/\(steps.count))",
                          recipeRun: runID, recipeStep: index)
        try db.execute(sql: "UPDATE recipe_runs SET current_step = ? WHERE id = ?", arguments: [index, runID])
    }

    /// After a job ends: if it is the current step of a running recipe run, enqueue the next step,
    /// or finish the run (completed, or failed naming the step and why).
    static func advanceRecipeRun(_ db: any SQLConnection, afterJob jobID: Int64) throws {
        guard let job = try SQLRow.fetchOne(db, sql: """
            SELECT j.recipe_run_id, j.recipe_step, j.state, j.error, j.output, j.account_id, r.state AS run_state,
                   r.current_step, r.steps, r.member_id
            FROM jobs j JOIN recipe_runs r ON r.id = j.recipe_run_id WHERE j.id = ?
            """, arguments: [jobID]) else { return }
        let runID: Int64 = job["recipe_run_id"]
        let index: Int = job["recipe_step"]
        guard job["run_state"] == "running", job["current_step"] == index,
              let state = JobState(rawValue: job["state"]), state.isTerminal else { return }
        let steps = try JSONTree.decode([ResolvedStep].self, from: job["steps"] as String)
        let step = steps[index]
        let t = now()
        if state == .completed || (state == .failed && step.onFailure == .continue) {
            if index + 1 < steps.count {
                let accountID: Int64 = job["account_id"]
                let member = try SQLRow.fetchOne(db, sql: memberSelect + " WHERE m.id = ?", arguments: [job["member_id"] as Int64])
                    .map(memberView)!
                do {
                    try enqueueStep(db, runID: runID, index: index + 1, steps: steps, member: member,
                                    accountID: accountID, by: "recipe")
                } catch let e as ControlPlaneError {
                    try db.execute(sql: "UPDATE recipe_runs SET state = 'failed', failed_step = ?, error = ?, finished_at = ? WHERE id = ?",
                                   arguments: [index + 1, "step \(index + 2) '\(steps[index + 1].name)' could not be queued: \(e.message)", t, runID])
                }
            } else {
                try db.execute(sql: "UPDATE recipe_runs SET state = 'completed', finished_at = ? WHERE id = ?", arguments: [t, runID])
            }
        } else {
            let reason = (job["error"] as String?) ?? state.rawValue
            try db.execute(sql: "UPDATE recipe_runs SET state = ?, failed_step = ?, error = ?, finished_at = ? WHERE id = ?",
                           arguments: [state == .cancelled ? "cancelled" : "failed", index,
                                       "step \(index + 1) '\(step.name)' (\(step.command)) \(state.rawValue): \(reason)", t, runID])
        }
    }

    static func recipeRun(_ db: any SQLConnection, _ id: Int64, _ op: Operator) throws -> RecipeRunView {
        guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM recipe_runs WHERE id = ? AND account_id = ?",
                                         arguments: [id, op.accountID]) else {
            throw ControlPlaneError.notFound("no recipe run \(id)")
        }
        let steps = try JSONTree.decode([ResolvedStep].self, from: row["steps"] as String)
        var jobs: [Int: SQLRow] = [:]
        for j in try SQLRow.fetchAll(db, sql: "SELECT id, recipe_step, state, error FROM jobs WHERE recipe_run_id = ? ORDER BY id",
                                  arguments: [id]) {
            jobs[j["recipe_step"]] = j  // the latest job of each step wins
        }
        return RecipeRunView(
            id: id, memberId: row["member_id"], recipeId: row["recipe_id"], mode: row["mode"],
            state: RecipeRunState(rawValue: row["state"]) ?? .failed, currentStep: row["current_step"],
            steps: steps.enumerated().map { i, s in
                let j = jobs[i]
                return RecipeRunStepView(index: i, name: s.name, command: s.command, jobId: j?["id"],
                                         state: (j?["state"] as String?).flatMap(JobState.init(rawValue:)), error: j?["error"])
            },
            failedStep: row["failed_step"], error: row["error"], createdAt: row["created_at"], finishedAt: row["finished_at"])
    }

    public func recipeRun(_ id: Int64, by op: Operator) async throws -> RecipeRunView {
        try await db.read { try Self.recipeRun($0, id, op) }
    }

    public func listRecipeRuns(member id: Int64, limit: Int, by op: Operator) async throws -> [RecipeRunView] {
        try await db.read { db in
            _ = try Self.member(db, id, op)
            return try Int64.fetchAll(db, sql: "SELECT id FROM recipe_runs WHERE member_id = ? ORDER BY id DESC LIMIT ?",
                                      arguments: [id, limit]).map { try Self.recipeRun(db, $0, op) }
        }
    }

    /// Stop a run: no further steps; the current step's job is cancelled too.
    public func cancelRecipeRun(_ id: Int64, by op: Operator) async throws -> RecipeRunView {
        try await db.write { db in
            let run = try Self.recipeRun(db, id, op)
            guard run.state == .running else { throw ControlPlaneError.conflict("recipe run \(id) already ended (\(run.state.rawValue))") }
            try db.execute(sql: "UPDATE recipe_runs SET state = 'cancelled', error = ?, finished_at = ? WHERE id = ?",
                           arguments: ["cancelled by \(op.name) at step \(run.currentStep + 1)", now(), id])
            if let jobID = run.steps[run.currentStep].jobId {
                let attempt = try Int.fetchOne(db, sql: "SELECT attempt FROM jobs WHERE id = ?", arguments: [jobID]) ?? 1
                try db.execute(sql: "UPDATE jobs SET state = 'cancelled', finished_at = ?, error = 'recipe run cancelled' WHERE id = ? AND state = 'pending'",
                               arguments: [now(), jobID])
                if db.changesCount > 0 {
                    try Self.event(db, jobID, attempt, "cancelled", "recipe run \(id) cancelled by \(op.name)")
                }
                try db.execute(sql: "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = 'running'", arguments: [jobID])
                if db.changesCount > 0 {
                    try Self.event(db, jobID, attempt, "cancel_requested", "recipe run \(id) cancelled by \(op.name)")
                }
            }
            try Self.audit(db, op.accountID, "recipe.cancel", "recipe_run:\(id)", run.recipeId)
            return try Self.recipeRun(db, id, op)
        }
    }
}
