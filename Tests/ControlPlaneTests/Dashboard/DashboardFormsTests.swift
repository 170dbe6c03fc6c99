import BalctlProtocol
@testable import ControlPlane
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TestSupport

/// A pool with one member that reports host and haproxy commands and a `show stat` table, a
/// signed-in user, and a recipes directory with one small recipe (host.echo steps).
final class DashboardFormsEnv: @unchecked Sendable {
    let dir: URL
    let server: ControlPlane
    let admin: Operator
    let pool: PoolView
    let member: MemberEnrollment
    let other: MemberEnrollment

    init(hub: DashboardHub? = nil) async throws {
        setenv("BALCTL_BCRYPT_COST", "4", 1)
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-dash2-\(UUID().uuidString)")
        let recipes = dir.appendingPathComponent("recipes")
        try FileManager.default.createDirectory(at: recipes, withIntermediateDirectories: true)
        try """
            id: echo-note
            title: Echo a note
            description: Writes a note to the job output; disable writes another.
            parameters:
              note:
                type: string
                default: hello
                description: What to echo
              times:
                type: int
                default: 1
            steps:
              - name: echo the note
                run: host.echo
                with:
                  message: "{{ note }}"
            disable:
              - name: echo the undo
                run: host.echo
                with:
                  message: undone
            """.write(to: recipes.appendingPathComponent("echo-note.yaml"), atomically: true, encoding: .utf8)
        var config = ServerConfig(dataDir: dir.appendingPathComponent("data").path)
        config.recipesDir = recipes.path
        server = try ControlPlane(config: config)
        let issued = try #require(try server.store.bootstrapAdminIfNeeded())
        admin = try #require(try await server.store.authenticateOperator(token: issued.token))
        pool = try await server.store.createPool(CreatePoolRequest(name: "edge", template: .haproxy), by: admin)
        member = try await server.store.addMember(pool: pool.id, CreateMemberRequest(hostname: "lb-1", allowedIPs: ["203.0.113.10"], family: .debian, role: nil),
                                                  install: server.installContext, by: admin)
        other = try await server.store.addMember(pool: pool.id, CreateMemberRequest(hostname: "lb-2", allowedIPs: ["203.0.113.11"], family: .debian, role: nil),
                                                 install: server.installContext, by: admin)
        try await beat(member, status: "UP")
        _ = try await server.store.createWebUser(CreateWebUserRequest(username: "ops", password: "password-ops-123"),
                                                 hasher: server.dashboard.hasher, by: admin)
    }
    deinit { try? FileManager.default.removeItem(at: dir) }

    var base: String { "/pools/\(pool.id)/members/\(member.member.id)" }

    /// A heartbeat with a one-server haproxy `show stat` table whose status is `status`.
    func beat(_ e: MemberEnrollment, status: String, ip: String = "203.0.113.10") async throws {
        let addr = IPv4(ip)!
        let agent = try await server.store.authenticateAgent(secret: e.enrollmentSecret, clientIP: addr, hostname: e.member.hostname)
        let stats: JSONValue = .object(["columns": .array(["pxname", "svname", "type", "status", "scur", "check_status"].map(JSONValue.string)),
                                        "rows": .array([.array([.string("be_web"), .string("web1"), .number(2), .string(status), .number(3), .string("L4OK")])])])
        let r = HostReport(hostname: e.member.hostname, agentVersion: "0.1.0",
                           os: OSInfo(family: "debian", id: "debian", versionID: "12", prettyName: "Debian 12", kernel: "6.1.0"),
                           uptimeSec: 100, load: [0.1, 0.2, 0.3], cpuPercent: 5, cpuCount: 2,
                           memory: MemoryInfo(totalBytes: 1000, availableBytes: 250), disks: [], publicIPv4: nil,
                           publicIPSource: nil, stacks: ["haproxy": .object(["stats": stats])],
                           commands: ["host.echo", "host.collect_facts", "host.updates_check", "host.updates_install", "host.reboot",
                                      "haproxy.server_drain", "haproxy.server_ready", "haproxy.server_maint"],
                           jobsInFlight: [])
        let raw = String(decoding: try JSONEncoder().encode(r), as: UTF8.self)
        _ = try await server.heartbeats.record(agent, report: try HeartbeatEnvelope.read(raw), raw: raw, ip: addr)
    }

    func jobs() async throws -> [JobView] {
        try await server.store.listJobs(member: member.member.id, pool: nil, limit: 50, by: admin)
    }
}

@Suite("Dashboard member forms", .timeLimit(.minutes(2)))
struct DashboardFormsTests {
    typealias P = DashboardPageTests

    @Test("host ops: facts queue at once; install and reboot show a confirmation first, then queue")
    func hostOps() async throws {
        let env = try await DashboardFormsEnv()
        try await env.server.application().test(.router) { c in
            let (cookie, csrf) = try await P.signIn(c, "ops")
            let h: HTTPFields = P.formHeaders + [.cookie: cookie]
            let page = try await c.execute(uri: env.base + "/control", method: .get, headers: [.cookie: cookie])
            P.checkPage(page, "control tab")
            let html = String(buffer: page.body)
            for op in ["collect_facts", "updates_check", "updates_install", "reboot"] {
                #expect(html.contains("name=\"op\" value=\"\(op)\""), "\(op)")
            }
            let facts = try await c.execute(uri: env.base + "/hostop", method: .post, headers: h, body: P.form([("csrf", csrf), ("op", "collect_facts")]))
            #expect(facts.status == .seeOther && facts.headers[.location] == env.base + "/jobs")
            #expect(try await env.jobs().map(\.command) == ["host.collect_facts"])
            // Reboot: a confirmation page, nothing queued yet.
            let ask = try await c.execute(uri: env.base + "/hostop", method: .post, headers: h, body: P.form([("csrf", csrf), ("op", "reboot")]))
            #expect(ask.status == .ok)
            P.checkPage(ask, "reboot confirmation")
            let askHTML = String(buffer: ask.body)
            #expect(askHTML.contains("id=\"confirm-hostop\"") && askHTML.contains("name=\"confirmed\" value=\"1\"") && askHTML.contains("host.reboot"))
            #expect(try await env.jobs().count == 1)
            let yes = try await c.execute(uri: env.base + "/hostop", method: .post, headers: h,
                                          body: P.form([("csrf", csrf), ("op", "reboot"), ("confirmed", "1")]))
            #expect(yes.status == .seeOther)
            let reboot = try #require(try await env.jobs().first { $0.command == "host.reboot" })
            #expect(reboot.params == .object(["confirm": .bool(true)]))
            // An unknown op is refused.
            let bad = try await c.execute(uri: env.base + "/hostop", method: .post, headers: h, body: P.form([("csrf", csrf), ("op", "rm-rf")]))
            #expect(bad.status == .badRequest)
        }
    }

    @Test("thresholds: a refused value is kept with the reason beside the form; a good one is saved")
    func thresholds() async throws {
        let env = try await DashboardFormsEnv()
        try await env.server.application().test(.router) { c in
            let (cookie, csrf) = try await P.signIn(c, "ops")
            let h: HTTPFields = P.formHeaders + [.cookie: cookie]
            let bad = try await c.execute(uri: env.base + "/threshold", method: .post, headers: h,
                                          body: P.form([("csrf", csrf), ("metric", "cpu"), ("raiseAt", "ninety"), ("enabled", "1")]))
            #expect(bad.status == .badRequest)
            let badHTML = String(buffer: bad.body)
            #expect(badHTML.contains("id=\"threshold-error\"") && badHTML.contains("value=\"ninety\""))
            // The store's own check (clear must be below raise) comes back the same way.
            let inverted = try await c.execute(uri: env.base + "/threshold", method: .post, headers: h,
                                               body: P.form([("csrf", csrf), ("metric", "memory"), ("raiseAt", "50"), ("clearAt", "80"), ("enabled", "1")]))
            #expect(inverted.status == .badRequest && String(buffer: inverted.body).contains("id=\"threshold-error\""))
            let ok = try await c.execute(uri: env.base + "/threshold", method: .post, headers: h,
                                         body: P.form([("csrf", csrf), ("metric", "cpu"), ("raiseAt", "90"), ("clearAt", "80"), ("enabled", "1")]))
            #expect(ok.status == .seeOther && ok.headers[.location] == env.base + "/monitoring")
            let t = try await env.server.store.thresholds(member: env.member.member.id, by: env.admin)
            #expect(t.own.first { $0.metric == .cpu }?.raiseAt == 90)
            let page = String(buffer: try await c.execute(uri: env.base + "/monitoring", method: .get, headers: [.cookie: cookie]).body)
            #expect(page.contains("class=\"threshold-row\" data-metric=\"cpu\""))
        }
    }

    @Test("recipes: run with typed parameters; a wrong type is refused beside the recipe; disable asks first")
    func recipes() async throws {
        let env = try await DashboardFormsEnv()
        try await env.server.application().test(.router) { c in
            let (cookie, csrf) = try await P.signIn(c, "ops")
            let h: HTTPFields = P.formHeaders + [.cookie: cookie]
            let page = try await c.execute(uri: env.base + "/recipes", method: .get, headers: [.cookie: cookie])
            P.checkPage(page, "recipes tab")
            #expect(String(buffer: page.body).contains("class=\"recipe-run card\" data-recipe-id=\"echo-note\""))
            let bad = try await c.execute(uri: env.base + "/recipe", method: .post, headers: h,
                                          body: P.form([("csrf", csrf), ("recipe", "echo-note"), ("mode", "run"), ("p.note", "typed"), ("p.times", "many")]))
            #expect(bad.status == .badRequest)
            let badHTML = String(buffer: bad.body)
            #expect(badHTML.contains("&#39;times&#39; is an int") && badHTML.contains("value=\"many\"") && badHTML.contains("value=\"typed\""), "\(badHTML)")
            #expect(try await env.jobs().isEmpty)
            let run = try await c.execute(uri: env.base + "/recipe", method: .post, headers: h,
                                          body: P.form([("csrf", csrf), ("recipe", "echo-note"), ("mode", "run"), ("p.note", "from the browser")]))
            #expect(run.status == .seeOther && run.headers[.location] == env.base + "/recipes")
            let job = try #require(try await env.jobs().first)
            #expect(job.command == "host.echo" && job.params == .object(["message": .string("from the browser")]))
            let ask = try await c.execute(uri: env.base + "/recipe", method: .post, headers: h,
                                          body: P.form([("csrf", csrf), ("recipe", "echo-note"), ("mode", "disable")]))
            #expect(ask.status == .ok && String(buffer: ask.body).contains("id=\"confirm-recipe\""))
            #expect(try await env.jobs().count == 1)
            let confirmed = P.form([("csrf", csrf), ("recipe", "echo-note"), ("mode", "disable"), ("confirmed", "1")])
            // The enable run is still going (no agent runs its job): the store's refusal shows beside the recipe.
            let busy = try await c.execute(uri: env.base + "/recipe", method: .post, headers: h, body: confirmed)
            #expect(busy.status == .badRequest && String(buffer: busy.body).contains("already running"))
            let enableRun = try #require(try await env.server.store.listRecipeRuns(member: env.member.member.id, limit: 10, by: env.admin).first)
            _ = try await env.server.store.cancelRecipeRun(enableRun.id, by: env.admin)
            let yes = try await c.execute(uri: env.base + "/recipe", method: .post, headers: h, body: confirmed)
            #expect(yes.status == .seeOther, "\(String(buffer: yes.body))")
            let runs = try await env.server.store.listRecipeRuns(member: env.member.member.id, limit: 10, by: env.admin)
            #expect(Set(runs.map(\.mode)) == ["enable", "disable"])
        }
    }

    @Test("restore: a snapshot that does not exist is refused on the tab (the form is the API's restore)")
    func restoreRefusal() async throws {
        let env = try await DashboardFormsEnv()
        try await env.server.application().test(.router) { c in
            let (cookie, csrf) = try await P.signIn(c, "ops")
            let page = try await c.execute(uri: env.base + "/restore", method: .get, headers: [.cookie: cookie])
            P.checkPage(page, "restore tab")
            let r = try await c.execute(uri: env.base + "/restore-snapshot", method: .post, headers: P.formHeaders + [.cookie: cookie],
                                        body: P.form([("csrf", csrf), ("snapshot", "no-such-snapshot"), ("to", "\(env.other.member.id)")]))
            #expect(r.status != .seeOther && r.status != .ok)
            #expect(String(buffer: r.body).contains("id=\"restore-error\""))
            #expect(try await env.jobs().isEmpty)
        }
    }
}

@Suite("Dashboard template objects")
struct DashboardTemplateObjectTests {
    @Test("an absent optional passed as Any renders as nothing (not 'nil'), a present one as its value")
    func optionalsAreUnwrapped() throws {
        let ui = DashboardState(hasher: PasswordHasher(cost: 4))
        let none: String? = nil, some: String? = "shown"
        let html = ui.render("error", ["heading": some as Any, "message": none as Any])
        #expect(html.contains(">shown<") && !html.contains("nil"))
        let nested = DashboardState.unwrapped(["a": [["b": none as Any, "c": some as Any]], "d": ["e": none as Any]])
        let rows = try #require(nested["a"] as? [[String: Any]])
        #expect(rows[0]["b"] == nil && rows[0]["c"] as? String == "shown")
        #expect((nested["d"] as? [String: Any])?.isEmpty == true)
    }
}

@Suite("Dashboard failover settings form", .timeLimit(.minutes(2)))
struct DashboardFailoverFormTests {
    typealias P = DashboardPageTests

    @Test("every FailoverSettings field: saved through the store; a refused one keeps what was typed; an empty secret keeps the set one")
    func allFields() async throws {
        let env = try await DashboardFormsEnv()
        let url = "/pools/\(env.pool.id)/failover"
        try await env.server.application().test(.router) { c in
            let (cookie, csrf) = try await P.signIn(c, "ops")
            let h: HTTPFields = P.formHeaders + [.cookie: cookie]
            let page = String(buffer: try await c.execute(uri: url, method: .get, headers: [.cookie: cookie]).body)
            for name in ["hostname", "providerId", "ttl", "delaySec", "autoFailover", "minSpacingSec", "proxied", "dynamicDNS",
                         "allowPrivateIPs", "alertEmails", "webhookURL", "webhookSecret"] {
                #expect(page.contains("name=\"\(name)\""), "\(name)")
            }
            let fields: [(String, String)] = [("csrf", csrf), ("hostname", "lb.example.com"), ("providerId", "0"), ("ttl", "60"), ("delaySec", "30"),
                                              ("minSpacingSec", "600"), ("proxied", "1"), ("allowPrivateIPs", "1"),
                                              ("alertEmails", "ops@example.com, oncall@example.com"), ("webhookURL", "https://hooks.example.com/x"),
                                              ("webhookSecret", "a-webhook-secret-of-24b")]
            let ok = try await c.execute(uri: url, method: .post, headers: h, body: P.form(fields))
            #expect(ok.status == .seeOther, "\(String(buffer: ok.body))")
            var s = try await env.server.store.failoverSettings(pool: env.pool.id, by: env.admin)
            #expect(s.hostname == "lb.example.com" && s.minSpacingSec == 600 && s.proxied && !s.dynamicDNS && s.allowPrivateIPs)
            #expect(s.alertEmails == ["ops@example.com", "oncall@example.com"] && s.webhookURL == "https://hooks.example.com/x" && s.webhookSecretSet)
            // Saved again with an empty secret: the secret stays; the checkboxes left out turn off.
            let again = try await c.execute(uri: url, method: .post, headers: h,
                                            body: P.form(fields.filter { !["webhookSecret", "proxied"].contains($0.0) }))
            #expect(again.status == .seeOther)
            s = try await env.server.store.failoverSettings(pool: env.pool.id, by: env.admin)
            #expect(s.webhookSecretSet && !s.proxied)
            // Refused (a plain-http webhook): 400, the reason, the typed values kept.
            let bad = try await c.execute(uri: url, method: .post, headers: h,
                                          body: P.form(fields.map { $0.0 == "webhookURL" ? ($0.0, "http://hooks.example.com/plain") : $0 }))
            #expect(bad.status == .badRequest)
            let badHTML = String(buffer: bad.body)
            #expect(badHTML.contains("value=\"http://hooks.example.com/plain\"") && badHTML.contains("value=\"600\"") && badHTML.contains("class=\"error\""))
        }
    }
}

@Suite("Dashboard fleet map", .timeLimit(.minutes(2)))
struct DashboardFleetMapTests {
    typealias P = DashboardPageTests

    @Test("a location set on the Settings tab plots the member on the world outline (equirectangular); bad values are refused beside the field")
    func plotsMembersWithALocation() async throws {
        let env = try await DashboardFormsEnv()
        try await env.server.application().test(.router) { c in
            let (cookie, csrf) = try await P.signIn(c, "ops")
            let h: HTTPFields = P.formHeaders + [.cookie: cookie]
            let empty = try await c.execute(uri: "/fleet-map", method: .get, headers: [.cookie: cookie])
            P.checkPage(empty, "fleet map")
            #expect(!String(buffer: empty.body).contains("class=\"map-member\""))
            #expect(String(buffer: empty.body).contains("No member has a geo location yet"))

            // Amsterdam: x = lon + 180, y = 90 − lat in the 360 × 180 view box.
            let set = try await c.execute(uri: env.base + "/geo", method: .post, headers: h,
                                          body: P.form([("csrf", csrf), ("lat", "52.37"), ("lon", "4.90")]))
            #expect(set.status == .seeOther)
            let map = String(buffer: try await c.execute(uri: "/fleet-map", method: .get, headers: [.cookie: cookie]).body)
            #expect(map.contains("<circle class=\"map-member\" data-member-id=\"\(env.member.member.id)\" cx=\"184.90\" cy=\"37.63\""), "\(map)")
            #expect(map.contains("lb-1") && !map.contains("data-member-id=\"\(env.other.member.id)\""))

            for (lat, lon) in [("91", "0"), ("0", "181"), ("nan", "0"), ("x", "1")] {
                let bad = try await c.execute(uri: env.base + "/geo", method: .post, headers: h, body: P.form([("csrf", csrf), ("lat", lat), ("lon", lon)]))
                #expect(bad.status == .badRequest, "\(lat),\(lon)")
                let html = String(buffer: bad.body)
                #expect(html.contains("value=\"\(lat)\"") && html.contains("class=\"error field-error\""), "\(lat),\(lon): the typed value is kept and the reason shown")
            }
            let still = String(buffer: try await c.execute(uri: "/fleet-map", method: .get, headers: [.cookie: cookie]).body)
            #expect(still.contains("cx=\"184.90\" cy=\"37.63\""))
        }
    }
}
