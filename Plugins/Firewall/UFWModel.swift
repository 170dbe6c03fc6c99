import AgentKernel
import BalctlProtocol

/// A port or an inclusive port range. Decodes from a JSON number (`22`) or a string holding
/// digits only (`"22"`, `"8000:8010"`, `"8000-8010"`); anything else is refused while decoding.
public struct PortSpec: Codable, Equatable, Hashable, Sendable, CustomStringConvertible {
    public var low: Int
    public var high: Int

    public init(_ low: Int, _ high: Int? = nil) { self.low = low; self.high = high ?? low }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Int.self) {
            self.init(n)
        } else if let s = try? c.decode(String.self) {
            guard let parsed = Self.parse(s) else {
                throw ParameterError("port: must be a port (1–65535) or a range low:high, digits only")
            }
            self = parsed
        } else {
            throw ParameterError("port: must be a number or a string low:high")
        }
        guard (1...65535).contains(low), (1...65535).contains(high) else {
            throw ParameterError("port: must be between 1 and 65535")
        }
        guard low <= high else { throw ParameterError("port: the range's low end is above its high end") }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        if low == high { try c.encode(low) } else { try c.encode(ufwText) }
    }

    /// Digits, optionally `:` or `-` and digits; at most 5 digits each.
    static func parse(_ s: String) -> PortSpec? {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false).count == 2
            ? s.split(separator: ":", omittingEmptySubsequences: false)
            : s.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count) else { return nil }
        var values: [Int] = []
        for p in parts {
            guard (1...5).contains(p.utf8.count), p.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let v = Int(p) else { return nil }
            values.append(v)
        }
        return PortSpec(values[0], values.count == 2 ? values[1] : nil)
    }

    /// How ufw writes it (and takes it): `22` or `8000:8010`.
    public var ufwText: String { low == high ? "\(low)" : "\(low):\(high)" }
    public var isRange: Bool { low != high }
    public func covers(_ port: Int) -> Bool { (low...high).contains(port) }
    public var description: String { ufwText }
}

public enum FirewallProtocol: String, Codable, Sendable { case tcp, udp, any
    func covers(_ p: FirewallProtocol) -> Bool { self == .any || self == p }
}

public enum FirewallDirection: String, Codable, Sendable { case `in`, out }

public enum FirewallAction: String, Codable, Sendable { case allow, deny, reject, limit }

/// An IPv4 or IPv6 address or CIDR, normalised the way ufw stores it (host bits cleared, a
/// single host without its /32 or /128).
public struct FirewallAddress: Equatable, Hashable, Sendable, CustomStringConvertible {
    public enum Family: Sendable { case v4, v6 }
    public let text: String
    public let family: Family
    let v4: CIDR?

    public static let anyV4 = FirewallAddress(trusted: "0.0.0.0/0")
    public static let anyV6 = FirewallAddress(trusted: "::/0")

    private init(trusted: String) {
        text = trusted
        if let c = CIDR(trusted) { family = .v4; v4 = c } else { family = .v6; v4 = nil }
    }

    /// nil unless `s` is a well-formed IPv4 or IPv6 address or CIDR (ASCII, bounded).
    public init?(_ s: String) {
        guard (2...49).contains(s.utf8.count), s.utf8.allSatisfy({ $0 < 128 }) else { return nil }
        if let c = CIDR(s) {
            family = .v4; v4 = c
            text = c.prefix == 32 ? "\(c.base)" : c.description
            return
        }
        guard let v6 = Self.normalisedV6(s) else { return nil }
        family = .v6; v4 = nil; text = v6
    }

    /// A strict IPv6 check: hex groups of 1–4 digits, at most one `::`, 8 groups in all (or
    /// fewer with `::`), optional /0–128. Kept as written (lower-cased): ufw compares text.
    static func normalisedV6(_ s: String) -> String? {
        let lower = s.lowercased()
        let halves = lower.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(halves.count) else { return nil }
        if halves.count == 2 {
            guard (1...3).contains(halves[1].count), halves[1].allSatisfy({ $0.isASCII && $0.isNumber }),
                  let p = Int(halves[1]), (0...128).contains(p) else { return nil }
        }
        let addr = halves[0]
        guard addr.allSatisfy({ $0.isHexDigit || $0 == ":" }), addr.contains(":") else { return nil }
        let doubles = addr.components(separatedBy: "::")
        guard doubles.count <= 2 else { return nil }
        func groups(_ t: String) -> [Substring]? {
            if t.isEmpty { return [] }
            let g = t.split(separator: ":", omittingEmptySubsequences: false)
            return g.allSatisfy({ (1...4).contains($0.count) }) ? g : nil
        }
        if doubles.count == 2 {
            guard let a = groups(doubles[0]), let b = groups(doubles[1]), a.count + b.count <= 7 else { return nil }
        } else {
            guard let g = groups(addr.description), g.count == 8 else { return nil }
        }
        if halves.count == 2, halves[1] == "128" { return String(addr) }
        return lower
    }

    public var isAnywhere: Bool { text == "0.0.0.0/0" || text == "::/0" }

    /// Whether this address range certainly contains `ip` (IPv4 only; IPv6 ranges other than
    /// ::/0 are never assumed to).
    func contains(_ ip: IPv4) -> Bool { v4?.contains(ip) ?? false }

    public var description: String { text }
}

extension String {
    /// `components(separatedBy:)` without Foundation.
    func components(separatedBy sep: String) -> [String] {
        var out: [String] = []
        var rest = Substring(self)
        while let r = rest.range(of: sep) {
            out.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        out.append(String(rest))
        return out
    }
}

extension Substring {
    func range(of needle: String) -> Range<Substring.Index>? {
        let n = Array(needle)
        guard !n.isEmpty else { return nil }
        var i = startIndex
        while i < endIndex {
            var j = i, k = 0
            while k < n.count, j < endIndex, self[j] == n[k] { j = index(after: j); k += 1 }
            if k == n.count { return i..<j }
            i = index(after: i)
        }
        return nil
    }
}

/// One rule as ufw stores it: a `### tuple ###` line of user.rules / user6.rules.
public struct UFWRule: Equatable, Sendable {
    public var action: FirewallAction
    public var proto: FirewallProtocol
    /// nil: any port.
    public var port: PortSpec?
    public var destination: String
    public var sourcePort: String
    public var source: String
    public var direction: FirewallDirection
    /// `in_eth0`: the interface, when the rule names one.
    public var interface: String?
    /// Application profiles (`OpenSSH`); "-" when none.
    public var destinationApp: String?
    public var sourceApp: String?
    public var comment: String?
    public var ipv6: Bool
    /// The tuple line as written.
    public var raw: String
    /// Route (forward) rules are listed but never matched by the commands here.
    public var route: Bool
    /// `80,443` / `8000:8010,22`: the ports of a multiport rule (`port` is nil for these, which
    /// elsewhere means "any port"). Red team: the lock-out guard read a multiport allow such as
    /// `ufw allow 80,443/tcp` as covering every port, so it let the SSH allow be deleted.
    public var multiport: [PortSpec]? = nil

    /// Whether this rule's destination port matches `p` (any port, a port/range, or a list).
    func coversPort(_ p: Int) -> Bool {
        if let multiport { return multiport.contains { $0.covers(p) } }
        return port?.covers(p) ?? true
    }

    /// `### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=6869`
    static func parse(tupleLine line: Substring, ipv6: Bool) -> UFWRule? {
        let prefix = "### tuple ### "
        guard line.hasPrefix(prefix) else { return nil }
        var fields = line.dropFirst(prefix.count).split(separator: " ").map(String.init)
        var comment: String?
        if let last = fields.last, last.hasPrefix("comment=") {
            comment = hexDecoded(String(last.dropFirst(8)))
            fields.removeLast()
        }
        guard fields.count == 7 || fields.count == 9 else { return nil }
        var actionText = fields[0]
        var route = false
        if actionText.hasPrefix("route:") { route = true; actionText = String(actionText.dropFirst(6)) }
        // "allow_log", "deny_log-all": the log suffix does not change what matches.
        if let u = actionText.firstIndex(of: "_") { actionText = String(actionText[..<u]) }
        guard let action = FirewallAction(rawValue: actionText),
              let proto = FirewallProtocol(rawValue: fields[1]) else { return nil }
        let port: PortSpec? = fields[2] == "any" ? nil : PortSpec.parse(fields[2])
        if fields[2] != "any" && port == nil && !fields[2].contains(",") { return nil }
        let dirField = fields[fields.count - 1]
        let dirParts = dirField.split(separator: "_", maxSplits: 1)
        guard let first = dirParts.first, let direction = FirewallDirection(rawValue: String(first)) else { return nil }
        return UFWRule(
            action: action, proto: proto, port: port, destination: fields[3], sourcePort: fields[4],
            source: fields[5], direction: direction,
            interface: dirParts.count == 2 ? String(dirParts[1]) : nil,
            destinationApp: fields.count == 9 ? fields[6] : nil, sourceApp: fields.count == 9 ? fields[7] : nil,
            comment: comment, ipv6: ipv6, raw: String(line), route: route,
            multiport: fields[2].contains(",") ? fields[2].split(separator: ",").compactMap { PortSpec.parse(String($0)) } : nil)
    }

    static func hexDecoded(_ hex: String) -> String? {
        let bytes = Array(hex.utf8)
        guard bytes.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            guard let h = nibble(bytes[i]), let l = nibble(bytes[i + 1]) else { return nil }
            out.append(h << 4 | l); i += 2
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A plain port rule of the kind the commands here add (no apps, no source port, no
    /// interface, not a route rule).
    var isSimple: Bool {
        !route && interface == nil && sourcePort == "any" && (destinationApp ?? "-") == "-" && (sourceApp ?? "-") == "-"
    }

    /// The remote end: the source of an inbound rule, the destination of an outbound one.
    var remote: String { direction == .in ? source : destination }

    var json: JSONValue {
        var o: [String: JSONValue] = [
            "action": .string(action.rawValue), "protocol": .string(proto.rawValue),
            "port": port.map { .string($0.ufwText) } ?? .string("any"),
            "direction": .string(direction.rawValue), "source": .string(source),
            "destination": .string(destination), "ipv6": .bool(ipv6), "raw": .string(raw),
        ]
        if sourcePort != "any" { o["sourcePort"] = .string(sourcePort) }
        if let interface { o["interface"] = .string(interface) }
        if let a = destinationApp, a != "-" { o["destinationApp"] = .string(a) }
        if let a = sourceApp, a != "-" { o["sourceApp"] = .string(a) }
        if route { o["route"] = .bool(true) }
        o["comment"] = comment.map(JSONValue.string) ?? .null
        return .object(o)
    }
}

/// ufw's state as its files hold it.
public struct UFWState: Sendable {
    /// ENABLED=yes in ufw.conf (what `ufw enable` / `ufw disable` set) or, without it there, in
    /// /etc/default/ufw.
    public var enabled: Bool
    /// LOGLEVEL (off, low, medium, high, full), nil when neither file sets it.
    public var logLevel: String?
    public var ipv6: Bool
    /// allow | deny | reject, from /etc/default/ufw.
    public var defaultIncoming: String
    public var defaultOutgoing: String
    public var defaultRouted: String
    /// user.rules then user6.rules: the order `ufw status numbered` numbers them.
    public var rules: [UFWRule]

    static func parseRules(_ text: String, ipv6: Bool) -> [UFWRule] {
        text.split(separator: "\n").compactMap { UFWRule.parse(tupleLine: $0, ipv6: ipv6) }
    }

    /// KEY=VALUE lines (shell syntax, quotes removed).
    static func keyValues(_ text: String) -> [String: String] { EnvFile.parse(text) }

    static func policy(_ value: String?) -> String {
        switch value?.uppercased() {
        case "ACCEPT": return "allow"
        case "REJECT": return "reject"
        case "DROP": return "deny"
        default: return "unknown"
        }
    }

    init(conf: String?, defaults: String?, userRules: String?, user6Rules: String?) {
        // ufw (backend.py `_get_defaults`) and ufw-init read /etc/default/ufw and then ufw.conf
        // into one table, the later file winning: ENABLED in the defaults file counts, and a
        // policy in ufw.conf overrides the defaults file's.
        let d = (defaults.map(Self.keyValues) ?? [:]).merging(conf.map(Self.keyValues) ?? [:]) { _, fromConf in fromConf }
        enabled = d["ENABLED"]?.lowercased() == "yes"
        ipv6 = d["IPV6"]?.lowercased() == "yes"
        logLevel = d["LOGLEVEL"]?.lowercased()
        defaultIncoming = Self.policy(d["DEFAULT_INPUT_POLICY"])
        defaultOutgoing = Self.policy(d["DEFAULT_OUTPUT_POLICY"])
        defaultRouted = Self.policy(d["DEFAULT_FORWARD_POLICY"])
        rules = (userRules.map { Self.parseRules($0, ipv6: false) } ?? [])
            + (user6Rules.map { Self.parseRules($0, ipv6: true) } ?? [])
    }

    /// Read from the files (root: user.rules is 0640).
    static func read(_ settings: FirewallSettings) throws -> UFWState {
        func text(_ path: String, required: Bool) throws -> String? {
            do { return String(decoding: try Files.readBytes(path, limit: 4 << 20), as: UTF8.self) } catch {
                if required { throw JobFailure("cannot read \(path): \(error)") }
                return nil
            }
        }
        return UFWState(conf: try text(settings.ufwDir + "/ufw.conf", required: true),
                        defaults: try text(settings.defaultsFile, required: true),
                        userRules: try text(settings.ufwDir + "/user.rules", required: true),
                        user6Rules: try text(settings.ufwDir + "/user6.rules", required: false))
    }
}
