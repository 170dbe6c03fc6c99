import AgentKernel
import BackupPlugin
import BalctlProtocol
import Foundation
import Testing
import TestSupport
@testable import OpenLiteSpeedPlugin

/// `ols.vhost_restore`: one site back from an `openlitespeed` snapshot (taken by the real backup
/// plugin into the in-memory control plane), the other sites untouched; failures roll back.
@Suite(.serialized)
struct VHostRestoreTests {
    /// A farm member (shop, blog) with a blog page, and a snapshot of it.
    struct Site {
        let ols: FakeOLS
        let server = FakeSnapshotServer()
        var snapshot = ""
        var original = ""
        var backup: BackupSettings { BackupSettings(stateDir: ols.root + "/state") }
        var handler: VHostRestoreHandler { VHostRestoreHandler(settings: ols.settings, backup: SnapshotStaging(settings: backup)) }

        init() async throws {
            ols = try FakeOLS(farm: true)
            try ols.write("blog/html/index.php", Array("<?php echo 'v1';\n".utf8))
            original = String(decoding: try ols.read("conf/httpd_config.conf"), as: UTF8.self)
            let (o, _) = try await run(BackupCreateHandler(settings: backup), ["scope": .string("openlitespeed")], jobID: 1)
            snapshot = try #require(o.result?["snapshot"]?.stringValue)
            ols.clearCalls()
        }

        func context(checkMode: Bool = false, command: String, jobID: Int64) -> (JobContext, OutputTail) {
            let out = OutputTail(limit: 256 * 1024)
            let scopes = BackupPlugin().backupScopes + [OLSBackupScope(settings: ols.settings)]
            return (JobContext(jobID: jobID, attempt: 1, command: command, checkMode: checkMode, timeoutSec: 600, output: out,
                               processes: ProcessRunner(), host: HostProbe(),
                               backupScopes: Dictionary(uniqueKeysWithValues: scopes.map { ($0.name, $0) }), controlPlane: server,
                               progress: { _, _ in }), out)
        }

        func run<H: CommandHandler>(_ h: H, _ params: [String: JSONValue], checkMode: Bool = false, jobID: Int64 = 2) async throws -> (JobOutcome, String) {
            let (ctx, out) = context(checkMode: checkMode, command: H.id, jobID: jobID)
            let outcome = try await h.run(try H.decodeParameters(.object(params)), in: ctx)
            return (outcome, out.text)
        }

        func restore(_ vhost: String = "blog", checkMode: Bool = false) async throws -> (JobOutcome, String) {
            try await run(handler, ["snapshot": .string(snapshot), "vhost": .string(vhost)], checkMode: checkMode)
        }

        func restoreError(_ vhost: String = "blog") async -> String? {
            do { _ = try await restore(vhost); return nil } catch { return String(describing: error) }
        }

        /// The blog lost: out of the config (its block, maps and vhconf gone), its page broken.
        func loseTheBlog() async throws {
            _ = try await run(VHostRemoveHandler(settings: ols.settings), ["name": .string("blog")])
            try ols.write("blog/html/index.php", Array("broken".utf8))
            try ols.write("blog/html/stray.txt", Array("made after the snapshot".utf8))
            ols.clearCalls()
        }

        var page: String { String(decoding: (try? ols.read("blog/html/index.php")) ?? [], as: UTF8.self) }
        /// The server config as text (a failed comparison prints lines, not bytes).
        var config: String { String(decoding: (try? ols.read("conf/httpd_config.conf")) ?? [], as: UTF8.self) }
    }

    @Test("a lost vhost comes back byte for byte; a second run reports unchanged and does not reload")
    func restoresALostVHost() async throws {
        let site = try await Site()
        let vhconf = try site.ols.read("conf/vhosts/blog/vhconf.conf")
        try await site.loseTheBlog()
        #expect(!site.ols.exists("conf/vhosts/blog/vhconf.conf"))

        let (outcome, _) = try await site.restore()
        #expect(outcome.changed)
        #expect(outcome.summary.contains("restored blog") && outcome.summary.contains("1 replaced"), "\(outcome.summary)")
        #expect(site.config == site.original)
        #expect(try site.ols.read("conf/vhosts/blog/vhconf.conf") == vhconf)
        #expect(site.page == "<?php echo 'v1';\n")
        // A restore puts back; it does not prune what was added since.
        #expect(site.ols.exists("blog/html/stray.txt"))
        #expect(site.ols.calls.contains("lswsctrl reload"), "\(site.ols.calls)")
        #expect(outcome.result?["domains"] == .array([.string("blog.example.org")]))
        #expect(outcome.result?["listeners"] == .array([.string("HTTP"), .string("HTTPS")]))

        site.ols.clearCalls()
        let (again, _) = try await site.restore()
        #expect(!again.changed, "\(again.summary)")
        #expect(again.summary.contains("already matches"), "\(again.summary)")
        #expect(!site.ols.calls.contains("lswsctrl reload"), "\(site.ols.calls)")
    }

    @Test("the other sites keep their changes: only the restored vhost's block, maps, vhconf and root change")
    func otherSitesAreUntouched() async throws {
        let site = try await Site()
        // After the snapshot: shop's vhconf changes and a new site appears; the blog only loses its page.
        let shopConf = try site.ols.read("conf/vhosts/shop/vhconf.conf") + Array("# changed after the snapshot\n".utf8)
        try site.ols.write("conf/vhosts/shop/vhconf.conf", shopConf)
        _ = try await site.run(VHostAddHandler(settings: site.ols.settings), ["name": .string("news"), "domains": .array([.string("news.example.net")])])
        let withNews = site.config
        try site.ols.write("blog/html/index.php", Array("broken".utf8))
        site.ols.clearCalls()

        let (outcome, _) = try await site.restore()
        #expect(outcome.changed)
        #expect(outcome.summary.contains("config unchanged"), "\(outcome.summary)")
        #expect(site.page == "<?php echo 'v1';\n")
        #expect(site.config == withNews)
        #expect(try site.ols.read("conf/vhosts/shop/vhconf.conf") == shopConf)
        #expect(site.ols.exists("conf/vhosts/news/vhconf.conf"))
        // Only page content changed: nothing for OLS to reload.
        #expect(!site.ols.calls.contains("lswsctrl reload"), "\(site.ols.calls)")
    }

    @Test("a vhost whose block differs here is replaced in place with the snapshot's")
    func aChangedBlockIsReplacedInPlace() async throws {
        let site = try await Site()
        let changed = site.original
            .replacingOccurrences(of: "  configFile              conf/vhosts/blog/vhconf.conf\n", with: "  configFile              conf/vhosts/blog/vhconf.conf\n  enableScript            0\n")
            .replacingOccurrences(of: "  map                     blog blog.example.org\n}\n\nmodule", with: "  map                     blog blog.example.org, old.example.org\n}\n\nmodule")
        try site.ols.write("conf/httpd_config.conf", Array(changed.utf8))
        let (outcome, _) = try await site.restore()
        #expect(outcome.changed)
        #expect(site.config == site.original)
        #expect(outcome.result?["diff"]?.stringValue?.contains("enableScript") == true)
    }

    @Test("check mode shows the config diff and the files that would change, and writes nothing")
    func checkModeWritesNothing() async throws {
        let site = try await Site()
        try await site.loseTheBlog()
        let lost = site.config
        let (outcome, _) = try await site.restore(checkMode: true)
        #expect(outcome.changed)
        #expect(outcome.summary.contains("config would change") && outcome.summary.contains("would create 0 and replace 1"), "\(outcome.summary)")
        #expect(outcome.result?["diff"]?.stringValue?.contains("+") == true)
        #expect(site.config == lost)
        #expect(site.page == "broken")
        #expect(!site.ols.exists("conf/vhosts/blog/vhconf.conf"))
        #expect(site.ols.calls.isEmpty, "\(site.ols.calls)")
    }

    @Test("a failed reload puts the previous config and files back")
    func aFailedReloadRollsEverythingBack() async throws {
        let site = try await Site()
        try await site.loseTheBlog()
        let lost = site.config
        try FileManager.default.removeItem(atPath: site.ols.root + "/blog/html")
        try site.ols.flag("fail-reload")
        let error = await site.restoreError()
        #expect(error?.contains("previous files under \(site.ols.root)/blog were put back") == true, "\(error ?? "nil")")
        #expect(site.config == lost)
        #expect(!site.ols.exists("conf/vhosts/blog/vhconf.conf"))
        // The root the restore made is gone again.
        #expect(!site.ols.exists("blog/html"))
        #expect(site.ols.exists("blog"))
        #expect(site.ols.calls.contains("lswsctrl reload"))
    }

    @Test("a domain another vhost serves here stops the restore before anything changes")
    func aDomainClashIsRefused() async throws {
        let site = try await Site()
        try await site.loseTheBlog()
        _ = try await site.run(VHostAddHandler(settings: site.ols.settings), ["name": .string("blog2"), "domains": .array([.string("blog.example.org")]),
                                                                             "listeners": .array([.string("HTTPS")])])
        let before = site.config
        let error = await site.restoreError()
        #expect(error?.contains("listener 'HTTPS' here maps blog.example.org to 'blog2'") == true, "\(error ?? "nil")")
        #expect(site.config == before)
        #expect(site.page == "broken")
    }

    @Test("a vhost the snapshot lacks, a snapshot of another scope, and bad parameters are refused")
    func refusals() async throws {
        let site = try await Site()
        let missing = await site.restoreError("nosuch")
        #expect(missing?.contains("the snapshot has no virtual host 'nosuch' (it has: shop, blog)") == true, "\(missing ?? "nil")")
        let other = try await site.run(BackupCreateHandler(settings: site.backup), ["scope": .string("paths"), "paths": .array([.string(site.ols.root + "/blog")])], jobID: 3)
        let id = try #require(other.0.result?["snapshot"]?.stringValue)
        do {
            _ = try await site.run(site.handler, ["snapshot": .string(id), "vhost": .string("blog")])
            Issue.record("a paths snapshot was accepted")
        } catch {
            #expect("\(error)".contains("is of scope 'paths', not 'openlitespeed'"), "\(error)")
        }
        for bad in ["../etc", "blog;reload", "", "a b"] {
            #expect(throws: (any Error).self) { try VHostRestoreHandler.decodeParameters(.object(["snapshot": .string(site.snapshot), "vhost": .string(bad)])) }
        }
        #expect(throws: (any Error).self) { try VHostRestoreHandler.decodeParameters(.object(["snapshot": .string("nothex"), "vhost": .string("blog")])) }
    }

    /// A snapshot from a compromised member: the vhost's root is a system directory, its vhconf
    /// is the server config or a link, or its root overlaps another site here.
    @Test("hostile snapshots: system roots, a configFile outside conf/vhosts, a linked vhconf, an overlapping root")
    func hostileSnapshotsAreRefused() async throws {
        func snapshotWith(_ edit: (FakeOLS) throws -> Void) async throws -> Site {
            var site = try await Site()
            try edit(site.ols)
            let (o, _) = try await site.run(BackupCreateHandler(settings: site.backup), ["scope": .string("openlitespeed")], jobID: 4)
            site.snapshot = try #require(o.result?["snapshot"]?.stringValue)
            return site
        }
        func blog(_ ols: FakeOLS, _ from: String, _ to: String) throws {
            let text = String(decoding: try ols.read("conf/httpd_config.conf"), as: UTF8.self)
            try ols.write("conf/httpd_config.conf", Array(text.replacingOccurrences(of: from, with: to).utf8))
        }
        let system = try await snapshotWith { try blog($0, "$SERVER_ROOT/blog/", "/root/") }
        try blog(system.ols, "/root/", "$SERVER_ROOT/blog/")
        let e1 = await system.restoreError()
        #expect(e1?.contains("vhRoot /root: a system directory") == true, "\(e1 ?? "nil")")

        let own = try await snapshotWith { try blog($0, "$SERVER_ROOT/blog/", "$SERVER_ROOT/bin/") }
        try blog(own.ols, "$SERVER_ROOT/bin/", "$SERVER_ROOT/blog/")
        let e2 = await own.restoreError()
        #expect(e2?.contains("one of OpenLiteSpeed's own") == true, "\(e2 ?? "nil")")

        let clobber = try await snapshotWith { try blog($0, "conf/vhosts/blog/vhconf.conf", "conf/httpd_config.conf") }
        try blog(clobber.ols, "conf/httpd_config.conf\n}", "conf/vhosts/blog/vhconf.conf\n}")
        let before = clobber.config
        let e3 = await clobber.restoreError()
        #expect(e3?.contains("neither under \(clobber.ols.root)/conf/vhosts/ nor inside its root") == true, "\(e3 ?? "nil")")
        #expect(clobber.config == before)

        let linked = try await snapshotWith { ols in
            try FileManager.default.removeItem(atPath: ols.root + "/conf/vhosts/blog/vhconf.conf")
            try FileManager.default.createSymbolicLink(atPath: ols.root + "/conf/vhosts/blog/vhconf.conf", withDestinationPath: "/etc/passwd")
        }
        try FileManager.default.removeItem(atPath: linked.ols.root + "/conf/vhosts/blog/vhconf.conf")
        let e4 = await linked.restoreError()
        #expect(e4?.contains("the snapshot has no regular file \(linked.ols.root)/conf/vhosts/blog/vhconf.conf") == true, "\(e4 ?? "nil")")
        #expect(!linked.ols.exists("conf/vhosts/blog/vhconf.conf"))

        // Here, shop's root was moved inside the blog's: restoring the blog would replace it.
        let overlap = try await Site()
        try blog(overlap.ols, "/srv/www/shop/", "$SERVER_ROOT/blog/shop/")
        let e5 = await overlap.restoreError()
        #expect(e5?.contains("overlaps shop's root \(overlap.ols.root)/blog/shop") == true, "\(e5 ?? "nil")")
    }

    @Test("a site new here goes under the server root or an allowed web root (BALCTL_OLS_WEB_ROOTS), nowhere else")
    func newSitesGoUnderWebRoots() async throws {
        var site = try await Site()
        let web = NSTemporaryDirectory() + "balctl-web-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: web) }
        try FileManager.default.createDirectory(atPath: web + "/blog/html", withIntermediateDirectories: true)
        try Data("<?php echo 'elsewhere';\n".utf8).write(to: URL(fileURLWithPath: web + "/blog/html/index.php"))
        try site.ols.write("conf/httpd_config.conf", Array(site.config.replacingOccurrences(of: "$SERVER_ROOT/blog/", with: web + "/blog/").utf8))
        let (o, _) = try await site.run(BackupCreateHandler(settings: site.backup), ["scope": .string("openlitespeed")], jobID: 5)
        site.snapshot = try #require(o.result?["snapshot"]?.stringValue)
        try await site.loseTheBlog()
        try Data("broken".utf8).write(to: URL(fileURLWithPath: web + "/blog/html/index.php"))
        let lost = site.config

        let error = await site.restoreError()
        #expect(error?.contains("outside the server root and the web roots (/var/www, /srv") == true, "\(error ?? "nil")")
        #expect(site.config == lost)
        #expect(try String(contentsOfFile: web + "/blog/html/index.php", encoding: .utf8) == "broken")

        var allowed = site.ols.settings
        allowed.webRoots = [web]
        let (restored, _) = try await site.run(VHostRestoreHandler(settings: allowed, backup: SnapshotStaging(settings: site.backup)),
                                               ["snapshot": .string(site.snapshot), "vhost": .string("blog")])
        #expect(restored.changed)
        #expect(try String(contentsOfFile: web + "/blog/html/index.php", encoding: .utf8) == "<?php echo 'elsewhere';\n")
    }
}
