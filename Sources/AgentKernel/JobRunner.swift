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

struct JobTimedOut: Error {}

/// Runs claimed jobs beside the heartbeat loop: each job in its own task, jobs that share a lock
/// strictly one after another, with a timeout, cancellation, bounded output, throttled progress
/// and completions that are kept on disk until the control plane has taken them.
public actor JobRunner {
    let registry: HandlerRegistry
    let reporter: any JobReporter
    let store: InFlightStore
    let host: HostProbe
    let log: AgentLog
    let processes = ProcessRunner()

    /// Claimed jobs not yet delivered (waiting for their lock, running, or reporting).
    private var active: [JobRef: Task<AttemptStatus, Never>] = [:]
    /// The last task queued on each lock: the next job on that lock waits for it.
    private var lockTails: [String: Task<AttemptStatus, Never>] = [:]
    private var cancelRequested: Set<JobRef> = []
    private var shuttingDown = false
    private var lastProgressAt: [JobRef: Double] = [:]

    public init(registry: HandlerRegistry, reporter: any JobReporter, store: InFlightStore,
                host: HostProbe, log: AgentLog) {
        self.registry = registry; self.reporter = reporter; self.store = store
        self.host = host; self.log = log
    }

    /// Jobs whose lease the heartbeat should keep alive.
    public var inFlight: [JobRef] { active.keys.sorted { $0.id < $1.id } }

    /// Start a claimed job. A job already known (same id and attempt) is ignored.
    @discardableResult
    public func submit(_ job: ClaimedJob) -> Task<AttemptStatus, Never>? {
        let ref = job.ref
        guard active[ref] == nil, !shuttingDown else { return nil }
        let startedAt = unixNow()
        store.save(InFlightRecord(job: job, startedAt: startedAt, completion: nil))
        let lock = registry.handlers[job.command]?.descriptor.info.lock
        let previous = lock.flatMap { lockTails[$0] }
        let task = Task<AttemptStatus, Never> {
            if let previous { _ = await previous.value }
            let completion = await self.execute(job, queuedAt: startedAt)
            self.store.save(InFlightRecord(job: job, startedAt: startedAt, completion: completion))
            // Deliver from a task of its own: an operator's cancel must not cut the report short.
            await Task { await self.deliver(completion) }.value
            self.finished(ref)
            return completion.status
        }
        active[ref] = task
        if let lock { lockTails[lock] = task }
        log.info("job \(job.id) attempt \(job.attempt): \(job.command) claimed")
        return task
    }

    /// Queue a plugin's startup work on its lock: it waits for the jobs already on the lock, and
    /// jobs claimed meanwhile wait for it.
    @discardableResult
    public func start(_ work: StartupWork) -> Task<Void, Never> {
        let previous = lockTails[work.lock]
        let log = self.log
        let task = Task<AttemptStatus, Never> {
            if let previous { _ = await previous.value }
            log.info("\(work.name): starting")
            await work.run()
            return .completed
        }
        lockTails[work.lock] = task
        return Task { _ = await task.value }
    }

    private func finished(_ ref: JobRef) {
        active[ref] = nil
        cancelRequested.remove(ref)
        lastProgressAt[ref] = nil
    }

    /// An operator cancelled the job: stop it and report `cancelled`.
    public func cancel(_ ref: JobRef) {
        guard let task = active[ref] else { return }
        cancelRequested.insert(ref)
        task.cancel()
    }

    /// Wait until every job has finished and been reported.
    public func waitForAll() async -> [AttemptStatus] {
        var statuses: [AttemptStatus] = []
        // Await a snapshot: a job that ends while we wait on another removes itself from
        // `active`, and its status must not be lost.
        while !active.isEmpty {
            for task in Array(active.values) { statuses.append(await task.value) }
        }
        return statuses
    }

    /// SIGTERM: take no new jobs, let running ones finish for `graceSec`, then stop them (they are
    /// reported `interrupted` so the control plane re-offers them).
    public func shutdown(graceSec: Int) async {
        shuttingDown = true
        let deadline = monotonicNow() + Double(graceSec)
        while !active.isEmpty && monotonicNow() < deadline {
            try? await Task.sleep(for: .milliseconds(100))
        }
        if !active.isEmpty {
            log.warning("stopping \(active.count) job(s) still running after \(graceSec)s grace")
            for task in active.values { task.cancel() }
            _ = await waitForAll()
        }
    }

    /// After a restart: resend completions the control plane never took, and report jobs that
    /// were running when the agent died as interrupted.
    public func recoverLostJobs() async {
        for record in store.all() {
            let completion = record.completion ?? JobCompletion(
                jobId: record.job.id, attempt: record.job.attempt, status: .interrupted,
                exitCode: nil, output: "", result: nil, changed: nil,
                error: "the agent restarted while this job ran", startedAt: record.startedAt,
                finishedAt: unixNow())
            log.warning("job \(record.job.id) attempt \(record.job.attempt): reporting \(completion.status.rawValue) after restart")
            await deliver(completion, attempts: 3)
        }
    }

    // MARK: running

    private func execute(_ job: ClaimedJob, queuedAt: Double) async -> JobCompletion {
        let output = OutputTail(limit: AgentWire.maxOutputTailBytes)
        let started = unixNow()
        func done(_ status: AttemptStatus, exit: Int?, error: String?, result: JSONValue? = nil,
                  changed: Bool? = nil) -> JobCompletion {
            if let error { output.append("error: \(error)\n") }
            return JobCompletion(jobId: job.id, attempt: job.attempt, status: status, exitCode: exit,
                                 output: output.text, result: result, changed: changed,
                                 error: error, startedAt: started, finishedAt: unixNow())
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
        let context = JobContext(
            jobID: job.id, attempt: job.attempt, command: job.command, checkMode: job.checkMode,
            timeoutSec: job.timeoutSec, output: output, processes: processes, host: host,
            progress: { [weak self] message, percent in
                await self?.reportProgress(job.ref, message: message, percent: percent)
            })
        log.info("job \(job.id) attempt \(job.attempt): \(job.command) started")
        do {
            let outcome = try await withThrowingTaskGroup(of: JobOutcome.self) { group in
                group.addTask { try await handler.run(job.params, context) }
                group.addTask {
                    try await Task.sleep(for: .seconds(job.timeoutSec))
                    throw JobTimedOut()
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
            if Task.isCancelled {
                return done(cancelStatus(job.ref), exit: nil, error: "stopped", result: outcome.result)
            }
            output.append((outcome.changed ? "changed: " : "unchanged: ") + outcome.summary + "\n")
            log.info("job \(job.id) attempt \(job.attempt): completed (\(outcome.changed ? "changed" : "unchanged"))")
            return done(.completed, exit: outcome.exitCode, error: nil, result: outcome.result,
                        changed: outcome.changed)
        } catch is JobTimedOut {
            return done(.failed, exit: nil, error: "timed out after \(job.timeoutSec)s")
        } catch let e as JobFailure {
            log.warning("job \(job.id) attempt \(job.attempt): failed: \(e.message)")
            return done(.failed, exit: e.exitCode, error: e.message, result: e.result)
        } catch {
            if Task.isCancelled || error is CancellationError {
                return done(cancelStatus(job.ref), exit: nil, error: "stopped")
            }
            log.warning("job \(job.id) attempt \(job.attempt): failed: \(error)")
            return done(.failed, exit: nil, error: "\(error)")
        }
    }

    private func cancelStatus(_ ref: JobRef) -> AttemptStatus {
        cancelRequested.contains(ref) ? .cancelled : .interrupted
    }

    /// At most one progress post per job per second; the rest are dropped (the completion carries
    /// the final word). Posting never blocks the handler.
    private func reportProgress(_ ref: JobRef, message: String?, percent: Double?) {
        let now = monotonicNow()
        if let last = lastProgressAt[ref], now - last < 1 { return }
        lastProgressAt[ref] = now
        let reporter = self.reporter
        let log = self.log
        Task {
            do {
                _ = try await reporter.progress(JobProgress(jobId: ref.id, attempt: ref.attempt,
                                                            message: message, percent: percent))
            } catch {
                log.debug("progress for job \(ref.id) not sent: \(error)")
            }
        }
    }

    /// Send a completion until the control plane takes it (or says it no longer wants it). Without
    /// an answer the record stays on disk for the next start.
    private func deliver(_ completion: JobCompletion, attempts: Int = .max) async {
        let ref = JobRef(id: completion.jobId, attempt: completion.attempt)
        var delay = 0.5
        var tries = 0
        while tries < attempts {
            tries += 1
            do {
                switch try await reporter.complete(completion) {
                case .accepted:
                    log.info("job \(ref.id) attempt \(ref.attempt): reported \(completion.status.rawValue)")
                case .stale(let why):
                    log.warning("job \(ref.id) attempt \(ref.attempt): control plane refused the report as stale: \(why)")
                case .gone:
                    log.warning("job \(ref.id): no longer exists on the control plane")
                }
                store.remove(ref)
                return
            } catch {
                log.warning("job \(ref.id) attempt \(ref.attempt): report failed (\(error)); retrying")
                if shuttingDown && tries >= 3 { return }
                try? await Task.sleep(for: .seconds(delay))
                delay = min(delay * 2, 30)
            }
        }
    }
}
