import AgentKernel
import BalctlProtocol

/// The HAProxy stack: detection folded into every heartbeat, and the `haproxy.*` commands. Every
/// command takes the "haproxy" lock, so two HAProxy jobs never overlap on one host.
public struct HAProxyPlugin: AgentPlugin {
    public let settings: HAProxySettings
    let prober: HAProxyProbe

    /// Building the plugin reads the environment and nothing else (the control plane builds it
    /// to learn the catalogue).
    public init(settings: HAProxySettings = .fromEnvironment()) {
        self.settings = settings
        self.prober = HAProxyProbe(settings: settings)
    }

    public var name: String { "haproxy" }

    public var handlers: [any CommandHandler] {
        [
            ProvisionHandler(settings: settings),
            ReloadHandler(settings: settings),
            ServerDrainHandler(settings: settings),
            ServerReadyHandler(settings: settings),
            ServerMaintHandler(settings: settings),
            AdminSocketEnableHandler(settings: settings),
            AdminSocketDisableHandler(settings: settings),
            ShowStatHandler(settings: settings),
            ConfigTestHandler(settings: settings),
        ]
    }

    public func probe() async -> JSONValue? { await prober.report() }

    public var backupScopes: [any BackupScope] { [HAProxyBackupScope(settings: settings)] }

    public var certificateSources: [any CertificateSource] { [HAProxyCertificateSource(settings: settings)] }

    /// BALCTL_PROVISION_HAPROXY=1 and no stamp yet: install HAProxy once, on the "haproxy" lock.
    public func startupWork(log: AgentLog) -> StartupWork? {
        HAProxyFirstStart.startupWork(settings: settings, log: log)
    }
}
