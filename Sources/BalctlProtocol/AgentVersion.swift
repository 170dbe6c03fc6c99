import CBuildStamp

/// Dotted numeric versions ("1.4.10"), compared numerically part by part: the self-update
/// version guard and the "outdated agent" flag both rely on this order.
public struct AgentVersion: Comparable, Sendable, CustomStringConvertible, Hashable {
    public let parts: [Int]

    public init?(_ text: String) {
        let pieces = text.split(separator: ".", omittingEmptySubsequences: false)
        guard !pieces.isEmpty, pieces.count <= 4 else { return nil }
        var parts: [Int] = []
        for p in pieces {
            guard !p.isEmpty, p.count <= 9, p.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let n = Int(p) else { return nil }
            parts.append(n)
        }
        self.parts = parts
    }

    public static func < (a: AgentVersion, b: AgentVersion) -> Bool {
        for i in 0..<max(a.parts.count, b.parts.count) {
            let x = i < a.parts.count ? a.parts[i] : 0
            let y = i < b.parts.count ? b.parts[i] : 0
            if x != y { return x < y }
        }
        return false
    }

    public static func == (a: AgentVersion, b: AgentVersion) -> Bool { !(a < b) && !(b < a) }

    public func hash(into h: inout Hasher) {
        var trimmed = parts
        while trimmed.last == 0 { trimmed.removeLast() }
        h.combine(trimmed)
    }

    public var description: String { parts.map(String.init).joined(separator: ".") }
}

/// The version this build of the agent and control plane carries: the stamp in `CBuildStamp`,
/// which `balctl-server bundle --version` rewrites in a built agent binary.
public enum BalctlVersion {
    public static let current: String = String(cString: balctl_version_stamp())
}
