import AgentKernel
import BackupPlugin
import BalctlProtocol

/// `ols.backup`: a snapshot of the `openlitespeed` scope (configuration and vhost roots) through
/// the backup plugin (`backup.create` with `scope: openlitespeed`), stored by the control plane
/// and restorable here or on another member with `backup.restore` / `balctl backups restore --to`.
public struct BackupHandler: CommandHandler {
    public struct Parameters: CommandParameters {
        public var zstdLevel: Int?
        public func validate() throws {
            if let zstdLevel, !(1...19).contains(zstdLevel) { throw ParameterError("zstdLevel must be 1–19") }
        }
    }

    public init() {}

    public static let id = "ols.backup"
    public static let summary = "Snapshot OpenLiteSpeed's configuration and virtual host roots to the control plane"
    public static let parameterHelp = "zstdLevel: 1–19 (default 1)"
    public static let requiresRoot = true
    public static let lock: String? = "backup"
    /// Long work (a whole upgrade, dump or transfer): an hour unless the job says otherwise.
    public static let defaultTimeoutSec: Int? = 3600
    public static let snapshotUse: SnapshotUse? = .creates
    public static let supportsCheckMode = true

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        var inner = try BackupCreateHandler.decodeParameters(.object(["scope": .string("openlitespeed")]))
        inner.zstdLevel = p.zstdLevel
        return try await BackupCreateHandler(settings: .fromEnvironment()).run(inner, in: context)
    }
}
