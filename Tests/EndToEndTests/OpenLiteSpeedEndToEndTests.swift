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
    @Test("ols.vhost_add and ols.backup on one member; the ols-recover-site recipe restores the site on another")
    func addBackUpLoseAndRecoverOnAnotherMember() async throws {
        let ols = try FakeOLS()
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
        let (a, b) = (members[0].member.id, members[1].member.id)

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
}
