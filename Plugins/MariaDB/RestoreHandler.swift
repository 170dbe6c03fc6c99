#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// `mariadb.restore`: load a one-database backup made by `mariadb.backup` into a database that
/// does not exist yet (by default the one it was taken of, or `database`), or over an existing
/// one only with `confirm: true` — then the existing database is first backed up itself (its
/// backup named in the result), dropped and recreated, so nothing of the old one lingers.
/// A failed load into a new name removes the half-loaded database.
public struct RestoreHandler: CommandHandler {
    public struct Parameters: CommandParameters {
        /// A file name from `mariadb.backup`'s result, e.g. `shop--20260101T000000Z-0123abcd.sql.zst`.
        public var backup: String
        /// Where to load it; default: the database it was taken of.
        public var database: String?
        public var confirm: Bool?
        public func validate() throws {
            guard MariaDBNames.isBackupName(backup) else {
                throw ParameterError("backup must be a file name as mariadb.backup makes them (<database>--<YYYYMMDDTHHMMSSZ>-<8 hex>.sql.zst)")
            }
            if MariaDBNames.backupSource(backup) == LogicalBackup.allDatabases {
                throw ParameterError("\(backup) holds every database; restore takes a one-database backup")
            }
            if let database { try MariaDBNames.checkDatabase(database, field: "database") }
            let target = database ?? MariaDBNames.backupSource(backup) ?? ""
            if MariaDBNames.systemSchemas.contains(target.lowercased()) {
                throw ParameterError("\(target) is a system schema; refusing to restore over it")
            }
        }
        var target: String { database ?? MariaDBNames.backupSource(backup) ?? "" }
    }
    let settings: MariaDBSettings

    public static let id = "mariadb.restore"
    public static let summary = "Restore a mariadb.backup file into a new database, or over the old one with confirm: true"
    public static let parameterHelp = "backup: file name from mariadb.backup (required); database: target name (default: the backup's own); confirm: true to replace an existing database"
    public static let requiresRoot = true
    public static let lock: String? = "mariadb"
    /// Long work (a whole upgrade, dump or transfer): an hour unless the job says otherwise.
    public static let defaultTimeoutSec: Int? = 3600
    public static let supportsCheckMode = true
    public static let exampleParameters: JSONValue = .object(["backup": .string("shop--20260101T000000Z-0123abcd.sql.zst"), "database": .string("shop_restored")])

    init(settings: MariaDBSettings) { self.settings = settings }

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        guard settings.installed else { throw JobFailure("MariaDB is not installed here") }
        let target = p.target
        // The file first: a missing backup is said before anything touches the server.
        let fd = try LogicalBackup.openBackup(p.backup, settings: settings)
        close(fd)
        let client = MariaDBClient(settings: settings, context: context)
        let exists: Bool
        do { exists = try await LogicalBackup.exists(target, client: client) } catch { throw JobFailure("cannot reach MariaDB: \(error)") }
        if exists && p.confirm != true {
            throw JobFailure("database \(target) exists; restore into a new name (database: …) or over it with confirm: true")
        }
        if context.checkMode {
            return JobOutcome(changed: true, summary: exists
                ? "would back up \(target), drop it and load \(p.backup) in its place"
                : "would create database \(target) and load \(p.backup) into it")
        }
        var safety: LogicalBackup.Made? = nil
        if exists {
            safety = try await LogicalBackup.dump(target, level: 3, settings: settings, in: context)
            context.log("the current \(target) was backed up to \(safety!.name) before being replaced")
            do { _ = try await client.query("DROP DATABASE `\(target)`") } catch {
                throw JobFailure("cannot drop \(target): \(error)")
            }
        }
        do { _ = try await client.query("CREATE DATABASE `\(target)`") } catch {
            throw JobFailure("cannot create \(target): \(error)")
        }
        let bytes: Int
        do {
            bytes = try await LogicalBackup.load(p.backup, into: target, settings: settings, in: context)
        } catch {
            if let safety {
                throw JobFailure("\(error); the previous \(target) is in backup \(safety.name)")
            }
            _ = try? await client.query("DROP DATABASE IF EXISTS `\(target)`")
            throw error
        }
        var result: [String: JSONValue] = ["database": .string(target), "backup": .string(p.backup), "sqlBytes": .number(Double(bytes)),
                                           "replaced": .bool(exists)]
        if let safety { result["previousBackup"] = .string(safety.name) }
        return JobOutcome(changed: true, summary: "\(p.backup) restored into \(target)\(exists ? " (the previous one kept as \(safety!.name))" : "")",
                          result: .object(result))
    }
}
