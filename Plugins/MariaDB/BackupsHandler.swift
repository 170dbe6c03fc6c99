#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// `mariadb.backups`: the dump files on this member (made by `mariadb.backup`, by
/// `backup.create scope=mariadb`, or brought back by a restore of such a snapshot), newest first:
/// the names `mariadb.restore backup=` takes. Reads the directory only; no server needed.
public struct BackupsHandler: CommandHandler {
    public typealias Parameters = NoParameters
    let settings: MariaDBSettings

    public static let id = "mariadb.backups"
    public static let summary = "List the MariaDB dump files on the member (the names mariadb.restore takes), newest first"
    public static let requiresRoot = true
    public static let supportsCheckMode = true

    init(settings: MariaDBSettings) { self.settings = settings }

    /// At most this many are listed (a report stays small); the count says how many there are.
    static let listLimit = 500

    public func run(_ p: NoParameters, in context: JobContext) async throws -> JobOutcome {
        let dir = settings.backupsDir
        struct Dump { var name: String; var bytes: Int64; var mtime: Int }
        var dumps: [Dump] = []
        for name in MariaDBBackupScope.existingDumps(in: dir) {
            var st = stat()
            // lstat: a link named like a dump is not one of ours (mariadb.restore refuses it too).
            guard lstat(dir + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            dumps.append(Dump(name: name, bytes: Int64(st.st_size), mtime: Int(st.st_mtim.tv_sec)))
        }
        dumps.sort { ($0.mtime, $0.name) > ($1.mtime, $1.name) }
        var total: Int64 = 0
        for d in dumps { total += d.bytes }
        let list: [JSONValue] = dumps.prefix(Self.listLimit).map { d in
            .object(["backup": .string(d.name), "database": .string(MariaDBNames.backupSource(d.name) ?? ""),
                     "bytes": .number(Double(d.bytes)), "modifiedAt": .number(Double(d.mtime))])
        }
        return .unchanged("\(dumps.count) dump files, \(total) bytes in \(dir)",
                          result: .object(["backups": .array(list), "count": .number(Double(dumps.count)),
                                           "totalBytes": .number(Double(total)), "directory": .string(dir)]))
    }
}
