import BalctlProtocol

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
    let log: AgentLog
    let os: OSInfo

    public init(config: AgentConfig, plugins: [any AgentPlugin], host: HostProbe = HostProbe()) throws {
        self.config = config
        self.registry = HandlerRegistry(plugins: plugins)
        self.log = AgentLog(minimum: config.logLevel)
        self.api = try AgentAPIClient(config: config)
        self.host = host
        let store = InFlightStore(stateDir: config.stateDir)
        try store.prepare()
        self.runner = JobRunner(registry: registry, reporter: api, store: store, host: host, log: log)
        self.publicIP = PublicIPResolver(config: config)
        // The OS does not change under a running agent (an upgrade reboots it).
        self.os = host.osInfo()
    }

    /// The heartbeat body: host facts, plugin probes, commands and jobs in flight.
    public func buildReport() async -> HostReport {
        var stacks: [String: JSONValue] = [:]
        for plugin in registry.plugins {
            if let found = await plugin.probe() { stacks[plugin.name] = found }
        }
        let ip = await publicIP.current()
        return HostReport(
            hostname: config.hostname, agentVersion: BalctlVersion.current, os: os,
            uptimeSec: host.uptimeSec(), load: host.loadAverages(), cpuPercent: host.cpuPercent(),
            cpuCount: host.cpuCount(), memory: host.memory(), disks: host.disks(),
            publicIPv4: ip?.ip, publicIPSource: ip?.source, stacks: stacks,
            commands: registry.commandIDs, jobsInFlight: await runner.inFlight)
    }

    /// One heartbeat; claimed jobs start in the background, cancellations are passed on.
    @discardableResult
    public func beat() async throws -> HeartbeatReply {
        let reply = try await api.heartbeat(await buildReport())
        for ref in reply.cancelJobs { await runner.cancel(ref) }
        for job in reply.jobs { await runner.submit(job) }
        return reply
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
    public func run() async {
        await runner.recoverLostJobs()
        for plugin in registry.plugins {
            if let work = plugin.startupWork(log: log) { await runner.start(work) }
        }
        notifier.ready()
        log.info("balctl-heartbeat \(BalctlVersion.current) for \(config.hostname) → \(config.apiBase); \(registry.commandIDs.count) commands")
        var schedule = HeartbeatSchedule(intervalSec: config.intervalSec)
        var random = SystemRandomNumberGenerator()
        while !Task.isCancelled {
            let started = monotonicNow()
            do {
                let reply = try await beat()
                if schedule.failures > 0 { log.info("heartbeat accepted again after \(schedule.failures) failure(s)") }
                schedule.succeeded(serverIntervalSec: reply.heartbeatIntervalSec)
            } catch {
                schedule.failed()
                let failures = schedule.failures
                if failures == 1 || failures % 30 == 0 { log.warning("heartbeat failed (\(failures)x): \(error)") }
            }
            notifier.watchdog()
            // The wait counts from the attempt's start: time spent in a slow attempt is not added.
            let wait = schedule.nextDelaySec(using: &random) - (monotonicNow() - started)
            if wait > 0 { try? await Task.sleep(for: .seconds(wait)) }
        }
        notifier.stopping()
        log.info("stopping: waiting up to \(config.shutdownGraceSec)s for running jobs")
        // This task is cancelled (that is how SIGTERM reached us); the grace period runs in a
        // task of its own so its waits really wait.
        let runner = self.runner, grace = config.shutdownGraceSec
        await Task { await runner.shutdown(graceSec: grace) }.value
        log.info("stopped")
    }

    /// For benchmarks: `count` heartbeats `spacingMs` apart, whatever interval the server asks.
    public func benchHeartbeats(count: Int, spacingMs: Int) async -> Int {
        var ok = 0
        for _ in 0..<count {
            if (try? await beat()) != nil { ok += 1 }
            if spacingMs > 0 { try? await Task.sleep(for: .milliseconds(spacingMs)) }
        }
        return ok
    }
}
