import AgentKernel
import BalctlProtocol

/// `ols.status`: installed or not, version, the running PID, `lswsctrl status`, listeners, vhost
/// count and the LSPHP versions installed.
public struct StatusHandler: CommandHandler {
    public typealias Parameters = NoParameters
    public let settings: OLSSettings
    public init(settings: OLSSettings = .fromEnvironment()) { self.settings = settings }

    public static let id = "ols.status"
    public static let summary = "OpenLiteSpeed: version, running state, listeners, vhosts, LSPHP versions"

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        guard settings.installed else {
            throw JobFailure("OpenLiteSpeed is not installed here (no \(settings.lshttpd) or \(settings.lswsctrl); set BALCTL_OLS_ROOT if it lives elsewhere)")
        }
        let control = OLSControl(settings: settings)
        let version = await control.version(in: context)
        let pid = control.runningPID()
        var status = ""
        if Files.isExecutable(settings.lswsctrl),
           let r = try? await context.run(settings.lswsctrl, ["status"], timeoutSec: 30) { status = r.output.trimmingWhitespace }
        let model = try OLSServerModel.load(settings)
        let lsphp = OLSServerModel.installedLSPHP(settings)
        let summary = "OpenLiteSpeed \(version ?? "(version unknown)") \(pid.map { "running (pid \($0))" } ?? "not running"); "
            + "\(model.listeners.count) listeners, \(model.vhosts.count) virtual hosts; LSPHP: \(lsphp.isEmpty ? "none" : lsphp.joined(separator: ", "))"
        return .unchanged(summary, result: .object([
            "version": version.map(JSONValue.string) ?? .null, "running": .bool(pid != nil),
            "pid": pid.map { .number(Double($0)) } ?? .null, "lswsctrlStatus": .string(status),
            "serverRoot": .string(settings.serverRoot), "listeners": model.listenersJSON(),
            "vhosts": .number(Double(model.vhosts.count)), "lsphp": .array(lsphp.map(JSONValue.string)),
        ]))
    }
}
