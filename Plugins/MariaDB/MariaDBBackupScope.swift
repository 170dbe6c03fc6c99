#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// The `mariadb` backup scope: `backup.create scope=mariadb` first dumps every user database
/// into its own file — the same `mariadb-dump --single-transaction` + zstd files, named as
/// `mariadb.backup` names them, in `<state>/mariadb/backups` — and the snapshot carries those
/// files off the host (filesystem or S3 store). `backup.restore` (or a standby provisioned from
/// the snapshot) puts them back in that directory; `mariadb.restore backup=<name>` then loads one,
/// into a new name or over the old database with `confirm: true`. Loading is left to that
/// command on purpose: replacing a live database is a decision per database, not a side effect of
/// bringing files back.
///
/// Databases whose names `mariadb.restore` could not take (outside `A–Z a–z 0–9 _`) are skipped
/// with a line in the job output; accounts and grants (the `mysql` schema) are not included.
/// The dumps run under the backup job's `backup` lock, not the `mariadb` lock: a dump taken while
/// a `mariadb.restore` runs sees that database as the restore has made it so far.
struct MariaDBBackupScope: BackupScope {
    let settings: MariaDBSettings
    var name: String { "mariadb" }

    /// mariadb.backup's default level: dumps compress well at 3 and the dump, not zstd, is the
    /// slow part.
    static let zstdLevel = 3
    static let listQuery = "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME"

    /// The dumps this host already has (what a snapshot taken without dumping would hold).
    func roots(paths: [String]) throws -> [String] {
        guard paths.isEmpty else { throw ParameterError("the mariadb scope takes no paths (it dumps every database)") }
        return Self.existingDumps(in: settings.backupsDir).map { settings.backupsDir + "/" + $0 }
    }

    func capture(paths: [String], in context: JobContext) async throws -> [String] {
        guard paths.isEmpty else { throw ParameterError("the mariadb scope takes no paths (it dumps every database)") }
        guard settings.installed else { throw JobFailure("MariaDB is not installed here") }
        let client = MariaDBClient(settings: settings, context: context)
        let rows: [[String]]
        do { rows = try await client.query(Self.listQuery) } catch { throw JobFailure("cannot list the databases: \(error)") }
        var databases: [String] = []
        for row in rows.prefix(10_000) {
            guard let db = row.first, !MariaDBNames.systemSchemas.contains(db.lowercased()) else { continue }
            guard MariaDBNames.isDatabaseName(db) else {
                context.log("skipped database \(clip(db, 80)): mariadb.restore takes names of A–Z, a–z, 0–9 and _ only")
                continue
            }
            databases.append(db)
        }
        if context.checkMode {
            context.log("check mode: would dump \(databases.count) databases (\(databases.joined(separator: ", "))) into \(settings.backupsDir), then back the dumps up")
            return []
        }
        var made: [String] = []
        do {
            for db in databases {
                try Task.checkCancellation()
                let file = try await LogicalBackup.dump(db, level: Self.zstdLevel, settings: settings, in: context)
                context.log("dumped \(db): \(file.rawBytes) bytes of SQL → \(file.name) (\(file.fileBytes) bytes)")
                made.append(file.path)
            }
        } catch {
            // A snapshot of half the databases would pass for a whole one: take none.
            for path in made { _ = unlink(path) }
            throw error
        }
        return made
    }

    /// A snapshot labelled `mariadb` carries dump files of this directory and nothing else: a
    /// compromised member cannot use the label to bring back `/root/.ssh`.
    func validateStaged(stagingRoot: String, roots: [String], in context: JobContext) async throws {
        for root in roots {
            let name = Files.basename(root)
            guard Files.dirname(root) == settings.backupsDir, MariaDBNames.isBackupName(name) else {
                throw JobFailure("the snapshot's root \(root) is not a MariaDB dump in \(settings.backupsDir)")
            }
            // O_NONBLOCK: a FIFO (which extraction refuses anyway) must not hang the check.
            let fd = open(stagingRoot + root, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
            guard fd >= 0 else { throw JobFailure("the staged dump \(name) cannot be opened: \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            var magic = [UInt8](repeating: 0, count: 4)
            guard read(fd, &magic, 4) == 4, magic == [0x28, 0xB5, 0x2F, 0xFD] else {
                throw JobFailure("the staged dump \(name) is not zstd-compressed")
            }
        }
    }

    /// The restored files sit where `mariadb.restore` looks for them; the directory must exist
    /// (0700) on a host that never made a dump (a standby).
    func prepare(in context: JobContext) async throws -> Bool {
        if !context.checkMode { try LogicalBackup.prepareDirectories(settings) }
        return false
    }

    static func existingDumps(in dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            // Regular files only (lstat: never through a link): a link or FIFO named like a dump
            // is not one of ours, and would be walked or opened as if it were.
            var st = stat()
            if MariaDBNames.isBackupName(name), lstat(dir + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG {
                names.append(name)
            }
        }
        return names.sorted()
    }
}
