import AgentKernel
import BalctlProtocol

/// `firewall.rules`: every rule, numbered as `ufw status numbered` numbers them, read from the
/// `### tuple ###` lines of user.rules and user6.rules (what `ufw show added` renders), so the
/// list is there whether the firewall is active or not.
public struct RulesHandler: CommandHandler {
    public typealias Parameters = NoParameters
    let settings: FirewallSettings
    public init(settings: FirewallSettings) { self.settings = settings }
    public static let id = "firewall.rules"
    public static let summary = "List the firewall rules (structured)"
    public static let requiresRoot = true
    public static let lock: String? = FirewallPlugin.lock
    public static let supportsCheckMode = true

    public func run(_ p: NoParameters, in context: JobContext) async throws -> JobOutcome {
        if settings.selectedTool() == .firewalld { return try await Firewalld.rules(settings, context: context) }
        let ufw = try UFWControl(settings, context)
        let state = try ufw.state()
        let rules: [JSONValue] = state.rules.enumerated().map { i, r in
            guard case .object(var o) = r.json else { return r.json }
            o["number"] = .number(Double(i + 1))
            return .object(o)
        }
        return .unchanged("\(rules.count) rules", result: .object([
            "enabledAtBoot": .bool(state.enabled), "defaultIncoming": .string(state.defaultIncoming),
            "defaultOutgoing": .string(state.defaultOutgoing), "rules": .array(rules),
        ]))
    }
}
