import AgentKernel
import BalctlProtocol
import Foundation
import Testing
import TestSupport
@testable import OpenLiteSpeedPlugin

#if canImport(Glibc)
import Glibc
#endif

/// The red team's findings (helper, session 9), kept as regression tests: root never writes,
/// reads for an edit, or removes through a link planted by the owner of `conf/`; rollbacks restore
/// bytes, mode, owner and directories; a snapshot cannot choose its own restore roots; large
/// configs build the model without quadratic merges; CRLF and unterminated files stay as they are.
@Suite(.serialized)
struct RedTeamOLSTests {
    let fm = FileManager.default

    func outsideDir() throws -> String {
        let d = NSTemporaryDirectory() + "ols-outside-" + UUID().uuidString.prefix(8)
        try fm.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    func lstatMode(_ path: String) -> mode_t? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return st.st_mode & S_IFMT
    }

    // MARK: symlinks planted by lsadm (owner of conf/, conf/vhosts/)

    /// lsadm pre-creates conf/vhosts/pwn -> /etc/ssh/sshd_config.d (here: an outside dir).
    /// ols.vhost_add pwn must not have root create <outside>/vhconf.conf (owned like httpd_config.conf).
    @Test func vhostAddDoesNotWriteThroughASymlinkedVhostDirectory() async throws {
        let ols = try FakeOLS()
        let outside = try outsideDir()
        defer { try? fm.removeItem(atPath: outside) }
        try fm.createSymbolicLink(atPath: ols.root + "/conf/vhosts/pwn", withDestinationPath: outside)
        _ = await jobError(VHostAddHandler(settings: ols.settings),
                           .object(["name": .string("pwn"), "domains": .array([.string("pwn.example.com")])]))
        #expect(!fm.fileExists(atPath: outside + "/vhconf.conf"), "root wrote \(outside)/vhconf.conf through conf/vhosts/pwn -> \(outside)")
    }

    /// Same with the whole conf/vhosts directory replaced by a link: root mkdirs <outside>/pwn and writes in it.
    @Test func vhostAddDoesNotFollowASymlinkedVhostsDirectory() async throws {
        let ols = try FakeOLS()
        let outside = try outsideDir()
        defer { try? fm.removeItem(atPath: outside) }
        try fm.moveItem(atPath: ols.root + "/conf/vhosts/Example", toPath: outside + "/Example")
        try fm.removeItem(atPath: ols.root + "/conf/vhosts")
        try fm.createSymbolicLink(atPath: ols.root + "/conf/vhosts", withDestinationPath: outside)
        _ = await jobError(VHostAddHandler(settings: ols.settings),
                           .object(["name": .string("pwn"), "domains": .array([.string("pwn.example.com")])]))
        #expect(!fm.fileExists(atPath: outside + "/pwn"), "root created \(outside)/pwn through conf/vhosts -> \(outside)")
    }

    /// conf/vhosts/Example -> outside dir: ols.vhost_remove Example deletes <outside>/vhconf.conf.
    @Test func vhostRemoveDoesNotDeleteThroughASymlinkedVhostDirectory() async throws {
        let ols = try FakeOLS()
        let outside = try outsideDir()
        defer { try? fm.removeItem(atPath: outside) }
        try fm.moveItem(atPath: ols.root + "/conf/vhosts/Example/vhconf.conf", toPath: outside + "/vhconf.conf")
        try fm.removeItem(atPath: ols.root + "/conf/vhosts/Example")
        try fm.createSymbolicLink(atPath: ols.root + "/conf/vhosts/Example", withDestinationPath: outside)
        _ = await jobError(VHostRemoveHandler(settings: ols.settings), .object(["name": .string("Example")]))
        #expect(fm.fileExists(atPath: outside + "/vhconf.conf"), "root unlinked \(outside)/vhconf.conf through conf/vhosts/Example -> \(outside)")
    }

    /// conf/vhosts/Example/vhconf.conf -> a secret (think /etc/shadow). vhost_remove reads it as root,
    /// unlinks the link, and when the post-write check fails the rollback writes the SECRET'S BYTES
    /// as a regular file at the link's place, owned like httpd_config.conf (lsadm), mode 0640.
    @Test func vhostRemoveRollbackDoesNotMaterialiseASymlinkTarget() async throws {
        let ols = try FakeOLS()
        let outside = try outsideDir()
        defer { try? fm.removeItem(atPath: outside) }
        let secret = outside + "/shadow"
        try Data("root:$6$SECRETHASH:19000:0:99999:7:::\n".utf8).write(to: URL(fileURLWithPath: secret))
        chmod(secret, 0o600)
        let link = ols.root + "/conf/vhosts/Example/vhconf.conf"
        try fm.removeItem(atPath: link)
        try fm.createSymbolicLink(atPath: link, withDestinationPath: secret)
        // Any other file in the vhost's conf dir (htpasswd, a cert) keeps the directory alive.
        try ols.write("conf/vhosts/Example/htpasswd", Array("test:x\n".utf8))
        try ols.flag("fail-test")   // stands in for any failure after the write (lshttpd -t, verify, reload)
        let e = await jobError(VHostRemoveHandler(settings: ols.settings), .object(["name": .string("Example")]))
        // Refused before anything is written: the vhconf is a link, never read through for an edit.
        #expect(e?.contains("symbolic link") == true, "\(e ?? "nil")")
        #expect(!(e ?? "").contains("SECRETHASH"))
        let kind = lstatMode(link)
        let copied = (try? String(contentsOfFile: link, encoding: .utf8)) ?? ""
        #expect(kind == S_IFLNK, "the rollback replaced the symlink with a regular file (\(String(describing: kind)))")
        #expect(!(kind == S_IFREG && copied.contains("SECRETHASH")), "the secret's bytes now sit in a 0640 lsadm-owned file: \(copied)")
    }

    /// Plain vhost_remove whose post-write step fails (lshttpd -t, verify or reload): the rollback
    /// must put vhconf.conf back — but its directory was already rmdir'ed, so the restore fails silently.
    @Test func vhostRemoveRollbackRestoresTheVhconf() async throws {
        let ols = try FakeOLS()
        let config = try ols.read("conf/httpd_config.conf")
        let vhconf = try ols.read("conf/vhosts/Example/vhconf.conf")
        try ols.flag("fail-reload")
        let e = await jobError(VHostRemoveHandler(settings: ols.settings), .object(["name": .string("Example")]))
        #expect(e?.contains("put back") == true, "\(e ?? "nil")")
        #expect(try ols.read("conf/httpd_config.conf") == config)
        #expect(ols.exists("conf/vhosts/Example/vhconf.conf"), "the rollback lost conf/vhosts/Example/vhconf.conf (and its directory)")
        #expect((try? ols.read("conf/vhosts/Example/vhconf.conf")) == vhconf)
        // The config that OLS was told to reload again names a vhconf that no longer exists.
        let check = OLSCheck.structural(try OLSConfigFile(bytes: try ols.read("conf/httpd_config.conf")), settings: ols.settings)
        #expect(check.valid, "\(check.errors)")
    }

    /// A vhconf.conf that is itself a symlink is refused by lsphp_set (holds).
    @Test func lsphpSetRefusesASymlinkedVhconf() async throws {
        let ols = try FakeOLS()
        let outside = try outsideDir()
        defer { try? fm.removeItem(atPath: outside) }
        let target = outside + "/vhconf.conf"
        try fm.moveItem(atPath: ols.root + "/conf/vhosts/Example/vhconf.conf", toPath: target)
        let before = try Data(contentsOf: URL(fileURLWithPath: target))
        try fm.createSymbolicLink(atPath: ols.root + "/conf/vhosts/Example/vhconf.conf", withDestinationPath: target)
        let e = await jobError(LSPHPSetHandler(settings: ols.settings), .object(["vhost": .string("Example"), "lsphp": .string("82")]))
        #expect(e != nil)
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == before)
    }

    /// conf/vhosts/Example -> outside dir: lsphp_set rewrites <outside>/vhconf.conf as root.
    @Test func lsphpSetDoesNotWriteThroughASymlinkedVhostDirectory() async throws {
        let ols = try FakeOLS()
        let outside = try outsideDir()
        defer { try? fm.removeItem(atPath: outside) }
        let target = outside + "/vhconf.conf"
        try fm.moveItem(atPath: ols.root + "/conf/vhosts/Example/vhconf.conf", toPath: target)
        let before = try Data(contentsOf: URL(fileURLWithPath: target))
        try fm.removeItem(atPath: ols.root + "/conf/vhosts/Example")
        try fm.createSymbolicLink(atPath: ols.root + "/conf/vhosts/Example", withDestinationPath: outside)
        _ = await jobError(LSPHPSetHandler(settings: ols.settings), .object(["vhost": .string("Example"), "lsphp": .string("82")]))
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == before, "root rewrote \(target) through a symlinked directory")
    }

    // MARK: rollback / metadata

    /// A vhconf owned by someone else (web user, 0644): lsphp_set's rollback puts the bytes back but
    /// not the mode and owner (it writes 0640, owned like httpd_config.conf); success changes them too.
    @Test func lsphpSetKeepsTheVhconfModeAndOwner() async throws {
        let ols = try FakeOLS()
        let path = ols.root + "/conf/vhosts/Example/vhconf.conf"
        chmod(path, 0o644)
        chown(path, 4242, 4242)
        let bytes = try ols.read("conf/vhosts/Example/vhconf.conf")
        try ols.flag("fail-test")
        _ = await jobError(LSPHPSetHandler(settings: ols.settings), .object(["vhost": .string("Example"), "lsphp": .string("82")]))
        let after = try #require(Files.info(path))
        #expect(try ols.read("conf/vhosts/Example/vhconf.conf") == bytes)
        #expect(after.mode == 0o644 && after.uid == 4242 && after.gid == 4242,
                "rollback left mode \(String(after.mode, radix: 8)) uid \(after.uid) gid \(after.gid)")
        try ols.flag("fail-test", false)
        _ = try await runJob(LSPHPSetHandler(settings: ols.settings), .object(["vhost": .string("Example"), "lsphp": .string("82")]))
        let ok = try #require(Files.info(path))
        #expect(ok.mode == 0o644 && ok.uid == 4242, "success left mode \(String(ok.mode, radix: 8)) uid \(ok.uid)")
    }

    /// A config without a trailing newline: add then remove is not byte-identical.
    @Test func addThenRemoveOnAFileWithoutTrailingNewlineIsByteIdentical() async throws {
        let ols = try FakeOLS()
        var config = try ols.read("conf/httpd_config.conf")
        // Put the vhost block last and drop the final newline.
        var text = String(decoding: config, as: UTF8.self)
        let vhStart = text.range(of: "virtualHost Example{")!.lowerBound
        let vhEnd = text.range(of: "}\n", range: vhStart..<text.endIndex)!.upperBound
        let block = String(text[vhStart..<vhEnd])
        text.removeSubrange(vhStart..<vhEnd)
        text += "\n" + block.dropLast()
        config = Array(text.utf8)
        try ols.write("conf/httpd_config.conf", config)
        _ = try await runJob(VHostAddHandler(settings: ols.settings), .object(["name": .string("shop"), "domains": .array([.string("shop.example.com")])]))
        _ = try await runJob(VHostRemoveHandler(settings: ols.settings), .object(["name": .string("shop")]))
        #expect(try ols.read("conf/httpd_config.conf") == config)
    }

    /// A CRLF config gets LF-only lines inserted (mixed line ends).
    @Test func vhostAddKeepsCRLFLineEnds() async throws {
        let ols = try FakeOLS()
        let crlf = String(decoding: try ols.read("conf/httpd_config.conf"), as: UTF8.self).replacingOccurrences(of: "\n", with: "\r\n")
        try ols.write("conf/httpd_config.conf", Array(crlf.utf8))
        _ = try await runJob(VHostAddHandler(settings: ols.settings), .object(["name": .string("shop"), "domains": .array([.string("shop.example.com")])]))
        let after = try OLSConfigFile(bytes: try ols.read("conf/httpd_config.conf"))
        let bare = after.lines.filter { $0.hasSuffix("\n") && !$0.hasSuffix("\r\n") }
        #expect(bare.isEmpty, "LF-only lines in a CRLF file: \(bare.prefix(3))")
    }

    // MARK: backup scope

    func stage(_ ols: FakeOLS) throws -> String {
        let staging = NSTemporaryDirectory() + "ols-stage-" + UUID().uuidString.prefix(6)
        try fm.createDirectory(atPath: staging + ols.root, withIntermediateDirectories: true)
        try fm.copyItem(atPath: ols.root + "/conf", toPath: staging + ols.root + "/conf")
        return staging
    }

    /// A compromised member's snapshot declares `virtualhost evil { vhRoot /root/ }` in its own
    /// httpd_config.conf and carries /root: the scope must not accept /root as a root.
    @Test func aSnapshotCannotAuthoriseRootViaItsOwnVhRoot() async throws {
        let ols = try FakeOLS()
        let scope = OLSBackupScope(settings: ols.settings)
        let staging = try stage(ols)
        defer { try? fm.removeItem(atPath: staging) }
        let conf = staging + ols.root + "/conf"
        let cfg = try String(contentsOfFile: conf + "/httpd_config.conf", encoding: .utf8)
            + "\nvirtualhost evil {\n  vhRoot /root/\n  configFile $SERVER_ROOT/conf/vhosts/evil/vhconf.conf\n}\n"
        try Data(cfg.utf8).write(to: URL(fileURLWithPath: conf + "/httpd_config.conf"))
        try fm.createDirectory(atPath: conf + "/vhosts/evil", withIntermediateDirectories: true)
        try Data("docRoot $VH_ROOT/html/\n".utf8).write(to: URL(fileURLWithPath: conf + "/vhosts/evil/vhconf.conf"))
        let (ctx, _) = makeContext()
        await #expect(throws: (any Error).self, "/root accepted as a restore root") {
            try await scope.validateStaged(stagingRoot: staging, roots: [ols.root + "/conf", "/root"], in: ctx)
        }
    }

    /// Same with a vhost merely NAMED `bin` (default vhRoot $SERVER_ROOT/bin/): the snapshot may then
    /// replace bin/lswsctrl, which activate() runs as root.
    @Test func aSnapshotCannotAuthoriseTheServerBinDirectory() async throws {
        let ols = try FakeOLS()
        let scope = OLSBackupScope(settings: ols.settings)
        let staging = try stage(ols)
        defer { try? fm.removeItem(atPath: staging) }
        let conf = staging + ols.root + "/conf"
        let cfg = try String(contentsOfFile: conf + "/httpd_config.conf", encoding: .utf8) + "\nvirtualhost bin {\n}\n"
        try Data(cfg.utf8).write(to: URL(fileURLWithPath: conf + "/httpd_config.conf"))
        try fm.createDirectory(atPath: conf + "/vhosts/bin", withIntermediateDirectories: true)
        try Data("docRoot $VH_ROOT/html/\n".utf8).write(to: URL(fileURLWithPath: conf + "/vhosts/bin/vhconf.conf"))
        let (ctx, _) = makeContext()
        await #expect(throws: (any Error).self, "\(ols.root)/bin accepted as a restore root") {
            try await scope.validateStaged(stagingRoot: staging, roots: [ols.root + "/bin", ols.root + "/conf"], in: ctx)
        }
    }

    /// The live config (writable by lsadm) sets vhRoot /etc/: backup.create then captures /etc.
    @Test func backupRootsStayWithinTheServer() throws {
        let ols = try FakeOLS()
        let cfg = String(decoding: try ols.read("conf/httpd_config.conf"), as: UTF8.self)
            .replacingOccurrences(of: "vhRoot                   $SERVER_ROOT/Example/", with: "vhRoot                   /etc/")
        try ols.write("conf/httpd_config.conf", Array(cfg.utf8))
        let roots = try OLSBackupScope(settings: ols.settings).roots(paths: [])
        #expect(!roots.contains("/etc"), "\(roots)")
    }

    // MARK: complexity

    /// Two listener maps for one vhost, 15k distinct domains each (~400 KB, far under the 8 MB cap):
    /// the model merges them through a set (it was quadratic: 13.5 s in a debug build).
    @Test func mapDomainMergingIsNotQuadratic() throws {
        let ols = try FakeOLS(running: false)
        let n = 15_000
        let a = (0..<n).map { "a\($0).x" }.joined(separator: ",")
        let b = (0..<n).map { "b\($0).x" }.joined(separator: ",")
        let cfg = String(decoding: try ols.read("conf/httpd_config.conf"), as: UTF8.self)
            + "\nlistener L2 {\n  address *:81\n  map Example \(a)\n  map Example \(b)\n}\n"
        let file = try OLSConfigFile(cfg)
        let model = OLSServerModel(file: file, settings: ols.settings)
        #expect(model.vhost("Example")!.domains.count == 2 * n + 1)
    }

    /// 20k vhost blocks and 20k maps (~1.3 MB): model and structural check go through an index
    /// (they were O(vhosts × maps): 25.6 s in a debug build).
    @Test func manyVhostsAndMapsAreNotQuadratic() throws {
        let ols = try FakeOLS(running: false)
        let n = 20_000
        var cfg = String(decoding: try ols.read("conf/httpd_config.conf"), as: UTF8.self)
        for i in 0..<n { cfg += "virtualhost v\(i) {\n}\n" }
        cfg += "listener L2 {\n  address *:81\n"
        for i in 0..<n { cfg += "  map v\(n - 1 - i) d\(i).x\n" }
        cfg += "}\n"
        let file = try OLSConfigFile(cfg)
        let model = OLSServerModel(file: file, settings: ols.settings)
        #expect(model.vhosts.count == n + 1 && model.vhost("v0")?.domains == ["d\(n - 1).x"])
        #expect(OLSCheck.structural(file, settings: ols.settings).errors.filter { $0.contains("maps") }.isEmpty)
    }

    /// A vhost may not be named like one of OLS's own directories: its default root would be
    /// `$SERVER_ROOT/bin/` (finding 10).
    @Test(arguments: ["bin", "admin", "conf", "lsphp82", "fcgi-bin", "logs"])
    func vhostNamesOfOLSDirectoriesAreRefused(_ name: String) {
        #expect(throws: ParameterError.self) {
            _ = try VHostAddHandler.decodeParameters(.object(["name": .string(name), "domains": .array([.string("a.example.com")])]))
        }
    }
}
