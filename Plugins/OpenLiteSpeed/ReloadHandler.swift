import AgentKernel
import BalctlProtocol

/// `ols.reload`: the config test first (a failing config is refused with its errors and nothing
/// is reloaded), then `lswsctrl reload` — OLS's graceful restart, which hands over to a new PID
/// without dropping connections — and a wait for the new server process.
public struct ReloadHandler: CommandHandler {
    public typealias Parameters = NoParameters
    public let settings: OLSSettings
    public init(settings: OLSSettings = .fromEnvironment()) { self.settings = settings }

    public static let id = "ols.reload"
    public static let summary = "Test the OpenLiteSpeed config, then reload it gracefully"
    public static let requiresRoot = true
    public static let lock: String? = "openlitespeed"
    public static let supportsCheckMode = true

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        try await OLSCycle.run("reload", settings: settings, in: context)
    }
}

/// Shared by reload and restart: test, then cycle the server.
enum OLSCycle {
    static func run(_ verb: String, settings: OLSSettings, in context: JobContext) async throws -> JobOutcome {
        let check = try await OLSCheck.run(settings, in: context)
        guard check.valid else { throw check.failure("refusing to \(verb); nothing was \(verb)ed") }
        let control = OLSControl(settings: settings)
        let running = control.runningPID()
        if context.checkMode {
            return JobOutcome(changed: true, summary: "check mode: configuration valid; would \(running == nil ? "start" : verb) OpenLiteSpeed",
                              result: check.json)
        }
        let (before, after) = try await control.cycle(running == nil ? "start" : verb, in: context)
        let how = running == nil ? "started (it was not running)" : "\(verb)ed (pid \(before.map(String.init) ?? "?") → \(after))"
        return JobOutcome(changed: true, summary: "OpenLiteSpeed \(how)",
                          result: .object(["pid": .number(Double(after)), "check": check.json]))
    }
}
