import AgentKernel
import BalctlProtocol

/// The OpenLiteSpeed stack: detection in every heartbeat (absent when OLS is not installed) and
/// the `ols.*` commands. Edits take the "openlitespeed" lock, so two never overlap on a host.
public struct OpenLiteSpeedPlugin: AgentPlugin {
    public let settings: OLSSettings
    let prober: OLSProbe

    /// Reads the environment and nothing else (the control plane builds it for the catalogue).
    public init(settings: OLSSettings = .fromEnvironment()) {
        self.settings = settings
        self.prober = OLSProbe(settings: settings)
    }

    public var name: String { "openlitespeed" }

    public var handlers: [any CommandHandler] {
        [
            StatusHandler(settings: settings), VHostsHandler(settings: settings), ConfigTestHandler(settings: settings),
            ReloadHandler(settings: settings), RestartHandler(settings: settings), VHostAddHandler(settings: settings),
            VHostRemoveHandler(settings: settings), LSPHPSetHandler(settings: settings), BackupHandler(),
            VHostRestoreHandler(settings: settings),
        ]
    }

    public func probe() async -> JSONValue? { prober.report() }

    public var backupScopes: [any BackupScope] { [OLSBackupScope(settings: settings)] }
}
