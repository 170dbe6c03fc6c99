import AgentKernel
import BalctlProtocol

/// `firewall.deny`: add a deny rule. Refused when, with it, SSH or the control plane's egress
/// would no longer be allowed (the lock-out guard), unless `force: true`.
public struct DenyHandler: CommandHandler {
    public typealias Parameters = RuleParameters
    let settings: FirewallSettings
    public init(settings: FirewallSettings) { self.settings = settings }
    public static let id = "firewall.deny"
    public static let summary = "Deny a port or port range (ufw or firewalld), guarded against lock-out"
    public static let parameterHelp = FirewallPlugin.ruleHelp + "; force: bool (skip the lock-out guard)"
    public static let requiresRoot = true
    public static let lock: String? = FirewallPlugin.lock
    public static let supportsCheckMode = true
    public static let exampleParameters: JSONValue = .object(["port": .number(3306), "protocol": .string("tcp")])

    public func run(_ p: RuleParameters, in context: JobContext) async throws -> JobOutcome {
        try await RuleChange.add(.deny, p, settings: settings, context: context)
    }
}
