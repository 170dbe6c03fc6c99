import ServiceLaunchers
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A loopback TCP port behind which a peer is dead, in one of the two ways a dead control plane
/// looks from a client: its SYNs are dropped (as by a firewall or a cut link), or its connections
/// are accepted and never answered (a hung process, a black-holing middlebox).
public final class DeadPeerListener: @unchecked Sendable {
    public enum Kind: Sendable {
        /// Listens with a backlog of 0 and never accepts; one connection made here fills the
        /// accept queue, and Linux drops every further SYN (the client's connect just waits).
        case dropsSYNs
        /// Accepts every connection and never sends a byte.
        case silent
    }

    public let port: Int
    private let listener: Int32
    private let lock = NSLock()
    /// The queue filler (`dropsSYNs`) or the accepted connections (`silent`), closed by `stop`.
    private var held: [Int32] = []
    private var acceptedCount = 0

    /// Connections accepted so far (`silent`).
    public var connections: Int { lock.withLock { acceptedCount } }

    public init(_ kind: Kind) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard let bound = Loopback.bind(fd, port: 0), listen(fd, kind == .dropsSYNs ? 0 : 64) == 0 else {
            close(fd)
            throw LoopbackListener.ListenerError("cannot listen on 127.0.0.1: errno \(errno)")
        }
        listener = fd
        port = Int(bound)
        switch kind {
        case .dropsSYNs:
            let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard Loopback.connect(filler, port: bound) else {
                close(filler)
                close(fd)
                throw LoopbackListener.ListenerError("cannot fill the accept queue: errno \(errno)")
            }
            held.append(filler)
        case .silent:
            Thread { [self] in
                while true {
                    let client = accept(fd, nil, nil)
                    if client >= 0 { lock.withLock { held.append(client); acceptedCount += 1 }; continue }
                    if errno == EINTR { continue }
                    return
                }
            }.start()
        }
    }

    /// Closes the port and every connection held.
    public func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for fd in lock.withLock({ held }) { close(fd) }
    }
}
