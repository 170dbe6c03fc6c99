import BalctlProtocol
import ControlPlane
import CurlClient
import Foundation
import ServiceLaunchers
import Testing
import TestSupport

/// Backups end to end with real processes: `balctl-server` (filesystem store, and S3 on a real
/// moto), real `balctl-heartbeat` agents running as root, a real haproxy for the haproxy scope.
@Suite(.serialized, .motoServer)
struct BackupEndToEndTests {
    /// The path of the one stored object of a part in a filesystem snapshot directory (each
    /// upload has its own name, `data-000000.<version>`); nil when there is none or more than one.
    static func storedPart(_ dir: String, _ part: String) -> String? {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix(part + ".") }
        return names.count == 1 ? dir + "/" + names[0] : nil
    }

    // MARK: the issue's tree

    /// Regular files (modes 600/755/4755), other owners, symlinks inside the tree, an empty
    /// directory, a 200 MB file and 10,000 small files. Made once and kept for later runs (a
    /// marker beside it says it is complete), so runs do not pile up 200 MB trees in /tmp.
    static let tree: URL = {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-backup-e2e-tree")
        let root = parent.appendingPathComponent("tree")
        let marker = parent.appendingPathComponent(".complete")
        let fm = FileManager.default
        if fm.fileExists(atPath: marker.path) { return root }
        try? fm.removeItem(at: parent)
        try! fm.createDirectory(at: root.appendingPathComponent("small"), withIntermediateDirectories: true)
        try! fm.createDirectory(at: root.appendingPathComponent("empty"), withIntermediateDirectories: true)
        try! Data("key\n".utf8).write(to: root.appendingPathComponent("secret.key"))
        chmod(root.appendingPathComponent("secret.key").path, 0o600)
        try! Data("#!/bin/sh\necho hi\n".utf8).write(to: root.appendingPathComponent("run.sh"))
        chmod(root.appendingPathComponent("run.sh").path, 0o755)
        try! Data("#!/bin/sh\n".utf8).write(to: root.appendingPathComponent("suid"))
        chown(root.appendingPathComponent("suid").path, 0, 0)
        chmod(root.appendingPathComponent("suid").path, 0o4755)
        try! Data("owned\n".utf8).write(to: root.appendingPathComponent("owned.txt"))
        chown(root.appendingPathComponent("owned.txt").path, 1234, 4321)
        try! fm.createSymbolicLink(atPath: root.appendingPathComponent("link-to-run").path, withDestinationPath: "run.sh")
        try! fm.createSymbolicLink(atPath: root.appendingPathComponent("small/up").path, withDestinationPath: "../secret.key")
        // 200 MB: random (incompressible) so it spans many parts.
        let big = root.appendingPathComponent("big.bin")
        fm.createFile(atPath: big.path, contents: nil)
        let out = try! FileHandle(forWritingTo: big)
        let random = FileHandle(forReadingAtPath: "/dev/urandom")!
        for _ in 0..<200 { out.write(random.readData(ofLength: 1 << 20)) }
        try! out.close()
        for i in 0..<10_000 {
            try! Data("small file \(i)\n".utf8).write(to: root.appendingPathComponent("small/f\(i).txt"))
        }
        fm.createFile(atPath: marker.path, contents: nil)
        return root
    }()

    // MARK: rig

    struct Member {
        var enrollment: MemberEnrollment
        var stateDir: String
        var id: Int64 { enrollment.member.id }
    }

    func enrol(_ h: Harness, _ api: Harness.Operator, pool: Int64, _ hostname: String, env extra: [String: String] = [:]) async throws -> (Member, Process) {
        let e = try await api.member(pool: pool, hostname: hostname)
        let m = Member(enrollment: e, stateDir: h.dir.appendingPathComponent("state-\(hostname)").path)
        let p = try startAgent(h, m, env: extra)
        _ = try await api.waitForHeartbeat(e.member.id)
        return (m, p)
    }

    func startAgent(_ h: Harness, _ m: Member, env extra: [String: String] = [:]) throws -> Process {
        var env = h.agentEnv(secret: m.enrollment.enrollmentSecret, hostname: m.enrollment.member.hostname, stateDir: m.stateDir)
        env.merge(extra) { $1 }
        let p = try h.run(try Harness.binary("balctl-heartbeat"), [], env: env, log: "agent-\(m.enrollment.member.hostname).log")
        h.agents.append(p)
        return p
    }

    func finished(_ api: Harness.Operator, _ job: JobView, timeout: Double = 240) async throws -> JobView {
        try await api.waitForJob(job.id, timeout: timeout) { $0.state.isTerminal }
    }

    func snapshotID(_ job: JobView) -> String? { job.result?["snapshot"]?.stringValue }

    func backups(_ api: Harness.Operator, _ member: Int64) async throws -> [SnapshotView] {
        try await api.call("GET", "/members/\(member)/backups")
    }

    // MARK: tests

    @Test("a real tree round-trips byte-identical through the filesystem store; an upload cut by killing the agent resumes without re-sending stored parts")
    func filesystemStoreRoundTripAndResume() async throws {
        let tree = Self.tree
        let h = try Harness()
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("backup")
        var (a, agent) = try await enrol(h, api, pool: pool.id, "bk-a")
        let job = try await api.enqueue(a.id, "backup.create", .object(["scope": .string("paths"), "paths": .array([.string(tree.path)])]))
        // Kill the agent once two parts (32 MiB) are stored.
        var cut = false
        for _ in 0..<2000 {
            if let s = try? await backups(api, a.id).first, s.state == "uploading", s.bytes >= 32 << 20 {
                kill(agent.processIdentifier, SIGKILL)
                agent.waitUntilExit()
                cut = true
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(cut, "the upload finished before it could be cut")
        let stored = try await backups(api, a.id).first
        #expect(stored?.state == "uploading")
        agent = try startAgent(h, a)
        // Progress reaches the job (what `balctl jobs follow` shows): bytes done and a percent.
        var seen: [String] = []
        var done = try await api.job(job.id)
        while !done.state.isTerminal {
            if let m = done.progressMessage, let p = done.progressPercent { seen.append("\(m) \(p)") }
            try await Task.sleep(for: .milliseconds(50))
            done = try await api.job(job.id)
        }
        #expect(seen.contains { $0.contains("MiB of") && $0.contains("read") }, "\(seen)")
        #expect(done.state == .completed, "\(done.error ?? "") \(h.log("agent-bk-a.log").suffix(2000))")
        #expect(done.attempt == 2)
        let skipped = done.result?["partsSkipped"]?.doubleValue ?? 0
        let uploaded = done.result?["partsUploaded"]?.doubleValue ?? 0
        let parts = done.result?["parts"]?.doubleValue ?? 0
        #expect(skipped >= 2, "\(String(describing: done.result))")
        #expect(Double(stored?.bytes ?? 0) >= skipped * Double(1 << 20))
        #expect(skipped + uploaded >= parts)
        guard let id = snapshotID(done) else { Issue.record("no snapshot id"); return }

        // The catalog and the store agree.
        let view: SnapshotView = try await api.call("GET", "/backups/\(id)")
        #expect(view.state == "complete")
        #expect(view.entries == 10_010)
        #expect(view.data.count == Int(parts))
        let dir = "\(h.dataDir)/snapshots/1/\(a.id)/\(id)"
        #expect(Self.storedPart(dir, "data-000000") != nil)

        // Restore elsewhere, keeping setuid bits: identical.
        let target = h.dir.appendingPathComponent("restored").path
        let restore = try await api.enqueue(a.id, "backup.restore", .object(["snapshot": .string(id), "restoreTo": .string(target), "keepSetuid": .bool(true)]))
        let restored = try await finished(api, restore)
        #expect(restored.state == .completed, "\(restored.error ?? "")")
        try expectSameTree(tree, URL(fileURLWithPath: target + tree.path))
        _ = a
    }

    @Test("the same tree round-trips through the S3 store (moto), and boto3 sees the parts balctl wrote")
    func s3StoreRoundTrip() async throws {
        let moto = try MotoServer.shared()
        let tree = Self.tree
        let h = try Harness()
        h.serverEnv = ["BALCTL_S3_ENDPOINT": moto.endpoint, "BALCTL_S3_REGION": MotoServer.region, "BALCTL_S3_BUCKET": MotoServer.bucket,
                       "BALCTL_S3_PREFIX": "e2e-\(UUID().uuidString.prefix(8))/", "BALCTL_S3_ACCESS_KEY_ID": moto.accessKeyID,
                       "BALCTL_S3_SECRET_ACCESS_KEY": moto.secretAccessKey]
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("backup-s3")
        let (a, _) = try await enrol(h, api, pool: pool.id, "bk-s3")
        let job = try await finished(api, try await api.enqueue(a.id, "backup.create", .object(["scope": .string("paths"), "paths": .array([.string(tree.path)])])))
        #expect(job.state == .completed, "\(job.error ?? "") \(h.log("server.log").suffix(1500))")
        guard let id = snapshotID(job) else { Issue.record("no snapshot"); return }
        let view: SnapshotView = try await api.call("GET", "/backups/\(id)")
        // boto3, an independent client, lists what balctl stored under the snapshot's prefix: one
        // object per catalogued part (named `data-000003.<version>`; the version cut off here).
        let listed = try moto.boto3("""
            import sys, boto3
            s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
            keys = []
            for page in s3.get_paginator('list_objects_v2').paginate(Bucket=sys.argv[4], Prefix=sys.argv[5]):
                keys += [o['Key'].rsplit('/', 1)[1].split('.')[0] + ' ' + str(o['Size']) for o in page.get('Contents', [])]
            print('\\n'.join(sorted(keys)))
            """, [moto.endpoint, moto.accessKeyID, moto.secretAccessKey, MotoServer.bucket, h.serverEnv["BALCTL_S3_PREFIX"]! + "1/\(a.id)/\(id)/"])
        #expect(listed.status == 0, "\(listed.err)")
        let expected = (view.data.map { "data-" + String(format: "%06d", $0.index) + " \($0.size)" }
                        + view.manifest.map { "manifest-" + String(format: "%06d", $0.index) + " \($0.size)" }).sorted()
        #expect(listed.out.split(separator: "\n").map(String.init) == expected)

        let target = h.dir.appendingPathComponent("restored").path
        let restored = try await finished(api, try await api.enqueue(a.id, "backup.restore",
            .object(["snapshot": .string(id), "restoreTo": .string(target), "keepSetuid": .bool(true)])))
        #expect(restored.state == .completed, "\(restored.error ?? "")")
        try expectSameTree(tree, URL(fileURLWithPath: target + tree.path))

        // Deleting the snapshot removes its objects.
        let _: [String: Bool] = try await api.call("DELETE", "/backups/\(id)")
        let after = try moto.boto3("""
            import sys, boto3
            s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
            print(s3.list_objects_v2(Bucket=sys.argv[4], Prefix=sys.argv[5]).get('KeyCount'))
            """, [moto.endpoint, moto.accessKeyID, moto.secretAccessKey, MotoServer.bucket, h.serverEnv["BALCTL_S3_PREFIX"]! + "1/\(a.id)/\(id)/"])
        #expect(after.out.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }

    @Test("a byte flipped in the store is detected and nothing is restored")
    func tamperedPartIsRefused() async throws {
        let h = try Harness()
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("backup-t")
        let (a, _) = try await enrol(h, api, pool: pool.id, "bk-t")
        let src = h.dir.appendingPathComponent("src")
        try FileManager.default.createDirectory(at: src, withIntermediateDirectories: true)
        for i in 0..<50 { try Data(repeating: UInt8(i), count: 10_000).write(to: src.appendingPathComponent("f\(i)")) }
        let job = try await finished(api, try await api.enqueue(a.id, "backup.create", .object(["scope": .string("paths"), "paths": .array([.string(src.path)])])))
        guard let id = snapshotID(job) else { Issue.record("no snapshot: \(job.error ?? "")"); return }
        let part = try #require(Self.storedPart("\(h.dataDir)/snapshots/1/\(a.id)/\(id)", "data-000000"))
        var bytes = try Data(contentsOf: URL(fileURLWithPath: part))
        bytes[bytes.count / 2] ^= 0x20
        try bytes.write(to: URL(fileURLWithPath: part))
        // In place: the live files stay as they are.
        try Data("live".utf8).write(to: src.appendingPathComponent("f3"))
        let restored = try await finished(api, try await api.enqueue(a.id, "backup.restore", .object(["snapshot": .string(id)])))
        #expect(restored.state == .failed)
        #expect(restored.error?.contains("does not match its SHA-256") == true, "\(restored.error ?? "")")
        #expect(restored.error?.contains("nothing was restored") == true)
        #expect(String(decoding: try Data(contentsOf: src.appendingPathComponent("f3")), as: UTF8.self) == "live")
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(a.stateDir)/backup").isEmpty)
    }

    @Test("haproxy scope: an invalid config is refused at validation; a reload failure rolls back and haproxy keeps serving; a good snapshot is restored and reloaded")
    func haproxyScope() async throws {
        let h = try Harness()
        let edge = try HAProxyEndToEndTests.EdgeHAProxy(in: h.dir)
        defer { Self.killHAProxies(serving: edge.config) }
        try await h.startServer()
        let api = try h.api()
        let pool: PoolView = try await api.call("POST", "/pools", CreatePoolRequest(name: "edge", template: .haproxy))
        let env = ["BALCTL_HAPROXY_CONFIG": edge.config, "BALCTL_HAPROXY_BIN": "/usr/sbin/haproxy"]
        let (a, _) = try await enrol(h, api, pool: pool.id, "edge-bk", env: env)
        let good = try String(contentsOfFile: edge.config, encoding: .utf8)
        let frontend = try #require(good.split(separator: "\n").first { $0.contains("bind 127.0.0.1:") }.map { String($0.split(separator: ":").last!) })
        let backendPort = try #require(good.split(separator: "\n").first { $0.contains("server s1 127.0.0.1:") }
            .map { String($0.split(separator: ":")[1].split(separator: " ")[0]) })
        try await waitServing(frontend)

        func snapshot(of text: String) async throws -> String {
            try text.write(toFile: edge.config, atomically: false, encoding: .utf8)
            let job = try await finished(api, try await api.enqueue(a.id, "backup.create", .object(["scope": .string("haproxy")])))
            #expect(job.state == .completed, "\(job.error ?? "")")
            return try #require(snapshotID(job))
        }
        let sGood = try await snapshot(of: good)
        let sBad = try await snapshot(of: "this is not an haproxy config\n")
        // Valid for `haproxy -c`, but its frontend port is taken (by the backend): the reload fails.
        let sPort = try await snapshot(of: good.replacingOccurrences(of: "bind 127.0.0.1:\(frontend)", with: "bind 127.0.0.1:\(backendPort)"))
        let changed = good.replacingOccurrences(of: "timeout client 10s", with: "timeout client 11s")
        try changed.write(toFile: edge.config, atomically: false, encoding: .utf8)

        let bad = try await finished(api, try await api.enqueue(a.id, "backup.restore", .object(["snapshot": .string(sBad)])))
        #expect(bad.state == .failed)
        #expect(bad.error?.contains("rejects the restored files; live files untouched") == true, "\(bad.error ?? "")")
        #expect(try String(contentsOfFile: edge.config, encoding: .utf8) == changed)
        try await waitServing(frontend)

        let port = try await finished(api, try await api.enqueue(a.id, "backup.restore", .object(["snapshot": .string(sPort)])))
        #expect(port.state == .failed)
        #expect(port.error?.contains("rolled back to the previous files, the previous files are active again") == true, "\(port.error ?? "")")
        #expect(try String(contentsOfFile: edge.config, encoding: .utf8) == changed)
        try await waitServing(frontend)

        let check = try await finished(api, try await api.call("POST", "/backups/\(sGood)/restore", SnapshotRestoreRequest(checkMode: true), as: JobView.self))
        #expect(check.state == .completed && check.output?.contains("would create 0 and replace 1") == true, "\(check.output ?? "") \(check.error ?? "")")
        #expect(try String(contentsOfFile: edge.config, encoding: .utf8) == changed)

        let ok = try await finished(api, try await api.call("POST", "/backups/\(sGood)/restore", SnapshotRestoreRequest(), as: JobView.self))
        #expect(ok.state == .completed, "\(ok.error ?? "")")
        #expect(ok.output?.contains("1 replaced") == true, "\(ok.output ?? "")")
        #expect(try String(contentsOfFile: edge.config, encoding: .utf8) == good)
        try await waitServing(frontend)
    }

    @Test("cross-member restore and standby provisioning within an account; a cross-account restore is refused (403)")
    func crossMemberAndCrossAccount() async throws {
        let h = try Harness()
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("dr")
        let (a, _) = try await enrol(h, api, pool: pool.id, "dr-a")
        let (b, _) = try await enrol(h, api, pool: pool.id, "dr-b")
        let src = h.dir.appendingPathComponent("site")
        try FileManager.default.createDirectory(at: src, withIntermediateDirectories: true)
        try Data("v1".utf8).write(to: src.appendingPathComponent("index.html"))
        let made = try await finished(api, try await api.enqueue(a.id, "backup.create", .object(["scope": .string("paths"), "paths": .array([.string(src.path)])])))
        let id = try #require(snapshotID(made), "\(made.error ?? "")")

        // B (no restore job naming the snapshot) may not read A's snapshot over the agent API.
        let peek = try await h.session().request("GET", h.base + SnapshotWire.infoPath(id), headers: [("Authorization", "Bearer \(b.enrollment.enrollmentSecret)")])
        #expect(peek.status == 403, "\(peek.text)")

        try Data("broken".utf8).write(to: src.appendingPathComponent("index.html"))
        let dr = try await finished(api, try await api.call("POST", "/backups/\(id)/restore", SnapshotRestoreRequest(to: b.id, provision: true), as: JobView.self))
        #expect(dr.command == "standby.provision_from_backup" && dr.memberId == b.id)
        #expect(dr.state == .completed, "\(dr.error ?? "")")
        #expect(String(decoding: try Data(contentsOf: src.appendingPathComponent("index.html")), as: UTF8.self) == "v1")

        // Another account: its operator cannot see the snapshot, nor name it in a job; its agent cannot read it.
        let other: TokenIssued = try await api.call("POST", "/accounts", CreateAccountRequest(name: "tenant2", isAdmin: false))
        let api2 = try h.api(token: other.token)
        let pool2 = try await api2.pool("t2")
        let (c, _) = try await enrol(h, api2, pool: pool2.id, "dr-c")
        let show = try await api2.raw("GET", "/backups/\(id)")
        #expect(show.status == 404)
        let viaJob = try await api2.raw("POST", "/members/\(c.id)/jobs", try JSONEncoder().encode(
            EnqueueJobRequest(command: "backup.restore", params: .object(["snapshot": .string(id)]))))
        #expect(viaJob.status == 403, "\(viaJob.text)")
        #expect(viaJob.text.contains("restores never cross accounts"))
        let toOther = try await api.raw("POST", "/backups/\(id)/restore", try JSONEncoder().encode(SnapshotRestoreRequest(to: c.id)))
        #expect(toOther.status == 404, "\(toOther.text)")
        let agentRead = try await h.session().request("GET", h.base + SnapshotWire.partPath(id, "data", 0),
                                                      headers: [("Authorization", "Bearer \(c.enrollment.enrollmentSecret)")])
        #expect(agentRead.status == 403, "\(agentRead.text)")
    }

    @Test("retention keeps the last N per member and removes the rest from the store; the account quota refuses clearly")
    func retentionAndQuota() async throws {
        let h = try Harness()
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("ret")
        let (a, _) = try await enrol(h, api, pool: pool.id, "ret-a")
        let src = h.dir.appendingPathComponent("etc-app")
        try FileManager.default.createDirectory(at: src, withIntermediateDirectories: true)
        try Data("conf".utf8).write(to: src.appendingPathComponent("app.conf"))
        let _: BackupPolicyView = try await api.call("PUT", "/members/\(a.id)/backup-policy", BackupPolicyView(keepLast: 2))
        var ids: [String] = []
        for _ in 0..<3 {
            let j = try await finished(api, try await api.enqueue(a.id, "backup.create", .object(["scope": .string("paths"), "paths": .array([.string(src.path)])])))
            ids.append(try #require(snapshotID(j), "\(j.error ?? "")"))
        }
        let left = try await backups(api, a.id)
        #expect(left.map(\.id) == [ids[2], ids[1]])
        // The CLI shows the same catalog, and restores from it (check mode) until the job ends.
        let conn = ["--server", h.base, "--token", h.adminToken, "--ca-file", h.tls.caCert]
        let listed = try await Harness.cli(["backups", "list", "\(a.id)", "--json"] + conn)
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(try JSONDecoder().decode([SnapshotView].self, from: Data(listed.stdout.utf8)).map(\.id) == [ids[2], ids[1]])
        let checked = try await Harness.cli(["backups", "restore", ids[1], "--check", "--wait"] + conn, timeout: 60)
        #expect(checked.status == 0 && checked.stdout.contains("completed"), "\(checked.stdout) \(checked.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(h.dataDir)/snapshots/1/\(a.id)/\(ids[0])"))
        #expect(Self.storedPart("\(h.dataDir)/snapshots/1/\(a.id)/\(ids[1])", "data-000000") != nil)

        let used: BackupQuotaView = try await api.call("GET", "/backup-quota")
        #expect(used.usedBytes == left.reduce(0) { $0 + $1.bytes })
        let _: BackupQuotaView = try await api.call("PUT", "/accounts/1/backup-quota", SetBackupQuotaRequest(quotaBytes: used.usedBytes + 10))
        let refused = try await finished(api, try await api.enqueue(a.id, "backup.create", .object(["scope": .string("paths"), "paths": .array([.string(src.path)])]), maxAttempts: 1))
        #expect(refused.state == .failed)
        #expect(refused.error?.contains("backup quota exceeded") == true, "\(refused.error ?? "")")
        // The half-made snapshot is marked failed and holds nothing.
        var failed: SnapshotView? = nil
        for _ in 0..<100 {
            failed = try await backups(api, a.id).first { $0.jobId == refused.id }
            if failed?.state == "failed" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(failed?.state == "failed" && failed?.bytes == 0, "\(String(describing: failed))")
        let _: BackupQuotaView = try await api.call("PUT", "/accounts/1/backup-quota", SetBackupQuotaRequest(quotaBytes: nil))
        let again = try await finished(api, try await api.enqueue(a.id, "backup.create", .object(["scope": .string("paths"), "paths": .array([.string(src.path)])])))
        #expect(again.state == .completed)
    }

    // MARK: helpers

    func waitServing(_ port: String) async throws {
        var options = CurlSession.Options(requireHTTPS: false)
        options.timeoutMs = 2000
        let s = try CurlSession(options: options)
        for _ in 0..<100 {
            if let r = try? await s.request("GET", "http://127.0.0.1:\(port)/"), r.status == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Harness.HarnessError("haproxy does not serve on \(port)")
    }

    /// Every haproxy whose command line names `config` (the agent's takeover reloads start new ones).
    static func killHAProxies(serving config: String) {
        for pid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int32(pid) != nil {
            if let cmd = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8), cmd.contains("haproxy"), cmd.contains(config) {
                kill(Int32(pid)!, SIGKILL)
            }
        }
    }
}
