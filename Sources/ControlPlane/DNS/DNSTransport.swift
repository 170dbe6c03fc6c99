#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AgentKernel
import BalctlProtocol

/// One DNS exchange with one server: UDP with a per-try timeout and retries, then TCP when the
/// UDP answer is truncated (RFC 1035 §4.2, RFC 7766). Blocking POSIX sockets with poll()
/// timeouts, run on a thread of their own so the cooperative pool never waits on the network.
struct DNSTransport: Sendable {
    var server: IPv4
    var port: UInt16
    /// Seconds to wait for each UDP try and for each step of a TCP exchange.
    var timeout: Double
    /// UDP sends before giving up (the same message each time, so a retry is idempotent).
    var attempts: Int

    var endpoint: String { "\(server):\(port)" }

    /// Send `request` (whose ID is `id`) and return the first response with that ID.
    func exchange(_ request: [UInt8], id: UInt16) async throws -> [UInt8] {
        let copy = self
        let result: Result<[UInt8], DNSProviderError> = await withCheckedContinuation { cont in
            runOnNewThread { cont.resume(returning: Result { () throws(DNSProviderError) in try copy.blockingExchange(request, id: id) }) }
        }
        return try result.get()
    }

    private func blockingExchange(_ request: [UInt8], id: UInt16) throws(DNSProviderError) -> [UInt8] {
        let reply = try udpExchange(request, id: id)
        guard reply[2] & UInt8(DNSFlags.truncated >> 8) != 0 else { return reply }  // TC bit
        return try tcpExchange(request, id: id)
    }

    private func unreachable(_ what: String) -> DNSProviderError {
        DNSProviderError(.unreachable, "DNS server \(endpoint): \(what)")
    }

    private func errnoText() -> String { String(cString: strerror(errno)) }

    private var address: sockaddr_in {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = server.value.bigEndian
        return a
    }

    private func connect(_ fd: Int32) -> Int32 {
        var a = address
        return withUnsafePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }

    /// Wait until `fd` is ready for `events` or `deadline` (monotonic seconds) passes.
    private func wait(_ fd: Int32, _ events: Int16, until deadline: Double) -> Bool {
        while true {
            let left = deadline - monotonicNow()
            guard left > 0 else { return false }
            var p = pollfd(fd: fd, events: events, revents: 0)
            let rc = poll(&p, 1, Int32(max(1, (left * 1000).rounded(.up))))
            if rc > 0 { return true }
            if rc == 0 || errno != EINTR { return rc > 0 }
        }
    }

    private func udpExchange(_ request: [UInt8], id: UInt16) throws(DNSProviderError) -> [UInt8] {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw unreachable("socket: \(errnoText())") }
        defer { close(fd) }
        // A connected UDP socket only receives datagrams from the server's address and port.
        guard connect(fd) == 0 else { throw unreachable("connect: \(errnoText())") }
        var buffer = [UInt8](repeating: 0, count: 65535)
        var lastError = "no reply within \(timeout) s"
        for _ in 0..<max(1, attempts) {
            guard send(fd, request, request.count, 0) == request.count else {
                lastError = "send: \(errnoText())"; continue
            }
            let deadline = monotonicNow() + timeout
            // Each pass receives one datagram or ends at the deadline; a reply with another ID
            // (a late answer to an earlier try is the same ID, so it is accepted) is skipped.
            while wait(fd, Int16(POLLIN), until: deadline) {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n < 0 {
                    if errno == EINTR { continue }
                    lastError = "receive: \(errnoText())"  // e.g. ICMP port unreachable
                    break
                }
                if n >= 12, UInt16(buffer[0]) << 8 | UInt16(buffer[1]) == id, buffer[2] & 0x80 != 0 {
                    return Array(buffer[0..<n])
                }
            }
        }
        throw unreachable(lastError)
    }

    private func tcpExchange(_ request: [UInt8], id: UInt16) throws(DNSProviderError) -> [UInt8] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw unreachable("socket: \(errnoText())") }
        defer { close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let deadline = monotonicNow() + timeout
        if connect(fd) != 0 {
            guard errno == EINPROGRESS else { throw unreachable("TCP connect: \(errnoText())") }
            guard wait(fd, Int16(POLLOUT), until: deadline) else { throw unreachable("TCP connect timed out") }
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
            guard err == 0 else { throw unreachable("TCP connect: \(String(cString: strerror(err)))") }
        }
        // Two-byte length prefix (RFC 1035 §4.2.2).
        let framed = [UInt8(request.count >> 8), UInt8(request.count & 0xff)] + request
        var sent = 0
        while sent < framed.count {  // advances by n > 0 or throws
            guard wait(fd, Int16(POLLOUT), until: deadline) else { throw unreachable("TCP send timed out") }
            let n = framed[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw unreachable("TCP send: \(errnoText())")
            }
            sent += n
        }
        let header = try readExactly(fd, 2, until: deadline)
        let reply = try readExactly(fd, Int(header[0]) << 8 | Int(header[1]), until: deadline)
        guard reply.count >= 12, UInt16(reply[0]) << 8 | UInt16(reply[1]) == id else {
            throw DNSProviderError(.badReply, "DNS server \(endpoint): the TCP reply does not answer our request")
        }
        return reply
    }

    private func readExactly(_ fd: Int32, _ count: Int, until deadline: Double) throws(DNSProviderError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {  // advances by n > 0; EOF and errors throw
            guard wait(fd, Int16(POLLIN), until: deadline) else { throw unreachable("TCP reply timed out") }
            let n = out[got...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { throw unreachable("TCP connection closed after \(got) of \(count) bytes") }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw unreachable("TCP receive: \(errnoText())")
            }
            got += n
        }
        return out
    }
}
