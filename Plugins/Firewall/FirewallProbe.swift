import AgentKernel
import BalctlProtocol

/// What every heartbeat says about the firewall (`stacks["firewall"]`), from files only — no
/// program runs: ufw.conf (ENABLED), /etc/default/ufw (default policies, IPV6), user.rules and
/// user6.rules (rule count); for firewalld firewalld.conf, the default zone's XML and its pid
/// file. Each file is parsed again only when its stamp changes (`FileCache`), so a beat costs
/// a few `stat`s.
///
/// Shape: {tool: "ufw", active (ENABLED=yes in ufw.conf: what ufw enable/disable set; the
/// kernel's view is firewall.status), defaultIncoming, defaultOutgoing, defaultRouted, ipv6,
/// rules} or {tool: "firewalld", active, defaultZone, target, defaultIncoming, rules}; nil when
/// neither is installed.
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

    private let osRelease = FileCache<Bool>(limit: 64 << 10)
    private let fwConf = FileCache<String>(limit: 1 << 20)
    private let fwZone = FileCache<FirewalldZoneSummary?>(limit: 1 << 20)
    private let fwPid = FileCache<Int32?>(limit: 4096)

    struct FirewalldZoneSummary: Sendable { var target: String; var incoming: String; var rules: Int }

    /// ufw where its files are, firewalld on the RHEL family or where only it is present (the
    /// commands' `selectedTool()`, from files: ufw.conf stands for ufw being installed).
    func tool() -> FirewallTool? {
        if let t = settings.tool { return t }
        if osRelease.value(settings.osReleaseFile, parse: { FirewallSettings.isRHELFamily(osRelease: String(decoding: $0, as: UTF8.self)) }) == true {
            return .firewalld
        }
        if Files.exists(settings.ufwDir + "/ufw.conf") { return .ufw }
        if settings.firewalldMarkers.contains(where: Files.exists) {
            return .firewalld
        }
        return nil
    }

    /// Which tool, and ufw's whole entry (it comes from files only), derived again only when one
    /// of the files they come from changes (`PathWatched`: one read of an inotify descriptor a
    /// beat instead of six stats). firewalld's entry is read each beat: whether its daemon is
    /// alive is a question for /proc, which inotify cannot watch.
    private let toolWatch = PathWatched<FirewallTool?>()
    private let ufwWatch = PathWatched<JSONValue?>()

    public func report() -> JSONValue? {
        let settings = self.settings
        let chosen = toolWatch.value(watching: { [settings.osReleaseFile, settings.ufwDir + "/ufw.conf"] + settings.firewalldMarkers }) {
            tool()
        }
        switch chosen {
        case .firewalld?: return firewalldReport()
        case .ufw?:
            return ufwWatch.value(watching: {
                [settings.ufwDir + "/ufw.conf", settings.defaultsFile, settings.ufwDir + "/user.rules", settings.ufwDir + "/user6.rules"]
            }) { ufwReport() }
        case nil: return nil
        }
    }

    /// `{tool: "firewalld", active, defaultZone, target, defaultIncoming, defaultOutgoing, rules}`:
    /// firewalld.conf (DefaultZone), the zone's XML (/etc, else the package's), and whether
    /// the pid in firewalld's pid file is alive (a stat of /proc/<pid>).
    func firewalldReport() -> JSONValue? {
        let zoneName = FirewalldState.defaultZoneName(fwConf.value(settings.firewalldDir + "/firewalld.conf", parse: {
            String(decoding: $0, as: UTF8.self) }))
        var out: [String: JSONValue] = ["tool": .string("firewalld"), "defaultZone": .string(zoneName)]
        let pid = fwPid.value(settings.firewalldPidFile, parse: { Int32(String(decoding: $0, as: UTF8.self).trimmingWhitespace) }) ?? nil
        out["active"] = .bool(pid.map { $0 > 0 && Files.exists("/proc/\($0)") } ?? false)
        guard FirewalldState.isName(zoneName) else { out["rules"] = .null; return .object(out) }
        let etc = settings.firewalldDir + "/zones/\(zoneName).xml"
        let path = Files.exists(etc) ? etc : settings.firewalldLibDir + "/zones/\(zoneName).xml"
        let summary = fwZone.value(path, parse: { bytes -> FirewalldZoneSummary? in
            guard let xml = try? MiniXML.parse(String(decoding: bytes, as: UTF8.self)),
                  let z = try? FirewalldZone(name: zoneName, xml: xml, path: path) else { return nil }
            return FirewalldZoneSummary(target: z.target, incoming: z.defaultIncoming, rules: z.ruleCount)
        }) ?? nil
        out["target"] = summary.map { .string($0.target) } ?? .null
        out["defaultIncoming"] = summary.map { .string($0.incoming) } ?? .null
        out["rules"] = summary.map { .number(Double($0.rules)) } ?? .null
        return .object(out)
    }

    func ufwReport() -> JSONValue? {
        let confPath = settings.ufwDir + "/ufw.conf"
        guard let c = conf.value(confPath, parse: { UFWState.keyValues(String(decoding: $0, as: UTF8.self)) }) else {
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
