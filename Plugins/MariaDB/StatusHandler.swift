import AgentKernel
import BalctlProtocol

/// `mariadb.status`: the health readout read now (not the heartbeat's cached one), plus
/// detection; says why when MariaDB is not installed or does not answer.
public struct StatusHandler: CommandHandler {
    public typealias Parameters = NoParameters
    let settings: MariaDBSettings
    let probe: MariaDBProbe

    public static let id = "mariadb.status"
    public static let summary = "MariaDB health now: version, uptime, connections, threads, slow queries, buffer-pool hit ratio, role"
    public static let supportsCheckMode = true

    init(settings: MariaDBSettings, probe: MariaDBProbe) { self.settings = settings; self.probe = probe }

    public func run(_ p: NoParameters, in context: JobContext) async throws -> JobOutcome {
        if let why = probe.absenceReason { throw JobFailure(why) }
        let state = await probe.refresh(runner: context.processes)
        let entry = probe.entry(state, cpanel: settings.cpanelManaged)
        guard state.up else {
            throw JobFailure("MariaDB does not answer on \(settings.socket): \(state.error ?? "no answer")", result: .object(entry))
        }
        let h = state.health ?? HealthReadout()
        let summary = "MariaDB \(h.version ?? "?") up \(h.uptimeSec ?? 0)s, \(h.threadsConnected ?? 0)/\(h.maxConnections ?? 0) connections, role \(h.role)"
        return .unchanged(summary, result: .object(entry))
    }
}
