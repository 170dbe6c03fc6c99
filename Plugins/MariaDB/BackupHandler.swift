import AgentKernel
import BalctlProtocol

/// `mariadb.backup`: a logical backup of one database (or every one) —
/// `mariadb-dump --single-transaction --routines --triggers --events --hex-blob` streamed through
/// zstd into a new file of mode 600 under `<state>/mariadb/backups`.
public struct BackupHandler: CommandHandler {
    public struct Parameters: CommandParameters {
        /// nil: every database (`--all-databases`).
        public var database: String?
        public var zstdLevel: Int?
        public func validate() throws {
            if let database { try MariaDBNames.checkDatabase(database, field: "database") }
            if let zstdLevel, !(1...19).contains(zstdLevel) { throw ParameterError("zstdLevel must be 1–19") }
        }
    }
    let settings: MariaDBSettings

    public static let id = "mariadb.backup"
    public static let summary = "Logical backup (mariadb-dump --single-transaction, zstd) of one database or all, to a file on the member"
    public static let parameterHelp = "database: name (A–Z a–z 0–9 _, ≤ 64; omit for every database); zstdLevel: 1–19 (default 3)"
    public static let requiresRoot = true
    public static let lock: String? = "mariadb"
    /// Long work (a whole upgrade, dump or transfer): an hour unless the job says otherwise.
    public static let defaultTimeoutSec: Int? = 3600
    public static let supportsCheckMode = true
    public static let exampleParameters: JSONValue = .object(["database": .string("shop")])

    init(settings: MariaDBSettings) { self.settings = settings }

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        guard settings.installed else { throw JobFailure("MariaDB is not installed here") }
        let client = MariaDBClient(settings: settings, context: context)
        if let db = p.database {
            let found: Bool
            do { found = try await LogicalBackup.exists(db, client: client) } catch { throw JobFailure("cannot reach MariaDB: \(error)") }
            guard found else { throw JobFailure("no database \(db) on this server") }
        }
        let what = p.database ?? "every database"
        if context.checkMode {
            return JobOutcome(changed: true, summary: "would dump \(what) into \(settings.backupsDir)")
        }
        let made = try await LogicalBackup.dump(p.database, level: p.zstdLevel ?? 3, settings: settings, in: context)
        return JobOutcome(changed: true, summary: "\(what) backed up to \(made.name) (\(made.rawBytes) bytes of SQL, \(made.fileBytes) compressed)",
                          result: .object(["backup": .string(made.name), "path": .string(made.path),
                                           "database": p.database.map(JSONValue.string) ?? .null,
                                           "sqlBytes": .number(Double(made.rawBytes)), "fileBytes": .number(Double(made.fileBytes))]))
    }
}
