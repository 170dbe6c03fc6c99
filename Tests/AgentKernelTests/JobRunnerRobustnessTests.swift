import AgentKernel
import BalctlProtocol
import Foundation
import Testing

/// Issue 20 items 12–19 and issue 21 items 20 and 22: stopping jobs whose programs misbehave,
/// delivering completions the control plane refuses or cannot take yet, and progress posts.
@Suite("JobRunner robustness")
struct JobRunnerRobustnessTests {
    func argvJob(_ rig: Rig, _ id: Int64, _ argv: [String], timeoutSec: Int) -> ClaimedJob {
        rig.job(id, "test.locked_run", .object(["argv": .array(argv.map { .string($0) })]), timeoutSec: timeoutSec)
    }

    // MARK: stopping (items 12, 13)

    @Test("issue 20 item 12: a timed-out job whose setsid descendant holds stdout is reported within seconds, the descendant killed, the next job on its lock run")
    func timeoutWithEscapedDescendant() async throws {
        let rig = try Rig()
        let pidFile = rig.tmp.file("escaped.pid")
        let script = #"setsid sh -c 'echo $$ > "$0"; exec sleep 60' "$0" & exec sleep 100"#
        let start = monotonic()
        let first = try #require(await rig.runner.submit(argvJob(rig, 1, ["sh", "-c", script, pidFile], timeoutSec: 1)))
        let next = try #require(await rig.runner.submit(rig.sleep(2, "test.locked_sleep", ms: 10)))
        let escaped = try #require(await pidWritten(to: pidFile))
        #expect(await first.value == .failed)
        let elapsed = monotonic() - start
        #expect(elapsed < 6, "reported \(elapsed)s after the start of a 1 s job")
        #expect(await rig.reporter.completion(1)?.error?.contains("timed out after 1s") == true)
        #expect(await next.value == .completed)
        #expect(await eventually { !isAlive(escaped) }, "the escaped descendant \(escaped) still runs")
    }

    @Test("issue 20 items 12–13: an escaped descendant that ignores SIGTERM and holds stdout is killed after the grace period")
    func timeoutWithStubbornEscapedDescendant() async throws {
        let rig = try Rig()
        let pidFile = rig.tmp.file("stubborn.pid")
        let script = #"setsid sh -c 'trap "" TERM; echo $$ > "$0"; exec sleep 60' "$0" & exec sleep 100"#
        let start = monotonic()
        let first = try #require(await rig.runner.submit(argvJob(rig, 1, ["sh", "-c", script, pidFile], timeoutSec: 1)))
        let stubborn = try #require(await pidWritten(to: pidFile))
        #expect(await first.value == .failed)
        let elapsed = monotonic() - start
        #expect(elapsed < 8, "reported \(elapsed)s after the start of a 1 s job")
        #expect(await eventually { !isAlive(stubborn) }, "the TERM-ignoring descendant \(stubborn) still runs")
    }

    @Test("issue 20 item 12: a handler that ignores cancellation does not hold the report or the lock past the wind-down")
    func stubbornHandler() async throws {
        let rig = try Rig()
        let start = monotonic()
        let first = try #require(await rig.runner.submit(rig.job(1, "test.stubborn",
            .object(["tag": .string("s"), "ms": .number(30_000)]), timeoutSec: 1)))
        let next = try #require(await rig.runner.submit(rig.sleep(2, "test.locked_sleep", ms: 10)))
        #expect(await first.value == .failed)
        #expect(await next.value == .completed)
        let elapsed = monotonic() - start
        #expect(elapsed < 10, "the next job ran \(elapsed)s after a 1 s timeout")
        #expect(await rig.reporter.completion(1)?.error == "timed out after 1s")
    }

    // MARK: numbers out of range (item 18)

    struct BadNumbers: Sendable, CustomTestStringConvertible {
        var id: Int64 = 1, attempt = 1, leaseSec = 30, timeoutSec = 60
        var field: String
        var testDescription: String { "id \(id) attempt \(attempt) lease \(leaseSec) timeout \(timeoutSec)" }
    }

    @Test("issue 20 item 18: a claimed job with numbers out of range is reported failed, never run, never a crash",
          arguments: [
              BadNumbers(timeoutSec: Int.max, field: "timeoutSec"),
              BadNumbers(timeoutSec: -5, field: "timeoutSec"),
              BadNumbers(timeoutSec: 0, field: "timeoutSec"),
              BadNumbers(leaseSec: Int.max, field: "leaseSec"),
              BadNumbers(leaseSec: -1, field: "leaseSec"),
              BadNumbers(attempt: 0, field: "attempt"),
              BadNumbers(attempt: Int.min, field: "attempt"),
              BadNumbers(id: -3, field: "job id"),
          ])
    func outOfRangeNumbers(_ bad: BadNumbers) async throws {
        let rig = try Rig()
        let job = ClaimedJob(id: bad.id, command: "test.free_sleep",
                             params: .object(["tag": .string("x"), "ms": .number(1)]), attempt: bad.attempt,
                             leaseSec: bad.leaseSec, timeoutSec: bad.timeoutSec, checkMode: false)
        let (status, c) = try await rig.run(job)
        #expect(status == .failed)
        #expect(c.error?.contains("refused") == true && c.error?.contains(bad.field) == true,
                "got \(String(describing: c.error))")
        #expect(rig.recorder.startedTags.isEmpty)
    }

    // MARK: delivery (item 14, item 16; issue 21 item 20)

    @Test("issue 20 item 14: a completion refused for good is kept on the agent and replaced by a short failure, not retried",
          arguments: [400, 413, 422])
    func refusedCompletion(_ code: Int) async throws {
        let rig = try Rig()
        await rig.reporter.answerCompletions([.http(code)])
        let task = try #require(await rig.runner.submit(rig.sleep(1, "test.locked_sleep", ms: 1)))
        _ = await task.value
        let sent = await rig.reporter.completions
        #expect(sent.count == 2)
        let original = try #require(sent.first)
        #expect(original.status == .completed && original.result == .object(["tag": .string("j1")]))
        let short = try #require(sent.last)
        #expect(short.status == .failed)
        #expect(short.result == nil)
        #expect(short.error?.contains("HTTP \(code)") == true)
        #expect(short.error?.contains(rig.store.refusedDirectory) == true)
        #expect(rig.store.all().isEmpty)
        #expect(rig.store.refused().map(\.completion) == [original])
    }

    @Test("issue 20 item 14: when the short failure is refused as well the agent gives up; the full report stays kept")
    func shortFailureRefusedToo() async throws {
        let rig = try Rig()
        await rig.reporter.answerCompletions([.http(413), .http(400)])
        let task = try #require(await rig.runner.submit(rig.sleep(1, "test.locked_sleep", ms: 1)))
        _ = await task.value
        #expect(await rig.reporter.completions.count == 2)
        #expect(rig.store.all().isEmpty)
        #expect(rig.store.refused().count == 1)
        #expect(await rig.runner.inFlight.isEmpty)
    }

    @Test("issue 20 item 14, issue 21 item 20: 5xx, 408, 429 and network errors are retried, the record kept on disk until the report is taken")
    func transientErrorsRetried() async throws {
        let rig = try Rig()
        await rig.reporter.answerCompletions([.http(503), .network, .http(429), .http(408), .http(500), .http(502)])
        let job = rig.sleep(1, "test.locked_sleep", ms: 1)
        let task = try #require(await rig.runner.submit(job))
        #expect(await eventually { await rig.reporter.completions.count >= 2 })
        let kept = rig.store.all()
        #expect(kept.map(\.job) == [job])
        #expect(kept.first?.completion?.status == .completed)
        #expect(await rig.runner.inFlight == [job.ref])  // heartbeats keep its lease meanwhile
        #expect(await task.value == .completed)
        #expect(await rig.reporter.completions.count == 7)
        #expect(rig.store.all().isEmpty)
        #expect(rig.store.refused().isEmpty)
    }

    @Test("issue 21 item 20: a stale (409) or gone (404) answer ends the delivery and removes the record",
          arguments: [FakeReporter.Answer.stale, .gone])
    func staleOrGone(_ answer: FakeReporter.Answer) async throws {
        let rig = try Rig()
        await rig.reporter.answerCompletions([answer])
        let (status, _) = try await rig.run(rig.sleep(1, "test.locked_sleep", ms: 1))
        #expect(status == .completed)
        #expect(await rig.reporter.completions.count == 1)
        #expect(rig.store.all().isEmpty)
        #expect(rig.store.refused().isEmpty)
        #expect(await rig.runner.inFlight.isEmpty)
    }

    @Test("issue 21 item 20: a completion not taken before shutdown stays on disk, and the next start delivers it")
    func undeliveredAtShutdown() async throws {
        let rig = try Rig()
        await rig.reporter.answerCompletions(Array(repeating: .network, count: 100))
        let job = rig.sleep(1, "test.free_sleep", ms: 1)
        await rig.runner.submit(job)
        #expect(await eventually { await rig.reporter.completions.count >= 1 })
        await rig.runner.shutdown(graceSec: 0)
        let kept = rig.store.all()
        #expect(kept.map(\.job) == [job])
        let owed = try #require(kept.first?.completion)
        #expect(owed.status == .completed)

        let reporter = FakeReporter()
        let restarted = JobRunner(registry: HandlerRegistry(plugins: [TestPlugin(recorder: rig.recorder)]),
                                  reporter: reporter, store: rig.store, host: HostProbe(),
                                  log: AgentLog(minimum: .error), retryDelaySec: 0.05)
        await restarted.recoverLostJobs()
        _ = await restarted.waitForAll()
        #expect(await reporter.completions == [owed])
        #expect(rig.store.all().isEmpty)
    }

    @Test("issue 20 item 16: completions found at start do not hold up the start and stay in the delivery loop until taken")
    func recoveredCompletionsKeepTrying() async throws {
        let rig = try Rig()
        let owed = JobCompletion(jobId: 8, attempt: 1, status: .completed, exitCode: 0, output: "done\n",
                                 result: nil, changed: true, error: nil, startedAt: 1_700_000_001,
                                 finishedAt: 1_700_000_002)
        let job = rig.job(8, "test.free_sleep")
        try rig.writeRecord(RecordFile(job: job, startedAt: 1_700_000_001, completion: owed))
        await rig.reporter.answerCompletions(Array(repeating: .network, count: 6))
        await rig.runner.recoverLostJobs()
        // Returned without waiting for the control plane (READY=1 and the first heartbeat follow
        // at once), and the job is listed in heartbeats meanwhile.
        #expect(await rig.reporter.completions.count <= 1)
        #expect(await rig.runner.inFlight == [job.ref])
        _ = await rig.runner.waitForAll()
        #expect(await rig.reporter.completions.count == 7)
        #expect(await rig.reporter.completion(8) == owed)
        #expect(rig.store.all().isEmpty)
    }

    struct Oversized: Sendable, CustomTestStringConvertible {
        var resultBytes: Int
        var controlOutputBytes: Int
        var nanResult = false
        var resultKept: Bool
        var testDescription: String { "result \(resultBytes) B, control output \(controlOutputBytes) B, NaN \(nanResult)" }
    }

    @Test("issue 20 item 14: the runner fits every completion under the control plane's 512 KiB body limit",
          arguments: [
              Oversized(resultBytes: 1 << 20, controlOutputBytes: 0, resultKept: false),
              Oversized(resultBytes: 200_000, controlOutputBytes: 64 * 1024, resultKept: true),
              Oversized(resultBytes: 0, controlOutputBytes: 0, nanResult: true, resultKept: false),
          ])
    func completionFitsTheBodyLimit(_ o: Oversized) async throws {
        let rig = try Rig()
        await rig.runner.submit(rig.job(1, "test.big_result", .object([
            "resultBytes": .number(Double(o.resultBytes)), "controlOutputBytes": .number(Double(o.controlOutputBytes)),
            "nanResult": .bool(o.nanResult)])))
        #expect(await eventually { await !rig.reporter.completionBodyBytes.isEmpty })
        let first = try #require(await rig.reporter.completionBodyBytes.first)
        #expect(first <= AgentWire.maxAgentBodyBytes)
        let c = try #require(await rig.reporter.completions.first)
        #expect(c.status == .completed)
        #expect((c.result != nil) == o.resultKept)
        #expect(c.output.hasSuffix("the end of the output\nunchanged: \(o.nanResult ? "nan" : "big")\n"))
        if !o.resultKept { #expect(c.output.contains("[result dropped")) }
        if o.controlOutputBytes > 0 { #expect(c.output.contains("[output cut to its last")) }
        #expect(await rig.reporter.completions.count == 1)
    }

    // MARK: progress (item 19; issue 21 item 22)

    func progressJob(_ rig: Rig, delaysMs: [Int], tailMs: Int) -> ClaimedJob {
        rig.job(1, "test.progress_at", .object([
            "delaysMs": .array(delaysMs.map { .number(Double($0)) }), "tailMs": .number(Double(tailMs))]))
    }

    @Test("issue 21 item 22: progress at 0 s and 1.2 s gives two posts; a burst gives one")
    func progressThrottleLetsTheNextSecondThrough() async throws {
        let spaced = try Rig()
        #expect(try await spaced.run(progressJob(spaced, delaysMs: [0, 1200], tailMs: 300)).0 == .completed)
        #expect(await spaced.reporter.progresses.map(\.message) == ["p0", "p1"])

        let burst = try Rig()
        #expect(try await burst.run(progressJob(burst, delaysMs: [0, 0, 0, 0, 0], tailMs: 300)).0 == .completed)
        #expect(await burst.reporter.progresses.map(\.message) == ["p0"])
    }

    @Test("issue 20 item 19: behind a slow control plane one progress post per job is in flight, and the latest value goes next")
    func progressCoalesced() async throws {
        let rig = try Rig()
        await rig.reporter.slowProgress(1.5)
        let (status, _) = try await rig.run(progressJob(rig, delaysMs: [0] + Array(repeating: 100, count: 24), tailMs: 100))
        #expect(status == .completed)
        #expect(await rig.reporter.maxProgressInFlight == 1)
        let posts = await rig.reporter.progresses.compactMap(\.message)
        #expect(posts.first == "p0")
        // The second post left when the first returned (1.5 s), with what was latest then.
        let second = try #require(posts.dropFirst().first.flatMap { Int($0.dropFirst()) })
        #expect(second >= 12, "second post carried p\(second)")
        #expect(posts.count <= 3)
    }
}
