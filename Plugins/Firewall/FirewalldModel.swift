import AgentKernel
import BalctlProtocol

/// A rich rule of a firewalld zone or policy, read from its XML (`<rule>` element). `text` is
/// the rule in firewalld's rich-rule language, rendered from the XML the way firewall-cmd
/// lists it, so `--remove-rich-rule=<text>` removes exactly this rule. The structured fields
/// are those the commands here write (family, one source or destination address, one port,
/// accept/drop/reject); `isSimple` says the rule holds nothing else.
struct FirewalldRichRule: Equatable, Sendable {
    enum Verdict: String, Sendable { case accept, drop, reject, other }
    var family: String?
    var priority: Int
    var source: String?
    var sourceInvert = false
    /// An ipset or MAC source: matches some hosts, which the guard cannot place.
    var sourceOther = false
    var destination: String?
    var destinationInvert = false
    var port: PortSpec?
    var proto: FirewallProtocol?
    var service: String?
    var verdict: Verdict
    /// Log, audit, limit, icmp, forward-port, masquerade, protocol, source-port, …
    var hasOther = false
    var text: String

    /// Rendered by the commands here (every value already validated: digits, addresses).
    init(family: String?, source: String?, port: PortSpec, proto: FirewallProtocol, verdict: Verdict) {
        self.family = family; self.priority = 0; self.source = source; self.port = port
        self.proto = proto; self.verdict = verdict
        var t = "rule"
        if let family { t += " family=\"\(family)\"" }
        if let source { t += " source address=\"\(source)\"" }
        t += " port port=\"\(port.firewalldText)\" protocol=\"\(proto.rawValue)\" \(verdict.rawValue)"
        self.text = t
    }

    init(xml: XMLElement) {
        family = xml["family"]
        priority = xml["priority"].flatMap(Self.pythonInt) ?? 0
        verdict = .other
        var parts = ["rule"]
        for (k, v) in xml.attributes { parts.append("\(k)=\"\(v)\"") }
        for child in xml.children {
            parts.append(Self.render(child))
            let inverted = ["true", "yes"].contains(child["invert"]?.lowercased() ?? "")
            switch child.name {
            case "source":
                if let a = child["address"] { source = Self.address(a); sourceInvert = inverted }
                else { sourceOther = true }
            case "destination":
                if let a = child["address"] { destination = Self.address(a); destinationInvert = inverted }
                else { hasOther = true }
            case "port":
                port = child["port"].flatMap(PortSpec.parse)
                proto = child["protocol"].flatMap(FirewallProtocol.init(rawValue:))
                if port == nil || proto == nil { hasOther = true }
            case "service": service = child["name"]
            case "accept": verdict = .accept; if !child.children.isEmpty { hasOther = true }
            case "drop": verdict = .drop; if !child.children.isEmpty { hasOther = true }
            case "reject": verdict = .reject; if !child.children.isEmpty { hasOther = true }
            default: hasOther = true
            }
        }
        text = parts.joined(separator: " ")
    }

    /// An integer as firewalld reads it (Python's `int()`): surrounding whitespace and `_`
    /// between digits allowed. Red team: `priority=" -10"` is -10 to firewalld, and the guard
    /// read it as 0 — a drop it placed after a priority -5 accept came first in fact.
    static func pythonInt(_ s: String) -> Int? {
        let t = s.trimmingWhitespace
        guard !t.hasPrefix("_"), !t.hasSuffix("_"), !t.contains("__") else { return nil }
        let digits = t.replacing("_", with: "")
        guard !digits.contains(" ") else { return nil }
        return Int(digits)
    }

    /// An address as firewalld's checkIPnMask accepts it, in the guard's form: `a.b.c.d/n`
    /// also as `a.b.c.d/m.m.m.m` (a netmask) or with the prefix written `int()`'s way (` 0`).
    /// Red team: `source address="0.0.0.0/0.0.0.0"` is everyone to firewalld; the guard could
    /// not parse it and skipped the rule. What still does not parse stays as written (the
    /// guard then reads the rule conservatively, see guardRules).
    static func address(_ a: String) -> String {
        if let f = FirewallAddress(a) { return f.text }
        let halves = a.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard halves.count == 2, let ip = IPv4(String(halves[0])) else { return a }
        let mask = String(halves[1])
        var prefix: Int? = nil
        if mask.contains("."), let m = IPv4(mask) {
            let v = m.value
            let ones = v.nonzeroBitCount
            // Contiguous masks only: a prefix of `ones` one-bits.
            if ones == 0 || v == UInt32.max << UInt32(32 - ones) { prefix = ones }
        } else if let n = pythonInt(mask), (0...32).contains(n) {
            prefix = n
        }
        guard let prefix else { return a }
        return FirewallAddress("\(ip)/\(prefix)")?.text ?? a
    }

    /// `source NOT address="…"`, `log prefix="x" level="info" limit value="1/m"`.
    static func render(_ e: XMLElement) -> String {
        var parts = [e.name]
        if ["true", "yes"].contains(e["invert"]?.lowercased() ?? "") { parts.append("NOT") }
        for (k, v) in e.attributes where k != "invert" { parts.append("\(k)=\"\(v)\"") }
        for c in e.children { parts.append(render(c)) }
        return parts.joined(separator: " ")
    }

    /// The same family, source, port, protocol and verdict (what the commands here set).
    func sameRule(_ o: FirewalldRichRule) -> Bool {
        family == o.family && source == o.source && port == o.port && proto == o.proto && verdict == o.verdict
    }

    /// The kind of rule the commands here write.
    var isSimple: Bool {
        priority == 0 && !sourceInvert && !sourceOther && destination == nil && service == nil && !hasOther
            && port != nil && proto != nil && verdict != .other
    }

    var action: FirewallAction? {
        switch verdict {
        case .accept: return .allow
        case .drop: return .deny
        case .reject: return .reject
        case .other: return nil
        }
    }
}

extension PortSpec {
    /// How firewalld writes it: `22` or `8000-8010`.
    var firewalldText: String { low == high ? "\(low)" : "\(low)-\(high)" }
}

/// One entry of a zone as the commands here manage it: a port (`--add-port=22/tcp`) or a rich
/// rule (`--add-rich-rule=…`).
enum FirewalldEntry: Equatable, Sendable {
    case port(PortSpec, FirewallProtocol)
    case rich(FirewalldRichRule)

    /// The same port, or a rich rule of the same structure (text aside).
    func same(_ o: FirewalldEntry) -> Bool {
        switch (self, o) {
        case (.port(let a, let pa), .port(let b, let pb)): return a == b && pa == pb
        case (.rich(let a), .rich(let b)): return a.sameRule(b)
        default: return false
        }
    }

    var text: String {
        switch self {
        case .port(let p, let proto): return "\(p.firewalldText)/\(proto.rawValue)"
        case .rich(let r): return r.text
        }
    }

    func arguments(remove: Bool) -> [String] {
        switch self {
        case .port: return [(remove ? "--remove-port=" : "--add-port=") + text]
        case .rich(let r): return [(remove ? "--remove-rich-rule=" : "--add-rich-rule=") + r.text]
        }
    }
}

/// A zone's permanent configuration (its XML file).
struct FirewalldZone: Sendable {
    var name: String
    /// default | ACCEPT | DROP | %%REJECT%% (firewalld's names).
    var target: String
    var services: [String]
    var ports: [(port: PortSpec, proto: String)]
    var rich: [FirewalldRichRule]
    /// Where it was read from (/etc or the package's defaults).
    var path: String

    init(name: String, xml: XMLElement, path: String) throws {
        guard xml.name == "zone" else { throw JobFailure("\(path): not a zone file (<\(xml.name)>)") }
        self.name = name; self.path = path
        target = xml["target"] ?? "default"
        services = xml.all("service").compactMap { $0["name"] }
        ports = xml.all("port").compactMap { e in
            guard let p = e["port"].flatMap(PortSpec.parse), let proto = e["protocol"] else { return nil }
            return (p, proto)
        }
        rich = xml.all("rule").map(FirewalldRichRule.init(xml:))
    }

    func has(_ e: FirewalldEntry) -> Bool {
        switch e {
        case .port(let p, let proto): return ports.contains { $0.port == p && $0.proto == proto.rawValue }
        // By structure, not text: a hand-written file may order the elements otherwise.
        case .rich(let r): return rich.contains { $0.isSimple && $0.sameRule(r) }
        }
    }

    mutating func apply(add: [FirewalldEntry], remove: [FirewalldEntry]) {
        for e in remove {
            switch e {
            case .port(let p, let proto): ports.removeAll { $0.port == p && $0.proto == proto.rawValue }
            case .rich(let r): rich.removeAll { $0.text == r.text || ($0.isSimple && $0.sameRule(r)) }
            }
        }
        for e in add where !has(e) {
            switch e {
            case .port(let p, let proto): ports.append((p, proto.rawValue))
            case .rich(let r): rich.append(r)
            }
        }
    }

    /// The incoming default as the guard and the status name it (ufw's words).
    var defaultIncoming: String {
        switch target.uppercased() {
        case "ACCEPT": return "allow"
        case "DROP": return "deny"
        default: return "reject"  // "default" and %%REJECT%% reject what no rule accepts
        }
    }

    var ruleCount: Int { services.count + ports.count + rich.count }
}

/// What the commands and the guard need of firewalld's permanent configuration: the default
/// zone (ports, services, rich rules, target), the ports of the services it names and the
/// policies that filter the host's own outgoing traffic (ingress zone HOST).
struct FirewalldState: Sendable {
    var zone: FirewalldZone
    /// Service name → its ports (from services/<name>.xml in /etc, else the package's).
    var servicePorts: [String: [(port: PortSpec, proto: String)]]
    /// Outbound rules from HOST-ingress policies, and their default ("allow" when none decides).
    var outRules: [UFWRule]
    var defaultOutgoing: String

    static let maxFileBytes = 1 << 20

    static func read(_ s: FirewallSettings, overlay: [String: String] = [:]) throws -> FirewalldState {
        // `overlay`: a backup's files by relative path, read instead of /etc (restore's guard).
        func etcText(_ rel: String) -> String? {
            if !overlay.isEmpty { return overlay[rel] }
            return (try? Files.readBytes(s.firewalldDir + "/" + rel, limit: maxFileBytes, noFollow: true))
                .map { String(decoding: $0, as: UTF8.self) }
        }
        func load(_ rel: String) throws -> (XMLElement, String)? {
            if let t = etcText(rel) {
                do { return (try MiniXML.parse(t), s.firewalldDir + "/" + rel) } catch {
                    throw JobFailure("cannot read \(s.firewalldDir)/\(rel): \(error)")
                }
            }
            let lib = s.firewalldLibDir + "/" + rel
            guard let b = try? Files.readBytes(lib, limit: maxFileBytes, noFollow: true) else { return nil }
            do { return (try MiniXML.parse(String(decoding: b, as: UTF8.self)), lib) } catch {
                throw JobFailure("cannot read \(lib): \(error)")
            }
        }
        let zoneName = defaultZoneName(etcText("firewalld.conf"))
        guard isName(zoneName) else { throw JobFailure("firewalld.conf: DefaultZone '\(zoneName.prefix(40))' is not a zone name") }
        guard let (zxml, zpath) = try load("zones/\(zoneName).xml") else {
            throw JobFailure("firewalld: the default zone \(zoneName) has no zone file in \(s.firewalldDir)/zones or \(s.firewalldLibDir)/zones")
        }
        let zone = try FirewalldZone(name: zoneName, xml: zxml, path: zpath)
        var servicePorts: [String: [(port: PortSpec, proto: String)]] = [:]
        for name in Set(zone.services + zone.rich.compactMap(\.service)) where isName(name) {
            guard let (sx, _) = try? load("services/\(name).xml") else { continue }
            servicePorts[name] = sx.all("port").compactMap { e in
                guard let p = e["port"].flatMap(PortSpec.parse), let proto = e["protocol"] else { return nil }
                return (p, proto)
            }
        }
        // Policies (firewalld ≥ 0.9) are the only place a zone-based firewalld filters the
        // host's own output: those whose ingress zone is HOST.
        var policies: [(priority: Int, target: String, rules: [FirewalldRichRule])] = []
        var names = Set<String>()
        for dir in [s.firewalldDir, s.firewalldLibDir] {
            for f in Files.list(dir + "/policies") where f.hasSuffix(".xml") { names.insert(f) }
        }
        if !overlay.isEmpty {
            names = Set(overlay.keys.filter { $0.hasPrefix("policies/") && $0.hasSuffix(".xml") }.map { String($0.dropFirst(9)) })
                .union(Files.list(s.firewalldLibDir + "/policies").filter { $0.hasSuffix(".xml") })
        }
        for f in names.sorted() {
            guard let (px, _) = try? load("policies/\(f)"), px.name == "policy",
                  px.all("ingress-zone").contains(where: { $0["name"] == "HOST" }) else { continue }
            policies.append((px["priority"].flatMap(FirewalldRichRule.pythonInt) ?? -1, px["target"] ?? "CONTINUE", px.all("rule").map(FirewalldRichRule.init(xml:))))
        }
        policies.sort { $0.priority < $1.priority }
        var outRules: [UFWRule] = []
        var defaultOut = "allow"
        var decided = false
        for p in policies {
            outRules += p.rules.sorted(by: guardOrder).flatMap { guardRules($0, direction: .out, services: servicePorts) }
            if !decided, p.target.uppercased() != "CONTINUE" {
                decided = true
                defaultOut = p.target.uppercased() == "ACCEPT" ? "allow" : (p.target.uppercased() == "DROP" ? "deny" : "reject")
            }
        }
        return FirewalldState(zone: zone, servicePorts: servicePorts, outRules: outRules, defaultOutgoing: defaultOut)
    }

    static func defaultZoneName(_ conf: String?) -> String {
        let v = conf.map { EnvFile.parse($0) }?["DefaultZone"] ?? ""
        return v.isEmpty ? "public" : v
    }

    /// Zone, service and policy names: letters, digits, `_ - .`, as firewalld allows them.
    static func isName(_ s: String) -> Bool {
        (1...64).contains(s.utf8.count) && s.first != "-" && s.first != "."
            && s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 || $0 == 45 || $0 == 46 }
            && !s.contains("..")
    }

    /// nftables chain order within a zone: rich rules of negative priority, then (priority 0)
    /// drop/reject rules (the _deny chain), then accepts with the ports and services (_allow),
    /// then positive priorities.
    static func guardOrder(_ a: FirewalldRichRule, _ b: FirewalldRichRule) -> Bool {
        func rank(_ r: FirewalldRichRule) -> (Int, Int) {
            if r.priority != 0 { return (r.priority < 0 ? 0 : 2, r.priority) }
            return (1, r.verdict == .accept ? 1 : 0)
        }
        return rank(a) < rank(b)
    }

    /// The IPv4 rules of a rich rule as the lock-out guard reads ufw's (first match wins). A
    /// family-less rule applies to IPv4 and IPv6; an inverted source (`NOT address`) is read
    /// as from anywhere for a deny and as an allow from some source; an ipset/MAC source as a
    /// particular source the guard cannot place.
    static func guardRules(_ r: FirewalldRichRule, direction: FirewallDirection,
                           services: [String: [(port: PortSpec, proto: String)]]) -> [UFWRule] {
        guard let action = r.action, r.family != "ipv6" else { return [] }
        let any4 = FirewallAddress.anyV4.text
        var remote = any4
        let address = direction == .in ? r.source : r.destination
        let inverted = direction == .in ? r.sourceInvert : r.destinationInvert
        if let a = address, !inverted {
            if let fa = FirewallAddress(a) {
                guard fa.family == .v4 else { return [] }
                remote = fa.text
            } else if a.contains(":") {
                return []  // an IPv6 form the guard does not read: not an IPv4 rule
            } else {
                // An address firewalld takes and the guard cannot place: a deny is read as
                // from anywhere, an allow as from some source (never as everyone's way in).
                remote = action == .allow ? "0.0.0.0/32" : any4
            }
        } else if inverted, action == .allow {
            remote = "0.0.0.0/32"
        } else if r.sourceOther, direction == .in {
            remote = action == .allow ? "0.0.0.0/32" : "255.255.255.255/32"
        }
        var ports: [(PortSpec?, FirewallProtocol)] = []
        if let p = r.port, let proto = r.proto { ports = [(p, proto)] }
        else if let svc = r.service { ports = (services[svc] ?? []).compactMap { e in FirewallProtocol(rawValue: e.proto).map { (e.port, $0) } } }
        else if r.port == nil { ports = [(nil, .any)] }
        return ports.map { p, proto in
            UFWRule(action: action, proto: proto, port: p, destination: direction == .out ? remote : any4,
                    sourcePort: "any", source: direction == .in ? remote : any4, direction: direction, interface: nil,
                    destinationApp: nil, sourceApp: nil, comment: nil, ipv6: false, raw: r.text, route: false)
        }
    }

    /// The default zone's inbound rules in the order firewalld applies them, as ufw rules.
    var inRules: [UFWRule] {
        let any4 = FirewallAddress.anyV4.text
        func allow(_ p: PortSpec, _ proto: String, _ raw: String) -> UFWRule? {
            guard let pr = FirewallProtocol(rawValue: proto) else { return nil }
            return UFWRule(action: .allow, proto: pr, port: p, destination: any4, sourcePort: "any", source: any4,
                           direction: .in, interface: nil, destinationApp: nil, sourceApp: nil, comment: nil,
                           ipv6: false, raw: raw, route: false)
        }
        let sorted = zone.rich.sorted(by: Self.guardOrder)
        func isBefore(_ r: FirewalldRichRule) -> Bool { r.priority < 0 || (r.priority == 0 && r.verdict != .accept) }
        let before = sorted.filter(isBefore)
        let after = sorted.filter { !isBefore($0) }
        var out = before.flatMap { Self.guardRules($0, direction: .in, services: servicePorts) }
        out += zone.ports.compactMap { allow($0.port, $0.proto, "port \($0.port.firewalldText)/\($0.proto)") }
        for svc in zone.services {
            out += (servicePorts[svc] ?? []).compactMap { allow($0.port, $0.proto, "service \(svc)") }
        }
        out += after.flatMap { Self.guardRules($0, direction: .in, services: servicePorts) }
        return out
    }

    /// The rules `firewall.rules` lists: services, ports, then rich rules, in file order.
    var listed: [JSONValue] {
        var out: [JSONValue] = []
        func add(_ o: [String: JSONValue]) {
            var o = o
            o["number"] = .number(Double(out.count + 1))
            o["direction"] = o["direction"] ?? .string("in")
            o["comment"] = .null
            out.append(.object(o))
        }
        let anywhere: JSONValue = .string("anywhere")
        for svc in zone.services {
            let ports = (servicePorts[svc] ?? []).map { JSONValue.string("\($0.port.firewalldText)/\($0.proto)") }
            add(["kind": .string("service"), "service": .string(svc), "action": .string("allow"),
                 "ports": .array(ports), "source": anywhere, "destination": anywhere, "raw": .string("service \(svc)")])
        }
        for p in zone.ports {
            add(["kind": .string("port"), "action": .string("allow"), "port": .string(p.port.firewalldText),
                 "protocol": .string(p.proto), "source": anywhere, "destination": anywhere,
                 "raw": .string("port \(p.port.firewalldText)/\(p.proto)")])
        }
        for r in zone.rich {
            var o: [String: JSONValue] = ["kind": .string("rich"), "raw": .string(r.text),
                                          "action": r.action.map { .string($0.rawValue) } ?? .string("other"),
                                          "port": r.port.map { .string($0.firewalldText) } ?? .string("any"),
                                          "protocol": .string(r.proto?.rawValue ?? "any"),
                                          "source": r.source.map { .string((r.sourceInvert ? "not " : "") + $0) } ?? anywhere,
                                          "destination": r.destination.map { .string((r.destinationInvert ? "not " : "") + $0) } ?? anywhere,
                                          "family": r.family.map(JSONValue.string) ?? .string("both")]
            if r.priority != 0 { o["priority"] = .number(Double(r.priority)) }
            if let svc = r.service { o["service"] = .string(svc) }
            add(o)
        }
        return out
    }
}
