import AgentKernel
import Foundation

/// The server's data directory holds job output, the audit log and token hashes: only the server's
/// user may read it (issue 21 item 4). Enforced at every start (`serve`, `demo`, `init` all build a
/// ControlPlane), not only when the directory is created: a directory made by an older version,
/// by `demo` (whose TLS directory creation made the parent 0755) or by hand is tightened too.
enum DataDirectory {
    static let directoryMode: mode_t = 0o700
    static let databaseMode: mode_t = 0o600
    /// The database and the files SQLite keeps beside it in WAL mode.
    static let databaseSuffixes = ["", "-wal", "-shm"]

    /// Before the database opens: the directory exists with mode 0700, and the database file
    /// exists with mode 0600 (SQLite creates -wal and -shm with the database file's mode, so they
    /// are born 0600 too); existing database files are set to 0600.
    /// `databasePath` nil: the database is elsewhere (PostgreSQL); the directory still holds
    /// `secrets.key` and the local CA.
    static func prepare(_ dir: String, databasePath: String?) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: Int(directoryMode)])
        guard chmod(dir, directoryMode) == 0 else {
            throw DataDirectoryError(path: dir, message: "cannot set mode 0700: \(String(cString: strerror(errno)))")
        }
        guard let databasePath else { return }
        if access(databasePath, F_OK) != 0 {
            do { try SafeFile.createNew(databasePath, [], mode: databaseMode) } catch {
                throw DataDirectoryError(path: databasePath, message: error.description)
            }
        }
        try tightenDatabaseFiles(databasePath)
    }

    /// Mode 0600 on the database files that exist, through a descriptor opened without following
    /// links (a link there is refused, never chmod'ed through).
    static func tightenDatabaseFiles(_ databasePath: String) throws {
        for suffix in databaseSuffixes {
            let path = databasePath + suffix
            let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            if fd < 0 {
                if errno == ENOENT { continue }
                throw DataDirectoryError(path: path, message: "cannot open to set mode 0600 (a symbolic link?): \(String(cString: strerror(errno)))")
            }
            defer { close(fd) }
            guard fchmod(fd, databaseMode) == 0 else {
                throw DataDirectoryError(path: path, message: "cannot set mode 0600: \(String(cString: strerror(errno)))")
            }
        }
    }
}

struct DataDirectoryError: Error, CustomStringConvertible {
    var path: String
    var message: String
    var description: String { "data directory: \(path): \(message)" }
}
