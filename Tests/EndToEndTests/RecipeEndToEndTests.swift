import BalctlProtocol
import ControlPlane
import Foundation
import Testing

/// Recipes run by a real agent: steps one at a time and in order; a failing step stops the run
/// and the run says which step and why; cancel and the disable flow.
@Suite(.serialized)
struct RecipeEndToEndTests {
    static let recipe = """
        id: three-steps
        title: Three steps
        applies:
          templates: [generic]
        parameters:
          middle_fails:
            type: bool
            default: false
          first_delay:
            type: number
            default: 1
        steps:
          - name: first
            run: host.echo
            with: { message: one, delaySeconds: "{{ first_delay }}" }
          - name: second
            run: host.echo
            with: { message: two, delaySeconds: 1, fail: "{{ middle_fails }}" }
          - name: third
            run: host.echo
            with: { message: three }
        disable:
          - name: undo
            run: host.echo
            with: { message: undone }
        """

    /// A failing first step that says `on_failure: continue`, then a step with a string parameter.
    static let keepsGoing = """
        id: keeps-going
        title: Keeps going
        applies:
          templates: [generic]
        parameters:
          note:
            type: string
            default: after
        steps:
          - name: fails
            run: host.echo
            with: { message: boom, fail: true }
            on_failure: continue
          - name: runs anyway
            run: host.echo
            with: { message: "{{ note }}" }
        """

    func start() async throws -> (Harness, Harness.Operator, MemberEnrollment) {
        let recipes = FileManager.default.temporaryDirectory.appendingPathComponent("recipes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: recipes, withIntermediateDirectories: true)
        try Self.recipe.write(to: recipes.appendingPathComponent("three.yaml"), atomically: true, encoding: .utf8)
        try Self.keepsGoing.write(to: recipes.appendingPathComponent("keeps-going.yaml"), atomically: true, encoding: .utf8)
        let h = try Harness(extraServerArgs: ["--recipes-dir", recipes.path])
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("recipes")
        let e = try await api.member(pool: pool.id, hostname: "cook")
        try h.startAgent(e)
        _ = try await api.waitForHeartbeat(e.member.id)
        return (h, api, e)
    }

    @Test("a 3-step recipe runs its steps in order, each after the previous completed")
    func runsInOrder() async throws {
        let (h, api, e) = try await start()
        _ = h
        let offered: [Recipe] = try await api.call("GET", "/recipes?member=\(e.member.id)")
        #expect(offered.map(\.id) == ["keeps-going", "three-steps"])
        let started: RecipeRunView = try await api.call("POST", "/members/\(e.member.id)/recipes/three-steps/run",
                                                        RunRecipeRequest(params: [:]))
        #expect(started.steps.count == 3)
        #expect(started.steps[0].jobId != nil && started.steps[1].jobId == nil, "step 2 waits for step 1")
        let run = try await api.waitForRecipeRun(started.id)
        #expect(run.state == .completed)
        #expect(run.steps.allSatisfy { $0.state == .completed })
        var jobs: [JobView] = []
        for s in run.steps { jobs.append(try await api.job(try #require(s.jobId))) }
        #expect(jobs.map { $0.output?.split(separator: "\n").first.map(String.init) } == ["one", "two", "three"])
        #expect(jobs.allSatisfy { $0.recipeRunId == run.id })
        for (a, b) in zip(jobs, jobs.dropFirst()) {
            let doneA = try #require(a.events?.first { $0.kind == "completed" }?.at)
            #expect(b.createdAt >= doneA, "step \(b.recipeStep!) was queued before step \(a.recipeStep!) completed")
        }
    }

    @Test("a failing middle step stops the recipe; the run shows which step and why")
    func failingStepStops() async throws {
        let (h, api, e) = try await start()
        _ = h
        let started: RecipeRunView = try await api.call("POST", "/members/\(e.member.id)/recipes/three-steps/run",
                                                        RunRecipeRequest(params: ["middle_fails": .bool(true)]))
        let run = try await api.waitForRecipeRun(started.id)
        #expect(run.state == .failed)
        #expect(run.failedStep == 1)
        #expect(run.error?.contains("step 2 'second'") == true)
        #expect(run.error?.contains("failed on request") == true, "the step's own error: \(run.error ?? "")")
        #expect(run.steps[0].state == .completed && run.steps[1].state == .failed)
        #expect(run.steps[2].jobId == nil, "step 3 never ran")
        // Wrong parameter types and unknown parameters are refused before anything is queued.
        let bad = try await api.raw("POST", "/members/\(e.member.id)/recipes/three-steps/run",
                                    try JSONEncoder().encode(RunRecipeRequest(params: ["middle_fails": .string("yes")])))
        #expect(bad.status == 400 && bad.text.contains("middle_fails"))
        let unknown = try await api.raw("POST", "/members/\(e.member.id)/recipes/three-steps/run",
                                        try JSONEncoder().encode(RunRecipeRequest(params: ["x": .bool(true)])))
        #expect(unknown.status == 400)
    }

    // issue 21 item 15: no fixed sleep; the current step's job is checked.
    @Test("cancel stops a run: step 1's job ends cancelled and step 2 is never queued; the disable flow runs the disable steps")
    func cancelAndDisable() async throws {
        let (h, api, e) = try await start()
        _ = h
        let started: RecipeRunView = try await api.call("POST", "/members/\(e.member.id)/recipes/three-steps/run",
                                                        RunRecipeRequest(params: ["first_delay": .number(60)]))
        let firstJob = try #require(started.steps[0].jobId)
        _ = try await api.waitForJob(firstJob) { $0.state == .running }  // the agent is working on it
        let cancelled: RecipeRunView = try await api.call("POST", "/recipe-runs/\(started.id)/cancel")
        #expect(cancelled.state == .cancelled)
        let job = try await api.waitForJob(firstJob) { $0.state.isTerminal }
        #expect(job.state == .cancelled, "\(job.error ?? "")")
        // Step 1's job has ended, so anything that would queue step 2 has run by now.
        let later: RecipeRunView = try await api.call("GET", "/recipe-runs/\(started.id)")
        #expect(later.state == .cancelled)
        #expect(later.steps[0].state == .cancelled)
        #expect(later.steps[1].jobId == nil && later.steps[2].jobId == nil, "no step after the cancel")
        let jobs: [JobView] = try await api.call("GET", "/members/\(e.member.id)/jobs")
        #expect(jobs.filter { $0.recipeRunId == started.id }.map(\.id) == [firstJob])

        let disable: RecipeRunView = try await api.call("POST", "/members/\(e.member.id)/recipes/three-steps/disable",
                                                        RunRecipeRequest(params: nil))
        #expect(disable.mode == "disable" && disable.steps.map(\.name) == ["undo"])
        let done = try await api.waitForRecipeRun(disable.id)
        #expect(done.state == .completed)
        let runs: [RecipeRunView] = try await api.call("GET", "/members/\(e.member.id)/recipe-runs")
        #expect(runs.map(\.id) == [disable.id, started.id])
    }

    // issue 21 items 16 and 9 (and 8 through the API): run through the operator CLI.
    @Test("on_failure: continue runs the next step and the run completes; --param keeps a string that looks like a number")
    func continueOnFailure() async throws {
        let (h, api, e) = try await start()
        let (status, text) = try h.balctl(["recipes", "run", "--member", "\(e.member.id)", "keeps-going",
                                        "--param", "note=8080", "--follow", "--json"])
        #expect(status == 0, "the run completes although step 1 failed: \(text)")
        let runs: [RecipeRunView] = try await api.call("GET", "/members/\(e.member.id)/recipe-runs")
        let run = try #require(runs.first)
        #expect(run.recipeId == "keeps-going" && run.state == .completed)
        #expect(run.failedStep == nil && run.error == nil)
        #expect(run.steps.map(\.state) == [.failed, .completed])
        let failed = try await api.job(try #require(run.steps[0].jobId))
        let after = try await api.job(try #require(run.steps[1].jobId))
        #expect(failed.error?.contains("failed on request") == true)
        #expect(after.params == .object(["message": .string("8080")]), "a string parameter, not the number 8080")
        #expect(after.output?.hasPrefix("8080") == true)
        let failedAt = try #require(failed.finishedAt)
        #expect(after.createdAt >= failedAt, "step 2 was queued after step 1 ended")

        // A value of the wrong type is refused by the CLI before anything is sent.
        let (badStatus, badText) = try h.balctl(["recipes", "run", "--member", "\(e.member.id)", "three-steps",
                                              "--param", "middle_fails=yes"])
        #expect(badStatus != 0 && badText.contains("'middle_fails' is a bool"), "\(badText)")
        let runsAfter: [RecipeRunView] = try await api.call("GET", "/members/\(e.member.id)/recipe-runs")
        #expect(runsAfter.count == 1, "nothing was started")

        // A command parameter nobody declares is refused at enqueue (issue 21 item 8).
        let typo = try await api.raw("POST", "/members/\(e.member.id)/jobs", try JSONEncoder().encode(
            EnqueueJobRequest(command: "host.echo", params: .object(["message": .string("hi"), "fial": .bool(true)]), maxAttempts: nil)))
        #expect(typo.status == 400)
        #expect(typo.text.contains("unexpected parameter 'fial'"), "\(typo.text)")
    }

    // issue 21 item 18: the scheduler as the server runs it (not schedulerTick called by a test).
    // Cron has minute granularity: `* * * * *` is due at the next minute, so this test waits up
    // to a minute for the server's own scheduler loop to fire. Removing the Scheduler from the
    // server's service group makes it fail.
    @Test("the server's scheduler fires a command and a recipe schedule, and records a failed firing in last_error")
    func schedulerInServer() async throws {
        let (h, api, e) = try await start()
        _ = h
        func schedule(_ name: String, command: String? = nil, recipe: String? = nil, _ params: JSONValue) async throws -> ScheduleView {
            try await api.call("POST", "/members/\(e.member.id)/schedules", CreateScheduleRequest(
                name: name, cron: "* * * * *", command: command, recipe: recipe, params: params, enabled: true, missed: .runOnce))
        }
        let echo = try await schedule("echo", command: "host.echo", .object(["message": .string("scheduled")]))
        let recipe = try await schedule("recipe", recipe: "keeps-going", .object(["note": .string("from schedule")]))
        // A run of three-steps is still running when its schedule fires: that firing is refused
        // (issue 21 item 6), not queued, and must say why.
        let broken = try await schedule("broken", recipe: "three-steps", .emptyObject)
        let manual: RecipeRunView = try await api.call("POST", "/members/\(e.member.id)/recipes/three-steps/run",
                                                       RunRecipeRequest(params: ["first_delay": .number(120)]))
        let deadline = Date().addingTimeInterval(90)
        var fired: [ScheduleView] = []
        while Date() < deadline {
            fired = try await api.call("GET", "/members/\(e.member.id)/schedules")
            if fired.count == 3 && fired.allSatisfy({ $0.lastRunAt != nil }) { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        let byID = Dictionary(uniqueKeysWithValues: fired.map { ($0.id, $0) })
        let firedEcho = try #require(byID[echo.id]), firedRecipe = try #require(byID[recipe.id]), firedBroken = try #require(byID[broken.id])
        #expect(firedEcho.lastRunAt != nil && firedRecipe.lastRunAt != nil && firedBroken.lastRunAt != nil,
                "the scheduler did not fire within the minute: \(fired)")

        let job = try await api.waitForJob(try #require(firedEcho.lastJobId)) { $0.state.isTerminal }
        #expect(job.state == .completed && job.output?.hasPrefix("scheduled") == true)
        #expect(firedEcho.lastError == nil)

        let run = try await api.waitForRecipeRun(try #require(firedRecipe.lastRecipeRunId))
        #expect(run.recipeId == "keeps-going" && run.state == .completed)
        #expect(try await api.job(try #require(run.steps[1].jobId)).output?.hasPrefix("from schedule") == true)

        #expect(firedBroken.lastRecipeRunId == nil)
        #expect(firedBroken.lastError?.contains("already running on member \(e.member.id) (recipe run \(manual.id))") == true,
                "\(firedBroken)")
        let runs: [RecipeRunView] = try await api.call("GET", "/members/\(e.member.id)/recipe-runs")
        #expect(runs.filter { $0.recipeId == "three-steps" }.map(\.id) == [manual.id], "the refused firing queued nothing")
        let _: RecipeRunView = try await api.call("POST", "/recipe-runs/\(manual.id)/cancel")
    }
}
