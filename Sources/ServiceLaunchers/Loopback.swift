import Glibc

/// Loopback sockets for the servers tests and benchmarks start (named, SMTP sinks, dead peers,
/// the control plane itself): one copy of the bind-to-127.0.0.1 dance.
public enum Loopback {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }

    /// A loopback port free for both TCP and UDP at the time of asking (named wants both).
    ///
    /// Drawn at random from 20000–32767, below Linux's ephemeral range (32768–60999): a port
    /// the kernel hands out for `bind(0)` is also what it hands the next outgoing connection, so
    /// between this answer and the caller's bind, a connection made by another test process
    /// (the test runner runs two at once) could take it. Random, so two processes asking at
    /// the same moment do not walk the same sequence.
    public static func freePort() throws -> UInt16 {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let candidate = UInt16.random(in: 20000...32767, using: &random)
            let tcp = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(tcp) }
            guard let port = bind(tcp, port: candidate) else { continue }
            let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(udp) }
            if bind(udp, port: port) != nil { return port }
        }
        throw Failure("no free loopback port in 20000–32767")
    }

    /// Binds `fd` to 127.0.0.1:`port` (0: any free one) and returns the port bound.
    public static func bind(_ fd: Int32, port: UInt16) -> UInt16? {
        var addr = address(port: port)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        return ok ? UInt16(bigEndian: addr.sin_port) : nil
    }

    /// Connects `fd` to 127.0.0.1:`port`.
    public static func connect(_ fd: Int32, port: UInt16) -> Bool {
        var addr = address(port: port)
        return withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    static func address(port: UInt16) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = port.bigEndian
        return addr
    }
}
