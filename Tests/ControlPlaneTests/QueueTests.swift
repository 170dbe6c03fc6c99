import BalctlProtocol
@testable import ControlPlane
import Foundation
import GRDB
import Testing

@Suite("Store: job queue")
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
}
