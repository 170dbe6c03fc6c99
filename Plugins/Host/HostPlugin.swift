import AgentKernel
import BalctlProtocol

/// Host-level commands every member supports, whatever stack it runs, and the host facts in the
/// heartbeat (`stacks.host`: pending updates hourly, configured certificates daily; see
/// `HostFacts`).
public struct HostPlugin: AgentPlugin {
    let facts: HostFacts
    /// Building the plugin reads the environment and nothing else (no check runs until the
    /// agent starts the periodic work).
    public init(facts: HostFacts = HostFacts()) { self.facts = facts }
    public var name: String { "host" }
    public var handlers: [any CommandHandler] {
        let facts = self.facts
        return [EchoHandler(), CollectFactsHandler(), CertExpiryHandler(), RebootHandler(), SetHostnameHandler(),
                UpdatesCheckHandler(), UpdatesInstallHandler(installing: { facts.installing($0) })]
    }
    public func probe() async -> JSONValue? { facts.probe() }
    public var periodicWork: PeriodicWork? { facts.periodicWork }
}
