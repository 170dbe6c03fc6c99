import BalctlProtocol

struct AutoUpdateTry: Sendable { var version: String; var at: Double }

/// Why `Agent.run` returned.
public enum AgentRunEnd: Sendable, Equatable {
    /// SIGTERM / SIGINT.
    case stopped
    /// A new binary was installed: prove it (`UpdateSupervisor.trial`), then exec the binary.
    case restartIntoUpdate(PendingUpdate)
    /// This version was on trial and never had a heartbeat accepted: it rolled itself back;
    /// exec the binary (the previous version again).
    case rolledBack(binaryPath: String)
}

/// The agent: heartbeats on the control plane's interval, hands claimed jobs to the runner (which
/// runs them beside the loop, never inside it) and shuts down gracefully.
public final class Agent: Sendable {
    public let config: AgentConfig
    public let registry: HandlerRegistry
    let api: AgentAPIClient
    let runner: JobRunner
    let host: HostProbe
    let publicIP: PublicIPResolver
    let notifier = SystemdNotifier()
    public let log: AgentLog
    let os: OSInfo
    /// Self-update bookkeeping (pending update, version mark, events to report).
    public let updates: UpdateState
    /// nil when the update settings are unusable (logged once); `agent.update` jobs say why.
    let updateSettings: UpdateSettings?
    /// Set when a job installed a new binary: the loop ends and `run` returns `.restartIntoUpdate`.
    private let restartWanted = Locked(false)
    /// The version the automatic updater last tried, and when (one try per version per 10 min).
    private let autoUpdateTried = Locked<AutoUpdateTry?>(nil)
    private let autoUpdating = Locked(false)
    /// Raised by the long poll when the control plane has work for us, and by an installed
    /// update that wants its restart: the loop's sleep ends at once.
    private let signal: LoopSignal
    /// Every plugin with its `StackPresence` side, if it has one: cast once, not on every beat
    /// (the dynamic cast was a per-beat cost of its own).
    private let probed: [(plugin: any AgentPlugin, presence: (any StackPresence)?)]

    public init(config: AgentConfig, plugins: [any AgentPlugin], host: HostProbe = HostProbe()) throws {
        self.config = config
        self.registry = HandlerRegistry(plugins: plugins)
        self.probed = registry.plugins.map { ($0, $0 as? any StackPresence) }
        self.log = AgentLog(minimum: config.logLevel, json: config.logJSON)
        self.api = try AgentAPIClient(config: config)
        self.host = host
        let store = InFlightStore(stateDir: config.stateDir)
        try store.prepare()
        self.updates = UpdateState(stateDir: config.stateDir)
        do { self.updateSettings = try UpdateSettings.load(currentEnvironment()) } catch {
            self.updateSettings = nil
            AgentLog(minimum: config.logLevel, json: config.logJSON).warning("self-update is off: \(error)")
        }
        let wanted = restartWanted, signal = LoopSignal()
        self.signal = signal
        self.runner = JobRunner(registry: registry, reporter: api, store: store, host: host, log: log,
                                channel: api, controlPlaneBase: config.apiBase, onRestartRequested: { wanted.withLock { $0 = true }; signal.raise() })
        self.publicIP = PublicIPResolver(config: config)
        // The OS does not change under a running agent (an upgrade reboots it).
        self.os = host.osInfo()
    }

    /// The heartbeat body: host facts, plugin probes, commands and jobs in flight.
    public func buildReport(trial: Bool = false) async -> HostReport {
        var stacks: [String: JSONValue] = [:]
        var hidden: [String: String] = [:]
        for (plugin, presence) in probed {
            if let found = await plugin.probe() {
                stacks[plugin.name] = found
            } else if let presence, let why = await presence.hiddenReason() {
                hidden[plugin.name] = HiddenStacks.clip(why)
            }
        }
        let ip = await publicIP.current()
        return HostReport(
            hostname: config.hostname, agentVersion: BalctlVersion.current, os: os,
            uptimeSec: host.uptimeSec(), load: host.loadAverages(), cpuPercent: host.cpuPercent(),
            cpuCount: host.cpuCount(), memory: host.memory(), disks: host.disks(),
            publicIPv4: ip?.ip, publicIPSource: ip?.source, stacks: stacks,
            commands: registry.commandIDs, jobsInFlight: trial ? [] : await runner.inFlight,
            updateEvents: trial ? nil : nonEmpty(updates.events()), updateTrial: trial ? true : nil,
            hiddenStacks: hidden.isEmpty ? nil : hidden)
    }

    private func nonEmpty(_ events: [AgentUpdateEvent]) -> [AgentUpdateEvent]? { events.isEmpty ? nil : events }

    /// One heartbeat; claimed jobs start in the background, cancellations are passed on.
    @discardableResult
    public func beat() async throws -> HeartbeatReply { try await beat(loopThread: nil) }

    /// `loopThread`: the loop's own thread (`DedicatedThreadExecutor`); when the beat runs on it,
    /// the transfer runs there too, blocking it, instead of hopping to libcurl's queue and back.
    func beat(loopThread: DedicatedThreadExecutor?) async throws -> HeartbeatReply {
        let report = await buildReport()
        let reply: HeartbeatReply
        if let loopThread, loopThread.isCurrentThread {
            reply = try api.heartbeatOnThisThread(report)
        } else {
            reply = try await api.heartbeat(report)
        }
        if let sent = report.updateEvents { updates.acknowledge(sent) }
        for ref in reply.cancelJobs { await runner.cancel(ref) }
        for job in reply.jobs { await runner.submit(job) }
        considerAutoUpdate(latest: reply.latestAgentVersion)
        return reply
    }

    /// `--update-trial`: heartbeats marked as a trial (no jobs handed out) until one is accepted.
    /// The supervising old binary kills this at the rollback deadline.
    public func trialBeat() async -> Bool {
        var schedule = HeartbeatSchedule(intervalSec: config.intervalSec)
        var random = SystemRandomNumberGenerator()
        while !Task.isCancelled {
            do {
                _ = try await api.heartbeat(await buildReport(trial: true))
                log.info("trial heartbeat accepted: \(BalctlVersion.current) works")
                return true
            } catch {
                schedule.failed()
                log.warning("trial heartbeat failed (\(schedule.failures)x): \(error)")
            }
            try? await Task.sleep(for: .seconds(schedule.nextDelaySec(using: &random)))
        }
        return false
    }

    /// BALCTL_AUTO_UPDATE=1 and the control plane advertises a newer version: update beside the
    /// loop (as a job would), at most one try per version every 10 minutes.
    func considerAutoUpdate(latest: String?) {
        guard let settings = updateSettings, settings.autoUpdate, let latest,
              let target = AgentVersion(latest), let current = AgentVersion(BalctlVersion.current), target > current,
              !restartWanted.withLock({ $0 }) else { return }
        let now = unixNow()
        let due = autoUpdateTried.withLock { tried -> Bool in
            if let t = tried, t.version == latest, now - t.at < 600 { return false }
            tried = AutoUpdateTry(version: latest, at: now)
            return true
        }
        guard due, autoUpdating.withLock({ busy in defer { busy = true }; return !busy }) else { return }
        let updates = self.updates, log = self.log, wanted = restartWanted, busy = autoUpdating
        Task {
            defer { busy.withLock { $0 = false } }
            log.info("auto-update: the control plane offers \(latest); updating from \(current)")
            do {
                let outcome = try await AgentUpdater(settings: settings, current: current, state: updates).run { log.info("auto-update: \($0)") }
                if case .installed = outcome { wanted.withLock { $0 = true } }
            } catch let e as UpdateRefusal {
                log.error("auto-update refused: \(e)")
                updates.record(.refused, from: current.description, to: latest, message: "automatic update refused (\(e.check.rawValue)): \(e.message)", jobId: nil)
            } catch {
                log.error("auto-update failed: \(error)")
            }
        }
    }

    /// `--once`: report lost jobs, one heartbeat, run what it claimed to the end.
    /// True when the heartbeat was accepted and every job completed.
    public func runOnce() async -> Bool {
        await runner.recoverLostJobs()
        do {
            let reply = try await beat()
            log.info("heartbeat accepted; \(reply.jobs.count) job(s) claimed")
        } catch {
            log.error("heartbeat failed: \(error)")
            return false
        }
        let statuses = await runner.waitForAll()
        return statuses.allSatisfy { $0 == .completed }
    }

    /// Heartbeat until the task is cancelled (SIGTERM), then let jobs finish within the grace
    /// period. Intervals come from the control plane, with ±10 % jitter so a fleet restarted
    /// together does not beat in lock-step; failures back off exponentially with full jitter up
    /// to 3 s (`HeartbeatSchedule`), so a member is heard again within seconds of an outage.
    public func run() async -> AgentRunEnd {
        // The loop on a thread of its own: report, transfer and reply without a thread hop
        // (issue 18). Tasks it starts (the long poll, jobs, periodic work) run on the shared pool.
        let loopThread = DedicatedThreadExecutor()
        defer { loopThread.stop() }
        return await withTaskExecutorPreference(loopThread) { await self.runLoop(loopThread) }
    }

    private func runLoop(_ loopThread: DedicatedThreadExecutor) async -> AgentRunEnd {
        // An update left pending by a process that died: if this is the new version it is on
        // trial now (confirmed by the first accepted heartbeat, rolled back at the deadline); if
        // this is the old version the swap never happened.
        var trial: PendingUpdate? = nil
        if let p = updates.pending() {
            if p.to == BalctlVersion.current && p.from != p.to {
                trial = p
                log.warning("update to \(p.to) not yet confirmed: rolled back unless a heartbeat is accepted within \(Int(max(0, p.deadline - unixNow())))s")
            } else {
                updates.clearPending()
                updates.record(.interrupted, from: p.from, to: p.to,
                               message: "the update from \(p.from) to \(p.to) was interrupted before the new binary was in place; still \(BalctlVersion.current)",
                               jobId: p.jobId)
                log.warning("update to \(p.to) was interrupted; still \(BalctlVersion.current)")
            }
        }
        await runner.recoverLostJobs()
        for plugin in registry.plugins {
            if let work = plugin.startupWork(log: log) { await runner.start(work) }
        }
        // Each plugin's periodic work in a task of its own, ended with the loop.
        let periodic = registry.plugins.compactMap(\.periodicWork).map { work in Task { await work.loop() } }
        defer { periodic.forEach { $0.cancel() } }
        notifier.ready()
        log.info("balctl-heartbeat \(BalctlVersion.current) for \(config.hostname) → \(config.apiBase); \(registry.commandIDs.count) commands")
        var schedule = HeartbeatSchedule(intervalSec: config.intervalSec)
        var random = SystemRandomNumberGenerator()
        var end = AgentRunEnd.stopped
        let waiter = Task { [self] in await waitForWork() }
        defer { waiter.cancel() }
        while !Task.isCancelled {
            let started = monotonicNow()
            // A wake that arrives during this beat is kept for the next one (its job may have
            // been committed after this beat's claim).
            signal.lower()
            if let p = trial, unixNow() > p.deadline {
                _ = UpdateSupervisor.rollBack(p, state: updates, reason: "no heartbeat accepted within the rollback deadline", log: log)
                end = .rolledBack(binaryPath: p.binaryPath)
                break
            }
            do {
                let reply = try await beat(loopThread: loopThread)
                if schedule.failures > 0 { log.info("heartbeat accepted again after \(schedule.failures) failure(s)") }
                schedule.succeeded(serverIntervalSec: reply.heartbeatIntervalSec)
                if let p = trial { _ = UpdateSupervisor.confirm(p, state: updates, log: log); trial = nil }
            } catch {
                schedule.failed()
                let failures = schedule.failures
                if failures == 1 || failures % 30 == 0 { log.warning("heartbeat failed (\(failures)x): \(error)") }
            }
            notifier.watchdog()
            // The wait counts from the attempt's start: time spent in a slow attempt is not added.
            // A wake (work committed) or an installed update's restart ends it at once.
            let until = started + schedule.nextDelaySec(using: &random)
            if !restartWanted.withLock({ $0 }) { await signal.sleep(until - monotonicNow()) }
            if restartWanted.withLock({ $0 }) {
                if let p = updates.pending() {
                    log.info("restarting into \(p.to)")
                    end = .restartIntoUpdate(p)
                    break
                }
                // Without the record there is nothing to try or roll back; never spin on the flag.
                log.error("an update asked for a restart but left no pending record; carrying on")
                restartWanted.withLock { $0 = false }
            }
        }
        // An update continues in this process (trial, then exec): systemd must not see it stop.
        if end == .stopped { notifier.stopping() } else { notifier.status("updating") }
        log.info("stopping: waiting up to \(config.shutdownGraceSec)s for running jobs")
        // This task is cancelled (that is how SIGTERM reached us); the grace period runs in a
        // task of its own so its waits really wait.
        let runner = self.runner, grace = config.shutdownGraceSec
        await Task { await runner.shutdown(graceSec: grace) }.value
        log.info("stopped")
        return end
    }

    /// The long poll, beside the heartbeat loop: one request parked on the control plane, answered
    /// when work for this member is committed; the loop then beats at once (the claim stays in
    /// the heartbeat). Failures back off from 1 s doubling to 60 s, so a control plane that is
    /// down or without the route (404) is not hammered; the heartbeat carries on regardless.
    private func waitForWork() async {
        var failures = 0
        while !Task.isCancelled {
            do {
                let asked = monotonicNow()
                if try await api.waitForWork() {
                    signal.raise()
                } else if monotonicNow() - asked < 1 {
                    // Answered "no work" at once (another process waits with our secret and
                    // displaces us): never spin.
                    try? await Task.sleep(for: .seconds(1))
                }
                failures = 0
            } catch {
                failures += 1
                if failures == 1 || failures % 30 == 0 { log.debug("wait for work failed (\(failures)x): \(error)") }
                try? await Task.sleep(for: .seconds(Double(min(60, 1 << min(failures - 1, 6)))))
            }
        }
    }

    /// For benchmarks: `count` heartbeats `spacingMs` apart, whatever interval the server asks.
    /// With `holdingWait`, the long poll is parked beside them, as in service.
    /// They run as in service: on the loop's own thread.
    public func benchHeartbeats(count: Int, spacingMs: Int, holdingWait: Bool = false) async -> Int {
        let waiter = holdingWait ? Task { [self] in await waitForWork() } : nil
        defer { waiter?.cancel() }
        let loopThread = DedicatedThreadExecutor()
        defer { loopThread.stop() }
        return await withTaskExecutorPreference(loopThread) {
            var ok = 0
            for _ in 0..<count {
                if (try? await self.beat(loopThread: loopThread)) != nil { ok += 1 }
                if spacingMs > 0 { try? await Task.sleep(for: .milliseconds(spacingMs)) }
            }
            return ok
        }
    }
}
