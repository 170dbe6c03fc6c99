import ArgumentParser
import BalctlProtocol
import Foundation
import OperatorClient

/// Reads a secret from a file (or "-" for standard input), never from the command line, where
/// every user of the machine could read it in the process list. Trailing newlines are dropped.
func readSecret(_ path: String, what: String) throws -> String {
    let data: Data
    if path == "-" {
        data = FileHandle.standardInput.readDataToEndOfFile()
    } else {
        guard let d = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(what) from \(path)") }
        data = d
    }
    let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    guard !text.isEmpty else { throw ValidationError("\(what) in \(path) is empty") }
    return text
}

struct FailoverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failover",
        abstract: "Pool failover: status, settings, make-active, cut, drill, events, member.",
        subcommands: [Status.self, Settings.self, MakeActive.self, Cut.self, Drill.self, Events.self, Member.self],
        defaultSubcommand: Status.self)

    static func eventLine(_ e: FailoverEventView) -> String {
        var parts = ["#\(e.id) \(Render.dateTime(e.at)) \(e.kind)"]
        if let to = e.toIP { parts.append("→ \(to)") }
        if let r = e.reason { parts.append("(\(r))") }
        if let v = e.verified { parts.append(v ? "verified" : "NOT verified") }
        if let err = e.error { parts.append("error: \(err)") }
        return parts.joined(separator: " ")
    }

    static func eventText(_ e: FailoverEventView) -> String {
        var lines = [eventLine(e)]
        func add(_ label: String, _ value: String?) { if let value { lines.append("  \(label.padding(toLength: 16, withPad: " ", startingAt: 0)) \(value)") } }
        add("from member", e.fromMemberId.map { "\($0)\(e.fromIP.map { " (\($0))" } ?? "")" })
        add("to member", e.toMemberId.map { "\($0)\(e.toIP.map { " (\($0))" } ?? "")" })
        add("unhealthy since", e.unhealthySince.map(Render.dateTime))
        add("detected", e.detectedAt.map { d in Render.timeOfDay(d) + (e.unhealthySince.map { s in " (+\(String(format: "%.2f", d - s)) s)" } ?? "") })
        add("DNS written", e.dnsWrittenAt.map { w in Render.timeOfDay(w) + (e.detectedAt.map { d in " (+\(String(format: "%.2f", w - d)) s)" } ?? "") })
        add("provider reply", e.providerReply)
        add("fencing token", e.fencingToken.map(String.init))
        add("decided by", e.decidedBy)
        if case .object(let d)? = e.detail {
            for key in d.keys.sorted() where key != "members" {
                add(key, d[key].map { v in v.stringValue ?? v.jsonString() })
            }
            if let members = try? d["members"]?.decode(as: [MemberReadinessView].self) {
                lines.append(FailoverCommand.membersTable(members))
            }
        }
        return lines.joined(separator: "\n")
    }

    static func membersTable(_ members: [MemberReadinessView]) -> String {
        Render.table(["ID", "HOSTNAME", "ROLE", "PRIORITY", "OK", "REASON", "HEARTBEAT", "PUBLIC IP"], members.map {
            ["\($0.memberId)", $0.hostname, $0.role.rawValue, "\($0.priority)", $0.ok ? "yes" : "NO", $0.reason,
             $0.heartbeatAgeSec.map { Render.age($0) + " ago" } ?? "never", $0.publicIPv4 ?? "-"]
        })
    }

    static func settingsText(_ s: FailoverSettingsView) -> String {
        var lines = [
            "hostname        \(s.hostname ?? "(not set)")",
            "DNS provider    \(s.providerId.map(String.init) ?? "(none linked)")",
            "TTL             \(s.ttl)\(s.proxied ? ", proxied" : "")",
            "automatic       \(s.autoFailover ? "on" : "off"), delay \(s.delaySec) s, spacing \(s.minSpacingSec) s",
            "dynamic DNS     \(s.dynamicDNS ? "on" : "off")\(s.allowPrivateIPs ? " (private IPs allowed: testing only)" : "")",
            "active          \(s.activeMemberId.map { "member \($0)" } ?? "none")\(s.activeIP.map { " at \($0)" } ?? "")",
            "alerts          \(s.alertEmails.isEmpty ? "no email" : s.alertEmails.joined(separator: ", "))\(s.webhookURL.map { "; webhook \($0)\(s.webhookSecretSet ? " (signed)" : "")" } ?? "")",
        ]
        if let t = s.lastFailoverAt { lines.append("last failover   \(Render.dateTime(t))") }
        lines += s.warnings.map { "warning: \($0)" }
        return lines.joined(separator: "\n")
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each member's role, readiness and reason.")
        @OptionGroup var global: Global
        @Argument(help: "Pool ID.") var pool: Int64
        func run() throws {
            try perform {
                let s: FailoverStatusView = try global.client().get(APIPath("pools", pool, "failover"))
                try global.output(s) {
                    var lines = ["pool \(s.pool.id) '\(s.pool.name)' (\(s.pool.template.rawValue))", FailoverCommand.settingsText(s.settings), "",
                                 FailoverCommand.membersTable(s.members)]
                    let next = s.members.first { $0.memberId == s.nextStandbyId }
                    lines.append("next standby: \(next.map { "\($0.hostname) (member \($0.memberId))" } ?? "NONE READY")")
                    if let e = s.lastEvent { lines.append("last event: \(FailoverCommand.eventLine(e))") }
                    return lines.joined(separator: "\n")
                }
            }
        }
    }

    struct Settings: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show or change a pool's failover settings (options left out are unchanged).")
        @OptionGroup var global: Global
        @Argument(help: "Pool ID.") var pool: Int64
        @Option(help: "Failover FQDN clients use (\"\" clears it).") var hostname: String?
        @Option(help: "DNS provider ID (0 unlinks).") var provider: Int64?
        @Option(help: "TTL in seconds (30–86400; 1 = Cloudflare automatic).") var ttl: Int?
        @Option(help: "Cloudflare proxied (orange cloud): on or off.") var proxied: OnOff?
        @Option(help: "Automatic failover: on or off.") var auto: OnOff?
        @Option(help: "Failover delay in seconds (10–120; 3–9 with a warning).") var delay: Int?
        @Option(help: "Minimum seconds between automatic failovers.") var spacing: Int?
        @Option(help: "Dynamic DNS (record follows the active member's IP): on or off.") var dynamicDns: OnOff?
        @Option(help: "Accept private IPv4s for standbys (testing only): on or off.") var allowPrivateIps: OnOff?
        @Option(help: "Alert emails, comma-separated (\"\" clears).") var alertEmails: String?
        @Option(help: "Webhook URL (\"\" removes).") var webhookUrl: String?
        @Option(help: "File holding the webhook signing secret (- for stdin).") var webhookSecretFile: String?
        func run() throws {
            let req = UpdateFailoverSettingsRequest(
                hostname: hostname, providerId: provider, ttl: ttl, proxied: proxied?.value, autoFailover: auto?.value,
                delaySec: delay, minSpacingSec: spacing, dynamicDNS: dynamicDns?.value, allowPrivateIPs: allowPrivateIps?.value,
                alertEmails: alertEmails.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } },
                webhookURL: webhookUrl, webhookSecret: try webhookSecretFile.map { try readSecret($0, what: "webhook secret") })
            let unchanged = Mirror(reflecting: req).children.allSatisfy { "\($0.value)" == "nil" }
            try perform {
                let client = try global.client()
                let s: FailoverSettingsView = unchanged
                    ? try client.get(APIPath("pools", pool, "failover"), as: FailoverStatusView.self).settings
                    : try client.send("PATCH", APIPath("pools", pool, "failover"), req)
                try global.output(s) { FailoverCommand.settingsText(s) }
            }
        }
    }

    struct MakeActive: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "make-active",
                                                        abstract: "Make a standby the active member and point DNS at it now.")
        @OptionGroup var global: Global
        @Argument(help: "Member ID.") var member: Int64
        @Flag(help: "Promote even if the member is not ready (the reason is recorded).") var force = false
        func run() throws {
            try perform {
                let e: FailoverEventView = try global.client().send("POST", APIPath("members", member, "make-active"), MakeActiveRequest(force: force))
                try global.output(e) { FailoverCommand.eventText(e) }
                if e.verified != true { throw ExitCode(1) }
            }
        }
    }

    struct Cut: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Move DNS to the next ready standby now.")
        @OptionGroup var global: Global
        @Argument(help: "Pool ID.") var pool: Int64
        func run() throws {
            try perform {
                let e: FailoverEventView = try global.client().post(APIPath("pools", pool, "failover", "cut"))
                try global.output(e) { FailoverCommand.eventText(e) }
                if e.verified != true { throw ExitCode(1) }
            }
        }
    }

    struct Drill: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check everything a failover would do, changing nothing: winner, readiness, provider, credentials, record.")
        @OptionGroup var global: Global
        @Argument(help: "Pool ID.") var pool: Int64
        func run() throws {
            try perform {
                let e: FailoverEventView = try global.client().post(APIPath("pools", pool, "failover", "drill"))
                try global.output(e) { FailoverCommand.eventText(e) }
                if case .object(let d)? = e.detail, d["ok"]?.boolValue != true { throw ExitCode(1) }
            }
        }
    }

    struct Events: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A pool's failover events, newest first.")
        @OptionGroup var global: Global
        @Argument(help: "Pool ID.") var pool: Int64
        @Option var limit = 20
        @Flag(help: "Every field of every event.") var verbose = false
        func run() throws {
            try perform {
                let events: [FailoverEventView] = try global.client().get(APIPath("pools", pool, "failover", "events").query("limit", limit))
                try global.output(events) {
                    events.map { verbose ? FailoverCommand.eventText($0) : FailoverCommand.eventLine($0) }.joined(separator: "\n")
                }
            }
        }
    }

    struct Member: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A member's standby priority (lower wins) and maintenance flag.")
        @OptionGroup var global: Global
        @Argument(help: "Member ID.") var member: Int64
        @Option var priority: Int?
        @Option(help: "on or off: a member in maintenance is never promoted.") var maintenance: OnOff?
        func run() throws {
            try perform {
                let m: MemberView = try global.client().send("PATCH", APIPath("members", member, "failover"),
                                                             UpdateMemberFailoverRequest(priority: priority, maintenance: maintenance?.value))
                try global.output(m) { "member \(m.id) '\(m.hostname)' updated" }
            }
        }
    }
}

enum OnOff: String, ExpressibleByArgument {
    case on, off
    var value: Bool { self == .on }
}

struct DNSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dns", abstract: "DNS provider accounts.",
                                                    subcommands: [Providers.self], defaultSubcommand: Providers.self)

    struct Providers: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Saved DNS provider accounts: list, add, remove.",
                                                        subcommands: [List.self, Add.self, Remove.self], defaultSubcommand: List.self)

        static func table(_ ps: [DNSProviderView]) -> String {
            Render.table(["ID", "NAME", "KIND", "SETTINGS", "POOLS"], ps.map {
                ["\($0.id)", $0.name, $0.kind.rawValue, $0.settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "),
                 $0.pools.map(String.init).joined(separator: ",")]
            })
        }

        struct List: ParsableCommand {
            @OptionGroup var global: Global
            func run() throws {
                try perform {
                    let ps: [DNSProviderView] = try global.client().get(APIPath("dns", "providers"))
                    try global.output(ps) { Providers.table(ps) }
                }
            }
        }

        struct Add: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Save a provider account (its secret is stored encrypted and never shown again).",
                discussion: """
                rfc2136:    --set server=192.0.2.53 --set zone=example.com --set keyName=balctl [--set port=53]; secret = TSIG key (base64, hmac-sha256)
                cloudflare: --set zone=example.com; secret = API token (Zone:DNS:Edit)
                whm:        --set baseURL=https://whm.example.com:2087 --set user=root --set zone=example.com; secret = WHM API token
                """)
            @OptionGroup var global: Global
            @Argument var name: String
            @Option(help: "rfc2136, cloudflare or whm.") var kind: String
            @Option(name: .customLong("set"), help: "A setting, key=value (repeat).") var settings: [String] = []
            @Option(help: "File holding the secret (- for stdin).") var secretFile: String
            func run() throws {
                guard let k = DNSProviderKind(rawValue: kind) else { throw ValidationError("--kind must be rfc2136, cloudflare or whm") }
                var map: [String: String] = [:]
                for s in settings {
                    guard let eq = s.firstIndex(of: "=") else { throw ValidationError("--set takes key=value, not '\(s)'") }
                    map[String(s[..<eq])] = String(s[s.index(after: eq)...])
                }
                let secret = try readSecret(secretFile, what: "provider secret")
                try perform {
                    let p: DNSProviderView = try global.client().send("POST", APIPath("dns", "providers"),
                                                                      CreateDNSProviderRequest(name: name, kind: k, settings: map, secret: secret))
                    try global.output(p) { "saved DNS provider \(p.id) '\(p.name)' (\(p.kind.rawValue))" }
                }
            }
        }

        struct Remove: ParsableCommand {
            @OptionGroup var global: Global
            @Argument var id: Int64
            func run() throws {
                try perform {
                    try global.client().delete(APIPath("dns", "providers", id))
                    print("removed DNS provider \(id)")
                }
            }
        }
    }
}
