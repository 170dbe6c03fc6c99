import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A TCP listener on a loopback address that records every request head it gets and answers
/// `200` with a fixed body. Tests use it to prove a client sent nothing (a refusal happened before
/// any connection), with a positive control proving the listener does see what is sent.
public final class LoopbackListener: @unchecked Sendable {
    public let address: String
    public let port: Int
    private let fd: Int32
    private let lock = NSLock()
    private var heads: [String] = []
    private var accepted = 0
    private let body: String

    /// `address` must be a 127.0.0.0/8 address (Linux answers on all of them without set-up).
    public init(address: String = "127.0.0.1", body: String = "[]") throws {
        precondition(address.hasPrefix("127."), "loopback only")
        self.address = address
        self.body = body
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr(address)
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 && listen(fd, 16) == 0
            }
        }
        guard ok else {
            close(fd)
            throw ListenerError("cannot listen on \(address): errno \(errno)")
        }
        port = Int(UInt16(bigEndian: addr.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// Unblocks the accept loop, which then closes the socket. Call it when done (the loop's
    /// thread keeps the listener alive until then).
    public func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
    }

    public struct ListenerError: Error, CustomStringConvertible {
        public var description: String
        init(_ d: String) { description = d }
    }

    /// Connections accepted so far (a refused request must leave this at 0).
    public var connections: Int { lock.withLock { accepted } }
    /// The request heads received so far, as text.
    public var requests: [String] { lock.withLock { heads } }

    private func acceptLoop() {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                close(fd)
                return
            }
            lock.withLock { accepted += 1 }
            var data = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 4096)
            while data.count < 65536 {
                let n = read(client, &buffer, buffer.count)
                if n <= 0 { break }
                data += buffer[0..<n]
                if String(decoding: data, as: UTF8.self).contains("\r\n\r\n") { break }
            }
            let head = String(decoding: data, as: UTF8.self)
            lock.withLock { heads.append(head) }
            let reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
            _ = reply.withCString { write(client, $0, strlen($0)) }
            close(client)
        }
    }
}
