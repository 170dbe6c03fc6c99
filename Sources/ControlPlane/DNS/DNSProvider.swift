import BalctlProtocol

/// One authoritative DNS service that failover writes the pool's A record through (issue 12).
/// Every provider reads back what it wrote through the same service, and every failure carries
/// the provider's own reply so the event and the CLI can show it verbatim.
public protocol DNSProvider: Sendable {
    /// The A records the provider serves for `name` now (empty when there are none).
    func currentAddresses(name: String) async throws -> [DNSAddress]
    /// Make `ip` the one A record of `name` (any other address is replaced). `proxied` is
    /// Cloudflare's orange cloud; providers without a proxy ignore it. `replacing`: write only if
    /// the name's A records are exactly that one address now, else throw `.preconditionFailed`
    /// (a deposed control plane's late write must not undo a newer decision): RFC 2136 sends it as
    /// an UPDATE prerequisite and WHM as the zone serial (both atomic); Cloudflare has no
    /// conditional write, so it compares just before writing (a window of one request).
    func setA(name: String, ip: IPv4, ttl: UInt32, proxied: Bool, replacing: IPv4?) async throws -> ProviderReply
    /// Prove the provider is reachable and the credentials are accepted without changing any
    /// record (the failover drill).
    func verifyCredentials() async throws -> ProviderReply
}

extension DNSProvider {
    /// Unconditionally.
    public func setA(name: String, ip: IPv4, ttl: UInt32, proxied: Bool) async throws -> ProviderReply {
        try await setA(name: name, ip: ip, ttl: ttl, proxied: proxied, replacing: nil)
    }
}

/// One A record as served: its address and TTL in seconds.
public struct DNSAddress: Sendable, Hashable, CustomStringConvertible {
    public var ip: IPv4
    public var ttl: UInt32
    public init(ip: IPv4, ttl: UInt32) { self.ip = ip; self.ttl = ttl }
    /// RFC 2181 §8: TTLs are 31-bit.
    public static let maxTTL: UInt32 = 0x7fff_ffff
    public var description: String { "\(ip) ttl \(ttl)" }
}

/// What the provider answered to a change, in its own words (stored in the failover event).
public struct ProviderReply: Sendable, Hashable, CustomStringConvertible {
    public var text: String
    public init(_ text: String) { self.text = text }
    public var description: String { text }
}

/// A provider call that did not do what was asked. `reply` is the provider's answer verbatim
/// (nil when nothing came back, e.g. a timeout or a request refused before sending).
public struct DNSProviderError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// Bad input caught before anything was sent (name outside the zone, malformed name).
        case invalidRequest = "invalid request"
        /// No answer in time, or the connection failed.
        case unreachable
        /// The provider refused the credentials (wrong key, bad signature, clock skew, token).
        case authentication
        /// The provider understood and refused the change (policy, not authoritative, …).
        case refused
        /// An answer came back that cannot be trusted or read (unsigned, bad MAC, malformed).
        case badReply = "bad reply"
        /// Any other failure the provider reported.
        case providerError = "provider error"
        /// A conditional write found the record no longer holding what the writer expected.
        case preconditionFailed = "precondition failed"
    }
    public var kind: Kind
    public var message: String
    public var reply: String?

    public init(_ kind: Kind, _ message: String, reply: String? = nil) {
        self.kind = kind; self.message = message; self.reply = reply
    }

    public var description: String {
        reply.map { "\(kind.rawValue): \(message) (provider replied: \($0))" } ?? "\(kind.rawValue): \(message)"
    }
}
