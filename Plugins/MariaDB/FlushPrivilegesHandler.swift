import AgentKernel
import BalctlProtocol

/// `mariadb.flush_privileges`: `mariadb-admin flush-privileges` (reload the grant tables after
/// they were edited directly).
public struct FlushPrivilegesHandler: CommandHandler {
    public typealias Parameters = NoParameters
    let settings: MariaDBSettings

    public static let id = "mariadb.flush_privileges"
    public static let summary = "Reload MariaDB's grant tables (mariadb-admin flush-privileges)"
    public static let requiresRoot = true
    public static let lock: String? = "mariadb"
    public static let supportsCheckMode = true

    init(settings: MariaDBSettings) { self.settings = settings }

    public func run(_ p: NoParameters, in context: JobContext) async throws -> JobOutcome {
        guard settings.installed else { throw JobFailure("MariaDB is not installed here") }
        if context.checkMode { return JobOutcome(changed: true, summary: "would run mariadb-admin flush-privileges") }
        let r = try await MariaDBClient(settings: settings, context: context).admin(["flush-privileges"])
        guard r.succeeded else {
            throw JobFailure("mariadb-admin flush-privileges failed (\(MariaDBClient.describe(r))): \(r.output.trimmingWhitespace.lastLines(3))",
                             exitCode: Int(r.exitCode))
        }
        return JobOutcome(changed: true, summary: "privileges reloaded")
    }
}
