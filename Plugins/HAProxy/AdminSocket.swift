#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel

/// HAProxy's runtime API over its Unix stats socket, spoken directly (no socat): connect, write
/// one command line, read the answer until haproxy closes the connection (it does after one
/// command in non-interactive mode). Every step is bounded by `timeoutSec`.
public struct AdminSocket: Sendable {
    public let path: String
    public let timeoutSec: Double
    /// `show stat` for thousands of servers is a few MB; anything larger is not haproxy talking.
    public static let maxResponseBytes = 16 << 20

    public init(path: String, timeoutSec: Double = 3) {
        self.path = path; self.timeoutSec = timeoutSec
    }

    /// Send one command and return haproxy's answer. The conversation blocks (up to about
    /// twice `timeoutSec`: connect, then the rest), so it runs on its own thread, never on the
    /// cooperative pool.
    public func execute(_ command: String) async throws(AdminSocketError) -> String {
        let socket = self
        return try await runBlocking { () throws(AdminSocketError) -> String in try socket.executeBlocking(command) }
    }

    /// `execute`, on the calling thread.
    ///
    /// HAProxy treats `;` and a newline as command separators, so a command containing either
    /// could smuggle a second command (`set server b/s state ready; shutdown sessions …`). This is
    /// the last line of defence; callers validate names long before.
    func executeBlocking(_ command: String) throws(AdminSocketError) -> String {
        guard !command.isEmpty,
              !command.contains(where: { $0 == ";" || $0 == "\n" || $0 == "\r" || $0 == "\0" }) else {
            throw .unsafeCommand(command)
        }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        guard !pathBytes.isEmpty, pathBytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            throw .pathTooLong(path)
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }

        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .io(path, "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // SO_SNDTIMEO also bounds connect() on a Unix socket whose backlog is full.
        Self.setTimeout(fd, SO_RCVTIMEO, timeoutSec)
        Self.setTimeout(fd, SO_SNDTIMEO, timeoutSec)

        let connected = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if connected != 0 {
            let e = errno
            switch e {
            case ENOENT: throw .missing(path)
            case ECONNREFUSED: throw .notListening(path)
            case EACCES, EPERM: throw .permissionDenied(path)
            case EAGAIN, EWOULDBLOCK, EINPROGRESS: throw .timedOut(path, timeoutSec)
            default: throw .io(path, "connect: \(String(cString: strerror(e)))")
            }
        }

        let deadline = monotonicNow() + timeoutSec
        let line = Array((command + "\n").utf8)
        var sent = 0
        while sent < line.count {
            let n = line.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n > 0 { sent += n; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { throw .timedOut(path, timeoutSec) }
            throw .io(path, "write: \(String(cString: strerror(errno)))")
        }

        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            // A peer that trickles bytes must not keep us past the deadline: each wait is bounded
            // by what is left of it.
            let left = deadline - monotonicNow()
            if left <= 0 { throw .timedOut(path, timeoutSec) }
            Self.setTimeout(fd, SO_RCVTIMEO, left)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 65536, 0) }
            if n > 0 {
                answer.append(contentsOf: buffer[0..<n])
                if answer.count > Self.maxResponseBytes { throw .io(path, "answer larger than \(Self.maxResponseBytes) bytes") }
            } else if n == 0 {
                return String(decoding: answer, as: UTF8.self)
            } else if errno == EINTR {
                continue
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                throw .timedOut(path, timeoutSec)
            } else {
                throw .io(path, "read: \(String(cString: strerror(errno)))")
            }
        }
    }
}

extension AdminSocket {
    static func setTimeout(_ fd: Int32, _ option: Int32, _ seconds: Double) {
        let s = max(seconds, 0.001)
        let whole = s.rounded(.down)
        var tv = timeval(tv_sec: Int(whole), tv_usec: Int((s - whole) * 1_000_000))
        _ = setsockopt(fd, SOL_SOCKET, option, &tv, socklen_t(MemoryLayout<timeval>.size))
    }
}

/// Why the admin socket could not be used; every message says what to do about it.
public enum AdminSocketError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The config declares no `stats socket` at all.
    case notConfigured(config: String)
    /// The config's socket is not `level admin`, which `set server` needs.
    case notAdminLevel(path: String, level: String)
    case missing(String)
    case notListening(String)
    case permissionDenied(String)
    case timedOut(String, Double)
    case pathTooLong(String)
    case unsafeCommand(String)
    case io(String, String)

    static let remedy = "enable it with the haproxy.admin_socket_enable command (recipe \"Enable HAProxy admin stats socket\")"

    public var description: String {
        switch self {
        case .notConfigured(let config):
            return "no admin socket: \(config) has no `stats socket … level admin` line in its global section; \(Self.remedy)"
        case .notAdminLevel(let path, let level):
            return "the stats socket \(path) is level \(level); runtime server commands need level admin: \(Self.remedy) or edit the line"
        case .missing(let path):
            return "admin socket \(path) does not exist (haproxy is not running, or was not reloaded since the socket was added to its config); \(Self.remedy) or start haproxy"
        case .notListening(let path):
            return "nothing answers on admin socket \(path) (stale socket: haproxy is not running?)"
        case .permissionDenied(let path):
            return "permission denied on admin socket \(path): the agent must run as root or in the socket's group"
        case .timedOut(let path, let sec):
            return "admin socket \(path) did not answer within \(sec)s"
        case .pathTooLong(let path):
            return "admin socket path \(path) is empty or longer than a Unix socket path may be (107 bytes)"
        case .unsafeCommand(let command):
            return "refusing to send a runtime command containing ';', a newline or NUL: \(command.debugDescription)"
        case .io(let path, let message):
            return "admin socket \(path): \(message)"
        }
    }
}
