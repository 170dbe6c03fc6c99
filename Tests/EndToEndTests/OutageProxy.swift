import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy on loopback between an agent and the control plane, so a test can cut the control
/// plane off from the agent (and bring it back at a known moment) without touching the server
/// process. TLS passes through untouched. Three ways to be unreachable:
/// - `refuse`: the port is closed (connects are refused, as with a stopped server) and the
///   connections carried are closed;
/// - `blackHole`: connections are accepted and never answered;
/// - `dropSYNs`: the port listens with a full accept queue, so Linux drops every SYN.
/// In the last two the connections carried go silent both ways without a reset, as in a network
/// partition: a client reusing one sees its request vanish. `restore` forwards again (the silenced
/// connections stay silent, as stale connections after a partition would).
final class OutageProxy: @unchecked Sendable {
    enum Mode: Sendable { case forward, refuse, blackHole, dropSYNs }

    let port: Int
    private let upstreamPort: Int
    private let lock = NSLock()
    private var mode: Mode = .forward
    private var listener: Int32 = -1
    /// The connection filling the accept queue in `dropSYNs`.
    private var filler: Int32 = -1
    private var connections: [Connection] = []

    /// One accepted client and, when forwarded, its upstream connection. Each direction is pumped
    /// on its own thread; the last pump to end closes both sockets.
    private final class Connection: @unchecked Sendable {
        let client: Int32
        let upstream: Int32?
        private let lock = NSLock()
        private var silencedFlag: Bool
        private var pumpsLeft: Int

        init(client: Int32, upstream: Int32?) {
            self.client = client
            self.upstream = upstream
            silencedFlag = upstream == nil
            pumpsLeft = upstream == nil ? 1 : 2
        }

        var silenced: Bool { lock.withLock { silencedFlag } }

        /// Stop forwarding either way, without telling the client.
        func silence() {
            lock.withLock { silencedFlag = true }
            if let upstream { shutdown(upstream, Int32(SHUT_RDWR)) }
        }

        func close() {
            shutdown(client, Int32(SHUT_RDWR))
            if let upstream { shutdown(upstream, Int32(SHUT_RDWR)) }
        }

        func pumpEnded() {
            let last = lock.withLock { pumpsLeft -= 1; return pumpsLeft == 0 }
            if last {
                Glibc.close(client)
                if let upstream { Glibc.close(upstream) }
            }
        }
    }

    init(upstreamPort: Int) throws {
        self.upstreamPort = upstreamPort
        let (fd, port) = try Self.listen(port: 0, backlog: 64)
        self.port = port
        listener = fd
        startAccepting(fd)
    }

    func refuse() { switchTo(.refuse) }
    func blackHole() { switchTo(.blackHole) }
    func dropSYNs() { switchTo(.dropSYNs) }

    /// Forward again; returns once the port accepts.
    func restore() throws {
        lock.withLock { mode = .forward }
        closeListener()
        let (fd, _) = try Self.listen(port: port, backlog: 64)
        lock.withLock { listener = fd }
        startAccepting(fd)
    }

    func stop() {
        switchTo(.refuse)
    }

    private func switchTo(_ next: Mode) {
        let carried = lock.withLock { () -> [Connection] in
            mode = next
            return connections
        }
        for c in carried {
            if next == .refuse { c.close() } else { c.silence() }
        }
        switch next {
        case .refuse:
            closeListener()
        case .dropSYNs:
            closeListener()
            if let full = try? Self.listen(port: port, backlog: 0) {
                let filler = Self.connectLoopback(port: port)
                lock.withLock { listener = full.0; self.filler = filler }
            }
        case .forward, .blackHole:
            break
        }
    }

    private func closeListener() {
        let (fd, filler) = lock.withLock { () -> (Int32, Int32) in
            defer { listener = -1; self.filler = -1 }
            return (listener, self.filler)
        }
        if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
        if filler >= 0 { close(filler) }
    }

    private func startAccepting(_ fd: Int32) {
        Thread { [self] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 {
                    if errno == EINTR { continue }
                    return
                }
                let current = lock.withLock { mode }
                let upstream = current == .forward ? Self.connectLoopback(port: upstreamPort) : -1
                if current == .forward && upstream < 0 { close(client); continue }
                let c = Connection(client: client, upstream: upstream >= 0 ? upstream : nil)
                lock.withLock { connections.append(c) }
                Thread { [self] in pump(c, from: client, to: c.upstream) }.start()
                if let upstream = c.upstream {
                    Thread { [self] in pump(c, from: upstream, to: client) }.start()
                }
            }
        }.start()
    }

    /// Copy `from` → `to` until `from` ends; once silenced, read and drop (nothing reaches the
    /// other side, not even the end of the stream).
    private func pump(_ c: Connection, from: Int32, to: Int32?) {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = read(from, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            guard let to, !c.silenced else { continue }
            var sent = 0
            while sent < n {
                // MSG_NOSIGNAL: a peer gone meanwhile must not SIGPIPE the test process.
                let w = buffer[sent..<n].withUnsafeBytes { send(to, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if w < 0 && errno == EINTR { continue }
                if w <= 0 { break }
                sent += w
            }
        }
        if let to, !c.silenced { shutdown(to, Int32(SHUT_WR)) }
        c.pumpEnded()
        lock.withLock { connections.removeAll { $0 === c } }
    }

    private static func listen(port: Int, backlog: Int32) throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 && Glibc.listen(fd, backlog) == 0
            }
        }
        guard ok else {
            let e = errno
            close(fd)
            throw Harness.HarnessError("proxy cannot listen on 127.0.0.1:\(port): errno \(e)")
        }
        return (fd, Int(UInt16(bigEndian: addr.sin_port)))
    }

    /// A connected socket to 127.0.0.1:`port`, or -1.
    private static func connectLoopback(port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        if !ok { close(fd); return -1 }
        return fd
    }
}
