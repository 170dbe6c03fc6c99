import AgentKernel
import BalctlProtocol

/// `firewall.status`: the kernel's view (`ufw status`), the files' (enabled at boot, default
/// policies, rule count) and what the lock-out guard would say now.
public struct StatusHandler: CommandHandler {
    public typealias Parameters = NoParameters
    let settings: FirewallSettings
    public init(settings: FirewallSettings) { self.settings = settings }
    public static let id = "firewall.status"
    public static let summary = "Firewall status: active, default policies, rule count, lock-out check"
    public static let requiresRoot = true
    public static let lock: String? = FirewallPlugin.lock
    public static let supportsCheckMode = true

    public func run(_ p: NoParameters, in context: JobContext) async throws -> JobOutcome {
        if settings.selectedTool() == .firewalld { return try await Firewalld.status(settings, context: context) }
        let ufw = try UFWControl(settings, context)
        let state = try ufw.state()
        let live = try await ufw.liveActive()
        let guardrail = await LockoutGuard.make(settings, context: context)
        let problems = guardrail.problems(state.rules, defaultIncoming: state.defaultIncoming,
                                          defaultOutgoing: state.defaultOutgoing)
        let result: JSONValue = .object([
            "tool": .string("ufw"), "active": .bool(live), "enabledAtBoot": .bool(state.enabled),
            "defaultIncoming": .string(state.defaultIncoming), "defaultOutgoing": .string(state.defaultOutgoing),
            "defaultRouted": .string(state.defaultRouted), "ipv6": .bool(state.ipv6),
            "rules": .number(Double(state.rules.count)),
            "sshPorts": .array(guardrail.sshPorts.map { .number(Double($0)) }),
            "lockoutProblems": .array(problems.map(JSONValue.string)),
        ])
        return .unchanged("ufw \(live ? "active" : "inactive"), \(state.rules.count) rules, default incoming \(state.defaultIncoming), outgoing \(state.defaultOutgoing)",
                          result: result)
    }
}
