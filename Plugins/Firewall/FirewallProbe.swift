import AgentKernel
import BalctlProtocol

/// What every heartbeat says about the firewall (`stacks["firewall"]`), from files only — no
/// program runs: ufw.conf (ENABLED), /etc/default/ufw (default policies, IPV6), user.rules and
/// user6.rules (rule count). Each file is parsed again only when its stamp changes
/// (`FileCache`), so a beat costs a few `stat`s. firewalld is only detected.
///
/// Shape: {tool: "ufw", active (ENABLED=yes in ufw.conf: what ufw enable/disable set; the
/// kernel's view is firewall.status), defaultIncoming, defaultOutgoing, defaultRouted, ipv6,
/// rules} or {tool: "firewalld", supported: false, note}; nil when neither is installed.
public final class FirewallProbe: Sendable {
    let settings: FirewallSettings
    private let conf = FileCache<[String: String]>(limit: 1 << 20)
    private let defaults = FileCache<[String: String]>(limit: 1 << 20)
    private let user = FileCache<Int>(limit: 4 << 20)
    private let user6 = FileCache<Int>(limit: 4 << 20)

    public init(settings: FirewallSettings) { self.settings = settings }

    static func countRules(_ bytes: [UInt8]) -> Int {
        UFWState.parseRules(String(decoding: bytes, as: UTF8.self), ipv6: false).count
    }

    public func report() -> JSONValue? {
        let confPath = settings.ufwDir + "/ufw.conf"
        guard let c = conf.value(confPath, parse: { UFWState.keyValues(String(decoding: $0, as: UTF8.self)) }) else {
            if settings.firewalldMarkers.contains(where: Files.exists) {
                return .object(["tool": .string("firewalld"), "supported": .bool(false),
                                "note": .string("firewalld present, not supported yet")])
            }
            return nil
        }
        let d = defaults.value(settings.defaultsFile, parse: { UFWState.keyValues(String(decoding: $0, as: UTF8.self)) }) ?? [:]
        let v4 = user.value(settings.ufwDir + "/user.rules", parse: Self.countRules)
        let v6 = user6.value(settings.ufwDir + "/user6.rules", parse: Self.countRules) ?? 0
        var out: [String: JSONValue] = [
            "tool": .string("ufw"),
            "active": .bool(c["ENABLED"]?.lowercased() == "yes"),
            "defaultIncoming": .string(UFWState.policy(d["DEFAULT_INPUT_POLICY"])),
            "defaultOutgoing": .string(UFWState.policy(d["DEFAULT_OUTPUT_POLICY"])),
            "defaultRouted": .string(UFWState.policy(d["DEFAULT_FORWARD_POLICY"])),
            "ipv6": .bool(d["IPV6"]?.lowercased() == "yes"),
        ]
        out["rules"] = v4.map { .number(Double($0 + v6)) } ?? .null
        return .object(out)
    }
}
