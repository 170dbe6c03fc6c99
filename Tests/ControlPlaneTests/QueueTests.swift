import BalctlProtocol
@testable import ControlPlane
import Foundation
import SQLEngine
import Testing
import TestSupport

@Suite("Store: job queue", .storeEngines)
struct QueueTests {
    func events(_ f: Fixture, _ id: Int64) async throws -> [String] {
        try await f.store.job(id, by: f.admin).events?.map(\.kind) ?? []
    }

    @Test("enqueue is refused before the member's first heartbeat (its commands are unknown)")
    func enqueueBeforeHeartbeat() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        let err = await cpError { _ = try await f.enqueue(e.member.id) }
        #expect(err?.kind == .conflict)
        #expect(err?.message.contains("heartbeat") == true)
        #expect(try await f.count("SELECT COUNT(*) FROM jobs") == 0)
    }

    @Test("enqueue is refused for a command the agent does not report, an unknown command, or bad input")
    func enqueueRefusals() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e, commands: ["host.collect_facts"])
        let notReported = await cpError { _ = try await f.enqueue(e.member.id, "host.echo") }
        #expect(notReported?.kind == .conflict)
        #expect(notReported?.message.contains("does not report command 'host.echo'") == true)

        let unknown = await cpError { _ = try await f.enqueue(e.member.id, "nope.cmd", .emptyObject) }
        #expect(unknown?.kind == .badRequest)
        let badParams = await cpError { _ = try await f.enqueue(e.member.id, "host.collect_facts", .object(["x": .number(1)])) }
        #expect(badParams?.kind == .badRequest)
        let badAttempts = await cpError { _ = try await f.enqueue(e.member.id, "host.collect_facts", .emptyObject, maxAttempts: 0) }
        #expect(badAttempts?.kind == .badRequest)
        let badPriority = await cpError { _ = try await f.enqueue(e.member.id, "host.collect_facts", .emptyObject, priority: 101) }
        #expect(badPriority?.kind == .badRequest)
        let noMember = await cpError { _ = try await f.enqueue(9999, "host.collect_facts", .emptyObject) }
        #expect(noMember?.kind == .notFound)
        #expect(try await f.count("SELECT COUNT(*) FROM jobs") == 0)

        let ok = try await f.enqueue(e.member.id, "host.collect_facts", .emptyObject)
        #expect(ok.state == .pending && ok.attempt == 1 && ok.maxAttempts == f.queue.defaultMaxAttempts)
        #expect(ok.events?.map(\.kind) == ["enqueued"])
    }

    @Test("a job without timeoutSec gets its command's declared default (an hour for updates_install), else the queue's; an asked timeout wins")
    func perCommandDefaultTimeout() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e, commands: ["host.echo", "host.updates_install"])
        #expect(f.catalogue.descriptors["host.updates_install"]?.info.defaultTimeoutSec == 3600)
        #expect(f.catalogue.descriptors["host.echo"]?.info.defaultTimeoutSec == nil)
        let long = try await f.enqueue(e.member.id, "host.updates_install", .emptyObject)
        #expect(long.timeoutSec == 3600)
        let quick = try await f.enqueue(e.member.id, "host.echo")
        #expect(quick.timeoutSec == f.queue.defaultTimeoutSec)
        let asked = try await f.store.enqueue(member: e.member.id,
                                              EnqueueJobRequest(command: "host.updates_install", params: .emptyObject, timeoutSec: 120),
                                              catalogue: f.catalogue, policy: f.queue, by: f.admin)
        #expect(asked.timeoutSec == 120)
    }

    @Test("a heartbeat claims pending jobs once, highest priority first; the next heartbeat does not re-hand them")
    func claimOnce() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let low = try await f.enqueue(e.member.id, "host.echo", .object(["message": .string("low")]))
        let high = try await f.enqueue(e.member.id, "host.echo", .object(["message": .string("high")]), priority: 10)

        let first = try await f.beat(e)
        #expect(first.jobs.map(\.id) == [high.id, low.id])
        let claimed = try #require(first.jobs.first)
        #expect(claimed.command == "host.echo")
        #expect(claimed.params == .object(["message": .string("high")]))
        #expect(claimed.attempt == 1)
        #expect(claimed.leaseSec == f.queue.leaseSec)
        #expect(claimed.timeoutSec == f.queue.defaultTimeoutSec)
        #expect(!claimed.checkMode)
        #expect(first.cancels.isEmpty)

        let second = try await f.beat(e, inFlight: first.jobs.map(\.ref))
        #expect(second.jobs.isEmpty)
        let third = try await f.beat(e)
        #expect(third.jobs.isEmpty)

        let view = try await f.store.job(high.id, by: f.admin)
        #expect(view.state == .running)
        #expect(view.startedAt != nil)
        #expect(try await events(f, high.id) == ["enqueued", "claimed"])
    }

    @Test("a heartbeat claims only its own member's jobs")
    func claimOwnJobsOnly() async throws {
        let f = try await Fixture()
        let (_, a) = try await f.member(hostname: "web-a")
        let (_, b) = try await f.member(hostname: "web-b")
        try await f.beat(a)
        try await f.beat(b)
        let forB = try await f.enqueue(b.member.id)
        #expect(try await f.beat(a).jobs.isEmpty)
        #expect(try await f.beat(b).jobs.map(\.id) == [forB.id])
    }

    @Test("an expired lease returns the job to pending with attempt + 1, and fails it after the last attempt")
    func leaseExpiry() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let job = try await f.enqueue(e.member.id, maxAttempts: 2)
        #expect(try await f.beat(e).jobs.map(\.attempt) == [1])

        // A fresh lease is not expired now…
        #expect(try await f.store.expireLeases(at: now()) == 0)
        // …but is an hour from now.
        #expect(try await f.store.expireLeases(at: now() + 3600) == 1)
        var view = try await f.store.job(job.id, by: f.admin)
        #expect(view.state == .pending)
        #expect(view.attempt == 2)

        let reclaimed = try await f.beat(e).jobs
        #expect(reclaimed.map(\.id) == [job.id])
        #expect(reclaimed.first?.attempt == 2)

        #expect(try await f.store.expireLeases(at: now() + 3600) == 1)
        view = try await f.store.job(job.id, by: f.admin)
        #expect(view.state == .failed)
        #expect(view.attempt == 2)
        #expect(view.error?.contains("lease expired") == true)
        #expect(view.finishedAt != nil)
        #expect(try await events(f, job.id) == ["enqueued", "claimed", "lease_expired", "claimed", "failed"])
        // Nothing left to expire or claim.
        #expect(try await f.store.expireLeases(at: now() + 7200) == 0)
        #expect(try await f.beat(e).jobs.isEmpty)
    }

    @Test("a heartbeat listing a job in flight renews its lease")
    func leaseRenewed() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        _ = try await f.enqueue(e.member.id)
        let claimed = try await f.beat(e).jobs
        f.queue.leaseSec = 5000
        try await f.beat(e, inFlight: claimed.map(\.ref))
        #expect(try await f.store.expireLeases(at: now() + 3600) == 0)
        // The renewed lease still runs out eventually.
        #expect(try await f.store.expireLeases(at: now() + 6000) == 1)
        let pending = try await f.store.job(claimed[0].id, by: f.admin)
        #expect(pending.state == .pending && pending.attempt == 2)

        // Re-claimed as attempt 2; a heartbeat listing the stale attempt 1 renews nothing.
        f.queue.leaseSec = 30
        let reclaimed = try await f.beat(e).jobs
        #expect(reclaimed.map(\.attempt) == [2])
        f.queue.leaseSec = 5000
        try await f.beat(e, inFlight: [JobRef(id: claimed[0].id, attempt: 1)])
        #expect(try await f.store.expireLeases(at: now() + 3600) == 1)
        #expect(try await f.store.job(claimed[0].id, by: f.admin).attempt == 3)
    }

    @Test("completion: the current attempt is recorded; a repeat is idempotent; a stale attempt is a conflict")
    func completion() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let job = try await f.enqueue(e.member.id)
        let claimed = try #require(try await f.beat(e).jobs.first)
        let m = e.member.id

        let stale = await cpError { try await f.store.recordCompletion(f.completion(claimed, .completed, attempt: 2), member: m) }
        #expect(stale?.kind == .conflict)
        let older = await cpError { try await f.store.recordCompletion(f.completion(claimed, .completed, attempt: 0), member: m) }
        #expect(older?.kind == .conflict)
        #expect(try await f.store.job(job.id, by: f.admin).state == .running)

        let state = try await f.store.recordCompletion(f.completion(claimed, .completed, output: "first\n"), member: m)
        #expect(state == .completed)
        let done = try await f.store.job(job.id, by: f.admin)
        #expect(done.state == .completed)
        #expect(done.output == "first\n")
        #expect(done.changed == false)
        #expect(done.exitCode == 0)
        #expect(done.result == .object(["n": .number(1)]))

        // The same attempt again (say, a resend after a lost reply): accepted, nothing changes.
        let again = try await f.store.recordCompletion(f.completion(claimed, .failed, output: "second\n"), member: m)
        #expect(again == .completed)
        let still = try await f.store.job(job.id, by: f.admin)
        #expect(still.state == .completed && still.output == "first\n" && still.exitCode == 0)
        #expect(try await events(f, job.id) == ["enqueued", "claimed", "completed"])

        // Another member cannot report on this job.
        let (_, other) = try await f.member(hostname: "web-2")
        let foreign = await cpError { try await f.store.recordCompletion(f.completion(claimed, .completed), member: other.member.id) }
        #expect(foreign?.kind == .notFound)
    }

    @Test("output stored from a completion is bounded to maxOutputTailBytes, keeping the end")
    func completionOutputBounded() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let job = try await f.enqueue(e.member.id)
        let claimed = try #require(try await f.beat(e).jobs.first)
        let big = String(repeating: "a", count: AgentWire.maxOutputTailBytes) + "THE END"
        try await f.store.recordCompletion(f.completion(claimed, .completed, output: big), member: e.member.id)
        let output = try #require(try await f.store.job(job.id, by: f.admin).output)
        #expect(output.utf8.count == AgentWire.maxOutputTailBytes)
        #expect(output.hasSuffix("aTHE END"))
    }

    // red team finding F8: a 400 KB error was stored twice (jobs.error and the event) in full.
    @Test("red team finding F8: an agent's error is stored bounded, keeping the start and marking the cut",
          arguments: [AttemptStatus.failed, .interrupted])
    func completionErrorBounded(status: AttemptStatus) async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let job = try await f.enqueue(e.member.id, maxAttempts: 2)
        let big = "THE START " + String(repeating: "é", count: 200_000)
        let first = try #require(try await f.beat(e).jobs.first)
        try await f.store.recordCompletion(f.completion(first, status, error: big), member: e.member.id)
        if status == .interrupted {  // the first attempt is re-queued: its event holds the error
            let second = try #require(try await f.beat(e).jobs.first)
            try await f.store.recordCompletion(f.completion(second, .interrupted, error: big), member: e.member.id)
        }
        let view = try await f.store.job(job.id, by: f.admin)
        let error = try #require(view.error)
        #expect(error.utf8.count <= AgentText.maxErrorBytes + 100)
        #expect(error.contains("THE START éé") && error.hasSuffix("[cut: \(big.utf8.count) bytes in all]"))
        let messages = (view.events ?? []).compactMap(\.message)
        #expect(messages.contains { $0.contains("THE START") })
        for m in messages { #expect(m.utf8.count <= AgentText.maxErrorBytes + 100) }
    }

    @Test("red team finding F8: a late result's and a progress message's text are bounded in bytes")
    func lateAndProgressTextBounded() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let job = try await f.enqueue(e.member.id, maxAttempts: 1)
        let claimed = try #require(try await f.beat(e).jobs.first)
        // One character of 100 KB (a letter and combining marks): a cap in characters let it all through.
        let heavy = "e" + String(repeating: "\u{301}", count: 50_000)
        try await f.store.recordProgress(JobProgress(jobId: job.id, attempt: 1, message: "step " + heavy, percent: 1),
                                         member: e.member.id, policy: f.queue)
        let progress = try #require(try await f.store.job(job.id, by: f.admin).progressMessage)
        #expect(progress.utf8.count <= AgentText.maxProgressBytes && progress.hasPrefix("step "))
        #expect(try await f.store.expireLeases(at: now() + 100_000) == 1)
        _ = await cpError { try await f.store.recordCompletion(f.completion(claimed, .failed, error: "late " + heavy), member: e.member.id) }
        let view = try await f.store.job(job.id, by: f.admin)
        let late = try #require(view.events?.first { $0.kind == "late_result" }?.message)
        #expect(late.utf8.count <= AgentText.maxErrorBytes + 200 && late.contains("late"))
        for m in (view.events ?? []).compactMap(\.message) { #expect(m.utf8.count <= AgentText.maxErrorBytes + 200) }
    }

    @Test("an interrupted attempt is re-queued with attempt + 1; on the last attempt it fails")
    func interrupted() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let job = try await f.enqueue(e.member.id, maxAttempts: 2)
        let first = try #require(try await f.beat(e).jobs.first)

        let s1 = try await f.store.recordCompletion(f.completion(first, .interrupted, error: "agent restarted"), member: e.member.id)
        #expect(s1 == .pending)
        var view = try await f.store.job(job.id, by: f.admin)
        #expect(view.state == .pending && view.attempt == 2)
        // The old attempt is now stale.
        let stale = await cpError { try await f.store.recordCompletion(f.completion(first, .completed), member: e.member.id) }
        #expect(stale?.kind == .conflict)

        let second = try #require(try await f.beat(e).jobs.first)
        #expect(second.attempt == 2)
        let s2 = try await f.store.recordCompletion(f.completion(second, .interrupted, error: "again"), member: e.member.id)
        #expect(s2 == .failed)
        view = try await f.store.job(job.id, by: f.admin)
        #expect(view.state == .failed)
        #expect(view.error?.contains("interrupted on the last of 2 attempts") == true)
        #expect(try await events(f, job.id) == ["enqueued", "claimed", "interrupted", "claimed", "failed"])
    }

    @Test("cancelling a pending job cancels it at once; it is never handed out")
    func cancelPending() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let job = try await f.enqueue(e.member.id)
        let cancelled = try await f.store.cancelJob(job.id, by: f.admin)
        #expect(cancelled.state == .cancelled)
        #expect(cancelled.finishedAt != nil)
        #expect(cancelled.events?.map(\.kind) == ["enqueued", "cancelled"])
        #expect(try await f.beat(e).jobs.isEmpty)
        let twice = await cpError { _ = try await f.store.cancelJob(job.id, by: f.admin) }
        #expect(twice?.kind == .conflict)
    }

    @Test("cancelling a running job flags it; the next heartbeat listing it gets the cancel")
    func cancelRunning() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let job = try await f.enqueue(e.member.id)
        let claimed = try #require(try await f.beat(e).jobs.first)

        let requested = try await f.store.cancelJob(job.id, by: f.admin)
        #expect(requested.state == .running)
        #expect(requested.cancelRequested)
        #expect(requested.events?.map(\.kind) == ["enqueued", "claimed", "cancel_requested"])
        // Asking again changes nothing.
        let again = try await f.store.cancelJob(job.id, by: f.admin)
        #expect(again.events?.count == 3)

        let reply = try await f.beat(e, inFlight: [claimed.ref])
        #expect(reply.cancels == [claimed.ref])
        #expect(reply.jobs.isEmpty)

        let state = try await f.store.recordCompletion(f.completion(claimed, .cancelled), member: e.member.id)
        #expect(state == .cancelled)
        #expect(try await f.store.job(job.id, by: f.admin).state == .cancelled)
        // Once it ended, no more cancels are sent.
        #expect(try await f.beat(e, inFlight: [claimed.ref]).cancels.isEmpty)
    }

    @Test("a cancelled running job whose agent never confirms ends cancelled when its lease runs out")
    func cancelRunningLeaseExpires() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let job = try await f.enqueue(e.member.id)
        _ = try await f.beat(e)
        _ = try await f.store.cancelJob(job.id, by: f.admin)
        #expect(try await f.store.expireLeases(at: now() + 3600) == 1)
        let view = try await f.store.job(job.id, by: f.admin)
        #expect(view.state == .cancelled)
        #expect(view.attempt == 1)
    }

    // MARK: issue 20 item 3 — a cancel is final on every path

    @Test("issue 20 item 3: an attempt interrupted after a cancel request ends the job cancelled, never re-queued")
    func interruptedAfterCancelIsFinal() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let job = try await f.enqueue(e.member.id, maxAttempts: 3)
        let claimed = try #require(try await f.beat(e).jobs.first)
        _ = try await f.store.cancelJob(job.id, by: f.admin)

        let state = try await f.store.recordCompletion(f.completion(claimed, .interrupted, error: "agent restarted"), member: e.member.id)
        #expect(state == .cancelled)
        let view = try await f.store.job(job.id, by: f.admin)
        #expect(view.state == .cancelled && view.attempt == 1 && view.finishedAt != nil)
        #expect(try await events(f, job.id) == ["enqueued", "claimed", "cancel_requested", "cancelled"])
        #expect(try await f.beat(e).jobs.isEmpty, "a cancelled job is never handed out again")
        // The resend of that completion is a repeat, not a new decision.
        #expect(try await f.store.recordCompletion(f.completion(claimed, .interrupted), member: e.member.id) == .cancelled)
    }

    @Test("issue 20 item 3: the claim never hands out a pending job with a cancel request; it ends cancelled")
    func claimSkipsCancelRequested() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let cancelled = try await f.enqueue(e.member.id, "host.echo", .object(["message": .string("no")]))
        let other = try await f.enqueue(e.member.id, "host.echo", .object(["message": .string("yes")]))
        // A pending job flagged by any path (an older server, a race): the claim must hold the line.
        try await f.store.db.write { try $0.execute(sql: "UPDATE jobs SET cancel_requested = 1 WHERE id = ?", arguments: [cancelled.id]) }

        let reply = try await f.beat(e)
        #expect(reply.jobs.map(\.id) == [other.id])
        let view = try await f.store.job(cancelled.id, by: f.admin)
        #expect(view.state == .cancelled && view.finishedAt != nil)
        #expect(try await events(f, cancelled.id) == ["enqueued", "cancelled"])
        #expect(try await f.beat(e).jobs.isEmpty)
    }

    @Test("issue 20 item 3: a cancelled recipe run's running step ends cancelled when interrupted; nothing more runs")
    func cancelledRecipeStepIsFinal() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let recipe = try Fixture.twoStepRecipe()
        let run = try await f.store.startRecipe(recipe, member: e.member.id, params: [:], catalogue: f.catalogue,
                                                policy: f.queue, by: f.admin)
        let step = try #require(try await f.beat(e).jobs.first)
        #expect(step.id == run.steps[0].jobId && step.attempt == 1)
        let cancelledRun = try await f.store.cancelRecipeRun(run.id, by: f.admin)
        #expect(cancelledRun.state == .cancelled)

        // The step's job has maxAttempts 2, so before the fix an interruption re-queued it.
        let state = try await f.store.recordCompletion(f.completion(step, .interrupted, error: "agent restarted"), member: e.member.id)
        #expect(state == .cancelled)
        #expect(try await f.beat(e).jobs.isEmpty)
        let after = try await f.store.recipeRun(run.id, by: f.admin)
        #expect(after.state == .cancelled)
        #expect(after.steps[0].state == .cancelled)
        #expect(after.steps[1].jobId == nil, "step 2 was never queued")
        #expect(try await f.count("SELECT COUNT(*) FROM jobs WHERE state IN ('pending', 'running')") == 0)
    }

    // MARK: issue 20 item 4 — a late completion after the control plane ended the attempt

    @Test("issue 20 item 4: a completion after the sweeper failed the last attempt gets 409; it is kept on the timeline once")
    func lateCompletionAfterSweeper() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let job = try await f.enqueue(e.member.id, maxAttempts: 1)
        let claimed = try #require(try await f.beat(e).jobs.first)
        #expect(try await f.store.expireLeases(at: now() + 3600) == 1)
        #expect(try await f.store.job(job.id, by: f.admin).state == .failed)

        let late = f.completion(claimed, .completed, output: "late output\n")
        let err = await cpError { try await f.store.recordCompletion(late, member: e.member.id) }
        #expect(err?.kind == .conflict)
        #expect(err?.message.contains("already ended by the control plane") == true)
        // A resend (the agent did not see the reply) is refused the same way and adds nothing.
        let again = await cpError { try await f.store.recordCompletion(late, member: e.member.id) }
        #expect(again?.kind == .conflict)

        let view = try await f.store.job(job.id, by: f.admin)
        #expect(view.state == .failed && view.output == nil && view.exitCode == nil, "the job stays as the sweeper ended it")
        #expect(try await events(f, job.id) == ["enqueued", "claimed", "failed", "late_result"])
        let note = try #require(view.events?.last)
        #expect(note.attempt == 1)
        #expect(note.message?.contains("reported completed") == true && note.message?.contains("exit code 0") == true)
    }

    @Test("issue 20 item 4: a completion after the lease ran out on a cancelled job gets 409 too")
    func lateCompletionAfterCancelExpiry() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let job = try await f.enqueue(e.member.id)
        let claimed = try #require(try await f.beat(e).jobs.first)
        _ = try await f.store.cancelJob(job.id, by: f.admin)
        #expect(try await f.store.expireLeases(at: now() + 3600) == 1)
        let err = await cpError { try await f.store.recordCompletion(f.completion(claimed, .cancelled), member: e.member.id) }
        #expect(err?.kind == .conflict)
        #expect(try await f.store.job(job.id, by: f.admin).state == .cancelled)
    }

    // MARK: issue 20 item 5 — deadlines and pending expiry

    func deadline(_ f: Fixture, _ id: Int64) async throws -> Double? {
        try await f.store.db.read { try Double.fetchOne($0, sql: "SELECT deadline_at FROM jobs WHERE id = ?", arguments: [id]) }
    }

    @Test("issue 20 item 5: a running job past timeoutSec + grace fails on the server although heartbeats keep listing it, and the agent is told to cancel it")
    func runningDeadline() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let job = try await f.store.enqueue(member: e.member.id, EnqueueJobRequest(command: "host.echo", params: .object(["message": .string("x")]),
                                                                                 timeoutSec: 100),
                                            catalogue: f.catalogue, policy: f.queue, by: f.admin)
        let before = now()
        let claimed = try #require(try await f.beat(e).jobs.first)
        let after = now()
        let due = try #require(try await deadline(f, job.id))
        let grace = Double(f.queue.deadlineGraceSec)
        #expect(due >= before + 100 + grace && due <= after + 100 + grace)

        // Heartbeats listing it keep the lease alive far beyond the deadline…
        f.queue.leaseSec = 100_000
        try await f.beat(e, inFlight: [claimed.ref])
        #expect(try await f.store.expireLeases(at: due + 10) == 0)
        // …but not the job: nothing before the deadline, then it fails.
        #expect(try await f.store.enforceDeadlines(at: due - 1, policy: f.queue) == 0)
        #expect(try await f.store.enforceDeadlines(at: due + 1, policy: f.queue) == 1)
        let view = try await f.store.job(job.id, by: f.admin)
        #expect(view.state == .failed && view.attempt == 1)
        #expect(view.error?.contains("timed out on the control plane") == true)
        #expect(try await events(f, job.id) == ["enqueued", "claimed", "timed_out"])

        // The agent still lists the attempt: the reply tells it to cancel; its report is late.
        let reply = try await f.beat(e, inFlight: [claimed.ref])
        #expect(reply.cancels == [claimed.ref])
        let late = await cpError { try await f.store.recordCompletion(f.completion(claimed, .cancelled), member: e.member.id) }
        #expect(late?.kind == .conflict)
        #expect(try await f.store.enforceDeadlines(at: due + 3600, policy: f.queue) == 0)
    }

    @Test("issue 20 item 5: with a cancel requested, the deadline ends the job cancelled")
    func deadlineAfterCancel() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let job = try await f.enqueue(e.member.id)
        let claimed = try #require(try await f.beat(e).jobs.first)
        _ = try await f.store.cancelJob(job.id, by: f.admin)
        f.queue.leaseSec = 100_000
        #expect(try await f.beat(e, inFlight: [claimed.ref]).cancels == [claimed.ref])  // the agent ignores it
        let due = try #require(try await deadline(f, job.id))
        #expect(try await f.store.sweep(at: due + 1, policy: f.queue) == 1)
        let view = try await f.store.job(job.id, by: f.admin)
        #expect(view.state == .cancelled)
        #expect(view.events?.last?.message?.contains("deadline passed") == true)
    }

    @Test("issue 20 item 5: a job on a lock gets its deadline after the jobs ahead of it on that lock")
    func deadlineQueuesBehindLock() async throws {
        let f = try await Fixture()
        f.queue.commandLocks = QueuePolicy.locks(of: f.catalogue)
        #expect(f.queue.commandLocks["haproxy.config_test"] == "haproxy")
        let (_, e) = try await f.member()
        let commands = ["host.echo", "haproxy.config_test"]
        try await f.beat(e, commands: commands)
        func enqueue(_ command: String, _ params: JSONValue, timeout: Int) async throws -> JobView {
            try await f.store.enqueue(member: e.member.id, EnqueueJobRequest(command: command, params: params, timeoutSec: timeout),
                                      catalogue: f.catalogue, policy: f.queue, by: f.admin)
        }
        let first = try await enqueue("haproxy.config_test", .emptyObject, timeout: 300)
        let echo = try await enqueue("host.echo", .object(["message": .string("free")]), timeout: 50)
        let t0 = now()
        #expect(try await f.beat(e, commands: commands).jobs.count == 2)
        let second = try await enqueue("haproxy.config_test", .emptyObject, timeout: 100)
        #expect(try await f.beat(e, commands: commands).jobs.map(\.id) == [second.id])
        let t1 = now()
        let grace = Double(f.queue.deadlineGraceSec)
        let d1 = try #require(try await deadline(f, first.id)), d2 = try #require(try await deadline(f, second.id))
        let dEcho = try #require(try await deadline(f, echo.id))
        #expect(d1 >= t0 + 300 + grace && d1 <= t1 + 300 + grace)
        #expect(dEcho <= t1 + 50 + grace, "a job without a lock waits for nothing")
        #expect(abs(d2 - (d1 + 100)) < 0.001, "the second haproxy job may only start when the first one ends")
    }

    @Test("issue 20 item 5: a job pending longer than the expiry fails as expired, visible on the timeline")
    func pendingExpiry() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let job = try await f.enqueue(e.member.id)
        #expect(f.queue.pendingExpirySec == 24 * 3600, "the default")
        #expect(try await f.store.enforceDeadlines(at: now() + 23 * 3600, policy: f.queue) == 0)
        #expect(try await f.store.sweep(at: now() + 24 * 3600 + 1, policy: f.queue) == 1)
        let view = try await f.store.job(job.id, by: f.admin)
        #expect(view.state == .failed && view.finishedAt != nil)
        #expect(view.error?.contains("still pending 24 h") == true)
        #expect(try await events(f, job.id) == ["enqueued", "expired"])
        #expect(try await f.beat(e).jobs.isEmpty)

        // Configurable: one hour.
        f.queue.pendingExpirySec = 3600
        let soon = try await f.enqueue(e.member.id)
        #expect(try await f.store.enforceDeadlines(at: now() + 3601, policy: f.queue) == 1)
        #expect(try await f.store.job(soon.id, by: f.admin).error?.contains("still pending 1 h") == true)
    }

    // MARK: issue 21 item 13 — the restart grace

    @Test("issue 21 item 13: after a restart no running lease (or deadline) ends sooner than one lease from now; longer ones are kept")
    func restartGrace() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        f.queue.leaseSec = 30
        let short = try await f.enqueue(e.member.id, "host.echo", .object(["message": .string("short")]))
        _ = try await f.beat(e)
        f.queue.leaseSec = 5000
        let long = try await f.enqueue(e.member.id, "host.echo", .object(["message": .string("long")]))
        _ = try await f.beat(e)
        let pending = try await f.enqueue(e.member.id, "host.echo", .object(["message": .string("pending")]))
        f.queue.leaseSec = 30
        func lease(_ id: Int64) async throws -> Double? {
            try await f.store.db.read { try Double.fetchOne($0, sql: "SELECT lease_expires_at FROM jobs WHERE id = ?", arguments: [id]) }
        }
        let longLease = try #require(try await lease(long.id))
        // The control plane comes back 100 s later: the short lease ran out while it was down.
        let restart = now() + 100
        try await f.store.graceRunningLeases(policy: f.queue, at: restart)
        #expect(try await lease(short.id) == restart + 30)
        #expect(try await lease(long.id) == longLease, "a longer lease is not shortened")
        #expect(try await lease(pending.id) == nil)
        #expect(try await f.store.expireLeases(at: restart + 29) == 0, "agents get a full lease to reach us again")
        #expect(try await f.store.expireLeases(at: restart + 31) == 1)
        #expect(try await f.store.job(short.id, by: f.admin).state == .pending)
    }

    // MARK: issue 21 item 14 — progress is fenced and extends the lease

    @Test("issue 21 item 14: progress extends the lease and is fenced by the attempt")
    func progressFencingAndLease() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let job = try await f.enqueue(e.member.id, maxAttempts: 3)
        let claimed = try #require(try await f.beat(e).jobs.first)
        let m = e.member.id

        // Progress renews the lease by leaseSec from now (the claim gave 30 s).
        var policy = f.queue
        policy.leaseSec = 5000
        try await f.store.recordProgress(JobProgress(jobId: job.id, attempt: 1, message: "half", percent: 150), member: m, policy: policy)
        #expect(try await f.store.expireLeases(at: now() + 3600) == 0, "progress extended the lease")
        let view = try await f.store.job(job.id, by: f.admin)
        #expect(view.progressMessage == "half" && view.progressPercent == 100, "percent clamped")
        #expect(try await events(f, job.id) == ["enqueued", "claimed", "progress"])

        // Stale and future attempts, another member, an unknown job: refused, nothing changes.
        let stale = await cpError { try await f.store.recordProgress(JobProgress(jobId: job.id, attempt: 2, message: "x", percent: 1), member: m, policy: policy) }
        #expect(stale?.kind == .conflict)
        let (_, other) = try await f.member(hostname: "web-2")
        let foreign = await cpError { try await f.store.recordProgress(JobProgress(jobId: job.id, attempt: 1, message: "x", percent: 1), member: other.member.id, policy: policy) }
        #expect(foreign?.kind == .notFound)

        // Re-offered as attempt 2: attempt 1's progress is now stale (409) and extends nothing.
        #expect(try await f.store.expireLeases(at: now() + 6000) == 1)
        let second = try #require(try await f.beat(e).jobs.first)
        #expect(second.attempt == 2)
        let late = await cpError { try await f.store.recordProgress(JobProgress(jobId: job.id, attempt: 1, message: "late", percent: 99), member: m, policy: policy) }
        #expect(late?.kind == .conflict)
        #expect(try await f.store.expireLeases(at: now() + 60) == 1, "attempt 2's 30 s lease was not extended by the stale progress")
        #expect(try await f.store.job(job.id, by: f.admin).progressMessage == nil)
        // Progress for a job that is not running is refused too.
        let notRunning = await cpError { try await f.store.recordProgress(JobProgress(jobId: job.id, attempt: 3, message: "x", percent: 1), member: m, policy: policy) }
        #expect(notRunning?.kind == .conflict)
    }
}
