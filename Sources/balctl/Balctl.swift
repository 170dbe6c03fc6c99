import ArgumentParser
import BalctlProtocol
import CurlClient
import OperatorClient
import Foundation

@main
struct Balctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "balctl",
        abstract: "Operate balctl: pools, members, jobs.",
        discussion: "Connection: --server/BALCTL_SERVER, --token/BALCTL_TOKEN, --ca-file/BALCTL_CA_FILE.",
        version: BalctlVersion.current,
        subcommands: [Pools.self, Members.self, Jobs.self, Recipes.self, Schedules.self, FailoverCommand.self, DNSCommand.self,
                      Backups.self, Alerts.self, Commands.self, Accounts.self, Tokens.self, Users.self, Audit.self])
}

/// Connection and output options every command takes.
struct Global: ParsableArguments {
    @Option(help: "Control-plane URL (env BALCTL_SERVER).")
    var server: String?
    @Option(help: "API token (env BALCTL_TOKEN).")
    var token: String?
    @Option(help: "CA bundle to trust for the server's certificate (env BALCTL_CA_FILE).")
    var caFile: String?
    @Flag(help: "Print JSON instead of tables.")
    var json = false

    func client() throws -> APIClient {
        let env = ProcessInfo.processInfo.environment
        guard let server = server ?? env["BALCTL_SERVER"], !server.isEmpty else {
            throw ValidationError("no server: pass --server or set BALCTL_SERVER")
        }
        guard let token = token ?? env["BALCTL_TOKEN"], !token.isEmpty else {
            throw ValidationError("no API token: pass --token or set BALCTL_TOKEN")
        }
        return try APIClient(server: server, token: token, caFile: caFile ?? env["BALCTL_CA_FILE"])
    }

    /// JSON when asked, otherwise the human rendering.
    func output<T: Encodable>(_ value: T, _ human: () -> String) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(value), as: UTF8.self))
        } else {
            print(human())
        }
    }
}

/// Run an API call. Exit 1: refused, by the server (its reason is printed) or here before
/// anything was sent (an unsafe server URL, a malformed token); exit 3: the server is unreachable.
func perform(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let f as APIClient.Failure {
        FileHandle.standardError.write(Data("error: \(f)\n".utf8))
        throw ExitCode(f.status == 0 ? 3 : 1)
    } catch let refused as RequestRefused {
        FileHandle.standardError.write(Data("error: refused, nothing was sent: \(refused)\n".utf8))
        throw ExitCode(1)
    }
}

/// `--follow` polls through a server restart or a network blip (bounded; see `TransientRetry`),
/// saying on stderr that it is waiting.
func pollThroughOutages<T>(_ fetch: () throws -> T) throws -> T {
    try TransientRetry().run(fetch) { failure, delay in
        FileHandle.standardError.write(Data("warning: \(failure); retrying in \(delay) s\n".utf8))
    }
}

func confirm(_ prompt: String, expect: String, yes: Bool) throws {
    if yes { return }
    guard isatty(0) != 0 else {
        throw ValidationError("refusing without confirmation: pass --yes")
    }
    print("\(prompt) Type '\(expect)' to confirm: ", terminator: "")
    guard readLine()?.trimmingCharacters(in: .whitespaces) == expect else {
        throw ValidationError("not confirmed; nothing was changed")
    }
}

// MARK: pools

struct Pools: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pools: list, show, create, rename, delete.",
        subcommands: [List.self, Show.self, Create.self, Rename.self, Delete.self], defaultSubcommand: List.self)

    static func table(_ pools: [PoolView]) -> String {
        Render.table(["ID", "NAME", "TEMPLATE", "MEMBERS", "CREATED"], pools.map {
            ["\($0.id)", $0.name, $0.template.rawValue, "\($0.memberCount)", Render.dateTime($0.createdAt)]
        })
    }

    struct List: ParsableCommand {
        @OptionGroup var global: Global
        func run() throws {
            try perform {
                let pools: [PoolView] = try global.client().get(APIPath("pools"))
                try global.output(pools) { Pools.table(pools) }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A pool, its members and its database clusters (Galera quorum warnings).")
        @OptionGroup var global: Global
        @Argument var id: Int64
        func run() throws {
            try perform {
                let client = try global.client()
                let pool: PoolView = try client.get(APIPath("pools", id))
                let members: [MemberView] = try client.get(APIPath("pools", id, "members"))
                let clusters: PoolClustersView = try client.get(APIPath("pools", id, "clusters"))
                struct All: Encodable { var pool: PoolView; var members: [MemberView]; var clusters: PoolClustersView }
                try global.output(All(pool: pool, members: members, clusters: clusters)) {
                    ([Pools.table([pool]), "", Members.table(members), ""] + ClusterViewText.lines(clusters)).joined(separator: "\n")
                }
            }
        }
    }

    struct Create: ParsableCommand {
        @OptionGroup var global: Global
        @Argument(help: "Pool name.") var name: String
        @Option(help: "haproxy or generic.") var template: String = "generic"
        func run() throws {
            guard let t = PoolTemplate(rawValue: template) else { throw ValidationError("--template must be haproxy or generic") }
            try perform {
                let pool: PoolView = try global.client().send("POST", APIPath("pools"), CreatePoolRequest(name: name, template: t))
                try global.output(pool) { "created pool \(pool.id) '\(pool.name)' (\(pool.template.rawValue))" }
            }
        }
    }

    struct Rename: ParsableCommand {
        @OptionGroup var global: Global
        @Argument var id: Int64
        @Argument var name: String
        func run() throws {
            try perform {
                let pool: PoolView = try global.client().send("PATCH", APIPath("pools", id), RenamePoolRequest(name: name))
                try global.output(pool) { "pool \(pool.id) is now '\(pool.name)'" }
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a pool with its members, jobs and heartbeats.")
        @OptionGroup var global: Global
        @Argument var id: Int64
        @Flag(help: "Do not ask for confirmation.") var yes = false
        func run() throws {
            try perform {
                let client = try global.client()
                let pool: PoolView = try client.get(APIPath("pools", id))
                try confirm("Delete pool '\(pool.name)' with its \(pool.memberCount) member(s), their jobs and heartbeats?",
                            expect: pool.name, yes: yes)
                try client.delete(APIPath("pools", id))
                print("deleted pool \(id) '\(pool.name)'")
            }
        }
    }
}

// MARK: members

struct Members: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Members: list, add, show, update, rotate-secret, remove, heartbeats.",
        subcommands: [List.self, Add.self, Show.self, Update.self, RotateSecret.self, Remove.self, Heartbeats.self, Stats.self,
                      Thresholds.self],
        defaultSubcommand: List.self)

    static func table(_ members: [MemberView]) -> String {
        Render.table(["ID", "POOL", "HOSTNAME", "ALLOWED IPS", "HEARTBEAT", "AGENT", "OS", "LOAD", "CPU%", "MEM%", "PUBLIC IP"],
                     members.map { m in
            let hb = m.heartbeat
            return ["\(m.id)", "\(m.poolId)", m.hostname, m.allowedIPs.joined(separator: ","),
                    hb.map { Render.age($0.ageSec) + " ago" } ?? "never",
                    hb.map { $0.agentOutdated ? "\($0.agentVersion) (outdated: \($0.latestAgentVersion ?? "?"))" : $0.agentVersion } ?? "-",
                    hb?.osFamily ?? "-", hb.map { "\($0.load1)" } ?? "-",
                    hb?.cpuPercent.map { "\($0)" } ?? "-", hb.map { "\($0.memoryUsedPercent)" } ?? "-",
                    hb?.publicIPv4 ?? "-"]
        })
    }

    static func enrollmentText(_ e: MemberEnrollment) -> String {
        """
        member \(e.member.id) '\(e.member.hostname)' in pool \(e.member.poolId), allowed from \(e.member.allowedIPs.joined(separator: ", "))

        Enrollment secret (shown once, stored only as a hash):
          \(e.enrollmentSecret)

        Install command for the member (\(e.member.family.rawValue)); paste it into a root shell on the VM:
          \(e.installCommand)
        """
    }

    struct List: ParsableCommand {
        @OptionGroup var global: Global
        @Option(help: "Only this pool.") var pool: Int64?
        func run() throws {
            try perform {
                let members: [MemberView] = try global.client().get(pool.map { APIPath("pools", $0, "members") } ?? APIPath("members"))
                try global.output(members) { Members.table(members) }
            }
        }
    }

    struct Add: ParsableCommand {
        @OptionGroup var global: Global
        @Option(help: "Pool ID.") var pool: Int64
        @Option(help: "Host name the agent reports (case-insensitive).") var hostname: String
        @Option(help: "Allowed source IPv4(s), comma-separated: the member's egress IP.") var ip: String
        @Option(help: "debian or rhel (shapes the install command).") var family: String = "debian"
        @Option(help: "haproxy-balancer or generic-linux (default from the pool template).") var role: String?
        func run() throws {
            guard let f = LinuxFamily(rawValue: family) else { throw ValidationError("--family must be debian or rhel") }
            let ips = ip.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            try perform {
                let e: MemberEnrollment = try global.client().send(
                    "POST", APIPath("pools", pool, "members"), CreateMemberRequest(hostname: hostname, allowedIPs: ips, family: f, role: role))
                try global.output(e) { Members.enrollmentText(e) }
            }
        }
    }

    struct Show: ParsableCommand {
        @OptionGroup var global: Global
        @Argument var id: Int64
        func run() throws {
            try perform {
                let client = try global.client()
                let m: MemberView = try client.get(APIPath("members", id))
                let report: HeartbeatRecord? = m.heartbeat == nil ? nil : try client.get(APIPath("members", id, "report"))
                struct Both: Encodable { var member: MemberView; var report: HeartbeatRecord? }
                try global.output(Both(member: m, report: report)) {
                    var lines = [Members.table([m])]
                    if let r = report?.report {
                        lines.append("")
                        lines += ClusterViewText.reportLines(r, now: Date().timeIntervalSince1970)
                    }
                    return lines.joined(separator: "\n")
                }
            }
        }
    }

    struct Update: ParsableCommand {
        @OptionGroup var global: Global
        @Argument var id: Int64
        @Option var hostname: String?
        @Option(help: "Replace the allowed IPv4s (comma-separated).") var ip: String?
        func run() throws {
            let ips = ip.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            try perform {
                let m: MemberView = try global.client().send("PATCH", APIPath("members", id), UpdateMemberRequest(hostname: hostname, allowedIPs: ips))
                try global.output(m) { Members.table([m]) }
            }
        }
    }

    struct RotateSecret: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Issue a new enrollment secret; the old one stops working.")
        @OptionGroup var global: Global
        @Argument var id: Int64
        func run() throws {
            try perform {
                let e: MemberEnrollment = try global.client().post(APIPath("members", id, "rotate-secret"))
                try global.output(e) { Members.enrollmentText(e) }
            }
        }
    }

    struct Remove: ParsableCommand {
        @OptionGroup var global: Global
        @Argument var id: Int64
        @Flag(help: "Do not ask for confirmation.") var yes = false
        func run() throws {
            try perform {
                let client = try global.client()
                let m: MemberView = try client.get(APIPath("members", id))
                try confirm("Remove member '\(m.hostname)' with its jobs and heartbeats?", expect: m.hostname, yes: yes)
                try client.delete(APIPath("members", id))
                print("removed member \(id) '\(m.hostname)'")
            }
        }
    }

    struct Heartbeats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The member's sampled heartbeat history.")
        @OptionGroup var global: Global
        @Argument var id: Int64
        @Option var limit: Int = 20
        func run() throws {
            try perform {
                let records: [HeartbeatRecord] = try global.client().get(APIPath("members", id, "heartbeats").query("limit", limit))
                try global.output(records) {
                    Render.table(["RECEIVED", "FROM", "AGENT", "LOAD", "CPU%", "MEM FREE"], records.map { r in
                        [Render.dateTime(r.receivedAt), r.sourceIP, r.report.agentVersion,
                         "\(r.report.load.first ?? 0)", r.report.cpuPercent.map { "\($0)" } ?? "-",
                         Render.bytes(r.report.memory.availableBytes)]
                    })
                }
            }
        }
    }
}
