#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// Logical backups as files under `<state>/mariadb/backups` (0700): `mariadb-dump` streamed
/// through zstd into a new file (O_CREAT|O_EXCL|O_NOFOLLOW, mode 600, relative to the directory's
/// descriptor), and restores fed back from one. The backup scope seam (`BackupScope`) captures
/// files that already exist; a dump has to be made first, so it lands here (see README).
enum LogicalBackup {
    /// The file name's prefix for a whole-server dump (not a database name: it has a '-').
    static let allDatabases = "all-databases"

    struct Made: Sendable {
        var name: String
        var path: String
        var rawBytes: Int
        var fileBytes: Int
    }

    /// `20260101T000000Z` for now, UTC.
    static func stamp() -> String {
        var t = time(nil)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    }

    static func prepareDirectories(_ settings: MariaDBSettings) throws {
        do {
            try Files.makeDirectories(Files.dirname(settings.stateDir), mode: 0o755)
            try SafeFile.makeDirectory(settings.stateDir, mode: 0o700)
            try SafeFile.makeDirectory(settings.backupsDir, mode: 0o700)
        } catch {
            throw JobFailure("cannot prepare \(settings.backupsDir): \(error)")
        }
    }

    static func openDirectory(_ dir: String) throws -> Int32 {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw JobFailure("cannot open \(dir): \(String(cString: strerror(errno)))") }
        return fd
    }

    /// Dump `database` (nil: every database) into a new backup file.
    static func dump(_ database: String?, level: Int, settings: MariaDBSettings, in context: JobContext) async throws -> Made {
        try prepareDirectories(settings)
        let dirFD = try openDirectory(settings.backupsDir)
        defer { close(dirFD) }
        var name = ""
        var fileFD: Int32 = -1
        for _ in 0..<8 {
            let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
            name = "\(database ?? allDatabases)--\(stamp())-\(String(repeating: "0", count: 8 - suffix.count) + suffix).sql.zst"
            fileFD = openat(dirFD, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fileFD >= 0 || errno != EEXIST { break }
        }
        guard fileFD >= 0 else { throw JobFailure("cannot create a backup file in \(settings.backupsDir): \(String(cString: strerror(errno)))") }
        let path = settings.backupsDir + "/" + name
        var keep = false
        defer {
            close(fileFD)
            if !keep { unlinkat(dirFD, name, 0) }
        }
        _ = fchmod(fileFD, 0o600)
        let (readEnd, writeEnd) = try SpawnSupport.closeOnExecPipe()
        let out = fileFD
        async let compressed = runBlocking { () -> Result<Int, DumpStream.Failure> in
            do { return .success(try DumpStream.compress(from: readEnd, to: out, level: level)) } catch let e as DumpStream.Failure {
                return .failure(e)
            } catch { return .failure(DumpStream.Failure("\(error)")) }
        }
        var args = ["--single-transaction", "--routines", "--triggers", "--events", "--hex-blob"]
        if let database { args.append(database) } else { args.append("--all-databases") }
        let result: ProcessResult
        do {
            result = try await MariaDBClient(settings: settings, context: context).run(settings.dump, args, timeoutSec: Double(context.timeoutSec), stdout: writeEnd)
        } catch {
            _ = await compressed
            throw JobFailure("cannot run \(settings.dump): \(error)")
        }
        let raw = await compressed
        guard result.succeeded else {
            throw JobFailure("mariadb-dump failed (\(MariaDBClient.describe(result))): \(result.output.trimmingWhitespace.lastLines(5))",
                             exitCode: Int(result.exitCode))
        }
        let rawBytes: Int
        switch raw {
        case .success(let n): rawBytes = n
        case .failure(let e): throw JobFailure("the backup could not be written: \(e)")
        }
        guard fsync(fileFD) == 0 else { throw JobFailure("cannot sync \(path): \(String(cString: strerror(errno)))") }
        var st = stat()
        fstat(fileFD, &st)
        keep = true
        return Made(name: name, path: path, rawBytes: rawBytes, fileBytes: Int(st.st_size))
    }

    /// Open a backup file by name (a plain name, checked by the caller) without following links.
    static func openBackup(_ name: String, settings: MariaDBSettings) throws -> Int32 {
        let dirFD = try openDirectory(settings.backupsDir)
        defer { close(dirFD) }
        let fd = openat(dirFD, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw JobFailure("no backup \(name) in \(settings.backupsDir): \(String(cString: strerror(errno)))") }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw JobFailure("\(name) is not a regular file")
        }
        return fd
    }

    /// Feed backup `name` to `mariadb --database=<database>`.
    static func load(_ name: String, into database: String, settings: MariaDBSettings, in context: JobContext) async throws -> Int {
        let fileFD = try openBackup(name, settings: settings)
        let (ours, theirs): (Int32, Int32)
        do { (ours, theirs) = try DumpStream.socketPair() } catch { close(fileFD); throw JobFailure("\(error)") }
        async let fed = runBlocking { () -> Result<Int, DumpStream.Failure> in
            do { return .success(try DumpStream.decompress(from: fileFD, to: ours)) } catch let e as DumpStream.Failure {
                return .failure(e)
            } catch { return .failure(DumpStream.Failure("\(error)")) }
        }
        let result: ProcessResult
        do {
            result = try await MariaDBClient(settings: settings, context: context)
                .run(settings.client, ["--binary-mode", "--batch", "--database=" + database], timeoutSec: Double(context.timeoutSec), stdin: theirs)
        } catch {
            // The client never started: its end is closed, so the feeder stops with an error.
            _ = await fed
            throw JobFailure("cannot run \(settings.client): \(error)")
        }
        let bytes = await fed
        guard result.succeeded else {
            throw JobFailure("loading \(name) into \(database) failed (\(MariaDBClient.describe(result))): \(result.output.trimmingWhitespace.lastLines(5))",
                             exitCode: Int(result.exitCode))
        }
        switch bytes {
        case .success(let n): return n
        case .failure(let e): throw JobFailure("reading \(name) failed: \(e)")
        }
    }

    /// Whether `database` exists on the server.
    static func exists(_ database: String, client: MariaDBClient) async throws -> Bool {
        let rows = try await client.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = \(MariaDBNames.sqlString(database))")
        return rows.contains { $0.first == database }
    }
}
