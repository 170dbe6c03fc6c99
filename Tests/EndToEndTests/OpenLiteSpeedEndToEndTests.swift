import BalctlProtocol
import ControlPlane
import Foundation
import Testing
import TestSupport

/// OpenLiteSpeed end to end with real processes: `balctl-server`, two real `balctl-heartbeat`
/// agents (root) whose `BALCTL_OLS_ROOT` is a fixture server root with the fake `lswsctrl`/
/// `lshttpd` (no OLS package here). A site is added on member A, backed up with `ols.backup`,
/// lost, and brought back on member B by the shipped `ols-recover-site` recipe.
@Suite(.serialized)
struct OpenLiteSpeedEndToEndTests {
    /// A control plane with the shipped recipes and two enrolled agents on the fixture root.
    static func twoMembers(_ ols: FakeOLS) async throws -> (Harness, Harness.Operator, Int64, Int64) {
        let h = try Harness(extraServerArgs: ["--recipes-dir", Harness.repoRoot.appendingPathComponent("recipes").path])
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("web-farm")
        var members: [MemberEnrollment] = []
        for name in ["ols-a", "ols-b"] {
            let e = try await api.member(pool: pool.id, hostname: name)
            var env = h.agentEnv(secret: e.enrollmentSecret, hostname: name, stateDir: h.dir.appendingPathComponent("state-\(name)").path)
            env["BALCTL_OLS_ROOT"] = ols.root
            h.agents.append(try h.run(try Harness.binary("balctl-heartbeat"), [], env: env, log: "agent-\(name).log"))
            _ = try await api.waitForHeartbeat(e.member.id)
            members.append(e)
        }
        return (h, api, members[0].member.id, members[1].member.id)
    }

    @Test("ols.vhost_add and ols.backup on one member; the ols-recover-site recipe restores the site on another")
    func addBackUpLoseAndRecoverOnAnotherMember() async throws {
        let ols = try FakeOLS()
        let (h, api, a, b) = try await Self.twoMembers(ols)
        defer { withExtendedLifetime(h) {} }

        // The heartbeat carries the stack, so the recipe is offered.
        let offered: [Recipe] = try await api.call("GET", "/recipes?member=\(b)")
        #expect(offered.contains { $0.id == "ols-recover-site" }, "\(offered.map(\.id))")

        let add = try await api.waitForJob(try await api.enqueue(a, "ols.vhost_add", .object([
            "name": .string("shop"), "domains": .array([.string("shop.example.com")]), "lsphp": .string("8.2")])).id) { $0.state.isTerminal }
        #expect(add.state == .completed, "\(add.error ?? "")")
        try FileManager.default.createDirectory(atPath: ols.root + "/shop/html", withIntermediateDirectories: true)
        try ols.write("shop/html/index.php", Array("<?php echo 'v1';\n".utf8))
        let configWithShop = try ols.read("conf/httpd_config.conf")

        let backup = try await api.waitForJob(try await api.enqueue(a, "ols.backup", .emptyObject).id, timeout: 120) { $0.state.isTerminal }
        #expect(backup.state == .completed, "\(backup.error ?? "")")
        let snapshot = try #require(backup.result?["snapshot"]?.stringValue)

        // The site is lost: removed from the config, its page overwritten.
        let remove = try await api.waitForJob(try await api.enqueue(a, "ols.vhost_remove", .object(["name": .string("shop")])).id) { $0.state.isTerminal }
        #expect(remove.state == .completed, "\(remove.error ?? "")")
        try ols.write("shop/html/index.php", Array("broken".utf8))
        ols.clearCalls()

        let started: RecipeRunView = try await api.call("POST", "/members/\(b)/recipes/ols-recover-site/run",
                                                        RunRecipeRequest(params: ["snapshot": .string(snapshot)]))
        let run = try await api.waitForRecipeRun(started.id, timeout: 120)
        #expect(run.state == .completed, "\(run.steps.map { "\($0.name): \(String(describing: $0.state)) \($0.error ?? "")" }) \(run.error ?? "")")
        #expect(try ols.read("conf/httpd_config.conf") == configWithShop)
        #expect(String(decoding: try ols.read("shop/html/index.php"), as: UTF8.self) == "<?php echo 'v1';\n")
        #expect(ols.exists("conf/vhosts/shop/vhconf.conf"))
        #expect(ols.calls.contains("lswsctrl reload"), "\(ols.calls)")
        // The check step's job lists the recovered vhost.
        let check = try await api.job(try #require(run.steps.last?.jobId))
        #expect(check.output?.contains("shop: shop.example.com") == true, "\(check.output ?? "")")
    }

    @Test("the ols-restore-vhost recipe brings one site back from another member's snapshot and leaves the other sites alone")
    func restoreOneSiteFromAnotherMembersSnapshot() async throws {
        let ols = try FakeOLS(farm: true)
        try ols.write("blog/html/index.php", Array("<?php echo 'v1';\n".utf8))
        let (h, api, a, b) = try await Self.twoMembers(ols)
        defer { withExtendedLifetime(h) {} }
        let offered: [Recipe] = try await api.call("GET", "/recipes?member=\(b)")
        #expect(offered.contains { $0.id == "ols-restore-vhost" }, "\(offered.map(\.id))")
        let blogConf = try ols.read("conf/vhosts/blog/vhconf.conf")

        let backup = try await api.waitForJob(try await api.enqueue(a, "ols.backup", .emptyObject).id, timeout: 120) { $0.state.isTerminal }
        #expect(backup.state == .completed, "\(backup.error ?? "")")
        let snapshot = try #require(backup.result?["snapshot"]?.stringValue)

        // On member B the blog is lost, and a new site appears after the snapshot.
        let remove = try await api.waitForJob(try await api.enqueue(b, "ols.vhost_remove", .object(["name": .string("blog")])).id) { $0.state.isTerminal }
        #expect(remove.state == .completed, "\(remove.error ?? "")")
        try ols.write("blog/html/index.php", Array("broken".utf8))
        let add = try await api.waitForJob(try await api.enqueue(b, "ols.vhost_add", .object([
            "name": .string("news"), "domains": .array([.string("news.example.net")])])).id) { $0.state.isTerminal }
        #expect(add.state == .completed, "\(add.error ?? "")")
        ols.clearCalls()

        let started: RecipeRunView = try await api.call("POST", "/members/\(b)/recipes/ols-restore-vhost/run",
                                                        RunRecipeRequest(params: ["snapshot": .string(snapshot), "vhost": .string("blog")]))
        let run = try await api.waitForRecipeRun(started.id, timeout: 120)
        #expect(run.state == .completed, "\(run.steps.map { "\($0.name): \(String(describing: $0.state)) \($0.error ?? "")" }) \(run.error ?? "")")
        #expect(String(decoding: try ols.read("blog/html/index.php"), as: UTF8.self) == "<?php echo 'v1';\n")
        #expect(try ols.read("conf/vhosts/blog/vhconf.conf") == blogConf)
        let config = String(decoding: try ols.read("conf/httpd_config.conf"), as: UTF8.self)
        #expect(config.contains("virtualhost blog {") && config.contains("virtualhost news {"), "\(config)")
        #expect(config.contains("map                     blog blog.example.org"), "\(config)")
        #expect(ols.exists("conf/vhosts/news/vhconf.conf"))
        #expect(ols.calls.contains("lswsctrl reload"), "\(ols.calls)")
        let check = try await api.job(try #require(run.steps.last?.jobId))
        #expect(check.output?.contains("blog: blog.example.org") == true && check.output?.contains("news: news.example.net") == true, "\(check.output ?? "")")
    }
}
