import AgentKernel
import BalctlProtocol

/// `ols.restart`: the config test, then `lswsctrl restart` (starts it when it is not running).
public struct RestartHandler: CommandHandler {
    public typealias Parameters = NoParameters
    public let settings: OLSSettings
    public init(settings: OLSSettings = .fromEnvironment()) { self.settings = settings }

    public static let id = "ols.restart"
    public static let summary = "Test the OpenLiteSpeed config, then restart it"
    public static let requiresRoot = true
    public static let lock: String? = "openlitespeed"
    public static let supportsCheckMode = true

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        try await OLSCycle.run("restart", settings: settings, in: context)
    }
}
