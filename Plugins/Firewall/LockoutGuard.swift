import AgentKernel
import BalctlProtocol

/// Refuses a change that would cut the host off: after it, inbound SSH (every port `sshd -T`
/// names, 22 when it cannot say) and outbound HTTPS to the control plane must still be allowed.
/// It reads ufw's rules as ufw applies them — first match wins, IPv4 list — without knowing the
/// operator's own address, so:
/// - SSH is reachable when the first inbound rule covering the port (tcp or any) that is not a
///   deny from a particular source is an allow/limit (from anywhere or from some source), or
///   when no rule covers it and the default incoming policy is allow;
/// - egress is allowed when the first outbound rule covering the control plane's port that
///   certainly matches its address is an allow (a deny to a range that might hold it counts
///   as matching when the address is a name), or when none does and the default outgoing
///   policy is allow.
struct LockoutGuard: Sendable {
    var sshPorts: [Int]
    var controlPlanePort: Int
    var controlPlaneIP: IPv4?
    var controlPlaneHost: String?

    static func sshReachable(_ rules: [UFWRule], defaultIncoming: String, port: Int) -> Bool {
        // Red team: denies "from a particular source" are skipped, but `deny from 0.0.0.0/1`
        // then `deny from 128.0.0.0/1` (two calls the guard passed one by one) deny everyone.
        // The address ranges such denies cover, before the first allow, are added up: when
        // they cover all of IPv4 it is a deny from anywhere.
        var denied: [(low: UInt64, high: UInt64)] = []
        for r in rules where !r.ipv6 && !r.route && r.direction == .in && r.proto.covers(.tcp)
            && r.coversPort(port) {
            switch r.action {
            case .allow, .limit:
                if r.interface == nil { return true }
            case .deny, .reject:
                if r.source == FirewallAddress.anyV4.text { return false }
                if r.interface == nil, let c = FirewallAddress(r.source)?.v4 {
                    let size = UInt64(1) << UInt64(32 - c.prefix)
                    denied.append((UInt64(c.base.value), UInt64(c.base.value) + size - 1))
                    if coversAllIPv4(denied) { return false }
                }
            }
        }
        return defaultIncoming == "allow"
    }

    /// Whether the union of the inclusive ranges is 0…2^32-1.
    static func coversAllIPv4(_ ranges: [(low: UInt64, high: UInt64)]) -> Bool {
        var next: UInt64 = 0
        for r in ranges.sorted(by: { $0.low < $1.low }) {
            if r.low > next { return false }
            next = max(next, r.high + 1)
        }
        return next > UInt64(UInt32.max)
    }

    static func egressAllowed(_ rules: [UFWRule], defaultOutgoing: String, port: Int, ip: IPv4?) -> Bool {
        for r in rules where !r.ipv6 && !r.route && r.direction == .out && r.proto.covers(.tcp)
            && r.coversPort(port) {
            let anywhere = r.destination == FirewallAddress.anyV4.text
            let certain = anywhere || (ip.map { FirewallAddress(r.destination)?.contains($0) ?? false } ?? false)
            switch r.action {
            case .allow, .limit:
                if certain && r.interface == nil { return true }
            case .deny, .reject:
                if certain || ip == nil { return false }
            }
        }
        return defaultOutgoing == "allow"
    }

    /// What is wrong with `rules` under these policies; empty when nothing is.
    func problems(_ rules: [UFWRule], defaultIncoming: String, defaultOutgoing: String) -> [String] {
        var out: [String] = []
        for p in sshPorts where !Self.sshReachable(rules, defaultIncoming: defaultIncoming, port: p) {
            out.append("SSH (port \(p)/tcp) would not be allowed in")
        }
        if !Self.egressAllowed(rules, defaultOutgoing: defaultOutgoing, port: controlPlanePort, ip: controlPlaneIP) {
            out.append("the control plane (\(controlPlaneHost ?? "unknown host"), port \(controlPlanePort)/tcp) would not be allowed out")
        }
        return out
    }

    /// Throws the refusal unless `force`.
    func check(_ rules: [UFWRule], defaultIncoming: String, defaultOutgoing: String, force: Bool,
               what: String, context: JobContext) throws {
        let found = problems(rules, defaultIncoming: defaultIncoming, defaultOutgoing: defaultOutgoing)
        guard !found.isEmpty else { return }
        if force {
            context.log("lock-out guard overridden (force: true): " + found.joined(separator: "; "))
            return
        }
        throw JobFailure("refusing to \(what): " + found.joined(separator: "; ")
                         + " (allow it first, or pass force: true)")
    }

    /// The ports sshd listens on (`sshd -T`), the control plane's address and port.
    static func make(_ settings: FirewallSettings, context: JobContext) async -> LockoutGuard {
        var ports: [Int] = []
        if let sshd = FirewallSettings.resolve(settings.sshd),
           let r = try? await context.processes.run(sshd, ["-T"], timeoutSec: 10), r.succeeded {
            for line in r.output.split(separator: "\n") {
                let f = line.split(separator: " ")
                if f.count == 2, f[0] == "port", let p = Int(f[1]), (1...65535).contains(p), !ports.contains(p) {
                    ports.append(p)
                }
            }
        }
        if ports.isEmpty { ports = [22] }
        let (host, port) = parseOrigin(settings.controlPlaneOrigin(configured: context.controlPlaneBase))
        var ip: IPv4? = nil
        if let host { ip = IPv4(host) }
        return LockoutGuard(sshPorts: ports, controlPlanePort: port, controlPlaneIP: ip,
                            controlPlaneHost: host)
    }

    /// `https://host[:port][/…]` → host and port (443 when absent or unreadable).
    static func parseOrigin(_ origin: String?) -> (String?, Int) {
        guard let origin else { return (nil, 443) }
        var rest = Substring(origin)
        if let r = rest.range(of: "://") { rest = rest[r.upperBound...] }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return (nil, 443) }
            let host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":"), let p = Int(after.dropFirst()), (1...65535).contains(p) { return (host, p) }
            return (host, 443)
        }
        let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 2, let p = Int(parts[1]), (1...65535).contains(p) { return (String(parts[0]), p) }
        return (rest.isEmpty ? nil : String(rest), 443)
    }
}
