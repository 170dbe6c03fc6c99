import AgentKernel
import BalctlProtocol

/// `mariadb.restart`: `systemctl restart <unit>` (a clean shutdown: InnoDB flushes, then starts)
/// and waits until the server answers `mariadb-admin ping` again.
public struct RestartHandler: CommandHandler {
    public typealias Parameters = NoParameters
    let settings: MariaDBSettings

    public static let id = "mariadb.restart"
    public static let summary = "Restart MariaDB through systemd and wait until it answers again"
    public static let requiresRoot = true
    public static let lock: String? = "mariadb"
    public static let supportsCheckMode = true

    init(settings: MariaDBSettings) { self.settings = settings }

    public func run(_ p: NoParameters, in context: JobContext) async throws -> JobOutcome {
        guard settings.installed else { throw JobFailure("MariaDB is not installed here") }
        let argv = [settings.systemctl, "restart", settings.unit]
        if context.checkMode {
            return JobOutcome(changed: true, summary: "would run \(argv.joined(separator: " ")) and wait up to \(Int(settings.readyTimeoutSec))s for the server to answer")
        }
        if settings.cpanelManaged { context.log("note: cPanel manages this MariaDB; restarting it through systemd all the same") }
        let r = try await context.run(argv[0], Array(argv.dropFirst()), timeoutSec: 300)
        guard r.succeeded else {
            throw JobFailure("\(argv.joined(separator: " ")) failed (\(MariaDBClient.describe(r))): \(r.output.trimmingWhitespace.lastLines(5))",
                             exitCode: Int(r.exitCode))
        }
        let client = MariaDBClient(settings: settings, context: context)
        let started = monotonicNow()
        while monotonicNow() - started < settings.readyTimeoutSec {
            if await client.ping() {
                let waited = (monotonicNow() - started) * 10
                return JobOutcome(changed: true, summary: "MariaDB restarted and answers again (after \(waited.rounded() / 10)s)",
                                  result: .object(["readyAfterSec": .number(waited.rounded() / 10)]))
            }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw JobFailure("MariaDB was restarted but does not answer on \(settings.socket) after \(Int(settings.readyTimeoutSec))s")
    }
}
