import BalctlProtocol
@testable import ControlPlane
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TestSupport

/// Red team of the dashboard's stack tabs, hidden stacks' reasons and the Galera cluster view:
/// a hostile agent controls every byte of its heartbeat (up to `AgentWire.maxAgentBodyBytes`,
/// 512 KB). Findings are named S1…S6; the "held" tests pin what was attacked and found sound.
@Suite("red team: stack tabs", .timeLimit(.minutes(3)))
struct RedTeamStackTabsTests {
    typealias P = DashboardPageTests

    /// A report as a hostile agent would send it; `edit` changes any field. The body is checked
    /// against the ingest's limit so no attack here is bigger than a real agent could send.
    static func report(_ e: MemberEnrollment, stacks: [String: JSONValue], hidden: [String: String]? = nil,
                       _ edit: (inout HostReport) -> Void = { _ in }) -> HostReport {
        var r = HostReport(hostname: e.member.hostname, agentVersion: "0.1.0",
                           os: OSInfo(family: "debian", id: "debian", versionID: "12", prettyName: "Debian 12", kernel: "6.1.0"),
                           uptimeSec: 100, load: [0.1, 0.2, 0.3], cpuPercent: 5, cpuCount: 2,
                           memory: MemoryInfo(totalBytes: 1000, availableBytes: 250), disks: [], publicIPv4: nil,
                           publicIPSource: nil, stacks: stacks, commands: ["host.echo", "mariadb.status", "galera.status"],
                           jobsInFlight: [])
        r.hiddenStacks = hidden
        edit(&r)
        return r
    }

    static func beat(_ server: ControlPlane, _ e: MemberEnrollment, ip: String = "203.0.113.10", _ r: HostReport) async throws {
        let raw = String(decoding: r.jsonBytes(), as: UTF8.self)
        try #require(raw.utf8.count <= AgentWire.maxAgentBodyBytes, "the attack body (\(raw.utf8.count) bytes) is over the ingest's limit")
        let addr = IPv4(ip)!
        let agent = try await server.store.authenticateAgent(secret: e.enrollmentSecret, clientIP: addr, hostname: e.member.hostname)
        _ = try await server.heartbeats.record(agent, report: try HeartbeatEnvelope.read(raw), raw: raw, ip: addr)
    }

    static func get(_ c: any TestClientProtocol, _ uri: String, _ cookie: String) async throws -> (TestResponse, Double) {
        let start = ContinuousClock.now
        let r = try await c.execute(uri: uri, method: .get, headers: [.cookie: cookie])
        let d = ContinuousClock.now - start
        return (r, Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }

    /// A page the agent's input went into: 200, the dashboard's headers, ≤ 200 KB (the bound
    /// that also bounds the work; S2's page was 20 MB in 2.9 s before its fix). The time is
    /// printed, not asserted: speed goals live in benchmarks, not in timed tests.
    static func checkAttackedPage(_ r: TestResponse, _ seconds: Double, _ what: String) {
        #expect(r.status == .ok, "\(what): \(r.status)")
        P.checkPage(r, what)
        print("[red team stack tabs] \(what): \(r.body.readableBytes) bytes in \(String(format: "%.3f", seconds)) s")
    }

    // MARK: findings

    /// S1: keys were never clipped, only values: two 200 KB keys in a stack entry made the
    /// stack tab a 400 KB page.
    @Test func s1LongKeysAreClipped() async throws {
        let env = try await DashboardFormsEnv()
        let long = String(repeating: "k", count: 200_000)
        try await Self.beat(env.server, env.member, Self.report(env.member, stacks: [
            "mariadb": .object([long + "1": .number(1), long + "2": .string("v")])]))
        try await env.server.application().test(.router) { c in
            let (cookie, _) = try await P.signIn(c, "ops")
            let (r, t) = try await Self.get(c, env.base + "/stack-mariadb", cookie)
            Self.checkAttackedPage(r, t, "MariaDB tab with 200 KB keys")
        }
    }

    /// S2: every node's dotted key was built by copying its parent's, even past the row limit:
    /// one 100 KB key over 38 000 children cost 3.8 GB of copying per page view.
    @Test func s2KeyPathsCostNoMoreThanTheInput() async throws {
        let env = try await DashboardFormsEnv()
        let long = String(repeating: "p", count: 100_000)
        let children = Dictionary(uniqueKeysWithValues: (0..<38_000).map { ("c\($0)", JSONValue.number(0)) })
        let entry: JSONValue = .object([long: .object(children)])
        let start = ContinuousClock.now
        let (rows, omitted) = StackReadout.rows(entry)
        let took = ContinuousClock.now - start
        #expect(took < .milliseconds(300), "rows took \(took)")
        #expect(rows.count + omitted == 38_000)
        try await Self.beat(env.server, env.member, Self.report(env.member, stacks: ["mariadb": entry]))
        try await env.server.application().test(.router) { c in
            let (cookie, _) = try await P.signIn(c, "ops")
            let (r, t) = try await Self.get(c, env.base + "/stack-mariadb", cookie)
            Self.checkAttackedPage(r, t, "MariaDB tab with a 100 KB key over 38 000 children")
        }
    }

    /// S3: the 300-character clip counted grapheme clusters: "a" followed by 200 000
    /// combining marks is one Character (400 KB), shown whole as a value, a hidden stack's reason
    /// and (through `prefix(32)`) a hidden stack's name.
    @Test func s3CombiningMarksDoNotPassTheClip() async throws {
        let env = try await DashboardFormsEnv()
        let zalgo = "a" + String(repeating: "\u{301}", count: 80_000)
        try await Self.beat(env.server, env.member, Self.report(env.member, stacks: ["mariadb": .object(["v": .string(zalgo)])],
                                                                hidden: ["x" + zalgo: "reason", "y": zalgo]))
        try await env.server.application().test(.router) { c in
            let (cookie, _) = try await P.signIn(c, "ops")
            let (tab, t1) = try await Self.get(c, env.base + "/stack-mariadb", cookie)
            Self.checkAttackedPage(tab, t1, "MariaDB tab with a 160 KB grapheme cluster")
            let (control, t2) = try await Self.get(c, env.base + "/control", cookie)
            Self.checkAttackedPage(control, t2, "control tab with 160 KB hidden stack name and reason")
        }
        #expect(StackReadout.clip(zalgo).utf8.count <= 4 * StackReadout.maxValueLength + 3)
    }

    /// S4: the bounds were per row (200 rows × 300 characters) with no budget for the whole
    /// readout, and the HTML escaping multiplies `"` by six: 200 values of 300 quotes (a 130 KB
    /// body) made a 370 KB page.
    @Test func s4EscapingHeavyReadoutStaysUnderTheBudget() async throws {
        let env = try await DashboardFormsEnv()
        let quotes = String(repeating: "\"", count: 300)
        let entry = JSONValue.object(Dictionary(uniqueKeysWithValues: (0..<200).map { (String(format: "%03d", $0) + quotes.prefix(60), JSONValue.string(quotes)) }))
        try await Self.beat(env.server, env.member, Self.report(env.member, stacks: ["mariadb": entry]))
        try await env.server.application().test(.router) { c in
            let (cookie, _) = try await P.signIn(c, "ops")
            let (r, t) = try await Self.get(c, env.base + "/stack-mariadb", cookie)
            Self.checkAttackedPage(r, t, "MariaDB tab with 200 rows of quotes")
            #expect(String(buffer: r.body).contains("more values not shown"), "what was cut is said")
        }
    }

    /// S5: the control tab's facts were the agent's strings unclipped: 5 000 stack names joined
    /// into the "Stacks" fact, a 300 KB OS name, kernel and agent version.
    @Test func s5ControlTabFactsAreBounded() async throws {
        let env = try await DashboardFormsEnv()
        var stacks: [String: JSONValue] = [:]
        for i in 0..<5_000 { stacks["stack-name-\(i)-" + String(repeating: "n", count: 60)] = .null }
        try await Self.beat(env.server, env.member, Self.report(env.member, stacks: stacks))
        try await env.server.application().test(.router) { c in
            let (cookie, _) = try await P.signIn(c, "ops")
            let (r, t) = try await Self.get(c, env.base + "/control", cookie)
            Self.checkAttackedPage(r, t, "control tab with 5 000 stack names")
            #expect(String(buffer: r.body).contains("(5000 in all)"), "the Stacks fact says how many there are")
        }
        let big = String(repeating: "o", count: 150_000)
        try await Self.beat(env.server, env.member, Self.report(env.member, stacks: [:]) {
            $0.os.prettyName = big; $0.os.kernel = big; $0.agentVersion = String(big.prefix(100_000))
        })
        try await env.server.application().test(.router) { c in
            let (cookie, _) = try await P.signIn(c, "ops")
            let (r, t) = try await Self.get(c, env.base + "/control", cookie)
            Self.checkAttackedPage(r, t, "control tab with 150 KB OS name and kernel")
        }
    }

    /// S6: `Int(x)` of an agent's number traps when it is out of range: `uptimeSec: 1e300`
    /// stopped the whole control plane when someone opened the member's control tab, and a
    /// HAProxy `show stat` cell of 1e300 did so on the status tab and in the live poller
    /// (so with no page open on that tab).
    @Test func s6HugeNumbersDoNotStopTheServer() async throws {
        let env = try await DashboardFormsEnv()
        let stats: JSONValue = .object(["columns": .array(["pxname", "svname", "type", "status", "scur", "check_status"].map(JSONValue.string)),
                                        "rows": .array([.array([.number(1e300), .string("web1"), .number(2), .string("UP"), .number(-1e300), .string("L4OK")])])])
        try await Self.beat(env.server, env.member, Self.report(env.member, stacks: ["haproxy": .object(["stats": stats])]) {
            $0.uptimeSec = 1e300; $0.load = [1e300, -1e300, 0]
        })
        try await env.server.application().test(.router) { c in
            let (cookie, _) = try await P.signIn(c, "ops")
            for tab in ["control", "status"] {
                let (r, t) = try await Self.get(c, env.base + "/" + tab, cookie)
                Self.checkAttackedPage(r, t, "\(tab) tab with 1e300 numbers")
            }
        }
        let rows = MemberPage.haproxyServers(.object(["stats": stats]))
        #expect(rows.first?["backend"] as? String == "1e+300", "\(rows)")
    }

    /// S7: the Status tab drew one row with three buttons for every server row an agent sent:
    /// 5,000 rows (about 300 KB of report) made a page far over 200 KB.
    @Test func s7StatusTabRowsAreBounded() async throws {
        let env = try await DashboardFormsEnv()
        let rows: [JSONValue] = (0..<5000).map { i in
            .array([.string("be_\(i % 7)"), .string("srv\(i)"), .number(2), .string("UP"), .number(1), .string("L4OK")])
        }
        let stats: JSONValue = .object(["columns": .array(["pxname", "svname", "type", "status", "scur", "check_status"].map(JSONValue.string)),
                                        "rows": .array(rows)])
        try await Self.beat(env.server, env.member, Self.report(env.member, stacks: ["haproxy": .object(["stats": stats])]))
        try await env.server.application().test(.router) { c in
            let (cookie, _) = try await P.signIn(c, "ops")
            let (r, t) = try await Self.get(c, env.base + "/status", cookie)
            Self.checkAttackedPage(r, t, "status tab with 5,000 servers")
            let html = String(buffer: r.body)
            #expect(html.matches(of: /<tr class="haproxy-server"/).count == MemberPage.maxServerRows)
            #expect(html.contains("The first \(MemberPage.maxServerRows) servers are shown"))
        }
    }

    /// S8: the Security tab pretty-printed the firewall and SSH entries whole: a 400 KB
    /// firewall entry made a page over 200 KB. Now the same bounded readout as the stack tabs.
    @Test func s8SecurityTabIsBounded() async throws {
        let env = try await DashboardFormsEnv()
        let rules: JSONValue = .array((0..<4000).map { i in .object(["to": .string("\(i)/tcp"), "action": .string("ALLOW IN"), "from": .string("Anywhere")]) })
        try await Self.beat(env.server, env.member, Self.report(env.member, stacks: [
            "firewall": .object(["backend": .string("ufw"), "active": .bool(true), "rules": rules]),
            "ssh": .object(["active": .bool(true), "ports": .array([.number(22)])]),
        ]))
        try await env.server.application().test(.router) { c in
            let (cookie, _) = try await P.signIn(c, "ops")
            let (r, t) = try await Self.get(c, env.base + "/security", cookie)
            Self.checkAttackedPage(r, t, "security tab with 4,000 firewall rules")
            let html = String(buffer: r.body)
            #expect(html.contains("<tr><th scope=\"row\">rules[0].to</th><td>0/tcp</td></tr>"))
            #expect(html.contains("<tr><th scope=\"row\">ports</th><td>22</td></tr>"))
            #expect(html.contains("more values not shown"))
        }
    }

    // MARK: held

    /// The overview's Galera pre-filter is a substring test, so reports that merely say
    /// `"galera"` in a string are parsed whole: attacked with 20 members' 500 KB reports, and
    /// `poolClusters` timed against the same pool whose reports do not say it (debug build,
    /// medians of 5: 166 ms vs 161 ms — reading the reports costs what the parse does; the
    /// overview pages themselves were 1.3–1.8 s either way, noise larger than the difference).
    /// Held; pinned here.
    @Test func heldGaleraPreFilterBypassCostsLittle() async throws {
        let env = try await DashboardFormsEnv()
        var medians: [Duration] = []
        for (p, word) in ["galera", "gal3ra"].enumerated() {
            let pool = try await env.server.store.createPool(CreatePoolRequest(name: "big-\(word)", template: .generic), by: env.admin)
            let filler = JSONValue.array((0..<9_000).map { .object(["n": .string("\"\(word)\" \($0)"), "v": .number(Double($0))]) })
            for i in 0..<20 {
                let ip = "198.51.\(100 + p).\(i + 1)"
                let e = try await env.server.store.addMember(pool: pool.id, CreateMemberRequest(hostname: "db-\(p)-\(i)", allowedIPs: [ip], family: .debian, role: nil),
                                                             install: env.server.installContext, by: env.admin)
                try await Self.beat(env.server, e, ip: ip, Self.report(e, stacks: ["mariadb": .object(["filler": filler])]))
            }
            let clock = ContinuousClock()
            var times: [Duration] = []
            for _ in 0..<5 { times.append(try await clock.measure { _ = try await env.server.store.poolClusters(pool.id, by: env.admin) }) }
            medians.append(times.sorted()[2])
            try await env.server.application().test(.router) { c in
                let (cookie, _) = try await P.signIn(c, "ops")
                let (r, _) = try await Self.get(c, "/pools/\(pool.id)", cookie)
                #expect(r.status == .ok && !String(buffer: r.body).contains("Database clusters"))
                P.checkPage(r, "overview of 20 members with 500 KB reports")
            }
        }
        print("poolClusters of 20 members × 500 KB reports: median \(medians[0]) mentioning galera, \(medians[1]) not")
        #expect(medians[0] < medians[1] * 1.5, "the Galera pre-filter's cost: \(medians)")
    }

    /// Agent text in every new place (stack keys and values, hidden stacks' names and reasons,
    /// Galera status and state words, cluster UUID) comes out escaped, in text and attributes.
    @Test func heldAgentTextIsEscaped() async throws {
        let env = try await DashboardFormsEnv()
        let evil = "\"'><script src=/x></script><img/src=x/onerror=alert(1)>{{csrf}}"
        let galera: JSONValue = .object(["up": .bool(true), "clusterSize": .number(2), "clusterStatus": .string(evil),
                                         "localState": .string(evil), "confID": .number(7),
                                         "clusterStateUUID": .string("6c3c3a8e-6f4b-11ef-9d3a-0b3e1c2f4a55\"><b>"), "ready": .bool(true)])
        try await Self.beat(env.server, env.member, Self.report(env.member, stacks: [
            "galera": galera, "mariadb": .object([evil: .string(evil), "l": .array([.string(evil)]), "o": .array([.object([evil: .string(evil)])])]),
            evil: .string(evil)], hidden: [evil: evil]))
        try await Self.beat(env.server, env.other, ip: "203.0.113.11", Self.report(env.other, stacks: [
            "galera": .object(["up": .bool(true), "clusterSize": .number(2), "clusterStatus": .string("Primary"),
                               "localState": .string("Synced"), "confID": .number(8), "clusterStateUUID": .string("6c3c3a8e-6f4b-11ef-9d3a-0b3e1c2f4a55")])]))
        try await env.server.application().test(.router) { c in
            let (cookie, _) = try await P.signIn(c, "ops")
            for path in [env.base + "/control", env.base + "/stack-mariadb", env.base + "/stack-galera", "/pools/\(env.pool.id)"] {
                let (r, t) = try await Self.get(c, path, cookie)
                Self.checkAttackedPage(r, t, path)
                let html = String(buffer: r.body)
                #expect(!html.contains("<script src=/x>") && !html.contains("<img/src") && !html.contains("\"><b>"), "\(path)")
                #expect(!html.contains("{{csrf}}") || html.contains("{{csrf}}</"), "\(path): agent text is not a template")
            }
            let (ctl, _) = try await Self.get(c, env.base + "/control", cookie)
            #expect(String(buffer: ctl.body).contains("&quot;&#39;&gt;&lt;script"), "the hidden reason is shown, escaped")
            let (tab, _) = try await Self.get(c, env.base + "/stack-galera", cookie)
            #expect(String(buffer: tab.body).contains("&lt;script src=/x&gt;"), "the state word is shown (clipped to 32 bytes), escaped")
        }
    }

    /// Entries of every JSON shape (null, a number, a list of lists, an empty key, 50 stacks)
    /// render a page, never a 500.
    @Test func heldOddEntriesRender() async throws {
        let env = try await DashboardFormsEnv()
        var stacks: [String: JSONValue] = ["mariadb": .null, "galera": .number(-0.0), "host": .array([.array([.array([.null])]), .object([:])]),
                                           "backup": .object(["": .object(["": .array([])]), "n": .number(1e308), "m": .number(-1e-308)]),
                                           "cpanel": .string(""), "openlitespeed": .array([])]
        var deep: JSONValue = .number(1)
        for i in 0..<50 { deep = i % 2 == 0 ? .array([.null, deep]) : .object(["d": deep, "e": .array([])]) }
        stacks["deep"] = deep
        for i in 0..<50 { stacks["s\(i)"] = .bool(true) }
        try await Self.beat(env.server, env.member, Self.report(env.member, stacks: stacks))
        try await env.server.application().test(.router) { c in
            let (cookie, _) = try await P.signIn(c, "ops")
            let (control, _) = try await Self.get(c, env.base + "/control", cookie)
            let tabs = String(buffer: control.body).matches(of: /data-tab="(stack-[a-z0-9_-]+)"/).map { String($0.output.1) }
            #expect(tabs.count == 16)
            for tab in tabs + ["control", "status", "security"] {
                let (r, t) = try await Self.get(c, env.base + "/" + tab, cookie)
                Self.checkAttackedPage(r, t, tab)
            }
            let (overview, t) = try await Self.get(c, "/pools/\(env.pool.id)", cookie)
            Self.checkAttackedPage(overview, t, "overview with galera: -0")
        }
    }

    /// Another account's member through a stack tab URL or `?command=`, a member of one's
    /// other pool, and the cluster view of another account's Galera pool: 404 or absent.
    @Test func heldTenancyThroughStackTabsAndClusters() async throws {
        let env = try await DashboardFormsEnv()
        let store = env.server.store
        let other = try #require(try await store.authenticateOperator(token: try await store.createAccount(
            CreateAccountRequest(name: "tenant-b", isAdmin: false), by: env.admin).token))
        let bPool = try await store.createPool(CreatePoolRequest(name: "b-pool", template: .generic), by: other)
        let bm = try await store.addMember(pool: bPool.id, CreateMemberRequest(hostname: "b-secret-db", allowedIPs: ["192.0.2.7"], family: .debian, role: nil),
                                           install: env.server.installContext, by: other)
        let aPool2 = try await store.createPool(CreatePoolRequest(name: "a-pool-2", template: .generic), by: env.admin)
        let a2m = try await store.addMember(pool: aPool2.id, CreateMemberRequest(hostname: "a2-db", allowedIPs: ["192.0.2.8"], family: .debian, role: nil),
                                            install: env.server.installContext, by: env.admin)
        let galera: JSONValue = .object(["up": .bool(true), "clusterSize": .number(1), "clusterStatus": .string("Primary"),
                                         "localState": .string("Synced"), "confID": .number(1), "clusterStateUUID": .string("aaaaaaaa-6f4b-11ef-9d3a-0b3e1c2f4a55")])
        try await Self.beat(env.server, bm, ip: "192.0.2.7", Self.report(bm, stacks: ["galera": galera, "mariadb": .object(["secret": .string("b-secret-value")])]))
        try await Self.beat(env.server, a2m, ip: "192.0.2.8", Self.report(a2m, stacks: ["galera": galera]))
        try await Self.beat(env.server, env.member, Self.report(env.member, stacks: ["galera": galera]))
        try await env.server.application().test(.router) { c in
            let (cookie, _) = try await P.signIn(c, "ops")
            for path in ["/pools/\(env.pool.id)/members/\(bm.member.id)/stack-galera", "/pools/\(env.pool.id)/members/\(bm.member.id)/stack-mariadb",
                         "/pools/\(bPool.id)/members/\(bm.member.id)/stack-mariadb", "/pools/\(bPool.id)/members/\(bm.member.id)/jobs?command=galera.bootstrap",
                         "/pools/\(env.pool.id)/members/\(a2m.member.id)/stack-galera", "/pools/\(bPool.id)", "/api/v1/pools/\(bPool.id)/clusters"] {
                let (r, _) = try await Self.get(c, path, cookie)
                #expect(r.status == .notFound || r.status == .unauthorized, "\(path): \(r.status)")
                let html = String(buffer: r.body)
                #expect(!html.contains("b-secret") && !html.contains("a2-db"), "\(path)")
            }
            // One's own pool and Galera tab show only this pool's node, none of the other pool's or account's.
            for path in ["/pools/\(env.pool.id)", env.base + "/stack-galera"] {
                let (r, _) = try await Self.get(c, path, cookie)
                let html = String(buffer: r.body)
                #expect(r.status == .ok && html.contains("class=\"cluster card\""), "\(path)")
                #expect(!html.contains("b-secret") && !html.contains("a2-db") && html.matches(of: /<tr class="cluster-node"/).count == 1, "\(path)")
            }
            // `?command=` is only compared with the catalogue's IDs: markup in it is never echoed.
            let (jobs, _) = try await Self.get(c, env.base + "/jobs?command=%22%3E%3Cscript%3E", cookie)
            #expect(jobs.status == .ok && !String(buffer: jobs.body).contains("<script>") && !String(buffer: jobs.body).contains(" selected>"))
        }
    }
}
