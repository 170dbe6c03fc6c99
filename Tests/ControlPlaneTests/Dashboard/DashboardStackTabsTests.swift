import BalctlProtocol
@testable import ControlPlane
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TestSupport

/// Stack tabs ("each member's tabs reflect its stacks"), the hidden stacks' reasons, and the
/// Galera cluster view on the overview and the Galera tab.
@Suite("Dashboard stack tabs", .timeLimit(.minutes(2)))
struct DashboardStackTabsTests {
    typealias P = DashboardPageTests

    static let uuid = "6c3c3a8e-6f4b-11ef-9d3a-0b3e1c2f4a55"

    /// A heartbeat with `stacks` and `hidden` reasons, through the real ingest path (the red
    /// team's report builder: one way to make these reports).
    static func beat(_ env: DashboardFormsEnv, _ e: MemberEnrollment, ip: String, stacks: [String: JSONValue],
                     hidden: [String: String]? = nil) async throws {
        try await RedTeamStackTabsTests.beat(env.server, e, ip: ip, RedTeamStackTabsTests.report(e, stacks: stacks, hidden: hidden))
    }

    static func galera(size: Int, status: String, state: String) -> JSONValue {
        .object(["up": .bool(true), "clusterSize": .number(Double(size)), "clusterStatus": .string(status),
                 "localState": .string(state), "confID": .number(7), "clusterStateUUID": .string(uuid), "ready": .bool(true)])
    }

    @Test("a member reporting MariaDB and Galera gets their tabs with the readout and their commands; Security and Status keep firewall, SSH and HAProxy")
    func stackTabs() async throws {
        let env = try await DashboardFormsEnv()
        try await Self.beat(env, env.member, ip: "203.0.113.10", stacks: [
            "mariadb": .object(["up": .bool(true), "version": .string("10.11.6-MariaDB"), "connections": .object(["used": .number(3), "max": .number(151)]),
                                "bufferPoolHitRatio": .number(0.99873), "role": .string("galera <node>"),
                                "databases": .array([.string("shop"), .string("wp")])]),
            "galera": Self.galera(size: 2, status: "Primary", state: "Synced"),
            "firewall": .object(["backend": .string("ufw")]),
            "../x?y": .object([:]), "Upper": .object([:]), String(repeating: "a", count: 33): .object([:]),
        ], hidden: ["openlitespeed": "OpenLiteSpeed is not installed: no /usr/local/lsws/bin/lshttpd"])
        try await env.server.application().test(.router) { c in
            let (cookie, _) = try await P.signIn(c, "ops")
            let control = try await c.execute(uri: env.base + "/control", method: .get, headers: [.cookie: cookie])
            P.checkPage(control, "control tab")
            let html = String(buffer: control.body)
            // Stack tabs after Status, in name order; none for firewall (Security) or haproxy (Status),
            // none for names that are not a plain lowercase path segment of ≤ 32 bytes.
            let nav = try #require(html.firstMatch(of: /<nav class="tabs" aria-label="Member">(?s)(.*?)<\/nav>/)?.output.1)
            let keys = nav.matches(of: /data-tab="([a-z-]+)"/).map { String($0.output.1) }
            #expect(keys == ["control", "security", "status", "stack-galera", "stack-mariadb", "jobs", "restore", "recipes", "monitoring", "settings"])
            #expect(nav.contains(">MariaDB</a>") && nav.contains(">Galera</a>"))
            #expect(nav.matches(of: /data-tab=/).count == keys.count, "no tab for ../x?y, Upper or a 33-byte name: \(nav)")
            // The reason a plugin hid itself is shown, escaped.
            #expect(html.contains("<dt>openlitespeed</dt><dd>OpenLiteSpeed is not installed: no /usr/local/lsws/bin/lshttpd</dd>"))

            let maria = try await c.execute(uri: env.base + "/stack-mariadb", method: .get, headers: [.cookie: cookie])
            P.checkPage(maria, "MariaDB tab")
            #expect(maria.status == .ok)
            let m = String(buffer: maria.body)
            #expect(m.contains("<tr><th scope=\"row\">connections.max</th><td>151</td></tr>"))
            #expect(m.contains("<tr><th scope=\"row\">bufferPoolHitRatio</th><td>0.999</td></tr>"))
            #expect(m.contains("<tr><th scope=\"row\">databases</th><td>shop, wp</td></tr>"))
            #expect(m.contains("<td>galera &lt;node&gt;</td>"), "agent text is escaped")
            #expect(m.contains("<tr data-command=\"mariadb.backup\">") && m.contains("jobs?command=mariadb.restore#enqueue-job"))
            #expect(!m.contains("data-command=\"galera.status\""), "only this stack's commands")
            #expect(!m.contains("class=\"clusters\""), "the cluster view is Galera's")

            // The Run… link's target preselects the command.
            let jobs = String(buffer: try await c.execute(uri: env.base + "/jobs?command=mariadb.databases", method: .get, headers: [.cookie: cookie]).body)
            #expect(jobs.contains("<option value=\"mariadb.databases\" selected>"))

            for missing in ["stack-openlitespeed", "stack-firewall", "stack-", "stack-%3Cx%3E"] {
                let r = try await c.execute(uri: env.base + "/" + missing, method: .get, headers: [.cookie: cookie])
                #expect(r.status == .notFound, "\(missing)")
            }
        }
    }

    @Test("the overview and the Galera tab show the pool's cluster: healthy with both nodes Synced, a warning when one node loses quorum")
    func clusterView() async throws {
        let env = try await DashboardFormsEnv()
        try await Self.beat(env, env.member, ip: "203.0.113.10", stacks: ["galera": Self.galera(size: 2, status: "Primary", state: "Synced")])
        try await Self.beat(env, env.other, ip: "203.0.113.11", stacks: ["galera": Self.galera(size: 2, status: "Primary", state: "Synced")])
        try await env.server.application().test(.router) { c in
            let (cookie, _) = try await P.signIn(c, "ops")
            let overview = try await c.execute(uri: "/pools/\(env.pool.id)", method: .get, headers: [.cookie: cookie])
            P.checkPage(overview, "overview")
            var html = String(buffer: overview.body)
            #expect(html.contains("<h2>Database clusters</h2>"))
            #expect(html.contains("data-cluster=\"\(Self.uuid)\"") && html.contains("<span class=\"cluster-status ready-ok\">healthy</span>"), "\(html)")
            #expect(html.matches(of: /<tr class="cluster-node"/).count == 2)

            try await Self.beat(env, env.other, ip: "203.0.113.11", stacks: ["galera": Self.galera(size: 1, status: "non-Primary", state: "Initialized")])
            html = String(buffer: try await c.execute(uri: "/pools/\(env.pool.id)", method: .get, headers: [.cookie: cookie]).body)
            #expect(html.contains("<span class=\"cluster-status ready-bad\">"), "\(html)")
            #expect(html.contains("<p class=\"warning\" role=\"alert\">") && html.contains("lb-2"))

            let tab = try await c.execute(uri: env.base + "/stack-galera", method: .get, headers: [.cookie: cookie])
            P.checkPage(tab, "Galera tab")
            let g = String(buffer: tab.body)
            #expect(g.contains("data-cluster=\"\(Self.uuid)\"") && g.contains("<tr><th scope=\"row\">clusterStatus</th><td>Primary</td></tr>"))
            #expect(g.contains("data-command=\"galera.bootstrap\""))
        }
    }

    @Test("a pool without Galera members shows no cluster section")
    func noClusters() async throws {
        let env = try await DashboardFormsEnv()
        try await env.server.application().test(.router) { c in
            let (cookie, _) = try await P.signIn(c, "ops")
            let html = String(buffer: try await c.execute(uri: "/pools/\(env.pool.id)", method: .get, headers: [.cookie: cookie]).body)
            #expect(html.contains("class=\"member-card") && !html.contains("Database clusters"))
        }
    }

    @Test("the readout is bounded: deep, long and wide entries from an agent are cut, never unbounded")
    func readoutBounds() {
        var deep: JSONValue = .string("bottom")
        for _ in 0..<50 { deep = .object(["d": deep]) }
        let (rows, omitted) = StackReadout.rows(.object(["deep": deep, "long": .string(String(repeating: "x", count: 10_000)),
                                                          "wide": .array((0..<1000).map { .object(["i": .number(Double($0))]) }),
                                                          "list": .array((0..<100).map { .number(Double($0)) })]))
        #expect(rows.count == StackReadout.maxRows)
        #expect(omitted > 0)
        #expect(rows.first { $0.key.hasPrefix("deep") }?.value == "{…}")
        #expect(rows.first { $0.key == "long" }!.value.count == StackReadout.maxValueLength + 1)
        #expect(rows.first { $0.key == "list" }!.value.hasSuffix("… (100 in all)"))
        #expect(StackReadout.number(3) == "3" && StackReadout.number(0.5) == "0.5" && StackReadout.number(-2.25) == "-2.25")
    }
}
