import AgentKernel
import BackupPlugin
import BalctlProtocol
import Foundation
import Testing
import TestSupport
@testable import OpenLiteSpeedPlugin

/// Red team of `ols.vhost_restore`: snapshots made by a compromised member of the account (its
/// config edited before the real backup handler took the snapshot), restored here as root.
/// A test that shows a vulnerability asserts the safe behaviour and carries `// FINDING n`.
@Suite(.serialized)
struct RedTeamVHostRestoreTests {
    typealias Site = VHostRestoreTests.Site

    /// A farm member whose snapshot was taken after `hostile` ran on it (the compromised member),
    /// then `undo` put this member back as it was.
    static func hostileSite(_ hostile: (FakeOLS) throws -> Void, undo: (FakeOLS) throws -> Void) async throws -> Site {
        var site = try await Site()
        try hostile(site.ols)
        let (o, _) = try await site.run(BackupCreateHandler(settings: site.backup), ["scope": .string("openlitespeed")], jobID: 4)
        site.snapshot = try #require(o.result?["snapshot"]?.stringValue)
        try undo(site.ols)
        site.ols.clearCalls()
        return site
    }

    struct Missing: Error, CustomStringConvertible { var description: String }

    /// The restore with `webRoots` allowed (BALCTL_OLS_WEB_ROOTS), for roots in temp directories.
    static func restoreError(_ site: VHostRestoreTests.Site, webRoots: [String]) async -> String? {
        var settings = site.ols.settings
        settings.webRoots = webRoots
        do {
            _ = try await site.run(VHostRestoreHandler(settings: settings, backup: SnapshotStaging(settings: site.backup)),
                                   ["snapshot": .string(site.snapshot), "vhost": .string("blog")])
            return nil
        } catch { return String(describing: error) }
    }

    static func edit(_ ols: FakeOLS, _ from: String, _ to: String) throws {
        try editFile(ols, "conf/httpd_config.conf", from, to)
    }

    static func editFile(_ ols: FakeOLS, _ rel: String, _ from: String, _ to: String) throws {
        let text = String(decoding: try ols.read(rel), as: UTF8.self)
        guard text.contains(from) else { throw Missing(description: "\(rel) has no '\(from)'") }
        try ols.write(rel, Array(text.replacingOccurrences(of: from, with: to).utf8))
    }

    /// Every entry under `root` (type, mode, owner, content or link target), for "nothing changed".
    static func fingerprint(_ root: String, skipping: Set<String> = ["fake-calls.log", "logs", "state"]) -> [String: String] {
        var out: [String: String] = [:]
        func visit(_ rel: String) {
            let path = rel.isEmpty ? root : root + "/" + rel
            var st = stat()
            guard lstat(path, &st) == 0 else { return }
            var d = "\(st.st_mode) \(st.st_uid):\(st.st_gid)"
            switch st.st_mode & S_IFMT {
            case S_IFLNK: d += " -> " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?")
            case S_IFREG: d += " " + ((try? Data(contentsOf: URL(fileURLWithPath: path))).map { $0.base64EncodedString() } ?? "?")
            case S_IFDIR:
                for child in ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() {
                    let r = rel.isEmpty ? child : rel + "/" + child
                    if !skipping.contains(r) { visit(r) }
                }
            default: break
            }
            out[rel] = d
        }
        visit("")
        return out
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    // MARK: vhRoot spellings

    // FINDING 1: `isSystemPath` compares prefixes on the raw string, so `//etc/x` (or
    // `//var/lib/balctl`, `//opt/balctl/bin`) is not "below /etc". The plan accepts it as a web root,
    // `hasDirectory`/`swapIn` strip the leading slashes, and root writes the snapshot's files into
    // /etc (a cron.d of its own choosing: root code execution on every member that restores it).
    @Test("a vhRoot spelt //etc/... is refused and nothing is written into /etc (check mode too)")
    func doubleSlashSystemRoot() async throws {
        let target = "/etc/balctl-rt-" + UUID().uuidString.prefix(8).lowercased()
        defer { try? FileManager.default.removeItem(atPath: target) }
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        try Data("* * * * * root touch /tmp/pwned\n".utf8).write(to: URL(fileURLWithPath: target + "/payload"))
        let site = try await Self.hostileSite({ try Self.edit($0, "$SERVER_ROOT/blog/", "/" + target + "/") },
                                              undo: { try Self.edit($0, "/" + target + "/", "$SERVER_ROOT/blog/") })
        try FileManager.default.removeItem(atPath: target)
        try await site.loseTheBlog()
        let before = Self.fingerprint(site.ols.root)

        // Check mode: refused as well, and writes nothing.
        do {
            _ = try await site.restore(checkMode: true)
            Issue.record("check mode accepted vhRoot /\(target)")
        } catch {
            #expect("\(error)".contains("system directory"), "\(error)")
        }
        #expect(!Self.exists(target))

        let error = await site.restoreError()
        #expect(error?.contains("system directory") == true, "\(error ?? "nil: the restore went through")")
        #expect(!Self.exists(target), "root wrote the snapshot's files into \(target)")
        #expect(Self.fingerprint(site.ols.root) == before)
    }

    // FINDING 2: the overlap check compares raw strings, so a vhRoot spelt with a doubled slash
    // (`/web//shop/`) is not seen as shop's root (`/web/shop`): the blog's restore replaces shop's
    // files with the snapshot's and points the blog at shop's directory.
    @Test("a vhRoot that is another site's root spelt differently is refused; that site's files stay")
    func doubleSlashOverlap() async throws {
        let web = NSTemporaryDirectory() + "balctl-rt-web-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: web) }
        try FileManager.default.createDirectory(atPath: web + "/shop", withIntermediateDirectories: true)
        let index = web + "/shop/index.html"
        try Data("attacker's shop page\n".utf8).write(to: URL(fileURLWithPath: index))
        let site = try await Self.hostileSite({ ols in
            try Self.edit(ols, "/srv/www/shop/", web + "/shop/")
            try Self.edit(ols, "$SERVER_ROOT/blog/", web + "//shop/")
        }, undo: { ols in
            try Self.edit(ols, web + "//shop/", "$SERVER_ROOT/blog/")
        })
        try Data("shop's own page\n".utf8).write(to: URL(fileURLWithPath: index))
        // The blog lost here: no "a restore does not move a site" to hide behind.
        try await site.loseTheBlog()
        let before = site.config
        // With /tmp/… an allowed web root, so the overlap check itself is what stops it.
        let error = await Self.restoreError(site, webRoots: [web])
        #expect(error?.contains("overlaps shop's root") == true, "\(error ?? "nil: the restore went through")")
        #expect(String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: index))) ?? Data(), as: UTF8.self) == "shop's own page\n")
        #expect(site.config == before)
    }

    // FINDING 3: the "configFile is another vhost's" check compares raw strings, so
    // `conf/vhosts/shop//vhconf.conf` passes; OLSEditor then overwrites shop's vhconf with the
    // snapshot's (another site's config replaced by a restore that promised to leave it alone).
    @Test("a configFile that is another vhost's, spelt with //, is refused; that vhconf stays")
    func doubleSlashConfigFileOfAnotherVHost() async throws {
        let site = try await Self.hostileSite({ ols in
            try Self.edit(ols, "conf/vhosts/blog/vhconf.conf\n", "conf/vhosts/shop//vhconf.conf\n")
            let shop = String(decoding: try ols.read("conf/vhosts/shop/vhconf.conf"), as: UTF8.self)
            try ols.write("conf/vhosts/shop/vhconf.conf", Array((shop + "# written by the blog's restore\n").utf8))
        }, undo: { ols in
            try Self.edit(ols, "conf/vhosts/shop//vhconf.conf\n", "conf/vhosts/blog/vhconf.conf\n")
            try Self.editFile(ols, "conf/vhosts/shop/vhconf.conf", "# written by the blog's restore\n", "")
        })
        let shopConf = try site.ols.read("conf/vhosts/shop/vhconf.conf")
        let before = Self.fingerprint(site.ols.root)
        let error = await site.restoreError()
        #expect(error?.contains("which is shop's here") == true, "\(error ?? "nil: the restore went through")")
        #expect(try site.ols.read("conf/vhosts/shop/vhconf.conf") == shopConf)
        #expect(Self.fingerprint(site.ols.root) == before)
    }

    // FINDING 5: outside the server root the vhRoot check is a short denylist, so a snapshot can
    // move an existing site's root to any other directory: a user's ~/.ssh (authorized_keys), /opt/<app>/bin,
    // /var/log, /srv/<anything>; root writes the snapshot's files there with the snapshot's owners
    // and modes. Here a home directory's .ssh gets an authorized_keys. Safe: a vhRoot that moves
    // an existing vhost (or names a hidden directory) is refused.
    @Test("the snapshot cannot move the blog's root into a home's .ssh")
    func vhRootIntoAHomeSSHDirectory() async throws {
        let home = NSTemporaryDirectory() + "balctl-rt-home-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: home) }
        try FileManager.default.createDirectory(atPath: home + "/.ssh", withIntermediateDirectories: true)
        try Data("ssh-ed25519 AAAA attacker\n".utf8).write(to: URL(fileURLWithPath: home + "/.ssh/authorized_keys"))
        let site = try await Self.hostileSite({ try Self.edit($0, "$SERVER_ROOT/blog/", home + "/.ssh/") },
                                              undo: { try Self.edit($0, home + "/.ssh/", "$SERVER_ROOT/blog/") })
        try FileManager.default.removeItem(atPath: home + "/.ssh/authorized_keys")
        // With the blog here (a move), then with the blog lost (a new site in a hidden directory).
        for lost in [false, true] {
            if lost { try await site.loseTheBlog() }
            let before = Self.fingerprint(site.ols.root)
            let error = await site.restoreError()
            #expect(error != nil, "lost: \(lost): the restore went through")
            #expect(!Self.exists(home + "/.ssh/authorized_keys"), "lost: \(lost): root wrote the snapshot's authorized_keys")
            #expect(Self.fingerprint(site.ols.root) == before)
        }
    }

    /// Spellings of OLS's own directories and of system roots that must stay refused.
    @Test("vhRoot spellings that reach bin, conf or the server root are refused; nothing changes",
          arguments: ["$SERVER_ROOT/bin/.", "$SERVER_ROOT//bin/", "$SERVER_ROOT/blog/../bin/", "$SERVER_ROOT/BIN/",
                      "$VH_ROOT/", "../", "bin/", "$SERVER_ROOT/", "$SERVER_ROOT/conf/vhosts/", "/", "/etc//", "/etc/./cron.d/",
                      "$SERVER_ROOT/.blog/", "$SERVER_ROOT/lsphp99/"])
    func ownDirectorySpellings(_ root: String) async throws {
        let site = try await Self.hostileSite({ try Self.edit($0, "$SERVER_ROOT/blog/", root) },
                                              undo: { try Self.edit($0, "  vhRoot                  \(root)\n", "  vhRoot                  $SERVER_ROOT/blog/\n") })
        let before = Self.fingerprint(site.ols.root)
        let error = await site.restoreError()
        #expect(error?.contains("system directory or one of OpenLiteSpeed's own") == true, "\(root): \(error ?? "nil: the restore went through")")
        #expect(Self.fingerprint(site.ols.root) == before)
    }

    @Test("configFile spellings that leave conf/vhosts or reach the server config are refused",
          arguments: ["conf/vhosts/../httpd_config.conf", "$SERVER_ROOT/conf/vhosts/./x.conf", "conf//httpd_config.conf",
                      "$SERVER_ROOT/conf/vhostsX/blog.conf", "/etc/passwd", "$SERVER_ROOT/conf/vhosts/shop/vhconf.conf",
                      "$VH_ROOT/../conf/httpd_config.conf"])
    func configFileSpellings(_ conf: String) async throws {
        let site = try await Self.hostileSite({ try Self.edit($0, "conf/vhosts/blog/vhconf.conf\n", conf + "\n") },
                                              undo: { try Self.edit($0, "$SERVER_ROOT/blog/\n  configFile              \(conf)\n", "$SERVER_ROOT/blog/\n  configFile              conf/vhosts/blog/vhconf.conf\n") })
        let before = Self.fingerprint(site.ols.root)
        let error = await site.restoreError()
        #expect(error != nil, "\(conf): the restore went through")
        #expect(Self.fingerprint(site.ols.root) == before, "\(conf): \(error ?? "")")
    }

    // MARK: links

    @Test("a configFile reached through a symlinked directory in the snapshot is refused")
    func configFileThroughALinkedDirectory() async throws {
        let site = try await Self.hostileSite({ ols in
            // The snapshot's conf/vhosts/evil is a link to the blog's vhconf directory.
            try FileManager.default.createSymbolicLink(atPath: ols.root + "/conf/vhosts/evil", withDestinationPath: ols.root + "/conf/vhosts/blog")
            try Self.edit(ols, "conf/vhosts/blog/vhconf.conf\n", "conf/vhosts/evil/vhconf.conf\n")
        }, undo: { ols in
            try FileManager.default.removeItem(atPath: ols.root + "/conf/vhosts/evil")
            try Self.edit(ols, "conf/vhosts/evil/vhconf.conf\n", "conf/vhosts/blog/vhconf.conf\n")
        })
        let before = Self.fingerprint(site.ols.root)
        let error = await site.restoreError()
        #expect(error?.contains("has no regular file") == true, "\(error ?? "nil")")
        #expect(Self.fingerprint(site.ols.root) == before)
    }

    @Test("links inside the snapshot's vhRoot are put back as links, never written through")
    func stagedLinksAreNotFollowed() async throws {
        let victim = NSTemporaryDirectory() + "balctl-rt-victim-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: victim) }
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: true)
        try Data("victim\n".utf8).write(to: URL(fileURLWithPath: victim + "/index.php"))
        let site = try await Self.hostileSite({ ols in
            // On the hostile member, blog/html is a link to a directory outside, and
            // blog/html2/index.php a link to a file outside.
            try FileManager.default.moveItem(atPath: ols.root + "/blog/html", toPath: ols.root + "/blog/html.real")
            try FileManager.default.createSymbolicLink(atPath: ols.root + "/blog/html", withDestinationPath: victim)
            try FileManager.default.createDirectory(atPath: ols.root + "/blog/html2", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: ols.root + "/blog/html2/index.php", withDestinationPath: victim + "/index.php")
        }, undo: { ols in
            try FileManager.default.removeItem(atPath: ols.root + "/blog/html")
            try FileManager.default.moveItem(atPath: ols.root + "/blog/html.real", toPath: ols.root + "/blog/html")
            try FileManager.default.removeItem(atPath: ols.root + "/blog/html2")
        })
        // Here, html2 is a directory with a real page: the restore replaces the page by the link.
        try FileManager.default.createDirectory(atPath: site.ols.root + "/blog/html2", withIntermediateDirectories: true)
        try Data("mine\n".utf8).write(to: URL(fileURLWithPath: site.ols.root + "/blog/html2/index.php"))
        let victimBefore = Self.fingerprint(victim, skipping: [])
        _ = try? await site.restore()
        #expect(Self.fingerprint(victim, skipping: []) == victimBefore, "the victim directory changed")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: site.ols.root + "/blog/html") == victim)
    }

    @Test("a live html directory swapped for a link by the site's user is not written through")
    func liveLinkInsideTheRootIsNotFollowed() async throws {
        let site = try await Site()
        let victim = NSTemporaryDirectory() + "balctl-rt-victim-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: victim) }
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: true)
        try Data("victim\n".utf8).write(to: URL(fileURLWithPath: victim + "/index.php"))
        chown(victim, 4243, 4243)
        try FileManager.default.removeItem(atPath: site.ols.root + "/blog/html")
        try FileManager.default.createSymbolicLink(atPath: site.ols.root + "/blog/html", withDestinationPath: victim)
        lchown(site.ols.root + "/blog/html", 4243, 4243)
        let victimBefore = Self.fingerprint(victim, skipping: [])
        _ = try? await site.restore()
        #expect(Self.fingerprint(victim, skipping: []) == victimBefore, "root wrote through the planted link")
    }

    @Test("a vhRoot whose parent is a link planted by the OLS admin: the link is replaced, nothing is written through it")
    func liveParentLinkIsRefused() async throws {
        let victim = NSTemporaryDirectory() + "balctl-rt-victim-" + UUID().uuidString.prefix(8)
        let base = NSTemporaryDirectory() + "balctl-rt-base-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: victim); try? FileManager.default.removeItem(atPath: base) }
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: true)
        let site = try await Self.hostileSite({ ols in
            try FileManager.default.createDirectory(atPath: base + "/sites/blog/html", withIntermediateDirectories: true)
            try Data("page\n".utf8).write(to: URL(fileURLWithPath: base + "/sites/blog/html/index.php"))
            try Self.edit(ols, "$SERVER_ROOT/blog/", base + "/sites/blog/")
        }, undo: { ols in
            try FileManager.default.removeItem(atPath: base + "/sites")
            // uid 4242 plants sites -> victim
            try FileManager.default.createSymbolicLink(atPath: base + "/sites", withDestinationPath: victim)
            lchown(base + "/sites", 4242, 4242)
            try Self.edit(ols, base + "/sites/blog/", "$SERVER_ROOT/blog/")
        })
        try await site.loseTheBlog()
        _ = await Self.restoreError(site, webRoots: [base])
        // The planted link is moved aside and replaced by a real directory; nothing goes through it.
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: victim)) ?? ["?"]).isEmpty, "root wrote through the planted link")
        var st = stat()
        #expect(lstat(base + "/sites", &st) == 0 && st.st_mode & S_IFMT == S_IFDIR, "the planted link is still there")
        #expect((try? String(contentsOfFile: base + "/sites/blog/html/index.php", encoding: .utf8)) == "page\n")
    }

    @Test("conf/vhosts/blog replaced by a link (uid 4242) to a root-only directory: the vhconf is not written through it")
    func liveVhconfDirectoryLink() async throws {
        let site = try await Site()
        try await site.loseTheBlog()
        let victim = NSTemporaryDirectory() + "balctl-rt-victim-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: victim) }
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: site.ols.root + "/conf/vhosts/blog")
        try FileManager.default.createSymbolicLink(atPath: site.ols.root + "/conf/vhosts/blog", withDestinationPath: victim)
        lchown(site.ols.root + "/conf/vhosts/blog", 4242, 4242)
        let config = site.config
        let error = await site.restoreError()
        #expect(error != nil)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: victim)) ?? ["?"]).isEmpty, "root wrote through the planted link")
        #expect(site.config == config)
        #expect(site.page == "broken", "the files were not rolled back")
    }

    // MARK: config structure

    @Test("a map written as a <<< value is refused and changes nothing")
    func heredocMap() async throws {
        let site = try await Self.hostileSite({ ols in
            try Self.edit(ols, "  map                     blog blog.example.org\n}\n\nlistener HTTPS",
                          "  map <<<END_rules\nblog blog.example.org\nEND_rules\n}\n\nlistener HTTPS")
        }, undo: { ols in
            try Self.edit(ols, "  map <<<END_rules\nblog blog.example.org\nEND_rules\n", "  map                     blog blog.example.org\n")
        })
        try await site.loseTheBlog()
        let before = Self.fingerprint(site.ols.root)
        let error = await site.restoreError()
        #expect(error != nil)
        #expect(Self.fingerprint(site.ols.root) == before)
    }

    @Test("a block with braces and vhost blocks inside a <<< value keeps the live structure")
    func heredocBlockKeepsStructure() async throws {
        let body = "  rules <<<END\n}\nvirtualhost evil {\n  vhRoot /etc/\n}\nlistener X {\nEND\n"
        let site = try await Self.hostileSite({ ols in
            try Self.edit(ols, "  configFile              conf/vhosts/blog/vhconf.conf\n", "  configFile              conf/vhosts/blog/vhconf.conf\n" + body)
        }, undo: { ols in
            try Self.edit(ols, body, "")
        })
        try await site.loseTheBlog()
        _ = try? await site.restore()
        let model = try OLSServerModel.load(site.ols.settings)
        #expect(model.vhosts.map { $0.name }.sorted() == ["blog", "shop"])
        #expect(model.listeners.map { $0.name } == ["HTTP", "HTTPS"])
    }

    @Test("two `virtualhost blog` blocks in the snapshot: the second (with a system root) is never used")
    func duplicateBlocks() async throws {
        let site = try await Self.hostileSite({ ols in
            try Self.edit(ols, "listener HTTP {", "virtualhost blog {\n  vhRoot /etc/\n  configFile /etc/passwd\n}\n\nlistener HTTP {")
        }, undo: { ols in
            try Self.edit(ols, "virtualhost blog {\n  vhRoot /etc/\n  configFile /etc/passwd\n}\n\n", "")
        })
        try await site.loseTheBlog()
        _ = try? await site.restore()
        #expect(!site.config.contains("/etc/passwd"))
        #expect(!site.config.contains("vhRoot /etc/"))
    }

    @Test("a map line naming a domain another vhost serves here in another case is refused")
    func domainClashInOtherCase() async throws {
        let site = try await Self.hostileSite({ ols in
            try Self.edit(ols, "  map                     blog blog.example.org\n}\n\nlistener HTTPS",
                          "  map                     blog blog.example.org, WWW.Shop.Example.COM\n}\n\nlistener HTTPS")
        }, undo: { ols in
            try Self.edit(ols, "blog blog.example.org, WWW.Shop.Example.COM", "blog blog.example.org")
        })
        let before = Self.fingerprint(site.ols.root)
        let error = await site.restoreError()
        #expect(error?.contains("maps www.shop.example.com to 'shop'") == true, "\(error ?? "nil")")
        #expect(Self.fingerprint(site.ols.root) == before)
    }

    /// Work bounds: a big block and many listeners that map the vhost (each listener used to
    /// re-parse the whole candidate config: listeners × config size).
    @Test("a big block and many listeners mapping the vhost are planned in bounded time")
    func bigBlockManyListeners() async throws {
        let padding = String(repeating: "  enableScript            1\n", count: 40_000)
        var listeners = ""
        for i in 0..<400 { listeners += "listener L\(i) {\n  address                 *:\(10_000 + i)\n  map                     blog blog.example.org\n}\n\n" }
        let site = try await Self.hostileSite({ ols in
            try Self.edit(ols, "  configFile              conf/vhosts/blog/vhconf.conf\n", "  configFile              conf/vhosts/blog/vhconf.conf\n" + padding)
            try Self.edit(ols, "module cache {", listeners + "module cache {")
        }, undo: { ols in
            try Self.edit(ols, padding, "")
            try Self.edit(ols, listeners, "")
        })
        try await site.loseTheBlog()
        let start = Date()
        _ = try? await site.restore(checkMode: true)
        let elapsed = Date().timeIntervalSince(start)
        #expect(elapsed < 20, "planning took \(elapsed) s")
    }

    // FINDING 4 (functional, fails closed): with OLS's default server root /usr/local/lsws every
    // `$SERVER_ROOT/<site>` root is under /usr, so `isWebRoot` refuses it before looking at the
    // server-root rule: a stock install's vhosts (Example…) can be neither backed up nor restored.
    @Test("with the default server root, a site directly under it is a web root")
    func defaultServerRootSites() {
        let settings = OLSSettings(serverRoot: "/usr/local/lsws", stateDir: "/var/lib/balctl")
        #expect(OLSBackupScope.isWebRoot("/usr/local/lsws/Example", settings: settings))
        #expect(!OLSBackupScope.isWebRoot("/usr/local/lsws/bin", settings: settings))
        #expect(!OLSBackupScope.isWebRoot("/usr/local/bin", settings: settings))
    }
}
