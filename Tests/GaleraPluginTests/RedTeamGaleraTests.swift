#if canImport(Glibc)
import Glibc
#endif
import AgentKernel
import BalctlProtocol
import Foundation
@testable import GaleraPlugin
import MariaDBPlugin
import ServiceLaunchers
import Testing
import TestSupport

/// Red-team findings on the Galera plugin (each test failed before its fix). The datadir is
/// mysql-owned: whatever is in it — grastate.dat, its temp names — is the mysql user's to plant,
/// and the agent is root.
@Suite(.serialized) struct RedTeamGaleraTests {
    static func mysqlIDs() throws -> (uid: uid_t, gid: gid_t) {
        guard let pw = getpwnam("mysql") else { throw MariaDBServer.Failure("no mysql user (mariadb-server makes it)") }
        return (pw.pointee.pw_uid, pw.pointee.pw_gid)
    }

    /// G1: `force` took the new file's owner and mode from `stat(path)` — a second look, by path,
    /// that follows a link — after reading the bytes through O_NOFOLLOW. The mysql user flips
    /// grastate.dat between its own regular file and a link to a root-owned set-uid file: when the
    /// read sees the file, the stat the link and SafeFile's lstat the file again, root writes the
    /// mysql user's bytes as a root-owned set-uid file. Now bytes, owner and mode come from one
    /// descriptor, set-id bits are dropped, and a file with a second hard link is refused.
    @Test func forceRewriteTakesOwnerAndModeFromTheFileItReadNeverThroughALink() throws {
        guard getuid() == 0 else { Issue.record("run as root: the attack needs a root-owned set-uid file and chown"); return }
        let (uid, gid) = try Self.mysqlIDs()
        let dir = try MariaDBServer.makeTempDirectory("balctl-galera-redteam")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chown(dir, uid, gid)
        let body = Array(GaleraBootstrapRuleTests.grastate.utf8)
        let setuidTarget = dir + "/setuid-root"
        try Data(body).write(to: URL(fileURLWithPath: setuidTarget))
        chmod(setuidTarget, 0o4755)
        let path = dir + "/grastate.dat"

        // Deterministic part: a set-id mode on the file is not carried into root's rewrite, and
        // the owner stays the file's.
        try Data(body).write(to: URL(fileURLWithPath: path))
        chown(path, uid, gid)
        chmod(path, 0o6770)
        try GaleraBootstrapHandler.markSafe(path)
        var st = stat()
        #expect(lstat(path, &st) == 0)
        #expect(st.st_uid == uid && st.st_gid == gid)
        #expect(st.st_mode & 0o7777 == 0o770, "set-id bits dropped: \(String(st.st_mode & 0o7777, radix: 8))")

        // A second hard link: the file is also somewhere else; refused.
        unlink(path)
        try Data(body).write(to: URL(fileURLWithPath: dir + "/other"))
        link(dir + "/other", path)
        #expect(throws: JobFailure.self) { try GaleraBootstrapHandler.markSafe(path) }
        unlink(path)

        // The race: a flipper (the mysql user) swaps a regular file and a link in and out while
        // root rewrites; no regular file at the name may ever be root-owned or set-id.
        let stop = Locked(false), bad = Locked<[String]>([])
        let flipper = Thread {
            var n = 0
            while !stop.value {
                n += 1
                var s = stat()
                if lstat(path, &s) == 0, (s.st_mode & S_IFMT) == S_IFREG, s.st_uid == 0 || s.st_mode & 0o6000 != 0 {
                    bad.withLock { $0.append("uid \(s.st_uid) mode \(String(s.st_mode & 0o7777, radix: 8))") }
                }
                let tmp = dir + "/flip"
                if n % 2 == 0 {
                    unlink(tmp)
                    symlink(setuidTarget, tmp)
                } else {
                    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o660)
                    if fd >= 0 { _ = body.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }; fchown(fd, uid, gid); close(fd) }
                }
                rename(tmp, path)
            }
        }
        flipper.start()
        let started = Date()
        var attempts = 0
        while Date().timeIntervalSince(started) < 4 && bad.value.isEmpty {
            attempts += 1
            _ = try? GaleraBootstrapHandler.markSafe(path)
        }
        stop.withLock { $0 = true }
        Thread.sleep(forTimeInterval: 0.05)
        var s = stat()
        if lstat(path, &s) == 0, (s.st_mode & S_IFMT) == S_IFREG, s.st_uid == 0 || s.st_mode & 0o6000 != 0 {
            bad.withLock { $0.append("final: uid \(s.st_uid) mode \(String(s.st_mode & 0o7777, radix: 8))") }
        }
        #expect(bad.value.isEmpty, "after \(attempts) rewrites root wrote the mysql user's bytes as \(bad.value.prefix(3))")
        var t = stat()
        #expect(stat(setuidTarget, &t) == 0 && t.st_mode & 0o7777 == 0o4755, "the link's target untouched")
        #expect(try Data(contentsOf: URL(fileURLWithPath: setuidTarget)) == Data(body))
    }

    /// G2: a cluster address of more than 16 peers was cut to the first 16 in silence: a 17th
    /// node that runs was never probed and galera.bootstrap started a second cluster beside it.
    /// Now the peers past the limit make the address unreadable, and the bootstrap refuses.
    @Test func peersPastTheLimitRefuseInsteadOfBeingSkipped() async throws {
        let listener = try LoopbackListener()
        defer { listener.stop() }
        var peers: [String] = []
        for _ in 0..<GroupAddress.maxPeers { peers.append("127.0.0.1:\(try Loopback.freePort())") }
        peers.append("127.0.0.1:\(listener.port)")
        let n = try GaleraBootstrapRuleTests.node(peers: peers)
        defer { try? FileManager.default.removeItem(atPath: n.dir) }
        let refused = await jobError(n.handler, GaleraBootstrapRuleTests.force)
        #expect(refused?.hasPrefix("cannot check the peers") == true, "\(refused ?? "nil")")
        #expect(try String(contentsOfFile: n.grastatePath, encoding: .utf8) == GaleraBootstrapRuleTests.grastate, "nothing written")
        // Thousands of entries: bounded, refused, and the message stays short.
        let many = GroupAddress.peers(ofClusterAddress: "gcomm://" + (0..<5000).map { "10.\($0 / 250).\($0 % 250).1" }.joined(separator: ","))
        #expect(many.peers.count <= GroupAddress.maxPeers && !many.unreadable.isEmpty)
        #expect(many.unreadable.joined(separator: ", ").utf8.count < 200)
        // Duplicates are one peer, not past the limit.
        let dup = GroupAddress.peers(ofClusterAddress: "gcomm://" + Array(repeating: "10.0.0.1", count: 100).joined(separator: ","))
        #expect(dup.peers.count == 1 && dup.unreadable.isEmpty)
    }

    /// G3: `mariadbd --wsrep-recover` ran as root with no `--user`: on Debian's stock option files
    /// (`#user = mysql`) mariadbd refuses to run as root, so galera.recover_position never worked
    /// there; with `user=root` in them it would create root-owned InnoDB files in the mysql-owned
    /// datadir, and the next normal start fails. Now it runs as the datadir's owner.
    @Test func recoverRunsAsTheDatadirOwnerNotRoot() async throws {
        guard getuid() == 0 else { Issue.record("run as root"); return }
        let (uid, gid) = try Self.mysqlIDs()
        let dir = try MariaDBServer.makeTempDirectory("balctl-galera-recover")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o755)
        mkdir(dir + "/data", 0o750)
        chown(dir + "/data", uid, gid)
        // Debian's option file shape: no user= (it is commented out there).
        try """
            [mysqld]
            datadir=\(dir)/data
            socket=\(dir)/sock
            skip-networking
            innodb_log_file_size=4M
            innodb_data_file_path=ibdata1:4M:autoextend

            """.write(toFile: dir + "/my.cnf", atomically: false, encoding: .utf8)
        var m = MariaDBSettings(stateDir: dir + "/state")
        m.client = "/bin/false"; m.admin = "/bin/false"
        m.socket = dir + "/sock"; m.configFile = dir + "/my.cnf"
        var g = GaleraSettings(mariadb: m)
        g.datadir = dir + "/data"
        let handler = GaleraRecoverPositionHandler(settings: g)
        let (plan, _) = try await runJob(handler, checkMode: true)
        #expect(plan.summary.contains("--user=\(uid)"), "\(plan.summary)")
        // An empty datadir has no position; what matters is who ran and what it left.
        let failed = await jobError(handler) ?? ""
        #expect(!failed.contains("as root"), "\(failed)")
        let made = Files.list(dir + "/data")
        #expect(!made.isEmpty, "mariadbd ran: \(failed)")
        for name in made {
            var st = stat()
            #expect(lstat(dir + "/data/" + name, &st) == 0 && st.st_uid == uid, "\(name) owned by \(st.st_uid)")
        }
        // A root-owned datadir: refused before anything runs (root would own what recovery writes).
        chown(dir + "/data", 0, 0)
        #expect(await jobError(handler)?.contains("owned by root") == true)
    }
}
