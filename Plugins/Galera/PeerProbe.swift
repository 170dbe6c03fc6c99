#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel

/// Is a Galera node listening at a peer's group-communication port? A TCP connect, nothing
/// sent: a node that listens there is running (in some component — a Primary one or not), and
/// a new cluster must not be bootstrapped beside it. Non-blocking connect bounded by a timeout;
/// names resolved with getaddrinfo (numeric or /etc/hosts, as the server would).
enum PeerProbe {
    static func listening(_ a: GroupAddress, timeoutSec: Double) -> Bool {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(a.host, String(a.port), &hints, &list) == 0, let first = list else { return false }
        defer { freeaddrinfo(list) }
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        var tried = 0
        while let ai = cursor, tried < 4 {
            tried += 1
            cursor = ai.pointee.ai_next
            let fd = socket(ai.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            let rc = connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen)
            if rc == 0 { return true }
            guard errno == EINPROGRESS else { continue }
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let deadline = monotonicNow() + timeoutSec
            var ready: Int32 = 0
            repeat {
                let left = Int32(max(1, (deadline - monotonicNow()) * 1000))
                ready = poll(&p, 1, left)
            } while ready < 0 && errno == EINTR && monotonicNow() < deadline
            guard ready > 0 else { continue }
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            if getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0 { return true }
        }
        return false
    }
}
