import AgentKernel
import BalctlProtocol

/// Backups: snapshots of a scope's files into the control plane's store, and restores of them
/// (same member, another member, a new standby). Scopes come from every plugin through
/// `BackupScope` (haproxy, firewall, mariadb, …); this plugin contributes `paths`.
public struct BackupPlugin: AgentPlugin {
    public let settings: BackupSettings
    public init(settings: BackupSettings = .fromEnvironment()) { self.settings = settings }

    public var name: String { "backup" }

    public var handlers: [any CommandHandler] {
        [BackupCreateHandler(settings: settings), BackupRestoreHandler(settings: settings), StandbyProvisionHandler(settings: settings)]
    }

    public var backupScopes: [any BackupScope] { [PathsScope()] }
}
