import BalctlProtocol
import Foundation
import TestSupport
import Testing

/// issue 14: `balctl backups` — the real binary against a real `balctl-server` (no agent: what
/// needs no snapshot), and against a canned listener for the renderings of snapshots.
@Suite(.serialized)
struct BackupCLITests {
    static let missing = "0123456789abcdef0123456789abcdef"

    func cli(_ h: Harness, _ args: [String], token: String? = nil) async throws -> Harness.CLIResult {
        try await Harness.cli(args + ["--server", h.base, "--token", token ?? h.adminToken, "--ca-file", h.tls.caCert])
    }

    func decode<T: Decodable>(_ type: T.Type, _ r: Harness.CLIResult) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(r.stdout.utf8))
    }

    @Test("issue 14: list (empty), policy show/set/merge/clear, quota show/set/unlimited, 404s and refusals from the server")
    func againstServer() async throws {
        let h = try Harness()
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("backups")
        let e = try await api.member(pool: pool.id, hostname: "bk-1")
        let m = "\(e.member.id)"

        // list: nothing yet, as text and as JSON.
        var r = try await cli(h, ["backups", "list", m])
        #expect(r.status == 0 && r.stdout.contains("no snapshots of member \(m)"), "\(r.stdout) \(r.stderr)")
        r = try await cli(h, ["backups", "list", m, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try decode([SnapshotView].self, r).isEmpty)
        r = try await cli(h, ["backups", "list", "9999"])
        #expect(r.status == 1 && r.stderr.contains("HTTP 404"), "\(r.stderr)")

        // policy: none; one rule; the other merged in; a rule dropped with 0; all cleared.
        r = try await cli(h, ["backups", "policy", m])
        #expect(r.status == 0 && r.stdout.contains("no retention policy"), "\(r.stdout) \(r.stderr)")
        r = try await cli(h, ["backups", "policy", m, "--keep-last", "5"])
        #expect(r.status == 0 && r.stdout.contains("keeps the last 5 snapshots"), "\(r.stdout) \(r.stderr)")
        r = try await cli(h, ["backups", "policy", m, "--keep-days", "30", "--json"])
        #expect(try decode(BackupPolicyView.self, r) == BackupPolicyView(keepLast: 5, keepDays: 30))
        r = try await cli(h, ["backups", "policy", m, "--json"])
        #expect(try decode(BackupPolicyView.self, r) == BackupPolicyView(keepLast: 5, keepDays: 30), "stored, not just echoed")
        r = try await cli(h, ["backups", "policy", m, "--keep-last", "0", "--json"])
        #expect(try decode(BackupPolicyView.self, r) == BackupPolicyView(keepLast: nil, keepDays: 30))
        r = try await cli(h, ["backups", "policy", m, "--keep-last", "20000"])
        #expect(r.status == 1 && r.stderr.contains("keepLast must be 1–10000") && r.stderr.contains("HTTP 400"), "\(r.stderr)")
        r = try await cli(h, ["backups", "policy", m, "--clear", "--keep-days", "3"])
        #expect(r.status == 64 && r.stderr.contains("--clear"), "\(r.stderr)")
        r = try await cli(h, ["backups", "policy", m, "--clear", "--json"])
        #expect(try decode(BackupPolicyView.self, r) == BackupPolicyView())
        r = try await cli(h, ["backups", "policy", m])
        #expect(r.stdout.contains("no retention policy"), "\(r.stdout)")

        // quota: none; set with a suffix (the admin's own account, found through whoami); shown; removed.
        r = try await cli(h, ["backups", "quota", "--json"])
        #expect(try decode(BackupQuotaView.self, r) == BackupQuotaView(quotaBytes: nil, usedBytes: 0))
        r = try await cli(h, ["backups", "quota"])
        #expect(r.status == 0 && r.stdout.contains("no quota"), "\(r.stdout) \(r.stderr)")
        r = try await cli(h, ["backups", "quota", "--set", "10G", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try decode(BackupQuotaView.self, r) == BackupQuotaView(quotaBytes: 10 << 30, usedBytes: 0))
        r = try await cli(h, ["backups", "quota"])
        #expect(r.stdout.contains("0 B of 10.0 GiB quota used (0 %)"), "\(r.stdout)")
        r = try await cli(h, ["backups", "quota", "--set", "10X"])
        #expect(r.status == 64 && r.stderr.contains("not a size"), "\(r.stderr)")
        r = try await cli(h, ["backups", "quota", "--set", "1G", "--unlimited"])
        #expect(r.status == 64, "\(r.stderr)")
        let admin: AccountView = try await api.call("GET", "/whoami")
        r = try await cli(h, ["backups", "quota", "--account", "\(admin.id)", "--json"])
        #expect(try decode(BackupQuotaView.self, r).quotaBytes == 10 << 30, "10X changed nothing")
        r = try await cli(h, ["backups", "quota", "--account", "\(admin.id)", "--unlimited", "--json"])
        #expect(try decode(BackupQuotaView.self, r) == BackupQuotaView(quotaBytes: nil, usedBytes: 0))

        // Another (non-admin) account: no quota setting, no view of the admin's account or member.
        r = try await cli(h, ["accounts", "create", "ops", "--json"])
        let ops = try decode(TokenIssued.self, r)
        r = try await cli(h, ["backups", "quota", "--set", "1T"], token: ops.token)
        #expect(r.status == 1 && r.stderr.contains("only an admin") && r.stderr.contains("HTTP 403"), "\(r.stderr)")
        r = try await cli(h, ["backups", "quota", "--account", "\(admin.id)"], token: ops.token)
        #expect(r.status == 1 && r.stderr.contains("HTTP 404"), "\(r.stderr)")
        r = try await cli(h, ["backups", "list", m], token: ops.token)
        #expect(r.status == 1 && r.stderr.contains("HTTP 404"), "\(r.stderr)")
        r = try await cli(h, ["backups", "policy", m, "--keep-last", "1"], token: ops.token)
        #expect(r.status == 1 && r.stderr.contains("HTTP 404"), "\(r.stderr)")

        // A well-formed ID the catalog does not have: the server's 404, exit 1.
        for args in [["show", Self.missing], ["delete", Self.missing, "--yes"], ["delete", Self.missing],
                     ["restore", Self.missing], ["restore", Self.missing, "--to", m, "--check"]] {
            r = try await cli(h, ["backups"] + args)
            #expect(r.status == 1 && r.stderr.contains("no snapshot \(Self.missing)") && r.stderr.contains("HTTP 404"),
                    "\(args): \(r.stderr)")
        }

        // create: the job is refused by the server (the member never reported its commands), exit 1;
        // a bad scope or paths without --path never reach it (exit 64).
        r = try await cli(h, ["backups", "create", m, "--scope", "haproxy"])
        #expect(r.status == 1 && r.stderr.contains("HTTP 4"), "\(r.stderr)")
        for args in [["--scope", "no such scope!"],
                     ["--scope", "paths", "--path", "etc"], ["--scope", "haproxy", "--part-mib", "65"],
                     ["--scope", "haproxy", "--zstd-level", "0"]] {
            r = try await cli(h, ["backups", "create", m] + args)
            #expect(r.status == 64, "\(args): \(r.stderr)")
        }
        let jobs: [JobView] = try await api.call("GET", "/members/\(m)/jobs")
        #expect(jobs.isEmpty, "nothing was queued")
    }

    /// `balctl` with stdin at /dev/null (never a terminal, whatever runs the tests).
    func cliNoTTY(_ args: [String]) throws -> Harness.CLIResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try Harness.binary("balctl"))
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BALCTL_") }
        p.standardInput = FileHandle.nullDevice
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Harness.CLIResult(status: p.terminationStatus, signalled: p.terminationReason == .uncaughtSignal,
                                 stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    static let ids = ["a1b2c3d4e5f60718293a4b5c6d7e8f90", "ffeeddccbbaa99887766554433221100"]

    static func snapshot(_ id: String, state: String = "complete", parts: Bool = false) -> SnapshotView {
        let t = Date().timeIntervalSince1970
        return SnapshotView(id: id, memberId: 7, memberHostname: "lb-1", accountId: 1, scope: "haproxy", state: state, jobId: 42,
                            createdAt: t - 7200, completedAt: state == "complete" ? t - 7190 : nil,
                            bytes: state == "complete" ? 36 << 20 : 0, sourceBytes: state == "complete" ? 120 << 20 : 0,
                            entries: state == "complete" ? 1234 : 0, error: state == "failed" ? "the backup job ended without a commit" : nil,
                            data: parts ? [SnapshotPart(index: 0, size: 16 << 20, sha256: String(repeating: "a", count: 64)),
                                           SnapshotPart(index: 1, size: 16 << 20, sha256: String(repeating: "b", count: 64)),
                                           SnapshotPart(index: 2, size: 4 << 20, sha256: String(repeating: "c", count: 64))] : [],
                            manifest: parts ? [SnapshotPart(index: 0, size: 12_288, sha256: String(repeating: "d", count: 64))] : [])
    }

    static func json(_ value: some Encodable) throws -> String { String(decoding: try JSONEncoder().encode(value), as: UTF8.self) }

    @Test("issue 14: a malformed snapshot ID is a local error (exit 64, nothing sent); list/show render snapshots; delete without --yes off a terminal refuses after showing nothing deleted")
    func renderingsAndLocalChecks() async throws {
        // Invalid IDs never reach the server.
        let quiet = try LoopbackListener()
        defer { quiet.stop() }
        let conn = ["--server", "http://127.0.0.1:\(quiet.port)", "--token", "bct_secret"]
        for bad in ["ABC", Self.ids[0].uppercased(), String(Self.ids[0].dropLast()), "../../etc/passwd", Self.ids[0] + "0"] {
            for sub in [["show", bad], ["delete", bad, "--yes"], ["restore", bad]] {
                let r = try await Harness.cli(["backups"] + sub + conn)
                #expect(r.status == 64 && r.stderr.contains("32 lowercase hex"), "\(sub): \(r.stderr)")
            }
        }
        #expect(quiet.connections == 0)

        // list: the table, the KPI line (failed ones counted apart), and JSON exactly as served.
        let list = [Self.snapshot(Self.ids[0]), Self.snapshot(Self.ids[1], state: "failed")]
        let lister = try LoopbackListener(body: try Self.json(list))
        defer { lister.stop() }
        let lconn = ["--server", "http://127.0.0.1:\(lister.port)", "--token", "bct_secret"]
        var r = try await Harness.cli(["backups", "list", "7"] + lconn)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("ID") == true && lines.first?.contains("ENTRIES") == true, "\(r.stdout)")
        #expect(lines.contains { $0.hasPrefix(Self.ids[0]) && $0.contains("complete") && $0.contains("36.0 MiB") && $0.contains("120.0 MiB") && $0.hasSuffix("1234") },
                "\(r.stdout)")
        #expect(lines.contains { $0.hasPrefix(Self.ids[1]) && $0.contains("failed") }, "\(r.stdout)")
        #expect(lines.last?.hasPrefix("2 snapshots, total 36.0 MiB, last backup ") == true && lines.last?.hasSuffix(" ago, 1 failed") == true,
                "\(r.stdout)")
        #expect(lister.requests.first?.hasPrefix("GET /api/v1/members/7/backups ") == true, "\(lister.requests)")
        r = try await Harness.cli(["backups", "list", "7", "--json"] + lconn)
        #expect(try decode([SnapshotView].self, r) == list)

        // show: fields, parts summary, --parts, and --json.
        let one = Self.snapshot(Self.ids[0], parts: true)
        let shower = try LoopbackListener(body: try Self.json(one))
        defer { shower.stop() }
        let sconn = ["--server", "http://127.0.0.1:\(shower.port)", "--token", "bct_secret"]
        r = try await Harness.cli(["backups", "show", Self.ids[0]] + sconn)
        #expect(r.status == 0, "\(r.stderr)")
        for needle in ["snapshot   \(Self.ids[0])", "member     7 lb-1", "scope      haproxy", "state      complete", "job        42",
                       "(took 10s)", "size       36.0 MiB stored, 120.0 MiB source, 1234 entries",
                       "data       3 parts, 36.0 MiB (largest 16.0 MiB)", "manifest   1 part, 12.0 KiB"] {
            #expect(r.stdout.contains(needle), "\(needle) in \(r.stdout)")
        }
        #expect(!r.stdout.contains(String(repeating: "a", count: 64)), "hashes only with --parts")
        r = try await Harness.cli(["backups", "show", Self.ids[0], "--parts"] + sconn)
        #expect(r.stdout.contains("KIND") && r.stdout.contains(String(repeating: "c", count: 64)) && r.stdout.contains("manifest  0"), "\(r.stdout)")
        r = try await Harness.cli(["backups", "show", Self.ids[0], "--json"] + sconn)
        #expect(try decode(SnapshotView.self, r) == one)

        // delete without --yes, stdin not a terminal: refused after the look-up; no DELETE sent.
        let before = shower.requests.count
        r = try cliNoTTY(["backups", "delete", Self.ids[0]] + sconn)
        #expect(r.status == 64 && r.stderr.contains("refusing without confirmation"), "\(r.stderr)")
        let sent = shower.requests.dropFirst(before)
        #expect(sent.count == 1 && sent.allSatisfy { $0.hasPrefix("GET /api/v1/backups/\(Self.ids[0]) ") }, "\(sent)")
    }

    static func job(_ command: String, state: JobState, result: JSONValue?, error: String? = nil) -> JobView {
        let t = Date().timeIntervalSince1970
        return JobView(id: 5, poolId: 1, memberId: 7, hostname: "lb-1", command: command, params: .object([:]), state: state,
                       attempt: 1, maxAttempts: 3, priority: 0, timeoutSec: 3600, checkMode: false, cancelRequested: false,
                       createdAt: t - 5, startedAt: t - 4, finishedAt: t, exitCode: 0, changed: state == .completed ? true : nil,
                       error: error, progressMessage: nil, progressPercent: nil, output: "wrote 12 entries",
                       result: result, events: [
                           JobEventView(at: t - 5, attempt: 1, kind: "enqueued", message: nil),
                           JobEventView(at: t - 4, attempt: 1, kind: "claimed", message: nil),
                           JobEventView(at: t - 2, attempt: 1, kind: "progress", message: "3.0 MiB of 3.0 MiB read"),
                           JobEventView(at: t, attempt: 1, kind: state.rawValue, message: error),
                       ])
    }

    @Test("issue 14: create/restore --wait and --follow poll the job to its end: the snapshot ID at the end, the timeline with --follow, the job as JSON with --json, exit 1 when it failed")
    func waitAndFollow() async throws {
        let done = Self.job("backup.create", state: .completed, result: .object([
            "snapshot": .string(Self.ids[0]), "storedBytes": .number(1_048_576), "sourceBytes": .number(3_145_728), "entries": .number(12),
        ]))
        let server = try LoopbackListener(body: try Self.json(done))
        defer { server.stop() }
        let conn = ["--server", "http://127.0.0.1:\(server.port)", "--token", "bct_secret"]

        var r = try await Harness.cli(["backups", "create", "7", "--scope", "paths", "--path", "/etc/haproxy", "--wait"] + conn)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("job 5 queued: backup.create (paths) on lb-1") && r.stdout.contains("job 5 completed"), "\(r.stdout)")
        #expect(r.stdout.contains("snapshot \(Self.ids[0]) (1.0 MiB stored, 3.0 MiB source, 12 entries)"), "\(r.stdout)")
        #expect(!r.stdout.contains("claimed"), "--wait is quiet until the end: \(r.stdout)")
        #expect(server.requests.first?.hasPrefix("POST /api/v1/members/7/jobs ") == true, "\(server.requests)")
        #expect(server.requests.dropFirst().allSatisfy { $0.hasPrefix("GET /api/v1/jobs/5 ") }, "\(server.requests)")

        r = try await Harness.cli(["backups", "create", "7", "--scope", "haproxy", "--follow"] + conn)
        #expect(r.status == 0, "\(r.stderr)")
        for needle in ["claimed", "progress  3.0 MiB of 3.0 MiB read", "output:\nwrote 12 entries", "snapshot \(Self.ids[0])"] {
            #expect(r.stdout.contains(needle), "\(needle) in \(r.stdout)")
        }

        r = try await Harness.cli(["backups", "create", "7", "--scope", "haproxy", "--wait", "--json"] + conn)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try decode(JobView.self, r).result?["snapshot"]?.stringValue == Self.ids[0], "\(r.stdout)")

        // Without --wait: the queued job, once.
        let before = server.requests.count
        r = try await Harness.cli(["backups", "create", "7", "--scope", "firewall"] + conn)
        #expect(r.status == 0 && r.stdout == "job 5 queued: backup.create (firewall) on lb-1\n", "\(r.stdout)")
        #expect(server.requests.count == before + 1)

        // A restore that fails validation: its error, exit 1.
        let failed = Self.job("backup.restore", state: .failed, result: nil, error: "haproxy -c refused the staged config; nothing was changed")
        let refusing = try LoopbackListener(body: try Self.json(failed))
        defer { refusing.stop() }
        r = try await Harness.cli(["backups", "restore", Self.ids[0], "--to", "8", "--wait",
                                   "--server", "http://127.0.0.1:\(refusing.port)", "--token", "bct_secret"])
        #expect(r.status == 1, "\(r.stdout) \(r.stderr)")
        #expect(r.stdout.contains("job 5 failed: haproxy -c refused the staged config"), "\(r.stdout)")
        #expect(refusing.requests.first?.hasPrefix("POST /api/v1/backups/\(Self.ids[0])/restore ") == true, "\(refusing.requests)")
    }
}
