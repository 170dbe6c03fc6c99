import BalctlProtocol
@testable import ControlPlane
import Foundation
import Testing
import TestSupport

/// Recipe runs in the store: one run of a recipe per member at a time (requests and schedules
/// alike), and a disable run that undoes what the last enable run did.
@Suite("Recipe runs", .storeEngines)
struct RecipeRunTests {
    static let yaml = """
        id: greet
        title: Greet
        parameters:
          greeting:
            type: string
            default: hello
        steps:
          - name: say
            run: host.echo
            with: { message: "{{ greeting }}" }
        disable:
          - name: unsay
            run: host.echo
            with: { message: "undo {{ greeting }}" }
        """

    let recipe: Recipe
    init() throws { recipe = try RecipeLoader.parse(Self.yaml, file: "greet.yaml") }

    func start(_ f: Fixture, _ member: Int64, disable: Bool = false,
               _ params: [String: JSONValue] = [:]) async throws -> RecipeRunView {
        try await f.store.startRecipe(recipe, disable: disable, member: member, params: params,
                                      catalogue: f.catalogue, policy: f.queue, by: f.admin)
    }

    /// Claim the member's pending job (as its agent would) and finish it; returns the job's params.
    @discardableResult
    func finishNextJob(_ f: Fixture, _ e: MemberEnrollment, _ status: AttemptStatus = .completed) async throws -> JSONValue {
        let job = try #require(try await f.beat(e).jobs.first)
        _ = try await f.store.recordCompletion(f.completion(job, status, error: status == .completed ? nil : "failed"),
                                               member: e.member.id)
        return job.params
    }

    @Test("issue 21 item 6: a second run of a recipe on a member is refused (409) while one runs, enable and disable alike")
    func oneRunAtATime() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        let (_, other) = try await f.member(hostname: "web-2")
        try await f.beat(e)
        try await f.beat(other)
        let first = try await start(f, e.member.id)
        for disable in [false, true] {
            let refused = await cpError { _ = try await start(f, e.member.id, disable: disable) }
            #expect(refused?.kind == .conflict)
            #expect(refused?.message.contains("already running on member \(e.member.id) (recipe run \(first.id))") == true,
                    "\(String(describing: refused))")
        }
        _ = try await start(f, other.member.id)  // another member is another matter
        try await finishNextJob(f, e)
        #expect(try await f.store.recipeRun(first.id, by: f.admin).state == .completed)
        let next = try await start(f, e.member.id, disable: true)  // the first one ended
        #expect(next.state == .running)
    }

    @Test("issue 21 item 6: concurrent starts of one recipe on one member: exactly one run")
    func concurrentStarts() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<8 {
                group.addTask { (try? await start(f, e.member.id, disable: i % 2 == 1)) != nil }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 1)
        #expect(try await f.count("SELECT COUNT(*) FROM recipe_runs") == 1)
        #expect(try await f.count("SELECT COUNT(*) FROM jobs") == 1)
    }

    @Test("issue 21 item 6: a schedule firing during a run records the refusal in last_error and queues nothing")
    func scheduleDuringRun() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let created = Date()
        let s = try await f.store.createSchedule(
            member: e.member.id,
            CreateScheduleRequest(name: "greet", cron: "* * * * *", command: nil, recipe: "greet", params: .emptyObject,
                                  enabled: true, missed: .runOnce),
            recipes: ["greet": recipe], catalogue: f.catalogue, policy: f.queue, by: f.admin, now: created)
        let manual = try await start(f, e.member.id)
        let fired = try await f.store.schedulerTick(now: created.addingTimeInterval(61), recipes: ["greet": recipe],
                                                    catalogue: f.catalogue, policy: f.queue)
        #expect(fired == 1)
        let after = try await f.store.schedule(s.id, by: f.admin)
        #expect(after.lastError?.contains("already running") == true, "\(after)")
        #expect(after.lastRecipeRunId == nil)
        #expect(try await f.count("SELECT COUNT(*) FROM recipe_runs") == 1, "the firing is not queued")
        #expect(try await f.store.recipeRun(manual.id, by: f.admin).state == .running)
    }

    @Test("issue 21 item 7: a disable run defaults to the parameters of the last completed enable run")
    func disableReusesEnableParameters() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        _ = try await start(f, e.member.id, ["greeting": .string("custom")])
        #expect(try await finishNextJob(f, e) == .object(["message": .string("custom")]))
        // A failed enable run with other parameters does not count: it did not enable anything.
        _ = try await start(f, e.member.id, ["greeting": .string("broken")])
        try await finishNextJob(f, e, .failed)

        let undo = try await start(f, e.member.id, disable: true)
        #expect(try await finishNextJob(f, e) == .object(["message": .string("undo custom")]))
        #expect(try await f.store.recipeRun(undo.id, by: f.admin).state == .completed)
        // Given parameters still win.
        _ = try await start(f, e.member.id, disable: true, ["greeting": .string("explicit")])
        #expect(try await finishNextJob(f, e) == .object(["message": .string("undo explicit")]))
        // Without any completed enable run, the defaults apply.
        let (_, fresh) = try await f.member(hostname: "web-3")
        try await f.beat(fresh)
        _ = try await start(f, fresh.member.id, disable: true)
        #expect(try await finishNextJob(f, fresh) == .object(["message": .string("undo hello")]))
    }

    @Test("issue 21 item 8: enqueue refuses a parameter the command does not declare, naming it")
    func enqueueRefusesUnknownKeys() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let refused = await cpError {
            _ = try await f.enqueue(e.member.id, "host.echo", .object(["message": .string("hi"), "fial": .bool(true)]))
        }
        #expect(refused?.kind == .badRequest)
        #expect(refused?.message.contains("unexpected parameter 'fial'") == true, "\(String(describing: refused))")
        #expect(try await f.count("SELECT COUNT(*) FROM jobs") == 0)
    }
}
