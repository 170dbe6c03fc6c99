/// The edits behind `haproxy.admin_socket_enable` / `_disable`, as pure functions of the config
/// bytes so they can be checked without touching a file.
///
/// Enable appends to the global section, each line tagged with a trailing marker comment:
///
///     stats socket /run/haproxy/admin.sock mode 600 level admin expose-fd listeners  # balctl:admin-socket
///     stats timeout 2m  # balctl:admin-socket
///
/// (`stats timeout` only when the section has none). Disable removes the `stats socket` line for
/// that path and the lines carrying the marker, and nothing else, so enable-then-disable gives
/// back the original bytes. The marker is how disable knows which `stats timeout` is ours; an
/// unmarked `stats timeout 2m` right after the removed socket line (the docs' recipe typed by
/// hand) goes with it.
public enum AdminSocketEdit {
    public static let marker = "# balctl:admin-socket"

    public static func socketLine(_ path: String) -> String {
        "stats socket \(path) mode 600 level admin expose-fd listeners"
    }
    public static let timeoutLine = "stats timeout 2m"

    public struct Result: Sendable {
        public var config: HAProxyConfigFile
        /// The lines added or removed (without indentation), for the job output and check mode.
        public var lines: [String]
    }

    public struct EditError: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var description: String { message }
    }

    /// nil when the socket is already declared (nothing to do).
    public static func enable(_ config: HAProxyConfigFile, socketPath: String) throws(EditError) -> Result? {
        guard let body = config.globalBody() else {
            throw EditError(message: "the config has no `global` section to add the admin socket to")
        }
        // Compared in canonical form (red team finding 4): `/run/haproxy//a.sock` is the same socket.
        let wanted = SocketPath.canonical(socketPath)
        if let existing = config.statsSockets().first(where: { SocketPath.canonical($0.path) == wanted }) {
            guard existing.level == "admin" else {
                throw EditError(message: "line \(existing.line + 1) already declares stats socket \(socketPath) at level \(existing.level); change that line by hand or pick another socketPath")
            }
            return nil
        }
        let hasTimeout = body.contains { i in
            let t = config.tokens(i)
            return t.count >= 2 && t[0] == "stats" && t[1] == "timeout"
        }
        var add = [socketLine(socketPath)]
        if !hasTimeout { add.append(timeoutLine) }

        // After the section's last directive (trailing blank lines and comments stay where they are).
        let header = body.lowerBound - 1
        let last = body.last { !config.tokens($0).isEmpty } ?? header
        var indent: [UInt8] = Array("    ".utf8)
        var crlf = config.lines[header].last == 0x0D
        if last != header {
            indent = Array(config.lines[last].prefix { $0 == 0x20 || $0 == 0x09 })
            crlf = config.lines[last].last == 0x0D
        }
        var edited = config
        let newLines = add.map { indent + Array("\($0)  \(marker)".utf8) + (crlf ? [0x0D] : []) }
        edited.lines.insert(contentsOf: newLines, at: last + 1)
        return Result(config: edited, lines: add)
    }

    /// nil when there is nothing to remove.
    public static func disable(_ config: HAProxyConfigFile, socketPath: String) -> Result? {
        guard let body = config.globalBody() else { return nil }
        var remove: [Int] = []
        let wanted = SocketPath.canonical(socketPath)
        for socket in config.statsSockets() where SocketPath.canonical(socket.path) == wanted {
            remove.append(socket.line)
            let next = socket.line + 1
            // (A marked one is ours and follows the rule below.)
            if next < body.upperBound, config.tokens(next) == ["stats", "timeout", "2m"], !config.text(next).contains(marker) {
                remove.append(next)
            }
        }
        // Our marked `stats timeout` goes too, unless a socket we added for another path still
        // uses it (enable A, enable B, disable A keeps it; disable B then removes it).
        let isSocket = { (i: Int) -> Bool in
            let t = config.tokens(i)
            return t.count >= 2 && t[0] == "stats" && t[1] == "socket"
        }
        let otherMarkedSockets = config.statsSockets().contains {
            SocketPath.canonical($0.path) != wanted && config.text($0.line).contains(marker)
        }
        if !otherMarkedSockets {
            for i in body where config.text(i).contains(marker) && !isSocket(i) { remove.append(i) }
        }
        let unique = Set(remove).sorted()
        guard !unique.isEmpty else { return nil }
        var edited = config
        for i in unique.reversed() { edited.lines.remove(at: i) }
        return Result(config: edited, lines: unique.map { config.tokens($0).joined(separator: " ") })
    }
}
