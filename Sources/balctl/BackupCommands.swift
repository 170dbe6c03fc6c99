import ArgumentParser
import BalctlProtocol
import OperatorClient
import Foundation

struct Backups: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Backups: create, list, show, restore, delete, policy, quota.",
        discussion: "A snapshot is made by a backup.create job on the member's agent and kept by the control plane; "
            + "restore it onto its member or, with --to, onto another member of the account.",
        subcommands: [Create.self, List.self, Show.self, Restore.self, Delete.self, Policy.self, Quota.self])


    /// The snapshot argument, checked before anything is sent.
    static func snapshotID(_ text: String) throws -> String {
        do { return try BackupArguments.snapshotID(text) } catch let e as BackupArguments.Invalid {
            throw ValidationError(e.description)
        }
    }

    static func size(_ n: Int64) -> String { Render.bytes(UInt64(max(n, 0))) }

    static func now() -> Double { Date().timeIntervalSince1970 }

    static func table(_ snapshots: [SnapshotView]) -> String {
        Render.table(["ID", "SCOPE", "STATE", "CREATED", "SIZE", "SOURCE", "ENTRIES"], snapshots.map { s in
            [s.id, s.scope, s.state, Render.dateTime(s.createdAt), size(s.bytes),
             s.state == "complete" ? size(s.sourceBytes) : "-", s.state == "complete" ? "\(s.entries)" : "-"]
        })
    }

    /// "3 snapshots, total 1.2 GiB, last backup 5h02m ago".
    static func summary(_ snapshots: [SnapshotView], now: Double) -> String {
        let total = snapshots.reduce(Int64(0)) { $0 + $1.bytes }
        let last = snapshots.filter { $0.state == "complete" }.map { $0.completedAt ?? $0.createdAt }.max()
        let failed = snapshots.filter { $0.state == "failed" }.count
        return "\(snapshots.count) snapshot\(snapshots.count == 1 ? "" : "s"), total \(size(total)), "
            + (last.map { "last backup \(Render.age(max(0, now - $0))) ago" } ?? "no complete backup")
            + (failed > 0 ? ", \(failed) failed" : "")
    }

    static func partsLine(_ parts: [SnapshotPart]) -> String {
        guard let largest = parts.map(\.size).max() else { return "none" }
        let total = parts.reduce(Int64(0)) { $0 + $1.size }
        return "\(parts.count) part\(parts.count == 1 ? "" : "s"), \(size(total))"
            + (parts.count > 1 ? " (largest \(size(largest)))" : "")
    }

    static func detail(_ s: SnapshotView, parts: Bool) -> String {
        var lines = [
            "snapshot   \(s.id)",
            "member     \(s.memberId == 0 ? "(removed)" : "\(s.memberId)") \(s.memberHostname)",
            "scope      \(s.scope)",
            "state      \(s.state)",
            "job        \(s.jobId.map { "\($0)" } ?? "-")",
            "created    \(Render.dateTime(s.createdAt)) (\(Render.age(max(0, now() - s.createdAt))) ago)",
        ]
        if let c = s.completedAt { lines.append("completed  \(Render.dateTime(c)) (took \(Render.age(max(0, c - s.createdAt))))") }
        lines.append("size       \(size(s.bytes)) stored, \(size(s.sourceBytes)) source, \(s.entries) entries")
        lines.append("data       \(partsLine(s.data))")
        lines.append("manifest   \(partsLine(s.manifest))")
        if let e = s.error { lines.append("error      \(e)") }
        if parts && !(s.data.isEmpty && s.manifest.isEmpty) {
            lines.append("")
            lines.append(Render.table(["KIND", "PART", "SIZE", "SHA-256"],
                                      s.data.map { ["data", "\($0.index)", size($0.size), $0.sha256] }
                                      + s.manifest.map { ["manifest", "\($0.index)", size($0.size), $0.sha256] }))
        }
        return lines.joined(separator: "\n")
    }

    /// Poll a backup or restore job until it ends, like `jobs follow`; with `events`, print its
    /// timeline as it grows and the progress percent as it moves; exit non-zero unless it completed.
    static func wait(_ client: APIClient, _ id: Int64, events: Bool, json: Bool) throws -> JobView {
        var printed = 0
        var lastPercent: Int? = nil
        while true {
            let job: JobView = try pollThroughOutages { try client.get(APIPath("jobs", id)) }
            let all = job.events ?? []
            let percent = job.state == .running ? job.progressPercent.map { Render.integer($0.rounded(.down)) } : nil
            if events && !json {
                let fresh = all.dropFirst(printed)
                for e in fresh {
                    var line = "\(Render.timeOfDay(e.at))  #\(e.attempt)  \(e.kind)  \(e.message ?? "")"
                    if e.kind == "progress", e.at == all.last?.at, let percent { line += " (\(percent) %)"; lastPercent = percent }
                    print(line)
                }
                if fresh.isEmpty, let percent, percent != lastPercent {
                    print("\(Render.timeOfDay(now()))  #\(job.attempt)  progress  \(percent) %\(job.progressMessage.map { "  \($0)" } ?? "")")
                    lastPercent = percent
                }
            }
            printed = all.count
            if job.state.isTerminal {
                if json {
                    let encoder = JSONEncoder(); encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    print(String(decoding: try encoder.encode(job), as: UTF8.self))
                } else {
                    if events, let out = job.output, !out.isEmpty { print("output:\n" + out) }
                    print(outcome(job))
                }
                if job.state != .completed { throw ExitCode.failure }
                return job
            }
            Thread.sleep(forTimeInterval: 0.5)
        }
    }

    /// The last line of a waited-for job: what became of it and, for a backup, the snapshot.
    static func outcome(_ job: JobView) -> String {
        var text = "job \(job.id) \(job.state.rawValue)"
        if job.state == .completed {
            if job.command == "backup.create", !job.checkMode, let id = job.result?["snapshot"]?.stringValue {
                var facts: [String] = []
                if let n = job.result?["storedBytes"]?.doubleValue { facts.append("\(size(Int64(n))) stored") }
                if let n = job.result?["sourceBytes"]?.doubleValue { facts.append("\(size(Int64(n))) source") }
                if let n = job.result?["entries"]?.doubleValue { facts.append("\(Render.integer(n)) entries") }
                text += "\nsnapshot \(id)" + (facts.isEmpty ? "" : " (\(facts.joined(separator: ", ")))")
            } else if let changed = job.changed {
                text += job.checkMode ? (changed ? " (check: would change)" : " (check: nothing to change)")
                    : (changed ? " (changed)" : " (unchanged)")
            }
        } else if let e = job.error {
            text += ": \(e)"
        }
        return text
    }

    /// `--wait`/`--follow` shared by create and restore.
    struct Waiting: ParsableArguments {
        @Flag(help: "Wait until the job ends (exit 1 unless it completed).") var wait = false
        @Flag(help: "Wait, printing the job's events and progress as they come.") var follow = false

        func handle(_ client: APIClient, _ job: JobView, _ global: Global, queued: String) throws {
            if wait || follow {
                if !global.json { print(queued) }
                _ = try Backups.wait(client, job.id, events: follow, json: global.json)
            } else {
                try global.output(job) { queued }
            }
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Queue a backup.create job for a member.")
        @OptionGroup var global: Global
        @Argument(help: "Member ID.") var member: Int64
        @Option(help: "haproxy, firewall or paths.") var scope: String
        @Option(name: .customLong("path"), help: "An absolute path to back up (repeatable; the paths scope).") var paths: [String] = []
        @Option(help: "Part size in MiB, 1–64 (default 16).") var partMib: Int?
        @Option(help: "zstd level, 1–19 (default 1).") var zstdLevel: Int?
        @Flag(help: "Check mode: count what would be backed up, store nothing.") var check = false
        @OptionGroup var waiting: Waiting

        func validate() throws {
            // Scopes come from the agent's plugins: the CLI checks the name's shape only, the
            // agent says which scopes it has and which take paths.
            guard !scope.isEmpty, scope.count <= 64, scope.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                throw ValidationError("--scope must be a scope name such as haproxy, firewall or paths")
            }
            if let p = paths.first(where: { !$0.hasPrefix("/") }) { throw ValidationError("--path \(p): give an absolute path") }
            if let n = partMib, !(1...64).contains(n) { throw ValidationError("--part-mib must be 1–64") }
            if let n = zstdLevel, !(1...19).contains(n) { throw ValidationError("--zstd-level must be 1–19") }
        }

        func run() throws {
            var params: [String: JSONValue] = ["scope": .string(scope)]
            if !paths.isEmpty { params["paths"] = .array(paths.map(JSONValue.string)) }
            if let partMib { params["partMiB"] = .number(Double(partMib)) }
            if let zstdLevel { params["zstdLevel"] = .number(Double(zstdLevel)) }
            try perform {
                let client = try global.client()
                let job: JobView = try client.send("POST", APIPath("members", member, "jobs"), EnqueueJobRequest(
                    command: "backup.create", params: .object(params), checkMode: check ? true : nil))
                try waiting.handle(client, job, global,
                                   queued: "job \(job.id) queued: backup.create (\(scope))\(check ? " in check mode" : "") on \(job.hostname)")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A member's snapshots, newest first.")
        @OptionGroup var global: Global
        @Argument(help: "Member ID.") var member: Int64
        func run() throws {
            try perform {
                let snapshots: [SnapshotView] = try global.client().get(APIPath("members", member, "backups"))
                try global.output(snapshots) {
                    snapshots.isEmpty ? "no snapshots of member \(member)"
                        : Backups.table(snapshots) + "\n" + Backups.summary(snapshots, now: Backups.now())
                }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One snapshot with its parts.")
        @OptionGroup var global: Global
        @Argument(help: "Snapshot ID (32 hex characters).") var snapshot: String
        @Flag(help: "List every part with its size and SHA-256.") var parts = false
        func run() throws {
            let id = try Backups.snapshotID(snapshot)
            try perform {
                let s: SnapshotView = try global.client().get(APIPath("backups", id))
                try global.output(s) { Backups.detail(s, parts: parts) }
            }
        }
    }

    struct Restore: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue a restore of a snapshot onto its member, or --to another member of the account.")
        @OptionGroup var global: Global
        @Argument(help: "Snapshot ID (32 hex characters).") var snapshot: String
        @Option(help: "Member ID to restore onto (disaster recovery; default: the snapshot's member).") var to: Int64?
        @Flag(help: "Check mode: report what would change, change nothing.") var check = false
        @Flag(help: "Provision the member from the backup (standby.provision_from_backup: installs the stack first).")
        var provision = false
        @OptionGroup var waiting: Waiting
        func run() throws {
            let id = try Backups.snapshotID(snapshot)
            try perform {
                let client = try global.client()
                let job: JobView = try client.send("POST", APIPath("backups", id, "restore"), SnapshotRestoreRequest(
                    to: to, checkMode: check ? true : nil, provision: provision ? true : nil))
                try waiting.handle(client, job, global, queued: "job \(job.id) queued: \(job.command) of snapshot \(id)"
                                   + "\(job.checkMode ? " in check mode" : "") onto member \(job.memberId) \(job.hostname)")
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a snapshot and its stored parts.")
        @OptionGroup var global: Global
        @Argument(help: "Snapshot ID (32 hex characters).") var snapshot: String
        @Flag(help: "Do not ask for confirmation.") var yes = false
        func run() throws {
            let id = try Backups.snapshotID(snapshot)
            try perform {
                let client = try global.client()
                let s: SnapshotView = try client.get(APIPath("backups", id))
                let short = String(id.prefix(8))
                try confirm("Delete snapshot \(id) (\(s.scope) of \(s.memberHostname), \(Render.dateTime(s.createdAt)), \(Backups.size(s.bytes)))?",
                            expect: short, yes: yes)
                try client.delete(APIPath("backups", id))
                struct Deleted: Encodable { var deleted: Bool; var snapshot: String }
                try global.output(Deleted(deleted: true, snapshot: id)) {
                    "deleted snapshot \(id) (\(s.scope) of \(s.memberHostname), \(Backups.size(s.bytes)))"
                }
            }
        }
    }

    struct Policy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A member's retention: show it, or set --keep-last / --keep-days (0 drops that rule), or --clear.",
            discussion: "After each new snapshot, a complete snapshot is kept when it is among the last N or younger than "
                + "N days; the newest is always kept. With no rule, every snapshot is kept.")
        @OptionGroup var global: Global
        @Argument(help: "Member ID.") var member: Int64
        @Option(help: "Keep the last N snapshots (1–10000; 0 drops the rule).") var keepLast: Int?
        @Option(help: "Keep snapshots younger than N days (1–36500; 0 drops the rule).") var keepDays: Int?
        @Flag(help: "Drop both rules: keep every snapshot.") var clear = false

        func validate() throws {
            if clear && (keepLast != nil || keepDays != nil) { throw ValidationError("--clear drops both rules: give it alone") }
            if let n = keepLast, n < 0 { throw ValidationError("--keep-last must not be negative") }
            if let n = keepDays, n < 0 { throw ValidationError("--keep-days must not be negative") }
        }

        static func text(_ p: BackupPolicyView, member: Int64) -> String {
            var rules: [String] = []
            if let n = p.keepLast { rules.append("the last \(n) snapshot\(n == 1 ? "" : "s")") }
            if let d = p.keepDays { rules.append("snapshots younger than \(d) day\(d == 1 ? "" : "s")") }
            return rules.isEmpty ? "member \(member): no retention policy, every snapshot is kept"
                : "member \(member) keeps \(rules.joined(separator: " and ")) (the newest is always kept)"
        }

        func run() throws {
            try perform {
                let client = try global.client()
                let path = APIPath("members", member, "backup-policy")
                var policy: BackupPolicyView
                if clear {
                    policy = try client.send("PUT", path, BackupPolicyView())
                } else if keepLast != nil || keepDays != nil {
                    // One rule given: the other stays as it is.
                    policy = try client.get(path)
                    if let n = keepLast { policy.keepLast = n == 0 ? nil : n }
                    if let d = keepDays { policy.keepDays = d == 0 ? nil : d }
                    policy = try client.send("PUT", path, policy)
                } else {
                    policy = try client.get(path)
                }
                try global.output(policy) { Policy.text(policy, member: member) }
            }
        }
    }

    struct Quota: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "An account's backup quota: show it, or (admin) --set BYTES or --unlimited.",
            discussion: "Sizes take K, M, G or T (powers of 1024): 500M, 10G, 1.5T.")
        @OptionGroup var global: Global
        @Option(help: "Account ID (default: yours).") var account: Int64?
        @Option(help: "Set the quota (admin), e.g. 10G.") var set: String?
        @Flag(help: "Remove the quota (admin).") var unlimited = false

        func validate() throws {
            if set != nil && unlimited { throw ValidationError("give --set or --unlimited, not both") }
            if let set { _ = try Quota.parse(set) }
        }

        static func parse(_ text: String) throws -> Int64 {
            do { return try BackupArguments.bytes(text) } catch let e as BackupArguments.Invalid {
                throw ValidationError("--set: \(e.description)")
            }
        }

        static func text(_ q: BackupQuotaView, account: Int64?) -> String {
            let who = account.map { "account \($0)" } ?? "your account"
            guard let quota = q.quotaBytes else { return "\(who): \(Backups.size(q.usedBytes)) of snapshots stored, no quota" }
            let percent = quota > 0 ? " (\(Int((Double(q.usedBytes) * 100 / Double(quota)).rounded(.down))) %)" : ""
            return "\(who): \(Backups.size(q.usedBytes)) of \(Backups.size(quota)) quota used\(percent)"
        }

        func run() throws {
            try perform {
                let client = try global.client()
                let q: BackupQuotaView
                var shown = account
                if set != nil || unlimited {
                    let target: Int64
                    if let account { target = account } else {
                        let me: AccountView = try client.get(APIPath("whoami"))
                        target = me.id
                        shown = me.id
                    }
                    q = try client.send("PUT", APIPath("accounts", target, "backup-quota"),
                                        SetBackupQuotaRequest(quotaBytes: try set.map(Quota.parse)))
                } else if let account {
                    q = try client.get(APIPath("accounts", account, "backup-quota"))
                } else {
                    q = try client.get(APIPath("backup-quota"))
                }
                try global.output(q) { Quota.text(q, account: shown) }
            }
        }
    }
}
