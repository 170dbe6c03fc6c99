import Foundation

/// A plain TCP connection to the server under test (loopback only), for clients no HTTP library
/// would be: one that sends nothing, one that trickles a body, one that announces a body and
/// never sends it. Blocking calls with short, explicit time bounds.
final class RawConnection: @unchecked Sendable {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Harness.HarnessError("socket: errno \(errno)") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw Harness.HarnessError("connect to 127.0.0.1:\(port): errno \(e)")
        }
    }

    deinit { close(fd) }

    /// Sends without blocking; false when the server has closed the connection (or the send
    /// buffer is full).
    @discardableResult
    func write(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) } == bytes.count
    }

    /// What arrives within `timeout` seconds, and whether the server closed the connection
    /// (end of stream or reset) in that time.
    func read(timeout: Double) -> (text: String, closed: Bool) {
        var received: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { break }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(left * 1000) + 1) > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { received += buffer[0..<n]; continue }
            if n == 0 || errno == ECONNRESET { return (String(decoding: received, as: UTF8.self), true) }
            if errno != EINTR && errno != EAGAIN { break }
        }
        return (String(decoding: received, as: UTF8.self), false)
    }

    /// Has the server closed this connection? (Reads what is buffered without waiting.)
    var closedByServer: Bool { read(timeout: 0.005).closed }
}
