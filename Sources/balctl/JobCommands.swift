import ArgumentParser
import BalctlProtocol
import OperatorClient
import Foundation

struct Jobs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Jobs: enqueue, list, show, cancel, follow.",
        subcommands: [Enqueue.self, List.self, Show.self, Cancel.self, Follow.self], defaultSubcommand: List.self)

    static func table(_ jobs: [JobView]) -> String {
        Render.table(["ID", "MEMBER", "COMMAND", "STATE", "ATTEMPT", "CREATED", "DURATION", "RESULT"], jobs.map { j in
            let duration = j.startedAt.flatMap { s in j.finishedAt.map { Render.age($0 - s) } } ?? "-"
            let result: String
            switch j.state {
            case .completed: result = j.changed == false ? "unchanged" : "changed"
            case .running: result = j.progressMessage ?? (j.cancelRequested ? "cancel requested" : "")
            default: result = j.error ?? ""
            }
            return ["\(j.id)", "\(j.memberId) \(j.hostname)", j.command + (j.checkMode ? " (check)" : ""),
                    j.state.rawValue, "\(j.attempt)/\(j.maxAttempts)", Render.dateTime(j.createdAt), duration,
                    String(result.prefix(60))]
        })
    }

    static func detail(_ j: JobView) -> String {
        var lines = [Render.timeline(j), "  params: \(j.params.jsonString())"]
        if let r = j.result { lines.append("  result: \(r.jsonString())") }
        if let out = j.output, !out.isEmpty {
            lines.append("  output:")
            lines.append(contentsOf: out.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 })
        }
        return lines.joined(separator: "\n")
    }

    /// Poll a job until it ends, printing each new event; exit non-zero unless it completed.
    static func follow(_ client: APIClient, _ id: Int64, json: Bool) throws {
        var printed = 0
        while true {
            let job: JobView = try pollThroughOutages { try client.get(APIPath("jobs", id)) }
            let events = job.events ?? []
            if !json {
                for e in events.dropFirst(printed) {
                    print("\(Render.timeOfDay(e.at))  #\(e.attempt)  \(e.kind)  \(e.message ?? "")")
                }
            }
            printed = events.count
            if job.state.isTerminal {
                if json {
                    let encoder = JSONEncoder(); encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    print(String(decoding: try encoder.encode(job), as: UTF8.self))
                } else if let out = job.output, !out.isEmpty {
                    print("output:\n" + out)
                }
                if job.state != .completed { throw ExitCode.failure }
                return
            }
            Thread.sleep(forTimeInterval: 0.5)
        }
    }

    struct Enqueue: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Queue a command for a member's agent.")
        @OptionGroup var global: Global
        @Option(help: "Member ID.") var member: Int64
        @Argument(help: "Command ID, e.g. host.echo (see `balctl commands`).") var command: String
        @Option(help: "Parameters as a JSON object.") var params: String = "{}"
        @Option var priority: Int?
        @Option var maxAttempts: Int?
        @Option(help: "Seconds before the agent stops the job.") var timeout: Int?
        @Flag(help: "Check mode: report what would change, change nothing.") var check = false
        @Flag(help: "Follow the job until it ends.") var follow = false
        func run() throws {
            guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(params.utf8)),
                  case .object = value else { throw ValidationError("--params must be a JSON object") }
            try perform {
                let client = try global.client()
                let job: JobView = try client.send("POST", APIPath("members", member, "jobs"), EnqueueJobRequest(
                    command: command, params: value, priority: priority, maxAttempts: maxAttempts,
                    timeoutSec: timeout, checkMode: check))
                if follow {
                    if !global.json { print("job \(job.id) queued") }
                    try Jobs.follow(client, job.id, json: global.json)
                } else {
                    try global.output(job) { "job \(job.id) queued: \(job.command) on \(job.hostname)" }
                }
            }
        }
    }

    struct List: ParsableCommand {
        @OptionGroup var global: Global
        @Option(help: "Only this member.") var member: Int64?
        @Option(help: "Only this pool.") var pool: Int64?
        @Option var limit: Int = 50
        func run() throws {
            let path = member.map { APIPath("members", $0, "jobs") } ?? pool.map { APIPath("pools", $0, "jobs") } ?? APIPath("jobs")
            try perform {
                let jobs: [JobView] = try global.client().get(path.query("limit", limit))
                try global.output(jobs) { Jobs.table(jobs) }
            }
        }
    }

    struct Show: ParsableCommand {
        @OptionGroup var global: Global
        @Argument var id: Int64
        func run() throws {
            try perform {
                let job: JobView = try global.client().get(APIPath("jobs", id))
                try global.output(job) { Jobs.detail(job) }
            }
        }
    }

    struct Cancel: ParsableCommand {
        @OptionGroup var global: Global
        @Argument var id: Int64
        func run() throws {
            try perform {
                let job: JobView = try global.client().post(APIPath("jobs", id, "cancel"))
                try global.output(job) {
                    job.state == .cancelled ? "job \(id) cancelled"
                        : "job \(id) is running: the agent stops it on its next heartbeat"
                }
            }
        }
    }

    struct Follow: ParsableCommand {
        @OptionGroup var global: Global
        @Argument var id: Int64
        func run() throws {
            try perform { try Jobs.follow(global.client(), id, json: global.json) }
        }
    }
}

struct Commands: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The command catalogue.")
    @OptionGroup var global: Global
    func run() throws {
        try perform {
            let infos: [CommandInfo] = try global.client().get(APIPath("commands"))
            try global.output(infos) {
                Render.table(["COMMAND", "STACK", "ROOT", "LOCK", "CHECK", "PARAMETERS", "SUMMARY"], infos.map {
                    [$0.id, $0.stack, $0.requiresRoot ? "yes" : "no", $0.lock ?? "-", $0.supportsCheckMode ? "yes" : "no",
                     $0.parameters, $0.summary]
                })
            }
        }
    }
}

struct Accounts: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Accounts (admin): list, create.", subcommands: [List.self, Create.self], defaultSubcommand: List.self)
    struct List: ParsableCommand {
        @OptionGroup var global: Global
        func run() throws {
            try perform {
                let accounts: [AccountView] = try global.client().get(APIPath("accounts"))
                try global.output(accounts) {
                    Render.table(["ID", "NAME", "ADMIN", "CREATED"], accounts.map {
                        ["\($0.id)", $0.name, $0.isAdmin ? "yes" : "no", Render.dateTime($0.createdAt)]
                    })
                }
            }
        }
    }
    struct Create: ParsableCommand {
        @OptionGroup var global: Global
        @Argument var name: String
        @Flag var admin = false
        func run() throws {
            try perform {
                let t: TokenIssued = try global.client().send("POST", APIPath("accounts"), CreateAccountRequest(name: name, isAdmin: admin))
                try global.output(t) { "created account \(t.account.id) '\(t.account.name)'; its API token (shown once):\n  \(t.token)" }
            }
        }
    }
}

struct Tokens: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Issue another API token for your account.",
                                                    subcommands: [Create.self], defaultSubcommand: Create.self)
    struct Create: ParsableCommand {
        @OptionGroup var global: Global
        @Option var label: String?
        func run() throws {
            try perform {
                let t: TokenIssued = try global.client().send("POST", APIPath("tokens"), CreateTokenRequest(label: label))
                try global.output(t) { "API token for '\(t.account.name)' (shown once):\n  \(t.token)" }
            }
        }
    }
}

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Your account's audit log.")
    @OptionGroup var global: Global
    @Option var limit: Int = 50
    struct Entry: Codable { var at: Double; var action: String; var target: String; var detail: String? }
    func run() throws {
        try perform {
            let entries: [Entry] = try global.client().get(APIPath("audit").query("limit", limit))
            try global.output(entries) {
                Render.table(["AT", "ACTION", "TARGET", "DETAIL"], entries.map {
                    [Render.dateTime($0.at), $0.action, $0.target, $0.detail ?? ""]
                })
            }
        }
    }
}
