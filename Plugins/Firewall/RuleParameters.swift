import AgentKernel
import BalctlProtocol

/// The typed rule `firewall.allow`, `firewall.deny` and `firewall.delete` take. Every field is
/// checked before anything runs; ufw gets each value as its own argv element in a fixed
/// grammar (`from X to Y port P proto T comment C`), never a string it splits.
public struct RuleParameters: CommandParameters {
    public var port: PortSpec
    /// tcp | udp | any (default any; a range needs tcp or udp, as ufw does).
    public var proto: FirewallProtocol?
    /// in (default) | out.
    public var direction: FirewallDirection?
    /// Inbound rules: where traffic comes from (IPv4/IPv6 address or CIDR; default anywhere).
    public var source: String?
    /// Outbound rules: where traffic goes (address or CIDR; default anywhere).
    public var destination: String?
    /// Shown by `ufw status` (≤ 64 bytes: letters, digits, space and `_ . , : / @ + = -`).
    public var comment: String?
    /// Skip the lock-out guard (deny only).
    public var force: Bool?

    enum CodingKeys: String, CodingKey {
        case port, proto = "protocol", direction, source, destination, comment, force
    }

    public func validate() throws {
        if port.isRange && (proto ?? .any) == .any {
            throw ParameterError("protocol: a port range needs protocol tcp or udp")
        }
        let dir = direction ?? .in
        if let source {
            guard dir == .in else { throw ParameterError("source: only for direction in (use destination for out)") }
            guard FirewallAddress(source) != nil else {
                throw ParameterError("source: must be an IPv4 or IPv6 address or CIDR")
            }
        }
        if let destination {
            guard dir == .out else { throw ParameterError("destination: only for direction out (use source for in)") }
            guard FirewallAddress(destination) != nil else {
                throw ParameterError("destination: must be an IPv4 or IPv6 address or CIDR")
            }
        }
        if let comment { try Self.validateComment(comment) }
    }

    static func validateComment(_ c: String) throws {
        guard (1...64).contains(c.utf8.count) else { throw ParameterError("comment: 1 to 64 bytes") }
        let allowed: Set<UInt8> = Set(Array("_.,:/@+=- ".utf8))
        guard c.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || allowed.contains($0) }) else {
            throw ParameterError("comment: only letters, digits, space and _ . , : / @ + = - are allowed")
        }
        guard c.first != "-", c.first != " ", c.last != " ", !c.contains("--") else {
            throw ParameterError("comment: must not start with '-' or a space, end with a space or hold '--'")
        }
    }

    func spec(_ action: FirewallAction) -> RuleSpec {
        let dir = direction ?? .in
        let remote = (dir == .in ? source : destination).flatMap(FirewallAddress.init)
        return RuleSpec(action: action, port: port, proto: proto ?? .any, direction: dir, remote: remote,
                        comment: comment)
    }
}

/// A rule as the commands here mean it.
struct RuleSpec: Sendable {
    var action: FirewallAction
    var port: PortSpec
    var proto: FirewallProtocol
    var direction: FirewallDirection
    /// nil: anywhere (ufw then adds an IPv4 and, with IPV6=yes, an IPv6 rule).
    var remote: FirewallAddress?
    var comment: String?

    /// `allow in from any to any port 22 proto tcp comment ssh` (after `ufw`).
    func ufwArguments(delete: Bool = false) -> [String] {
        let remoteText = remote?.text ?? "any"
        var a: [String] = delete ? ["delete"] : []
        a += [action.rawValue, direction.rawValue]
        switch direction {
        case .in: a += ["from", remoteText, "to", "any"]
        case .out: a += ["from", "any", "to", remoteText]
        }
        a += ["port", port.ufwText]
        if proto != .any { a += ["proto", proto.rawValue] }
        if !delete, let comment { a += ["comment", comment] }
        return a
    }

    /// Whether `r` is this rule (action and comment aside): the same simple port rule.
    func sameMatch(_ r: UFWRule) -> Bool {
        guard r.isSimple, r.direction == direction, r.proto == proto, r.port == port else { return false }
        let v6 = remote?.family == .v6
        guard r.ipv6 == v6 else { return false }
        let any = v6 ? FirewallAddress.anyV6.text : FirewallAddress.anyV4.text
        let want = remote?.text ?? any
        switch direction {
        case .in: return r.source == want && r.destination == any
        case .out: return r.destination == want && r.source == any
        }
    }

    var summary: String {
        let who = remote.map { (direction == .in ? "from " : "to ") + $0.text } ?? (direction == .in ? "from anywhere" : "to anywhere")
        return "\(action.rawValue) \(direction.rawValue) \(port.ufwText)/\(proto.rawValue) \(who)"
    }

    /// The rule list after ufw adds this rule: an existing rule with the same match is updated
    /// in place, else the new one goes last (IPv4 and IPv6 lists apart).
    func applied(to rules: [UFWRule]) -> [UFWRule] {
        var out = rules
        let new = asRule()
        if let i = out.firstIndex(where: sameMatch) { out[i] = new; return out }
        if let lastSame = out.lastIndex(where: { $0.ipv6 == new.ipv6 }) { out.insert(new, at: lastSame + 1) }
        else if new.ipv6 { out.append(new) } else { out.insert(new, at: out.firstIndex(where: \.ipv6) ?? out.count) }
        return out
    }

    func removed(from rules: [UFWRule], actions: Set<FirewallAction>) -> [UFWRule] {
        rules.filter { !(sameMatch($0) && actions.contains($0.action)) }
    }

    func asRule() -> UFWRule {
        let v6 = remote?.family == .v6
        let any = v6 ? FirewallAddress.anyV6.text : FirewallAddress.anyV4.text
        let r = remote?.text ?? any
        return UFWRule(action: action, proto: proto, port: port,
                       destination: direction == .out ? r : any, sourcePort: "any",
                       source: direction == .in ? r : any, direction: direction, interface: nil,
                       destinationApp: nil, sourceApp: nil, comment: comment, ipv6: v6, raw: "", route: false)
    }
}
