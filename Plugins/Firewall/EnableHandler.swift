import AgentKernel
import BalctlProtocol

/// `firewall.enable`: `ufw --force enable`. Refused unless SSH and the control plane's egress
/// stay allowed under the current rules and default policies (`force: true` skips the guard).
/// Already active and enabled at boot → "unchanged".
public struct EnableHandler: CommandHandler {
    public struct Parameters: CommandParameters {
        public var force: Bool?
    }
    let settings: FirewallSettings
    public init(settings: FirewallSettings) { self.settings = settings }
    public static let id = "firewall.enable"
    public static let summary = "Enable the firewall (ufw, or start firewalld), guarded against lock-out"
    public static let parameterHelp = "force: bool (skip the lock-out guard)"
    public static let requiresRoot = true
    public static let lock: String? = FirewallPlugin.lock
    public static let supportsCheckMode = true

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        if settings.selectedTool() == .firewalld { return try await Firewalld.enable(force: p.force ?? false, settings: settings, context: context) }
        let ufw = try UFWControl(settings, context)
        let state = try ufw.state()
        let live = try await ufw.liveActive()
        if live && state.enabled { return .unchanged("unchanged: the firewall is already active") }
        let guardrail = await LockoutGuard.make(settings, context: context)
        try guardrail.check(state.rules, defaultIncoming: state.defaultIncoming, defaultOutgoing: state.defaultOutgoing,
                            force: p.force ?? false, what: "enable the firewall", context: context)
        if context.checkMode {
            return JobOutcome(changed: true, summary: "check mode: would enable the firewall (\(state.rules.count) rules, default incoming \(state.defaultIncoming))")
        }
        try await ufw.run(["--force", "enable"])
        guard try await ufw.liveActive() else { throw JobFailure("ufw enable ran but ufw status is not active") }
        return JobOutcome(changed: true, summary: "enabled the firewall (\(state.rules.count) rules)")
    }
}
