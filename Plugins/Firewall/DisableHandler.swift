import AgentKernel
import BalctlProtocol

/// `firewall.disable`: `ufw disable` (rules are kept). Already inactive → "unchanged".
public struct DisableHandler: CommandHandler {
    public typealias Parameters = NoParameters
    let settings: FirewallSettings
    public init(settings: FirewallSettings) { self.settings = settings }
    public static let id = "firewall.disable"
    public static let summary = "Disable the firewall (ufw, or stop firewalld); rules are kept"
    public static let requiresRoot = true
    public static let lock: String? = FirewallPlugin.lock
    public static let supportsCheckMode = true

    public func run(_ p: NoParameters, in context: JobContext) async throws -> JobOutcome {
        if settings.selectedTool() == .firewalld { return try await Firewalld.disable(settings: settings, context: context) }
        let ufw = try UFWControl(settings, context)
        let state = try ufw.state()
        let live = try await ufw.liveActive()
        if !live && !state.enabled { return .unchanged("unchanged: the firewall is already inactive") }
        if context.checkMode { return JobOutcome(changed: true, summary: "check mode: would disable the firewall") }
        try await ufw.run(["disable"])
        if try await ufw.liveActive() { throw JobFailure("ufw disable ran but ufw status is still active") }
        return JobOutcome(changed: true, summary: "disabled the firewall (rules kept)")
    }
}
