import BalctlProtocol
@testable import ControlPlane
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TestSupport

/// Users and sessions in the store, on both engines.
@Suite("Dashboard users and sessions", .storeEngines)
struct DashboardStoreTests {
    let hasher = PasswordHasher(cost: 4)

    @Test func usersSessionsAndSignOutEverywhere() async throws {
        let f = try await Fixture()
        let user = try await f.store.createWebUser(CreateWebUserRequest(username: "alice", password: "correct horse battery"),
                                                   hasher: hasher, by: f.admin)
        #expect(user.accountId == f.admin.accountID)
        // Stored as bcrypt, never in clear.
        let stored = try await f.store.db.read { try String.fetchOne($0, sql: "SELECT password_hash FROM users WHERE username = 'alice'") }
        #expect(stored?.hasPrefix("$2") == true && stored?.contains("horse") == false)
        #expect(try await f.store.checkWebPassword(username: "alice", password: "wrong password!!", hasher: hasher) == nil)
        #expect(try await f.store.checkWebPassword(username: "nobody", password: "correct horse battery", hasher: hasher) == nil)
        let ok = try #require(try await f.store.checkWebPassword(username: "alice", password: "correct horse battery", hasher: hasher))
        let a = try await f.store.createWebSession(userID: ok.userID, policy: WebSessionPolicy())
        let b = try await f.store.createWebSession(userID: ok.userID, policy: WebSessionPolicy())
        #expect(a.token != b.token)
        // Only the token's hash is stored.
        #expect(try await f.count("SELECT COUNT(*) FROM web_sessions WHERE token_hash = ?", [a.token]) == 0)
        let s = try #require(try await f.store.webSession(token: a.token, policy: WebSessionPolicy()))
        #expect(s.op.accountID == f.admin.accountID && s.csrf == a.csrf)
        #expect(try await f.store.endAllWebSessions(userID: ok.userID) == 2)
        #expect(try await f.store.webSession(token: a.token, policy: WebSessionPolicy()) == nil)
        #expect(try await f.store.webSession(token: b.token, policy: WebSessionPolicy()) == nil)
    }

    @Test func refusalsAndTenancy() async throws {
        let f = try await Fixture()
        let short = await cpError { _ = try await f.store.createWebUser(CreateWebUserRequest(username: "bob", password: "short"), hasher: hasher, by: f.admin) }
        #expect(short?.kind == .badRequest)
        let other = try await f.otherOperator()
        _ = try await f.store.createWebUser(CreateWebUserRequest(username: "bob", password: "long enough password"), hasher: hasher, by: other)
        let dup = await cpError { _ = try await f.store.createWebUser(CreateWebUserRequest(username: "bob", password: "long enough password"), hasher: hasher, by: f.admin) }
        #expect(dup?.kind == .conflict)
        let foreign = await cpError { _ = try await f.store.createWebUser(CreateWebUserRequest(username: "eve", password: "long enough password", account: f.admin.accountID), hasher: hasher, by: other) }
        #expect(foreign?.kind == .forbidden)
        #expect(try await f.store.listWebUsers(by: other).map(\.username) == ["bob"])
        // Another account's user is not there for a non-admin.
        _ = try await f.store.createWebUser(CreateWebUserRequest(username: "carol", password: "long enough password"), hasher: hasher, by: f.admin)
        #expect(await cpError { try await f.store.removeWebUser("carol", by: other) }?.kind == .notFound)
        try await f.store.removeWebUser("bob", by: other)
        #expect(try await f.store.listWebUsers(by: other).isEmpty)
    }

    @Test func expiredSessionIsRefused() async throws {
        let f = try await Fixture()
        let u = try await f.store.createWebUser(CreateWebUserRequest(username: "dora", password: "long enough password"), hasher: hasher, by: f.admin)
        var policy = WebSessionPolicy()
        policy.idleSec = -1  // already past its idle limit
        let s = try await f.store.createWebSession(userID: u.id, policy: policy)
        #expect(try await f.store.webSession(token: s.token, policy: WebSessionPolicy()) == nil)
    }
}

/// The pages through the real router (HummingbirdTesting), SQLite.
@Suite("Dashboard pages", .timeLimit(.minutes(2)))
struct DashboardPageTests {
    final class Env: @unchecked Sendable {
        let dir: URL
        let server: ControlPlane
        let admin: Operator
        init() async throws {
            setenv("BALCTL_BCRYPT_COST", "4", 1)
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-dash-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            server = try ControlPlane(config: ServerConfig(dataDir: dir.path))
            let issued = try #require(try server.store.bootstrapAdminIfNeeded())
            admin = try #require(try await server.store.authenticateOperator(token: issued.token))
        }
        deinit { try? FileManager.default.removeItem(at: dir) }

        /// A heartbeat of `e`'s member through the ingest path (its commands become known).
        func beat(_ e: MemberEnrollment) async throws {
            let ip = IPv4("203.0.113.10")!
            let agent = try await server.store.authenticateAgent(secret: e.enrollmentSecret, clientIP: ip, hostname: e.member.hostname)
            let r = HostReport(hostname: e.member.hostname, agentVersion: "0.1.0",
                               os: OSInfo(family: "debian", id: "debian", versionID: "12", prettyName: "Debian 12", kernel: "6.1.0"),
                               uptimeSec: 100, load: [0.1, 0.2, 0.3], cpuPercent: 5, cpuCount: 2,
                               memory: MemoryInfo(totalBytes: 1000, availableBytes: 250), disks: [], publicIPv4: nil,
                               publicIPSource: nil, stacks: [:], commands: ["host.echo"], jobsInFlight: [])
            let raw = String(decoding: try JSONEncoder().encode(r), as: UTF8.self)
            _ = try await server.heartbeats.record(agent, report: try HeartbeatEnvelope.read(raw), raw: raw, ip: ip)
        }

        func user(_ name: String, by op: Operator? = nil) async throws {
            _ = try await server.store.createWebUser(CreateWebUserRequest(username: name, password: "password-\(name)-123"),
                                                     hasher: server.dashboard.hasher, by: op ?? admin)
        }
    }

    static func form(_ fields: [(String, String)]) -> ByteBuffer {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        return ByteBuffer(string: fields.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&"))
    }
    static let formHeaders: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    /// Signs in; returns the cookie header value and the session's CSRF token (read from a page).
    static func signIn(_ c: any TestClientProtocol, _ name: String) async throws -> (cookie: String, csrf: String) {
        let r = try await c.execute(uri: "/signin", method: .post, headers: formHeaders,
                                    body: form([("username", name), ("password", "password-\(name)-123"), ("next", "/pools")]))
        #expect(r.status == .seeOther)
        let set = try #require(r.headers[.setCookie])
        let cookie = String(set.split(separator: ";")[0])
        let page = try await c.execute(uri: "/pools", method: .get, headers: [.cookie: cookie])
        let html = String(buffer: page.body)
        let csrf = try #require(html.firstMatch(of: /name="csrf" value="([0-9a-f]{64})"/)?.output.1)
        return (cookie, String(csrf))
    }

    static func checkPage(_ r: TestResponse, _ what: String) {
        #expect(r.headers[.contentSecurityPolicy] == DashboardHeaders.csp, "CSP on \(what)")
        #expect(r.headers[.xContentTypeOptions] == "nosniff", "\(what)")
        let html = String(buffer: r.body)
        #expect(r.body.readableBytes < 200 * 1024, "\(what) is \(r.body.readableBytes) bytes")
        if r.headers[.contentType]?.hasPrefix("text/html") == true {
            #expect(r.headers[.cacheControl] == "no-store", "\(what)")
            // No inline script or style: every <script> has src, no style= / <style>, no on…= handlers.
            #expect(html.firstMatch(of: /<script(?![^>]*\ssrc=)[^>]*>/) == nil, "inline script on \(what)")
            #expect(html.firstMatch(of: /<style|\sstyle=|\son[a-z]+=/) == nil, "inline style/handler on \(what)")
        }
    }

    @Test func signInSignOutCookieAndRedirects() async throws {
        let env = try await Env()
        try await env.user("alice")
        try await env.server.application().test(.router) { c in
            // Not signed in: GET → /signin?next=…, POST → 403.
            let r0 = try await c.execute(uri: "/pools", method: .get)
            #expect(r0.status == .seeOther && r0.headers[.location] == "/signin?next=/pools")
            let signinPage = try await c.execute(uri: "/signin?next=/pools", method: .get)
            Self.checkPage(signinPage, "/signin")
            #expect(String(buffer: signinPage.body).contains("id=\"signin-form\""))
            // Wrong password: 401, the error shown, the username kept.
            let bad = try await c.execute(uri: "/signin", method: .post, headers: Self.formHeaders,
                                          body: Self.form([("username", "alice"), ("password", "nope-nope-nope")]))
            #expect(bad.status == .unauthorized)
            #expect(String(buffer: bad.body).contains("id=\"signin-error\"") && String(buffer: bad.body).contains("value=\"alice\""))
            // Success: cookie flags, 303 to next.
            let ok = try await c.execute(uri: "/signin", method: .post, headers: Self.formHeaders,
                                         body: Self.form([("username", "alice"), ("password", "password-alice-123"), ("next", "/fleet-map")]))
            #expect(ok.status == .seeOther && ok.headers[.location] == "/fleet-map")
            let set = try #require(ok.headers[.setCookie])
            #expect(set.hasPrefix("balctl_session=") && set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"))
            // Open redirects refused.
            for evil in ["//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:alert(1)"] {
                let r = try await c.execute(uri: "/signin", method: .post, headers: Self.formHeaders,
                                            body: Self.form([("username", "alice"), ("password", "password-alice-123"), ("next", evil)]))
                #expect(r.headers[.location] == "/pools", "next=\(evil)")
            }
            // Session fixation: a planted cookie is not kept; sign-in issues a new token.
            let planted = "balctl_session=" + String(repeating: "a", count: 64)
            let fix = try await c.execute(uri: "/signin", method: .post, headers: Self.formHeaders + [.cookie: planted],
                                          body: Self.form([("username", "alice"), ("password", "password-alice-123")]))
            #expect(fix.headers[.setCookie]?.hasPrefix(planted + ";") == false)
            // Sign out ends the session.
            let (cookie, csrf) = try await Self.signIn(c, "alice")
            let out = try await c.execute(uri: "/signout", method: .post, headers: Self.formHeaders + [.cookie: cookie],
                                          body: Self.form([("csrf", csrf)]))
            #expect(out.status == .seeOther)
            let after = try await c.execute(uri: "/pools", method: .get, headers: [.cookie: cookie])
            #expect(after.status == .seeOther)
        }
    }

    @Test func rateLimitAfterFiveFailures() async throws {
        let env = try await Env()
        try await env.user("alice")
        try await env.server.application().test(.router) { c in
            for _ in 0..<5 {
                let r = try await c.execute(uri: "/signin", method: .post, headers: Self.formHeaders,
                                            body: Self.form([("username", "alice"), ("password", "wrong-password-x")]))
                #expect(r.status == .unauthorized)
            }
            // Even the right password is refused now, with when to retry.
            let r = try await c.execute(uri: "/signin", method: .post, headers: Self.formHeaders,
                                        body: Self.form([("username", "alice"), ("password", "password-alice-123")]))
            #expect(r.status == .tooManyRequests)
            #expect(String(buffer: r.body).contains("id=\"signin-error\"") && String(buffer: r.body).contains("Try again in"))
            #expect(r.headers[.retryAfter] != nil)
        }
    }

    @Test func csrfTenancyAndPages() async throws {
        let env = try await Env()
        let store = env.server.store
        try await env.user("alice")
        let other = try #require(try await store.authenticateOperator(token: try await store.createAccount(
            CreateAccountRequest(name: "tenant-b", isAdmin: false), by: env.admin).token))
        try await env.user("bob", by: other)
        let pool = try await store.createPool(CreatePoolRequest(name: "edge", template: .haproxy), by: env.admin)
        let e1 = try await store.addMember(pool: pool.id, CreateMemberRequest(hostname: "web-1", allowedIPs: ["203.0.113.10"], family: .debian, role: nil),
                                           install: env.server.installContext, by: env.admin)
        let m1 = e1.member
        try await env.beat(e1)
        let bPool = try await store.createPool(CreatePoolRequest(name: "b-pool", template: .generic), by: other)
        try await env.server.application().test(.router) { c in
            let (cookie, csrf) = try await Self.signIn(c, "alice")
            let h: HTTPFields = [.cookie: cookie]
            // Every page: headers, size, no inline script/style.
            var pages = ["/pools", "/pools/\(pool.id)", "/pools/\(pool.id)/failover", "/pools/\(pool.id)/cut",
                         "/pools/\(pool.id)/members/\(m1.id)/make-active", "/fleet-map", "/static/app.css", "/static/app.js", "/static/world.svg"]
            pages += MemberPage.tabs.map { "/pools/\(pool.id)/members/\(m1.id)/\($0.0)" }
            for p in pages {
                let r = try await c.execute(uri: p, method: .get, headers: h)
                #expect(r.status == .ok, "\(p)")
                Self.checkPage(r, p)
            }
            let overview = String(buffer: try await c.execute(uri: "/pools/\(pool.id)", method: .get, headers: h).body)
            #expect(overview.contains("class=\"member-card") && overview.contains("data-member-name=\"web-1\"") && overview.contains("data-kpi=\"members\""))
            let list = String(buffer: try await c.execute(uri: "/pools", method: .get, headers: h).body)
            #expect(list.contains("tr class=\"pool-row\" data-pool-id=\"\(pool.id)\"") && !list.contains("b-pool"))
            // Another account's pool and member: 404 page.
            #expect(try await c.execute(uri: "/pools/\(bPool.id)", method: .get, headers: h).status == .notFound)
            let (bCookie, bCSRF) = try await Self.signIn(c, "bob")
            let r404 = try await c.execute(uri: "/pools/\(pool.id)/members/\(m1.id)/jobs", method: .get, headers: [.cookie: bCookie])
            #expect(r404.status == .notFound)
            Self.checkPage(r404, "404 page")
            let post404 = try await c.execute(uri: "/pools/\(pool.id)/members/\(m1.id)/jobs", method: .post,
                                              headers: Self.formHeaders + [.cookie: bCookie], body: Self.form([("csrf", bCSRF), ("command", "host.echo")]))
            #expect(post404.status == .notFound)
            // CSRF: missing or wrong → 403, nothing queued.
            for body in [Self.form([("command", "host.echo")]), Self.form([("csrf", String(repeating: "0", count: 64)), ("command", "host.echo")])] {
                let r = try await c.execute(uri: "/pools/\(pool.id)/members/\(m1.id)/jobs", method: .post, headers: Self.formHeaders + h, body: body)
                #expect(r.status == .forbidden)
            }
            #expect(try await store.listJobs(member: m1.id, pool: nil, limit: 10, by: env.admin).isEmpty)
            // A refused form keeps what was typed and says why next to the field.
            let refused = try await c.execute(uri: "/pools/\(pool.id)/members/\(m1.id)/jobs", method: .post, headers: Self.formHeaders + h,
                                              body: Self.form([("csrf", csrf), ("command", "host.echo"), ("params", "{not json <b>")]))
            #expect(refused.status == .badRequest)
            let refusedHTML = String(buffer: refused.body)
            #expect(refusedHTML.contains("id=\"params-error\"") && refusedHTML.contains("{not json &lt;b&gt;"))
            // With the token: queued, 303 to the jobs tab, shown in the timeline.
            let ok = try await c.execute(uri: "/pools/\(pool.id)/members/\(m1.id)/jobs", method: .post, headers: Self.formHeaders + h,
                                         body: Self.form([("csrf", csrf), ("command", "host.echo"), ("params", "{\"message\":\"hi\"}")]))
            #expect(ok.status == .seeOther && ok.headers[.location] == "/pools/\(pool.id)/members/\(m1.id)/jobs")
            let jobs = String(buffer: try await c.execute(uri: "/pools/\(pool.id)/members/\(m1.id)/jobs", method: .get, headers: h).body)
            #expect(jobs.contains("class=\"job-command\">host.echo<") && jobs.contains("class=\"job-state state-pending\">pending<"))
            // User data is escaped by the templates.
            _ = try await store.renamePool(pool.id, RenamePoolRequest(name: "<script>x</script>"), by: env.admin)
            let escaped = String(buffer: try await c.execute(uri: "/pools", method: .get, headers: h).body)
            #expect(!escaped.contains("<script>x") && escaped.contains("&lt;script&gt;x"))
        }
    }

    @Test func sseStreamIsAnEventStream() async throws {
        let env = try await Env()
        try await env.user("alice")
        let pool = try await env.server.store.createPool(CreatePoolRequest(name: "edge", template: .generic), by: env.admin)
        // The change detector: nothing re-sent when nothing changed; a new job shows.
        let events = DashboardEvents(server: env.server, pool: pool.id, op: env.admin)
        var sent: [String: String] = [:]
        _ = try await events.changes(&sent)
        #expect(try await events.changes(&sent).isEmpty)
        let e = try await env.server.store.addMember(pool: pool.id, CreateMemberRequest(hostname: "web-1", allowedIPs: ["203.0.113.10"], family: .debian, role: nil),
                                                     install: env.server.installContext, by: env.admin)
        let m = e.member
        try await env.beat(e)
        _ = try await env.server.store.enqueue(member: m.id, EnqueueJobRequest(command: "host.echo", params: .object(["message": .string("x")])),
                                               catalogue: env.server.catalogue, policy: env.server.config.queue, by: env.admin)
        let text = try await events.changes(&sent)
        #expect(text.contains("event: member\n") && text.contains("event: job\n") && text.contains("\"memberID\":\(m.id)"))
    }
}
