import AgentKernel
import BalctlProtocol
import Foundation
import Testing
import TestSupport
@testable import OpenLiteSpeedPlugin

/// The `ols.*` handlers against OLS's real file formats and a fake `lswsctrl`/`lshttpd` (there is
/// no OpenLiteSpeed package for Debian here; see the plugin README).
@Suite(.serialized)
struct OLSHandlerTests {
    @Test func vhostsListsTheExampleWithItsRootAndDomains() async throws {
        let ols = try FakeOLS()
        let (outcome, _) = try await runJob(VHostsHandler(settings: ols.settings))
        guard case .object(let result)? = outcome.result, case .array(let vhosts)? = result["vhosts"],
              case .object(let example)? = vhosts.first else { throw TestError("no vhosts in \(String(describing: outcome.result))") }
        #expect(example["name"] == .string("Example"))
        #expect(example["vhRoot"] == .string(ols.root + "/Example/"))
        #expect(example["docRoot"] == .string(ols.root + "/Example/html/"))
        #expect(example["domains"] == .array([.string("*")]))
        #expect(example["listeners"] == .array([.string("Default")]))
        #expect(example["phpHandler"] == .string("lsphp"))
        #expect(outcome.changed == false)
    }

    @Test func theFarmConfigReadsItsSitesListenersAndPHP() async throws {
        let ols = try FakeOLS(farm: true)
        let model = try OLSServerModel.load(ols.settings)
        let shop = try #require(model.vhost("shop"))
        #expect(shop.vhRoot == "/srv/www/shop/")
        #expect(shop.domains == ["shop.example.com", "www.shop.example.com"])
        #expect(shop.listeners == ["HTTP", "HTTPS"])
        #expect(model.vhost("blog")?.configFile == ols.root + "/conf/vhosts/blog/vhconf.conf")
        #expect(model.phpVersion(handler: "lsphp81", model.vhostConfig(shop)) == "8.1")
        #expect(model.listeners.first { $0.name == "HTTPS" }?.secure == true)
        #expect(OLSServerModel.installedLSPHP(ols.settings) == ["lsphp81", "lsphp82"])
    }

    @Test func statusAndConfigTest() async throws {
        let ols = try FakeOLS()
        let (status, _) = try await runJob(StatusHandler(settings: ols.settings))
        #expect(status.summary.contains("1.7.19") && status.summary.contains("running (pid \(ols.pid!))"), "\(status.summary)")
        let (test, _) = try await runJob(ConfigTestHandler(settings: ols.settings))
        #expect(test.summary.contains("configuration valid") && test.summary.contains("lshttpd -t: passed"), "\(test.summary)")
        try ols.flag("no-dash-t")
        let (old, _) = try await runJob(ConfigTestHandler(settings: ols.settings))
        #expect(old.summary.contains("not supported"), "\(old.summary)")
        // An included file must exist and parse.
        let config = try ols.read("conf/httpd_config.conf")
        try ols.write("conf/httpd_config.conf", config + Array("include                  $SERVER_ROOT/conf/extra.conf\n".utf8))
        let missing = await jobError(ConfigTestHandler(settings: ols.settings))
        #expect(missing?.contains("include \(ols.root)/conf/extra.conf does not exist") == true, "\(missing ?? "nil")")
        try ols.write("conf/extra.conf", Array("tuning {\n".utf8))
        let broken = await jobError(ConfigTestHandler(settings: ols.settings))
        #expect(broken?.contains("extra.conf (included): line 1: block 'tuning' is never closed") == true, "\(broken ?? "nil")")
        try ols.write("conf/extra.conf", Array("tuning {\n  maxConnections 10\n}\n".utf8))
        let (included, _) = try await runJob(ConfigTestHandler(settings: ols.settings))
        #expect(included.summary.contains("configuration valid"))
        try ols.write("conf/httpd_config.conf", config)
        // A vhost config that does not parse fails the test with its file and line.
        try ols.write("conf/vhosts/Example/vhconf.conf", Array("docRoot $VH_ROOT/html/\nindex {\n".utf8))
        let e = await jobError(ConfigTestHandler(settings: ols.settings))
        #expect(e?.contains("vhconf.conf: line 2: block 'index' is never closed") == true, "\(e ?? "nil")")
    }

    @Test func reloadIsGracefulAndRefusedOnABrokenConfig() async throws {
        let ols = try FakeOLS()
        let before = try #require(ols.pid)
        let (outcome, _) = try await runJob(ReloadHandler(settings: ols.settings))
        #expect(outcome.changed && ols.pid != nil && ols.pid != before, "\(outcome.summary)")
        #expect(ols.calls.contains("lswsctrl reload"))
        ols.clearCalls()
        try ols.write("conf/httpd_config.conf", try ols.read("conf/httpd_config.conf") + Array("listener Broken {\n  map Nowhere *\n}\n".utf8))
        let e = await jobError(ReloadHandler(settings: ols.settings))
        #expect(e?.contains("maps 'Nowhere', which is not a virtual host") == true && e?.contains("refusing to reload") == true, "\(e ?? "nil")")
        #expect(!ols.calls.contains { $0.hasPrefix("lswsctrl") }, "\(ols.calls)")
    }

    @Test func restartStartsAStoppedServer() async throws {
        let ols = try FakeOLS(running: false)
        #expect(ols.pid == nil)
        let (outcome, _) = try await runJob(RestartHandler(settings: ols.settings))
        #expect(outcome.summary.contains("started") && ols.pid != nil, "\(outcome.summary)")
    }

    /// The issue's round trip: add then remove leaves every configuration file byte-identical.
    @Test func vhostAddThenRemoveLeavesTheFilesByteIdentical() async throws {
        let ols = try FakeOLS()
        let config = try ols.read("conf/httpd_config.conf")
        let pid0 = try #require(ols.pid)
        let add: JSONValue = .object(["name": .string("shop"), "domains": .array([.string("shop.example.com"), .string("www.shop.example.com")]),
                                      "lsphp": .string("8.2")])
        let (added, _) = try await runJob(VHostAddHandler(settings: ols.settings), add)
        #expect(added.changed, "\(added.summary)")
        let model = try OLSServerModel.load(ols.settings)
        let shop = try #require(model.vhost("shop"))
        #expect(shop.domains == ["shop.example.com", "www.shop.example.com"] && shop.listeners == ["Default"])
        #expect(model.phpHandler(model.vhostConfig(shop)) == "lsphp82")
        #expect(model.processors.contains { $0.name == "lsphp82" })
        #expect(ols.exists("conf/vhosts/shop/vhconf.conf"))
        #expect(try ols.read("conf/httpd_config.conf.balctl.bak") == config)
        let pid1 = try #require(ols.pid)
        #expect(pid1 != pid0)
        // Same again: unchanged, no reload.
        ols.clearCalls()
        let (again, _) = try await runJob(VHostAddHandler(settings: ols.settings), add)
        #expect(!again.changed && !ols.calls.contains("lswsctrl reload"))

        let (removed, _) = try await runJob(VHostRemoveHandler(settings: ols.settings), .object(["name": .string("shop")]))
        #expect(removed.changed)
        // The lsphp82 processor the add brought stays (other vhosts may use it): remove it by
        // hand to compare with the original, then every byte must be as before.
        var after = try OLSConfigFile(bytes: try ols.read("conf/httpd_config.conf"))
        let proc = try #require(after.all("extprocessor").first { $0.value == "lsphp82" })
        after = try after.removing((proc.line - 1)...proc.endLine)
        #expect(after.bytes == config)
        #expect(!ols.exists("conf/vhosts/shop/vhconf.conf") && !ols.exists("conf/vhosts/shop"))
        #expect(try ols.read("conf/vhosts/Example/vhconf.conf") == OLSFixture.bytes("vhconf.conf"))
        #expect(ols.pid != pid1)
        // Removing it again: unchanged.
        let (gone, _) = try await runJob(VHostRemoveHandler(settings: ols.settings), .object(["name": .string("shop")]))
        #expect(!gone.changed)
    }

    @Test func addWithoutLSPHPThenRemoveIsByteIdenticalOnTheFarmToo() async throws {
        let ols = try FakeOLS(farm: true)
        let config = try ols.read("conf/httpd_config.conf")
        let add: JSONValue = .object(["name": .string("wiki"), "domains": .array([.string("wiki.example.net")]), "listeners": .array([.string("HTTPS")]),
                                      "docRoot": .string("/srv/www/wiki/public")])
        _ = try await runJob(VHostAddHandler(settings: ols.settings), add)
        let wiki = try #require(try OLSServerModel.load(ols.settings).vhost("wiki"))
        #expect(wiki.listeners == ["HTTPS"])
        _ = try await runJob(VHostRemoveHandler(settings: ols.settings), .object(["name": .string("wiki")]))
        #expect(try ols.read("conf/httpd_config.conf") == config)
    }

    @Test func checkModeShowsTheDiffAndChangesNothing() async throws {
        let ols = try FakeOLS()
        let config = try ols.read("conf/httpd_config.conf")
        ols.clearCalls()
        let (outcome, _) = try await runJob(VHostAddHandler(settings: ols.settings),
                                            .object(["name": .string("shop"), "domains": .array([.string("shop.example.com")])]), checkMode: true)
        guard case .object(let r)? = outcome.result, case .string(let diff)? = r["diff"] else { throw TestError("no diff") }
        #expect(diff.contains("+") && diff.contains("virtualhost shop {") && diff.contains("map                     shop shop.example.com"), "\(diff)")
        #expect(try ols.read("conf/httpd_config.conf") == config)
        #expect(!ols.exists("conf/vhosts/shop"))
        #expect(ols.calls.isEmpty, "\(ols.calls)")
    }

    /// An edit that breaks the installed config (here `lshttpd -t` rejects it) is rolled back
    /// and OLS is never reloaded.
    @Test func anEditThatBreaksTheConfigIsRolledBackWithoutAReload() async throws {
        let ols = try FakeOLS()
        let config = try ols.read("conf/httpd_config.conf")
        try ols.flag("fail-test")
        ols.clearCalls()
        let e = await jobError(VHostAddHandler(settings: ols.settings), .object(["name": .string("shop"), "domains": .array([.string("shop.example.com")])]))
        #expect(e?.contains("lshttpd -t") == true && e?.contains("put back") == true, "\(e ?? "nil")")
        #expect(try ols.read("conf/httpd_config.conf") == config)
        #expect(!ols.exists("conf/vhosts/shop/vhconf.conf") && !ols.exists("conf/vhosts/shop"))
        #expect(ols.calls.contains("lshttpd -t"))
        #expect(!ols.calls.contains { $0.hasPrefix("lswsctrl") }, "\(ols.calls)")
        // A structural problem is refused before anything is written: an LSPHP not installed.
        try ols.flag("fail-test", false)
        let e2 = await jobError(VHostAddHandler(settings: ols.settings), .object(["name": .string("shop"), "domains": .array([.string("shop.example.com")]), "lsphp": .string("7.4")]))
        #expect(e2?.contains("lsphp74 is not installed") == true, "\(e2 ?? "nil")")
        #expect(try ols.read("conf/httpd_config.conf") == config)
    }

    @Test func aFailedReloadPutsTheFilesBackAndReloadsThem() async throws {
        let ols = try FakeOLS()
        let config = try ols.read("conf/httpd_config.conf")
        try ols.flag("fail-reload")
        let e = await jobError(VHostAddHandler(settings: ols.settings), .object(["name": .string("shop"), "domains": .array([.string("shop.example.com")])]))
        #expect(e?.contains("lswsctrl reload failed") == true && e?.contains("previous files were put back") == true, "\(e ?? "nil")")
        #expect(try ols.read("conf/httpd_config.conf") == config)
        #expect(!ols.exists("conf/vhosts/shop"))
    }

    @Test func domainsAlreadyServedAndExistingNamesAreRefused() async throws {
        let ols = try FakeOLS(farm: true)
        let clash = await jobError(VHostAddHandler(settings: ols.settings), .object(["name": .string("shop2"), "domains": .array([.string("shop.example.com")])]))
        #expect(clash?.contains("already maps shop.example.com to 'shop'") == true, "\(clash ?? "nil")")
        let exists = await jobError(VHostAddHandler(settings: ols.settings), .object(["name": .string("shop"), "domains": .array([.string("x.example.com")])]))
        #expect(exists?.contains("exists with other domains") == true, "\(exists ?? "nil")")
        let listener = await jobError(VHostAddHandler(settings: ols.settings), .object(["name": .string("n"), "domains": .array([.string("n.example.com")]), "listeners": .array([.string("Nope")])]))
        #expect(listener?.contains("no listener 'Nope'") == true)
    }

    @Test func lsphpSetSwitchesAVhostAndIsIdempotent() async throws {
        let ols = try FakeOLS(farm: true)
        let (outcome, _) = try await runJob(LSPHPSetHandler(settings: ols.settings), .object(["vhost": .string("shop"), "lsphp": .string("82")]))
        #expect(outcome.changed, "\(outcome.summary)")
        let model = try OLSServerModel.load(ols.settings)
        let shop = try #require(model.vhost("shop"))
        #expect(model.phpHandler(model.vhostConfig(shop)) == "lsphp82")
        #expect(model.phpVersion(handler: "lsphp82", model.vhostConfig(shop)) == "8.2")
        // The rewrite rules' multi-line value and the CRLF line ends are untouched.
        let text = String(decoding: try ols.read("conf/vhosts/shop/vhconf.conf"), as: UTF8.self)
        #expect(text.contains("RewriteRule ^/old/(.*)$ /new/$1 [R=301,L]\r\n") && text.contains("add                     lsapi:lsphp82 php"))
        let (again, _) = try await runJob(LSPHPSetHandler(settings: ols.settings), .object(["vhost": .string("shop"), "lsphp": .string("lsphp82")]))
        #expect(!again.changed)
        // blog has no scripthandler of its own: it inherits the server's lsphp81 (so asking for
        // 8.1 changes nothing), and 8.2 adds one.
        let (inherited, _) = try await runJob(LSPHPSetHandler(settings: ols.settings), .object(["vhost": .string("blog"), "lsphp": .string("8.1")]))
        #expect(!inherited.changed, "\(inherited.summary)")
        _ = try await runJob(LSPHPSetHandler(settings: ols.settings), .object(["vhost": .string("blog"), "lsphp": .string("8.2")]))
        let blog = try OLSServerModel.load(ols.settings)
        #expect(OLSServerModel.scriptHandlers(blog.vhostConfig(blog.vhost("blog")!)?.first("scripthandler"))["php"] == "lsphp82")
        let missing = await jobError(LSPHPSetHandler(settings: ols.settings), .object(["vhost": .string("shop"), "lsphp": .string("8.0")]))
        #expect(missing?.contains("lsphp80 is not installed") == true && missing?.contains("lsphp81, lsphp82") == true, "\(missing ?? "nil")")
    }

    /// Strings that could end a directive, open a block, start a comment or run a command are
    /// refused by parameter validation, before any file is read or any program runs.
    @Test(arguments: ["22; rm -rf /", "$(id)", "a\nvirtualhost x {", "--", "../etc", "a b", "x}", "#x", "`id`", "a,b", "", "/../../etc"])
    func injectionStringsAreRefusedBeforeAnythingRuns(_ bad: String) async throws {
        let ols = try FakeOLS(running: false)
        let config = try ols.read("conf/httpd_config.conf")
        var attempts: [(any CommandHandler.Type, JSONValue)] = [
            (VHostAddHandler.self, .object(["name": .string(bad), "domains": .array([.string("ok.example.com")])])),
            (VHostAddHandler.self, .object(["name": .string("ok"), "domains": .array([.string(bad)])])),
            (VHostAddHandler.self, .object(["name": .string("ok"), "domains": .array([.string("ok.example.com")]), "listeners": .array([.string(bad)])])),
            (VHostAddHandler.self, .object(["name": .string("ok"), "domains": .array([.string("ok.example.com")]), "docRoot": .string(bad)])),
            (VHostAddHandler.self, .object(["name": .string("ok"), "domains": .array([.string("ok.example.com")]), "lsphp": .string(bad)])),
            (VHostRemoveHandler.self, .object(["name": .string(bad)])),
            (LSPHPSetHandler.self, .object(["vhost": .string(bad), "lsphp": .string("82")])),
            (LSPHPSetHandler.self, .object(["vhost": .string("Example"), "lsphp": .string(bad)])),
        ]
        // Inside a path, only characters that could break the line matter ("--" or "x.." are names).
        let pathSafe = bad.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "/._-@+~".contains($0)) }
        if !pathSafe {
            attempts.append((VHostAddHandler.self, .object(["name": .string("ok"), "domains": .array([.string("ok.example.com")]), "docRoot": .string("/srv/x" + bad + "/")])))
        }
        for (handler, params) in attempts {
            #expect(throws: ParameterError.self, "\(handler.id) \(params)") { _ = try handler.decodeParameters(params) }
        }
        #expect(try ols.read("conf/httpd_config.conf") == config)
        #expect(ols.calls.isEmpty)
    }

    @Test func theProbeHidesAnAbsentStackAndReportsAPresentOne() throws {
        let absent = OLSSettings(serverRoot: NSTemporaryDirectory() + "no-ols-\(UUID().uuidString)")
        #expect(OLSProbe(settings: absent).report() == nil)
        let ols = try FakeOLS()
        guard case .object(let o)? = OLSProbe(settings: ols.settings).report() else { throw TestError("no report") }
        #expect(o["version"] == .string("1.7.19") && o["running"] == .bool(true) && o["vhosts"] == .number(1))
        #expect(o["lsphp"] == .array([.string("lsphp81"), .string("lsphp82")]))
    }

    @Test func theBackupScopeTakesConfAndVhostRootsAndPolicesARestore() async throws {
        let ols = try FakeOLS()
        let scope = OLSBackupScope(settings: ols.settings)
        #expect(try scope.roots(paths: []) == [ols.root + "/Example", ols.root + "/conf"])
        #expect(throws: ParameterError.self) { try scope.roots(paths: ["/etc"]) }
        // A staging copy of the tree validates; a stray root (not conf, not a vhost root) does not.
        let staging = NSTemporaryDirectory() + "ols-stage-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: staging + ols.root, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: ols.root + "/conf", toPath: staging + ols.root + "/conf")
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let (ctx, _) = makeContext()
        try await scope.validateStaged(stagingRoot: staging, roots: [ols.root + "/conf", ols.root + "/Example"], in: ctx)
        await #expect(throws: JobFailure.self) { try await scope.validateStaged(stagingRoot: staging, roots: [ols.root + "/conf", "/root/.ssh"], in: ctx) }
        // A snapshot whose own config declares a system directory as a vhost root cannot get it
        // restored (nor a top-level one, nor one spelled with "..").
        for evil in ["/root", "/etc/cron.d", "/srv", "/var/www/../../etc"] {
            let config = try ols.read("conf/httpd_config.conf") + Array("virtualhost evil {\n  vhRoot \(evil)/\n  configFile $SERVER_ROOT/conf/vhosts/Example/vhconf.conf\n}\n".utf8)
            try Data(config).write(to: URL(fileURLWithPath: staging + ols.root + "/conf/httpd_config.conf"))
            await #expect(throws: JobFailure.self, "\(evil)") {
                try await scope.validateStaged(stagingRoot: staging, roots: [ols.root + "/conf", evil], in: ctx)
            }
        }
        // A restored config that does not parse is refused.
        try Data("virtualhost x {\n".utf8).write(to: URL(fileURLWithPath: staging + ols.root + "/conf/httpd_config.conf"))
        await #expect(throws: JobFailure.self) { try await scope.validateStaged(stagingRoot: staging, roots: [ols.root + "/conf"], in: ctx) }
    }
}
