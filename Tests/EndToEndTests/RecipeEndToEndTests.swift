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
        steps:
          - name: first
            run: host.echo
            with: { message: one, delaySeconds: 1 }
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

    func start() async throws -> (Harness, Harness.Operator, MemberEnrollment) {
        let recipes = FileManager.default.temporaryDirectory.appendingPathComponent("recipes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: recipes, withIntermediateDirectories: true)
        try Self.recipe.write(to: recipes.appendingPathComponent("three.yaml"), atomically: true, encoding: .utf8)
        let h = try Harness(extraServerArgs: ["--recipes-dir", recipes.path])
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("recipes")
        let e = try await api.member(pool: pool.id, hostname: "cook")
        try h.startAgent(e)
        _ = try await api.waitForHeartbeat(e.member.id)
        return (h, api, e)
    }

    func waitForRun(_ api: Harness.Operator, _ id: Int64, timeout: Double = 30) async throws -> RecipeRunView {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let run: RecipeRunView = try await api.call("GET", "/recipe-runs/\(id)")
            if run.state != .running { return run }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw Harness.HarnessError("recipe run \(id) did not end")
    }

    @Test("a 3-step recipe runs its steps in order, each after the previous completed")
    func runsInOrder() async throws {
        let (h, api, e) = try await start()
        _ = h
        let offered: [Recipe] = try await api.call("GET", "/recipes?member=\(e.member.id)")
        #expect(offered.map(\.id) == ["three-steps"])
        let started: RecipeRunView = try await api.call("POST", "/members/\(e.member.id)/recipes/three-steps/run",
                                                        RunRecipeRequest(params: [:]))
        #expect(started.steps.count == 3)
        #expect(started.steps[0].jobId != nil && started.steps[1].jobId == nil, "step 2 waits for step 1")
        let run = try await waitForRun(api, started.id)
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
        let run = try await waitForRun(api, started.id)
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

    @Test("cancel stops a run between steps; the disable flow runs the disable steps")
    func cancelAndDisable() async throws {
        let (h, api, e) = try await start()
        _ = h
        let started: RecipeRunView = try await api.call("POST", "/members/\(e.member.id)/recipes/three-steps/run",
                                                        RunRecipeRequest(params: nil))
        let cancelled: RecipeRunView = try await api.call("POST", "/recipe-runs/\(started.id)/cancel")
        #expect(cancelled.state == .cancelled)
        try await Task.sleep(for: .seconds(3))
        let later: RecipeRunView = try await api.call("GET", "/recipe-runs/\(started.id)")
        #expect(later.state == .cancelled)
        #expect(later.steps[1].jobId == nil, "no step after the cancel")

        let disable: RecipeRunView = try await api.call("POST", "/members/\(e.member.id)/recipes/three-steps/disable",
                                                        RunRecipeRequest(params: nil))
        #expect(disable.mode == "disable" && disable.steps.map(\.name) == ["undo"])
        let done = try await waitForRun(api, disable.id)
        #expect(done.state == .completed)
        let runs: [RecipeRunView] = try await api.call("GET", "/members/\(e.member.id)/recipe-runs")
        #expect(runs.map(\.id) == [disable.id, started.id])
    }
}
