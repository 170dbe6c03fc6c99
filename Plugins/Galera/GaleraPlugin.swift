import AgentKernel
import BalctlProtocol
import MariaDBPlugin

/// The Galera (wsrep) readout of a MariaDB node in every heartbeat (`stacks.galera`, hidden with
/// a reason when the server is not a Galera node), refreshed by periodic work beside the
/// heartbeat loop, and the `galera.*` commands. It talks to the same server as the MariaDB
/// plugin, with its client. Commands that start the server take the "mariadb" lock.
public struct GaleraPlugin: AgentPlugin, StackPresence {
    public let settings: GaleraSettings
    public let prober: GaleraProbe

    public init(settings: GaleraSettings = .fromEnvironment()) {
        self.settings = settings
        self.prober = GaleraProbe(settings: settings)
    }

    public var name: String { "galera" }

    public var handlers: [any CommandHandler] {
        [GaleraStatusHandler(settings: settings, probe: prober), GaleraBootstrapHandler(settings: settings, probe: prober),
         GaleraRecoverPositionHandler(settings: settings)]
    }

    /// The cached readout: no program runs here.
    public func probe() async -> JSONValue? { prober.report() }

    public func hiddenReason() async -> String? { prober.hiddenReason() }

    public var periodicWork: PeriodicWork? {
        guard settings.mariadb.installed else { return nil }
        let prober = self.prober
        return PeriodicWork(name: "galera readout", intervalSec: settings.refreshIntervalSec) { await prober.refresh() }
    }
}
