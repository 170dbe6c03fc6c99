import AgentKernel
import BalctlProtocol

/// `firewall.allow`: add an allow rule (port or range, protocol, source or destination,
/// comment). An existing identical rule → "unchanged".
public struct AllowHandler: CommandHandler {
    public typealias Parameters = RuleParameters
    let settings: FirewallSettings
    public init(settings: FirewallSettings) { self.settings = settings }
    public static let id = "firewall.allow"
    public static let summary = "Allow a port or port range (ufw or firewalld)"
    public static let parameterHelp = FirewallPlugin.ruleHelp
    public static let requiresRoot = true
    public static let lock: String? = FirewallPlugin.lock
    public static let supportsCheckMode = true
    public static let exampleParameters: JSONValue = .object(["port": .number(443), "protocol": .string("tcp")])

    public func run(_ p: RuleParameters, in context: JobContext) async throws -> JobOutcome {
        try await RuleChange.add(.allow, p, settings: settings, context: context)
    }
}
