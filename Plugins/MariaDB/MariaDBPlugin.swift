import AgentKernel
import BalctlProtocol

/// The MariaDB stack: detection and a cached health readout in every heartbeat
/// (`stacks.mariadb`; absent when no server binary is installed, so the stack is hidden, with the
/// reason in `hiddenStacks`), the
/// readout refreshed by periodic work beside the heartbeat loop, and the `mariadb.*` commands.
/// Commands that change the server take the "mariadb" lock.
public struct MariaDBPlugin: AgentPlugin, StackPresence {
    public let settings: MariaDBSettings
    public let prober: MariaDBProbe

    /// Reads the environment and nothing else (the control plane builds it for the catalogue).
    public init(settings: MariaDBSettings = .fromEnvironment()) {
        self.settings = settings
        self.prober = MariaDBProbe(settings: settings)
    }

    public var name: String { "mariadb" }

    public var handlers: [any CommandHandler] {
        [
            StatusHandler(settings: settings, probe: prober), RestartHandler(settings: settings),
            ConfigTestHandler(settings: settings), FlushPrivilegesHandler(settings: settings),
            DatabasesHandler(settings: settings), BackupHandler(settings: settings), RestoreHandler(settings: settings),
            HardenHandler(settings: settings), WordPressSitesHandler(settings: settings), BackupsHandler(settings: settings),
        ]
    }

    /// `backup.create scope=mariadb`: every database dumped, the dumps shipped (see the scope).
    public var backupScopes: [any BackupScope] { [MariaDBBackupScope(settings: settings)] }

    /// The cached readout: no program runs here.
    public func probe() async -> JSONValue? { prober.report() }

    /// Said in the heartbeat's `hiddenStacks` while the stack is absent.
    public func hiddenReason() async -> String? { prober.absenceReason }

    public var periodicWork: PeriodicWork? {
        guard settings.installed else { return nil }
        let prober = self.prober
        return PeriodicWork(name: "mariadb health", intervalSec: settings.refreshIntervalSec) { await prober.refresh() }
    }
}
