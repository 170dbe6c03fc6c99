import AgentKernel
import BalctlProtocol

/// The host firewall — ufw (Debian/Ubuntu) or firewalld (the RHEL family), chosen by
/// `FirewallSettings.selectedTool()`: detection folded into every heartbeat (`stacks.firewall`)
/// and the `firewall.*` commands. Every command takes the "firewall" lock, so two firewall jobs
/// never overlap on one host.
public struct FirewallPlugin: AgentPlugin {
    public let settings: FirewallSettings
    let prober: FirewallProbe
    static let lock = "firewall"
    static let ruleHelp = "port: 1–65535 or \"low:high\"; protocol: tcp|udp|any (default any; a range needs tcp/udp); direction: in|out (default in); source (in) / destination (out): IPv4/IPv6 address or CIDR; comment: ≤ 64 bytes of letters, digits, space, _ . , : / @ + = -"

    /// Building the plugin reads the environment and nothing else.
    public init(settings: FirewallSettings = .fromEnvironment()) {
        self.settings = settings
        self.prober = FirewallProbe(settings: settings)
    }

    public var name: String { "firewall" }

    public var handlers: [any CommandHandler] {
        [
            StatusHandler(settings: settings), RulesHandler(settings: settings),
            AllowHandler(settings: settings), DenyHandler(settings: settings), DeleteHandler(settings: settings),
            EnableHandler(settings: settings), DisableHandler(settings: settings),
            BackupHandler(settings: settings), RestoreHandler(settings: settings),
        ]
    }

    public func probe() async -> JSONValue? { prober.report() }

    /// `backup.create`'s `firewall` scope: ufw's or firewalld's configuration.
    public var backupScopes: [any BackupScope] { [FirewallBackupScope(settings: settings)] }
}
