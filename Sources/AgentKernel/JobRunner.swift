#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import BalctlProtocol

/// Where a runner sends what happens to its jobs (the control plane in production, a recorder in
/// tests).
public protocol JobReporter: Sendable {
    func progress(_ p: JobProgress) async throws -> Bool
    func complete(_ c: JobCompletion) async throws -> CompletionAck
}

extension AgentAPIClient: JobReporter {}

/// Runs claimed jobs beside the heartbeat loop: each job in its own task, jobs that share a lock
/// strictly one after another, with a timeout, cancellation, bounded output, coalesced progress
/// and completions that are kept on disk until the control plane has answered them.
public actor JobRunner {
    let registry: HandlerRegistry
    let reporter: any JobReporter
    let store: InFlightStore
    let host: HostProbe
    let log: AgentLog
    let processes = ProcessRunner()
    let progress: ProgressCoalescer
    /// The first wait between delivery retries; it doubles up to `maxRetryDelaySec`.
    let retryDelaySec: Double
    static let maxRetryDelaySec = 30.0
    /// How long a stopped handler gets to return (its programs get SIGTERM, then SIGKILL) before
    /// the job is reported anyway and its lock released.
    var windDownSec: Double { processes.graceSec + processes.drainSec + 1 }

    /// A job claimed (its execution, while it runs) or a completion still to deliver.
    private struct Entry {
        var execution: Task<JobCompletion, Never>?
        var whole: Task<AttemptStatus, Never>
    }
    /// Attempts the control plane has no answer for yet (waiting for their lock, running, or
    /// reporting); the heartbeat lists them, which keeps their leases.
    private var active: [JobRef: Entry] = [:]
    /// Jobs whose handler has not finished yet.
    private var executing: Set<JobRef> = []
    /// The work last queued on each lock: the next job on that lock waits for it.
    private var lockTails: [String: Task<Void, Never>] = [:]
    private var cancelRequested: Set<JobRef> = []
    private var shuttingDown = false
    /// Jobs whose handler asked for an agent restart once their completion is delivered.
    private var restartAfterDelivery: Set<JobRef> = []
    /// Called (once per such job) when a completion that asked for a restart has been answered.
    let onRestartRequested: @Sendable () -> Void
    /// Handed to handlers for bulk transfers (snapshot parts).
    let channel: (any ControlPlaneChannel)?
    /// The agent's configured control plane origin, handed to handlers in their JobContext.
    let controlPlaneBase: String?

    public init(registry: HandlerRegistry, reporter: any JobReporter, store: InFlightStore,
                host: HostProbe, log: AgentLog, retryDelaySec: Double = 0.5,
                channel: (any ControlPlaneChannel)? = nil, controlPlaneBase: String? = nil,
                onRestartRequested: @escaping @Sendable () -> Void = {}) {
        self.channel = channel; self.controlPlaneBase = controlPlaneBase
        self.registry = registry; self.reporter = reporter; self.store = store
        self.host = host; self.log = log; self.retryDelaySec = retryDelaySec
        self.onRestartRequested = onRestartRequested
        self.progress = ProgressCoalescer(reporter: reporter, log: log)
    }

    /// Jobs whose lease the heartbeat should keep alive.
    public var inFlight: [JobRef] { active.keys.sorted { ($0.id, $0.attempt) < ($1.id, $1.attempt) } }

    /// Start a claimed job. A job already known (same id and attempt) is ignored. The returned
    /// task ends once the control plane has answered the completion (or the agent gave up on it).
    @discardableResult
    public func submit(_ job: ClaimedJob) -> Task<AttemptStatus, Never>? {
        let ref = job.ref
        guard active[ref] == nil, !shuttingDown else { return nil }
        let startedAt = unixNow()
        store.save(InFlightRecord(job: job, startedAt: startedAt, completion: nil))
        let lock = registry.handlers[job.command]?.descriptor.info.lock
        let previous = lock.flatMap { lockTails[$0] }
        executing.insert(ref)
        let execution = Task<JobCompletion, Never> {
            if let previous { await previous.value }
            let completion = CompletionShaping.fit(await self.execute(job))
            self.store.save(InFlightRecord(job: job, startedAt: startedAt, completion: completion))
            await self.executed(ref)
            return completion
        }
        // The lock guards the host, not the report: the next job on it starts once this one's
        // completion is safe on disk, while the delivery goes on.
        if let lock { lockTails[lock] = Task { _ = await execution.value } }
        let whole = Task<AttemptStatus, Never> {
            let completion = await execution.value
            await self.deliver(InFlightRecord(job: job, startedAt: startedAt, completion: completion))
            self.finished(ref)
            if self.restartAfterDelivery.remove(ref) != nil { self.onRestartRequested() }
            return completion.status
        }
        active[ref] = Entry(execution: execution, whole: whole)
        log.info("job \(job.id) attempt \(job.attempt): \(job.command) claimed")
        return whole
    }

    /// Queue a plugin's startup work on its lock: it waits for the jobs already on the lock, and
    /// jobs claimed meanwhile wait for it.
    @discardableResult
    public func start(_ work: StartupWork) -> Task<Void, Never> {
        let previous = lockTails[work.lock]
        let log = self.log
        let task = Task<Void, Never> {
            if let previous { await previous.value }
            log.info("\(work.name): starting")
            await work.run()
        }
        lockTails[work.lock] = task
        return task
    }

    private func executed(_ ref: JobRef) async {
        executing.remove(ref)
        await progress.forget(ref)
    }

    private func finished(_ ref: JobRef) {
        active[ref] = nil
        cancelRequested.remove(ref)
    }

    /// An operator cancelled the job: stop it and report `cancelled`.
    public func cancel(_ ref: JobRef) {
        guard let execution = active[ref]?.execution, executing.contains(ref) else { return }
        cancelRequested.insert(ref)
        execution.cancel()
    }

    /// Wait until every job has finished and been reported (and every completion found at start
    /// delivered); returns the statuses of the jobs claimed.
    public func waitForAll() async -> [AttemptStatus] {
        var statuses: [AttemptStatus] = []
        // Await a snapshot: a job that ends while we wait on another removes itself from
        // `active`, and its status must not be lost.
        while !active.isEmpty {
            for entry in Array(active.values) {
                let status = await entry.whole.value
                if entry.execution != nil { statuses.append(status) }
            }
        }
        return statuses
    }

    /// SIGTERM: take no new jobs, let running ones finish for `graceSec`, then stop them (they are
    /// reported `interrupted` so the control plane re-offers them). Completions the control plane
    /// does not take now stay on disk for the next start.
    public func shutdown(graceSec: Int) async {
        shuttingDown = true
        let deadline = monotonicNow() + Double(graceSec)
        while !executing.isEmpty && monotonicNow() < deadline {
            try? await Task.sleep(for: .milliseconds(100))
        }
        if !executing.isEmpty {
            log.warning("stopping \(executing.count) job(s) still running after \(graceSec)s grace")
            for ref in executing { active[ref]?.execution?.cancel() }
        }
        _ = await waitForAll()
    }

    /// After a restart: completions the control plane never answered, and jobs that were running
    /// when the agent died (reported interrupted), join the normal delivery loop (issue 20 item
    /// 16). This returns at once: `READY=1` and the first heartbeat do not wait for them.
    public func recoverLostJobs() {
        for record in store.all() where active[record.job.ref] == nil {
            let completion = record.completion ?? JobCompletion(
                jobId: record.job.id, attempt: record.job.attempt, status: .interrupted,
                exitCode: nil, output: "", result: nil, changed: nil,
                error: "the agent restarted while this job ran", startedAt: record.startedAt,
                finishedAt: unixNow())
            log.warning("job \(record.job.id) attempt \(record.job.attempt): reporting \(completion.status.rawValue) after restart")
            let ref = record.job.ref
            let owed = InFlightRecord(job: record.job, startedAt: record.startedAt, completion: completion)
            let whole = Task<AttemptStatus, Never> {
                await self.deliver(owed)
                self.finished(ref)
                return completion.status
            }
            active[ref] = Entry(execution: nil, whole: whole)
        }
    }

    // MARK: running

    private func execute(_ job: ClaimedJob) async -> JobCompletion {
        let output = OutputTail(limit: AgentWire.maxOutputTailBytes)
        let started = unixNow()
        func done(_ status: AttemptStatus, exit: Int?, error: String?, result: JSONValue? = nil,
                  changed: Bool? = nil) -> JobCompletion {
            if let error { output.append("error: \(error)\n") }
            return JobCompletion(jobId: job.id, attempt: job.attempt, status: status, exitCode: exit,
                                 output: output.text, result: result, changed: changed,
                                 error: error, startedAt: started, finishedAt: unixNow())
        }
        if let problem = ClaimedJobLimits.problem(job) {
            log.warning("job \(job.id) attempt \(job.attempt): refused: \(problem)")
            return done(.failed, exit: nil, error: "the agent refused the job: \(problem)")
        }
        if Task.isCancelled { return done(cancelStatus(job.ref), exit: nil, error: "stopped before it started") }
        guard let handler = registry.handlers[job.command] else {
            return done(.failed, exit: nil, error: "this agent has no handler for '\(job.command)'")
        }
        let info = handler.descriptor.info
        if info.requiresRoot && geteuid() != 0 {
            return done(.failed, exit: nil, error: "\(job.command) needs root; the agent runs as uid \(geteuid())")
        }
        if job.checkMode && !info.supportsCheckMode {
            return done(.failed, exit: nil, error: "\(job.command) does not support check mode")
        }
        let progress = self.progress
        let context = JobContext(
            jobID: job.id, attempt: job.attempt, command: job.command, checkMode: job.checkMode,
            timeoutSec: job.timeoutSec, output: output, processes: processes, host: host,
            backupScopes: registry.backupScopes, controlPlane: channel, controlPlaneBase: controlPlaneBase,
            certificateSources: registry.certificateSources,
            progress: { message, percent in
                await progress.post(JobProgress(jobId: job.id, attempt: job.attempt,
                                                message: message, percent: percent))
            })
        log.info("job \(job.id) attempt \(job.attempt): \(job.command) started")
        let params = job.params
        let running = Task<JobOutcome, any Error> { try await handler.run(params, context) }
        let end = await HandlerRace.first(of: running, timeoutSec: Double(job.timeoutSec), honourCancellation: true)
        switch end {
        case .finished(.success(let outcome)):
            if Task.isCancelled {
                return done(cancelStatus(job.ref), exit: nil, error: "stopped", result: outcome.result)
            }
            output.append((outcome.changed ? "changed: " : "unchanged: ") + outcome.summary + "\n")
            if outcome.restartAgent { restartAfterDelivery.insert(job.ref) }
            log.info("job \(job.id) attempt \(job.attempt): completed (\(outcome.changed ? "changed" : "unchanged"))")
            return done(.completed, exit: outcome.exitCode, error: nil, result: outcome.result,
                        changed: outcome.changed)
        case .finished(.failure(let e as JobFailure)):
            log.warning("job \(job.id) attempt \(job.attempt): failed: \(e.message)")
            return done(.failed, exit: e.exitCode, error: e.message, result: e.result)
        case .finished(.failure(let error)):
            if Task.isCancelled || error is CancellationError {
                return done(cancelStatus(job.ref), exit: nil, error: "stopped")
            }
            log.warning("job \(job.id) attempt \(job.attempt): failed: \(error)")
            return done(.failed, exit: nil, error: "\(error)")
        case .timedOut, .cancelled:
            // Stop the handler (its programs' whole trees are killed) but do not wait for it
            // without bound: the report and the lock must not hang on it (issue 20 item 12).
            running.cancel()
            let wound = await HandlerRace.first(of: running, timeoutSec: windDownSec, honourCancellation: false)
            if case .timedOut = wound {
                log.warning("job \(job.id) attempt \(job.attempt): the handler did not stop within \(windDownSec)s; reporting anyway")
            }
            if case .timedOut = end { return done(.failed, exit: nil, error: "timed out after \(job.timeoutSec)s") }
            return done(cancelStatus(job.ref), exit: nil, error: "stopped")
        }
    }

    private func cancelStatus(_ ref: JobRef) -> AttemptStatus {
        cancelRequested.contains(ref) ? .cancelled : .interrupted
    }

    // MARK: delivery

    /// Send a completion until the control plane answers it (taken, stale 409 or gone 404); the
    /// record stays on disk until then. 5xx, 408, 429 and network errors are retried with back-off
    /// (the job stays in `inFlight`, so heartbeats keep its lease while the agent holds its result).
    /// A completion refused for good (other 4xx) is kept under `refused/` and a short failure sent
    /// in its place (issue 20 item 14). During shutdown a few tries, then the record waits for the
    /// next start.
    private func deliver(_ record: InFlightRecord) async {
        // Records written by an older agent were never fitted.
        guard let original = record.completion.map({ CompletionShaping.fit($0) }) else { return }
        let ref = record.job.ref
        var completion = original
        var delay = retryDelaySec
        var tries = 0
        while true {
            tries += 1
            let verdict: DeliveryVerdict
            do { verdict = .answered(try await reporter.complete(completion)) } catch { verdict = DeliveryVerdict(error) }
            switch verdict {
            case .answered(.accepted):
                log.info("job \(ref.id) attempt \(ref.attempt): reported \(completion.status.rawValue)")
                store.remove(ref)
                return
            case .answered(.stale(let why)):
                log.warning("job \(ref.id) attempt \(ref.attempt): control plane refused the report as stale: \(why)")
                store.remove(ref)
                return
            case .answered(.gone):
                log.warning("job \(ref.id): no longer exists on the control plane")
                store.remove(ref)
                return
            case .refused(let why) where completion == original:
                let keptAt = store.keepRefused(record)
                log.error("job \(ref.id) attempt \(ref.attempt): the control plane refused the report (\(why)); kept at \(keptAt ?? "nowhere"), sending a short failure")
                completion = CompletionShaping.shortFailure(for: original, reason: why, keptAt: keptAt)
                store.save(InFlightRecord(job: record.job, startedAt: record.startedAt, completion: completion))
            case .refused(let why):
                log.error("job \(ref.id) attempt \(ref.attempt): the short failure was refused too (\(why)); giving up")
                store.remove(ref)
                return
            case .retry(let why):
                if tries == 1 || tries % 10 == 0 {
                    log.warning("job \(ref.id) attempt \(ref.attempt): report failed (\(why)); retrying")
                }
                if shuttingDown && tries >= 3 { return }
                await pause(delay)
                delay = min(delay * 2, Self.maxRetryDelaySec)
            }
        }
    }

    /// Sleep `seconds`, cut short by a shutdown.
    private func pause(_ seconds: Double) async {
        let until = monotonicNow() + seconds
        while !shuttingDown {
            let left = until - monotonicNow()
            if left <= 0 { return }
            try? await Task.sleep(for: .seconds(min(left, 0.1)))
        }
    }
}
