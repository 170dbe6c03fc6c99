/// Strict dotted-quad IPv4 handling shared by the agent (declared/probed IP) and the control plane
/// (allow-lists, trusted proxies).
public struct IPv4: Hashable, Sendable, CustomStringConvertible {
    public let value: UInt32

    public init(value: UInt32) { self.value = value }

    /// "203.0.113.7" only: four decimal octets, no leading zeros, no spaces.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard (1...3).contains(p.count), p.allSatisfy({ $0.isASCII && $0.isNumber }),
                  !(p.count > 1 && p.first == "0"), let octet = UInt32(p), octet <= 255
            else { return nil }
            v = v << 8 | octet
        }
        value = v
    }

    public var description: String {
        "\(value >> 24).\(value >> 16 & 0xff).\(value >> 8 & 0xff).\(value & 0xff)"
    }

    /// Globally routable: not private, loopback, link-local, CGNAT, multicast, reserved or
    /// documentation space. DNS failover must never point a record at anything else.
    public var isPublic: Bool {
        let blocked: [(UInt32, Int)] = [
            (0x0000_0000, 8), (0x0A00_0000, 8), (0x6440_0000, 10), (0x7F00_0000, 8),
            (0xA9FE_0000, 16), (0xAC10_0000, 12), (0xC000_0000, 24), (0xC000_0200, 24),
            (0xC0A8_0000, 16), (0xC612_0000, 15), (0xC633_6400, 24), (0xCB00_7100, 24),
            (0xE000_0000, 4), (0xF000_0000, 4),
        ]
        return !blocked.contains { CIDR(base: IPv4(value: $0.0), prefix: $0.1).contains(self) }
    }
}

/// An IPv4 network such as 10.0.0.0/8; a bare address is a /32.
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    public let base: IPv4
    public let prefix: Int

    public init(base: IPv4, prefix: Int) {
        self.prefix = prefix
        self.base = IPv4(value: base.value & CIDR.mask(prefix))
    }

    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let ip = IPv4(parts[0]) else { return nil }
        var prefix = 32
        if parts.count == 2 {
            guard (1...2).contains(parts[1].count), parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
                  let p = Int(parts[1]), (0...32).contains(p) else { return nil }
            prefix = p
        }
        self.init(base: ip, prefix: prefix)
    }

    static func mask(_ prefix: Int) -> UInt32 { prefix == 0 ? 0 : UInt32.max << (32 - prefix) }

    public func contains(_ ip: IPv4) -> Bool { ip.value & Self.mask(prefix) == base.value }

    public var description: String { "\(base)/\(prefix)" }
}
