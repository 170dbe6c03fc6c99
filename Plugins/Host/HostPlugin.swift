import AgentKernel
import BalctlProtocol

/// Host-level commands every member supports, whatever stack it runs.
public struct HostPlugin: AgentPlugin {
    public init() {}
    public var name: String { "host" }
    public var handlers: [any CommandHandler] { [EchoHandler(), CollectFactsHandler(), CertExpiryHandler(), RebootHandler(), SetHostnameHandler(), UpdatesCheckHandler()] }
}
