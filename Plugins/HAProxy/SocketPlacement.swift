#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

extension SocketPath {
    /// Where haproxy may be told to put a socket (issue 20 item 17; red team findings 1 and 4).
    /// haproxy replaces whatever file is at the path with its socket, as root, on every start and
    /// reload, so the path must be a direct child of the socket directory the agent's settings
    /// name (BALCTL_HAPROXY_SOCKET_DIR, never a job): `<dir>/<name>`, the name of letters, digits,
    /// '.', '_', '-' (at most 64, not `.` or `..`). No subdirectory: the socket directory belongs
    /// to the haproxy user on Debian (haproxy:haproxy 2775), who could swap a subdirectory for a
    /// link between the check and a reload. The directory itself must exist (the agent never
    /// creates it) and be a real directory, every directory above it root's and writable by no
    /// one else (or sticky), and an existing file at the path must already be a socket.
    static func checkPlacement(_ path: String, socketDir: String, field: String = "socketPath") throws(ParameterError) {
        let parts = socketDir.split(separator: "/")
        guard socketDir.hasPrefix("/"), !parts.isEmpty, !parts.contains("."), !parts.contains("..") else {
            throw ParameterError("the socket directory \(socketDir.debugDescription) (BALCTL_HAPROXY_SOCKET_DIR) must be an absolute path below / without '.' or '..'")
        }
        let dir = "/" + parts.joined(separator: "/")
        let prefix = dir + "/"
        guard path.hasPrefix(prefix), path.count > prefix.count else {
            throw ParameterError("\(field): \(path) is outside the socket directory \(dir) (set BALCTL_HAPROXY_SOCKET_DIR in agent.env to allow another)")
        }
        let name = String(path.dropFirst(prefix.count))
        guard isSocketName(name) else {
            throw ParameterError("\(field): \(path) is not a file directly in the socket directory \(dir): use \(dir)/<name>, the name of letters, digits, '.', '_', '-' (at most 64), no subdirectory")
        }
        switch fileType(dir) {
        case nil:
            throw ParameterError("the socket directory \(dir) does not exist; the agent does not create it (the haproxy package does, or set BALCTL_HAPROXY_SOCKET_DIR)")
        case S_IFDIR?: break
        default:
            throw ParameterError("the socket directory \(dir) is not a directory (a symbolic link or a file); refusing to place a socket through it")
        }
        var above = Files.dirname(dir)
        while true {
            var st = stat()
            let safe = lstat(above, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR && st.st_uid == 0
                && (st.st_mode & 0o022 == 0 || st.st_mode & S_ISVTX != 0)
            if !safe {
                throw ParameterError("\(above), above the socket directory \(dir), is not a directory owned by root that only root can change; refusing to place a socket below it")
            }
            if above == "/" { break }
            above = Files.dirname(above)
        }
        if let type = fileType(path), type != S_IFSOCK {
            throw ParameterError("\(field): \(path) exists and is not a socket; haproxy would replace it: refusing")
        }
    }

    /// A socket's file name: 1 to 64 of [A-Za-z0-9._-], not `.` or `..`.
    static func isSocketName(_ name: String) -> Bool {
        guard (1...64).contains(name.utf8.count), name != ".", name != ".." else { return false }
        return name.unicodeScalars.allSatisfy { c in
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "." || c == "_" || c == "-"
        }
    }

    /// `path` with repeated slashes, `.` components and a trailing slash removed: the form two
    /// spellings of one socket compare equal in (red team finding 4).
    static func canonical(_ path: String) -> String {
        let parts = path.split(separator: "/").filter { $0 != "." }
        return (path.hasPrefix("/") ? "/" : "") + parts.joined(separator: "/")
    }

    /// The file type (S_IFDIR, S_IFLNK …) of `path` itself, not of what a link points to; nil
    /// when nothing is there.
    static func fileType(_ path: String) -> mode_t? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return st.st_mode & S_IFMT
    }
}

/// Before haproxy is reloaded (and so binds its sockets again, as root), every `stats socket` the
/// agent added (the lines carrying AdminSocketEdit.marker) must still pass checkPlacement: the
/// haproxy user owns the socket directory and may have changed what is below it since the line
/// was added (red team finding 1). Lines typed by hand are the operator's and left alone.
struct AdminSocketPlacement: Sendable {
    let settings: HAProxySettings

    func checkAgentSockets() throws {
        guard let bytes = try? Files.readBytes(settings.configPath) else { return }
        let config = HAProxyConfigFile(bytes: bytes)
        for socket in config.statsSockets() where config.text(socket.line).contains(AdminSocketEdit.marker) {
            do {
                try SocketPath.checkPlacement(socket.path, socketDir: settings.socketDir)
            } catch {
                throw JobFailure("refusing to reload: \(settings.configPath) line \(socket.line + 1) (added by balctl) puts a stats socket where it is not safe: \(error.message); remove it with haproxy.admin_socket_disable (socketPath \(socket.path)): nothing was reloaded")
            }
        }
    }
}
