import BalctlProtocol
@testable import ControlPlane
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TestSupport

/// Red team of the web dashboard (issue 19): sign-in, sessions, CSRF, tenancy, output, resource
/// abuse. Each finding has a test named after it (D1…); the "held" tests pin what was attacked
/// and found sound, so a regression shows.
@Suite("red team: dashboard", .timeLimit(.minutes(3)))
struct RedTeamDashboardTests {
    typealias P = DashboardPageTests

    final class Env: @unchecked Sendable {
        let dir: URL
        let server: ControlPlane
        let admin: Operator
        init(bcryptCost: Int = 4, _ configure: (inout ServerConfig) -> Void = { _ in }) async throws {
            // The hasher reads the cost when the server is made; other suites set 4 again.
            setenv("BALCTL_BCRYPT_COST", String(bcryptCost), 1)
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-redteam-dash-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            var config = ServerConfig(dataDir: dir.path)
            configure(&config)
            server = try ControlPlane(config: config)
            setenv("BALCTL_BCRYPT_COST", "4", 1)
            let issued = try #require(try server.store.bootstrapAdminIfNeeded())
            admin = try #require(try await server.store.authenticateOperator(token: issued.token))
        }
        deinit { try? FileManager.default.removeItem(at: dir) }

        func user(_ name: String, by op: Operator? = nil) async throws {
            _ = try await server.store.createWebUser(CreateWebUserRequest(username: name, password: "password-\(name)-123"),
                                                     hasher: server.dashboard.hasher, by: op ?? admin)
        }

        func otherAccount() async throws -> Operator {
            try #require(try await server.store.authenticateOperator(token: try await server.store.createAccount(
                CreateAccountRequest(name: "tenant-b", isAdmin: false), by: admin).token))
        }
    }

    static func signInAttempt(_ c: any TestClientProtocol, _ user: String, _ password: String,
                              headers: HTTPFields = [:], next: String? = nil) async throws -> TestResponse {
        var fields = [("username", user), ("password", password)]
        if let next { fields.append(("next", next)) }
        return try await c.execute(uri: "/signin", method: .post, headers: P.formHeaders + headers, body: P.form(fields))
    }

    /// `curl -N` holding an SSE stream open: a real client on a real socket, which ends only
    /// when the server closes the stream (exit 0) or at `--max-time` (exit 28).
    final class StreamClient: @unchecked Sendable {
        let process = Process()
        init(port: Int, path: String, cookie: String, maxTime: Int = 30) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            process.arguments = ["-sN", "--max-time", String(maxTime), "-o", "/dev/null", "-H", "Cookie: \(cookie)",
                                 "http://127.0.0.1:\(port)\(path)"]
            try process.run()
        }
        /// True when curl ended by itself within `seconds`.
        func ended(within seconds: Double) async -> Bool {
            let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
            while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(100)) }
            return !process.isRunning
        }
        deinit { if process.isRunning { process.terminate(); process.waitUntilExit() } }
    }

    // MARK: findings

    /// D1: the limiter's check and its count were separate steps with a bcrypt between them, so
    /// parallel guesses all passed the check before the first failure was counted: 20 at once got
    /// 20 bcrypts (20 guesses) instead of 5.
    @Test func d1ParallelSignInsDoNotRaceTheLimiter() async throws {
        // A cost that makes each bcrypt take a few milliseconds: the window the race needs.
        let env = try await Env(bcryptCost: 8)
        try await env.user("alice")
        try await env.server.application().test(.router) { c in
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { g in
                for i in 0..<20 { g.addTask { try await Self.signInAttempt(c, "alice", "wrong-password-\(i)").status } }
                return try await g.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            let guessed = statuses.filter { $0 == .unauthorized }.count
            #expect(guessed <= 5, "\(guessed) guesses were checked (bcrypt run) out of 20 parallel attempts")
            #expect(statuses.filter { $0 == .tooManyRequests }.count == 20 - guessed)
            // The right password afterwards: still locked.
            #expect(try await Self.signInAttempt(c, "alice", "password-alice-123").status == .tooManyRequests)
        }
    }

    /// D1b: the same race on /account/password (a stolen session guessing the current
    /// password): checked before the bcrypt, counted after.
    @Test func d1bParallelPasswordChangesDoNotRaceTheLimiter() async throws {
        let env = try await Env(bcryptCost: 8)
        try await env.user("alice")
        try await env.server.application().test(.router) { c in
            let (cookie, csrf) = try await P.signIn(c, "alice")
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { g in
                for i in 0..<20 {
                    g.addTask {
                        try await c.execute(uri: "/account/password", method: .post, headers: P.formHeaders + [.cookie: cookie],
                                            body: P.form([("csrf", csrf), ("current", "wrong-password-\(i)"),
                                                          ("new", "new-password-12345"), ("repeat", "new-password-12345")])).status
                    }
                }
                return try await g.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            let guessed = statuses.filter { $0 == .unauthorized }.count
            #expect(guessed <= 5, "\(guessed) current-password guesses were checked out of 20 parallel posts")
            #expect(statuses.filter { $0 == .tooManyRequests }.count == 20 - guessed)
        }
    }

    /// D2: an open SSE stream outlived its session: after sign-out (or sign-out everywhere, or the
    /// user's removal) the stream went on sending the pool's cards and job rows.
    @Test func d2EventStreamEndsWithItsSession() async throws {
        let env = try await Env()
        try await env.user("alice")
        try await env.user("carol")
        let pool = try await env.server.store.createPool(CreatePoolRequest(name: "edge", template: .generic), by: env.admin)
        try await env.server.application().test(.live) { c in
            let port = try #require(c.port)
            // Sign-out.
            let (cookie, csrf) = try await P.signIn(c, "alice")
            let stream = try StreamClient(port: port, path: "/pools/\(pool.id)/events", cookie: cookie)
            #expect(await stream.ended(within: 1.5) == false, "the stream is open while signed in")
            let out = try await c.execute(uri: "/signout", method: .post, headers: P.formHeaders + [.cookie: cookie], body: P.form([("csrf", csrf)]))
            #expect(out.status == .seeOther)
            #expect(await stream.ended(within: 10), "the stream still runs after sign-out")
            #expect(stream.process.terminationStatus == 0)
            // The user removed (operator API side): its streams end too.
            let (cCookie, _) = try await P.signIn(c, "carol")
            let carol = try StreamClient(port: port, path: "/pools/\(pool.id)/events", cookie: cCookie)
            #expect(await carol.ended(within: 1.5) == false)
            try await env.server.store.removeWebUser("carol", by: env.admin)
            #expect(await carol.ended(within: 10), "the stream still runs after the user's removal")
        }
    }

    /// D3: one session could open any number of SSE streams (each polls the database every
    /// second): a script with one cookie could hold thousands. Now at most
    /// `DashboardStreams.perUser` per user; a new one ends the oldest (a reloaded page's stream
    /// that the server has not yet noticed is gone must not lock the user out of live updates).
    @Test func d3EventStreamsPerUserAreBounded() async throws {
        let env = try await Env()
        try await env.user("alice")
        let pool = try await env.server.store.createPool(CreatePoolRequest(name: "edge", template: .generic), by: env.admin)
        try await env.server.application().test(.live) { c in
            let port = try #require(c.port)
            let (cookie, _) = try await P.signIn(c, "alice")
            let limit = DashboardStreams.perUser
            var streams: [StreamClient] = []
            for _ in 0..<(limit + 3) {
                streams.append(try StreamClient(port: port, path: "/pools/\(pool.id)/events", cookie: cookie))
                try await Task.sleep(for: .milliseconds(150))  // in order: the first ones are the oldest
            }
            try await Task.sleep(for: .seconds(3))
            let ended = streams.indices.filter { !streams[$0].process.isRunning }
            #expect(ended.count == 3, "\(ended.count) of \(limit + 3) streams ended")
            #expect(streams.suffix(limit).allSatisfy { $0.process.isRunning }, "the newest streams stay")
            for s in streams where s.process.isRunning { s.process.terminate(); s.process.waitUntilExit() }
        }
    }

    /// D4: sign-in had no CSRF defence: a page on another site could post the attacker's
    /// credentials to /signin and the victim's browser would hold the attacker's session (login
    /// CSRF). POSTs a browser marks as cross-site (`Sec-Fetch-Site`) are refused on every
    /// dashboard form, sign-in included.
    @Test func d4CrossSitePostsAreRefused() async throws {
        let env = try await Env()
        try await env.user("alice")
        let pool = try await env.server.store.createPool(CreatePoolRequest(name: "edge", template: .generic), by: env.admin)
        try await env.server.application().test(.router) { c in
            for site in ["cross-site", "same-site"] {
                let r = try await Self.signInAttempt(c, "alice", "password-alice-123", headers: [HTTPField.Name("Sec-Fetch-Site")!: site])
                #expect(r.status == .forbidden, "\(site)")
                #expect(r.headers[.setCookie] == nil, "\(site): no session")
                #expect(r.headers[.contentSecurityPolicy] == DashboardHeaders.csp)
            }
            // The page's own form (same-origin) and a client without the header still sign in.
            let ok = try await Self.signInAttempt(c, "alice", "password-alice-123", headers: [HTTPField.Name("Sec-Fetch-Site")!: "same-origin"])
            #expect(ok.status == .seeOther && ok.headers[.setCookie] != nil)
            let (cookie, csrf) = try await P.signIn(c, "alice")
            // Even with a stolen CSRF token, a cross-site POST does nothing.
            let cut = try await c.execute(uri: "/pools/\(pool.id)/failover", method: .post,
                                          headers: P.formHeaders + [.cookie: cookie, HTTPField.Name("Sec-Fetch-Site")!: "cross-site"],
                                          body: P.form([("csrf", csrf), ("hostname", "evil.example.com"), ("ttl", "60"), ("delaySec", "30")]))
            #expect(cut.status == .forbidden)
            #expect(try await env.server.store.failoverSettings(pool: pool.id, by: env.admin).hostname == nil)
        }
    }

    /// D5: when the limiter's table was full of live keys it emptied itself entirely, locks
    /// included: a spray of usernames from many addresses reset the lock on the account being
    /// guessed. Now the least recently failed unlocked keys go first, locked ones last.
    @Test func d5ASprayDoesNotWipeALock() async throws {
        let limiter = SignInLimiter(maxFailures: 5, windowSec: 900, maxKeys: 10)
        let t = 1_000_000.0
        for i in 0..<5 { await limiter.fail(["user:admin", "ip:198.51.100.\(i)"], at: t + Double(i)) }
        #expect(await limiter.retryAfter(["user:admin"], at: t + 10) != nil)
        for i in 0..<40 { await limiter.fail(["user:spray-\(i)", "ip:203.0.113.\(i)"], at: t + 10 + Double(i)) }
        #expect(await limiter.retryAfter(["user:admin"], at: t + 60) != nil, "the spray reset the lock")
        #expect(await limiter.keyCount <= 10)
    }

    /// D6: every client the server could not give an IPv4 to (an IPv6 peer on a `::` listener)
    /// shared one limiter key, "ip:unknown": five wrong passwords from one IPv6 host locked every
    /// IPv6 user out of sign-in for 15 minutes. IPv6 clients are keyed by their /64 (what one
    /// subscriber gets), and a sign-in username longer than any username can be is not kept
    /// whole (D6b: 16 KiB usernames × 100 000 keys was 1.6 GB).
    @Test func d6LimiterKeysPerIPv6NetworkAndBoundedUsernames() throws {
        let a1 = try SocketAddress(ipAddress: "2001:db8:1:2::10", port: 40000)
        let a2 = try SocketAddress(ipAddress: "2001:db8:1:2:ffff::1", port: 40001)
        let b = try SocketAddress(ipAddress: "2001:db8:1:3::10", port: 40000)
        let k1 = SignInLimiter.keys(username: "alice", peer: a1, clientIP: nil)
        #expect(k1 == ["user:alice", "ip6:2001:0db8:0001:0002::/64"])
        #expect(SignInLimiter.keys(username: "alice", peer: a2, clientIP: nil)[1] == k1[1])
        #expect(SignInLimiter.keys(username: "alice", peer: b, clientIP: nil)[1] != k1[1])
        // An IPv4 client (or the one a trusted proxy names) as before.
        let v4 = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        #expect(SignInLimiter.keys(username: "Alice", peer: v4, clientIP: IPv4("203.0.113.9")) == ["user:alice", "ip:203.0.113.9"])
        // A trusted proxy that named no client: one shared key (a misconfiguration, not a client).
        #expect(SignInLimiter.keys(username: "alice", peer: v4, clientIP: nil)[1] == "ip:unknown")
        // D6b.
        let long = SignInLimiter.keys(username: String(repeating: "x", count: 16 * 1024), peer: v4, clientIP: IPv4("203.0.113.9"))
        #expect(long[0].utf8.count <= 5 + 64 * 4)
    }

    /// D7: a dashboard path no route matched (`/pools/1/members/2/jobs/x`, `/nope`) was answered
    /// by the API's JSON 404 without the dashboard's headers (no CSP, no nosniff).
    @Test func d7UnmatchedPathsGetTheDashboardHeaders() async throws {
        let env = try await Env()
        try await env.user("alice")
        try await env.server.application().test(.router) { c in
            let (cookie, _) = try await P.signIn(c, "alice")
            for path in ["/nope", "/pools/1/members/2/jobs/x", "/static/../etc/passwd", "/pools/x/y/z/w/v"] {
                let r = try await c.execute(uri: path, method: .get, headers: [.cookie: cookie])
                #expect(r.status == .notFound, "\(path)")
                #expect(r.headers[.contentSecurityPolicy] == DashboardHeaders.csp, "\(path)")
                #expect(r.headers[.xContentTypeOptions] == "nosniff", "\(path)")
            }
            // The API keeps its JSON errors.
            let api = try await c.execute(uri: "/api/v1/nope", method: .get)
            #expect(api.headers[.contentType] == "application/json")
        }
    }

    // MARK: held

    /// Without `trustedProxies`, X-Forwarded-For is not believed: rotating it does not give a
    /// client new per-IP tries.
    @Test func heldForwardedForIsNotBelieved() async throws {
        let env = try await Env()
        try await env.user("alice")
        try await env.server.application().test(.live) { c in
            for i in 0..<5 {
                let r = try await Self.signInAttempt(c, "user\(i)", "wrong-password-x", headers: [.xForwardedFor: "198.51.100.\(i)"])
                #expect(r.status == .unauthorized)
            }
            let r = try await Self.signInAttempt(c, "alice", "password-alice-123", headers: [.xForwardedFor: "198.51.100.99"])
            #expect(r.status == .tooManyRequests)
        }
    }

    /// Username variants: case variants share the lock; whitespace and Unicode look-alikes are
    /// other (non-existent) users, so their tries guess nothing. Behind a trusted proxy each try
    /// comes from a new address, so only the username key is in play.
    @Test func heldUsernameVariantsDoNotEscapeTheLock() async throws {
        let env = try await Env { $0.trustedProxies = [CIDR("127.0.0.1/32")!] }
        try await env.user("alice")
        try await env.server.application().test(.live) { c in
            var n = 0
            func from() -> HTTPFields { n += 1; return [.xForwardedFor: "198.51.100.\(n)"] }
            for _ in 0..<5 { #expect(try await Self.signInAttempt(c, "alice", "wrong-password-x", headers: from()).status == .unauthorized) }
            for v in ["ALICE", "Alice", "aLiCe"] {
                #expect(try await Self.signInAttempt(c, v, "password-alice-123", headers: from()).status == .tooManyRequests, "\(v)")
            }
            for v in [" alice", "alice ", "al\u{0131}ce", "\u{FF41}lice", "alice\u{200B}"] {
                let r = try await Self.signInAttempt(c, v, "password-alice-123", headers: from())
                #expect(r.status == .unauthorized && r.headers[.setCookie] == nil, "\(v.debugDescription)")
            }
            #expect(try await Self.signInAttempt(c, "alice", "password-alice-123", headers: from()).status == .tooManyRequests)
        }
    }

    /// `next=`: only a local path, whatever the encoding; no header injection.
    @Test func heldNextStaysLocal() async throws {
        let env = try await Env()
        try await env.user("alice")
        try await env.server.application().test(.router) { c in
            let evil = ["//evil.example", "/\\evil.example", "\\/evil.example", "https:evil.example", "https://evil.example",
                        "/\t/evil.example", "/ /evil.example", "/%0d%0aSet-Cookie:x=1".removingPercentEncoding!, "/\r\nSet-Cookie: x=1",
                        "//%2F%2Fevil.example", "javascript:alert(1)", "", String(repeating: "/a", count: 400)]
            for e in evil {
                let r = try await Self.signInAttempt(c, "alice", "password-alice-123", next: e)
                #expect(r.status == .seeOther && r.headers[.location] == "/pools", "next=\(e.debugDescription) → \(r.headers[.location] ?? "-")")
            }
            let (cookie, _) = try await P.signIn(c, "alice")
            for q in ["%2F%2Fevil.example", "%2F%5Cevil.example", "https:%2F%2Fevil.example", "%2F%0D%0ALocation:%20http://evil"] {
                let r = try await c.execute(uri: "/signin?next=\(q)", method: .get, headers: [.cookie: cookie])
                #expect(r.status == .seeOther && r.headers[.location] == "/pools", "GET next=\(q) → \(r.headers[.location] ?? "-")")
            }
            // A local path is kept (percent-encoding and all).
            let ok = try await Self.signInAttempt(c, "alice", "password-alice-123", next: "/pools/1/members/2/jobs?x=%2F")
            #expect(ok.headers[.location] == "/pools/1/members/2/jobs?x=%2F")
        }
    }

    /// D8: a `next=` with non-ASCII characters went raw into the Location header (UTF-8 bytes a
    /// browser or proxy decodes its own way — "/\u{3000}/evil" is one ideographic space away from
    /// "//evil"). Only printable ASCII is kept.
    @Test func d8NextIsPrintableASCII() async throws {
        let env = try await Env()
        try await env.user("alice")
        try await env.server.application().test(.router) { c in
            for e in ["/\u{3000}/evil.example", "/\u{FF0F}evil.example", "/caf\u{E9}", "/\u{7F}x", "/\u{2028}/evil.example"] {
                let r = try await Self.signInAttempt(c, "alice", "password-alice-123", next: e)
                #expect(r.headers[.location] == "/pools", "next=\(e.debugDescription) → \(r.headers[.location] ?? "-")")
            }
        }
    }

    /// Cookie flags (Secure when the public URL is https), malformed tokens, sign-out everywhere,
    /// a removed user's sessions, sign-out needs its CSRF token.
    @Test func heldSessionLifecycle() async throws {
        let env = try await Env { $0.publicURLOverride = "https://balctl.example:8443" }
        try await env.user("alice")
        try await env.user("bob")
        try await env.server.application().test(.router) { c in
            let ok = try await Self.signInAttempt(c, "alice", "password-alice-123")
            let set = try #require(ok.headers[.setCookie])
            for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Secure"] { #expect(set.contains("; \(flag)"), "\(flag)") }
            #expect(!(ok.headers[.location] ?? "").contains(String(set.dropFirst("balctl_session=".count).prefix(64))), "token in the URL")
            for bad in ["", "x", String(repeating: "A", count: 64), String(repeating: "a", count: 65), "' OR 1=1 --", String(repeating: "0", count: 64)] {
                let r = try await c.execute(uri: "/pools", method: .get, headers: [.cookie: "balctl_session=\(bad)"])
                #expect(r.status == .seeOther && r.headers[.location]?.hasPrefix("/signin") == true, "\(bad)")
            }
            // Sign-out without its token does nothing.
            let (a1, csrf1) = try await P.signIn(c, "alice")
            let (a2, _) = try await P.signIn(c, "alice")
            #expect(try await c.execute(uri: "/signout", method: .post, headers: P.formHeaders + [.cookie: a1], body: P.form([])).status == .forbidden)
            #expect(try await c.execute(uri: "/pools", method: .get, headers: [.cookie: a1]).status == .ok)
            // A token from bob's session is not alice's.
            let (_, bobCSRF) = try await P.signIn(c, "bob")
            #expect(try await c.execute(uri: "/signout-everywhere", method: .post, headers: P.formHeaders + [.cookie: a1],
                                        body: P.form([("csrf", bobCSRF)])).status == .forbidden)
            let all = try await c.execute(uri: "/signout-everywhere", method: .post, headers: P.formHeaders + [.cookie: a1], body: P.form([("csrf", csrf1)]))
            #expect(all.status == .seeOther && all.headers[.setCookie]?.contains("Max-Age=0") == true)
            for cookie in [a1, a2] { #expect(try await c.execute(uri: "/pools", method: .get, headers: [.cookie: cookie]).status == .seeOther) }
            let (b1, _) = try await P.signIn(c, "bob")
            try await env.server.store.removeWebUser("bob", by: env.admin)
            #expect(try await c.execute(uri: "/pools", method: .get, headers: [.cookie: b1]).status == .seeOther)
        }
    }

    /// Tenancy through IDs in paths and forms: another account's pool, member, provider, stream
    /// and map are 404 or absent, never data; a member of another pool of one's own is 404 too.
    @Test func heldTenancyThroughPathsAndForms() async throws {
        let env = try await Env()
        let store = env.server.store
        let other = try await env.otherAccount()
        try await env.user("alice")
        let aPool = try await store.createPool(CreatePoolRequest(name: "a-pool", template: .generic), by: env.admin)
        let aPool2 = try await store.createPool(CreatePoolRequest(name: "a-pool-2", template: .generic), by: env.admin)
        let bPool = try await store.createPool(CreatePoolRequest(name: "b-pool", template: .generic), by: other)
        let add = { (pool: Int64, name: String, op: Operator) in
            try await store.addMember(pool: pool, CreateMemberRequest(hostname: name, allowedIPs: ["203.0.113.10"], family: .debian, role: nil),
                                      install: env.server.installContext, by: op).member
        }
        let a2m = try await add(aPool2.id, "a2-web", env.admin)
        let bm = try await add(bPool.id, "b-secret-host", other)
        try await store.setMemberLocation(bm.id, lat: 1, lon: 2, by: other)
        try await env.server.application().test(.router) { c in
            let (cookie, csrf) = try await P.signIn(c, "alice")
            let h: HTTPFields = [.cookie: cookie]
            for path in ["/pools/\(bPool.id)", "/pools/\(bPool.id)/events", "/pools/\(bPool.id)/failover", "/pools/\(bPool.id)/cut",
                         "/pools/\(bPool.id)/members/\(bm.id)/control", "/pools/\(aPool.id)/members/\(bm.id)/control",
                         "/pools/\(aPool.id)/members/\(a2m.id)/control", "/pools/\(aPool.id)/members/\(bm.id)/make-active"] {
                let r = try await c.execute(uri: path, method: .get, headers: h)
                #expect(r.status == .notFound, "\(path)")
                #expect(!String(buffer: r.body).contains("b-secret-host"), "\(path)")
            }
            for (path, fields) in [("/pools/\(aPool.id)/members/\(bm.id)/jobs", [("command", "host.echo")]),
                                   ("/pools/\(aPool.id)/members/\(bm.id)/remove", []),
                                   ("/pools/\(aPool.id)/members/\(a2m.id)/remove", []),
                                   ("/pools/\(bPool.id)/members/\(bm.id)/rotate-secret", []),
                                   ("/pools/\(aPool.id)/members/\(bm.id)/make-active", [("force", "1")]),
                                   ("/pools/\(bPool.id)/cut", [])] {
                let r = try await c.execute(uri: path, method: .post, headers: P.formHeaders + h, body: P.form([("csrf", csrf)] + fields))
                #expect(r.status == .notFound, "POST \(path)")
            }
            #expect(try await store.member(bm.id, by: other).id == bm.id)
            #expect(try await store.member(a2m.id, by: env.admin).id == a2m.id)
            // Another account's DNS provider id in the failover form.
            let provider = try await store.addDNSProvider(CreateDNSProviderRequest(name: "b-dns", kind: .cloudflare,
                settings: ["zone": "b.example"], secret: "tok-1234567890"), box: env.server.secrets, by: other)
            let r = try await c.execute(uri: "/pools/\(aPool.id)/failover", method: .post, headers: P.formHeaders + h,
                                        body: P.form([("csrf", csrf), ("providerId", String(provider.id)), ("ttl", "60"), ("delaySec", "30"),
                                                     ("minSpacingSec", "300")]))
            #expect(r.status == .notFound)
            #expect(try await store.failoverSettings(pool: aPool.id, by: env.admin).providerId == nil)
            let map = String(buffer: try await c.execute(uri: "/fleet-map", method: .get, headers: h).body)
            #expect(!map.contains("b-secret-host") && !map.contains("data-member-id=\"\(bm.id)\""))
        }
    }

    /// Form bodies beyond the limits are 413 pages with the dashboard's headers, before any
    /// work; a flood of huge sign-ins costs no bcrypt.
    @Test func heldOversizedFormsAre413() async throws {
        let env = try await Env()
        try await env.user("alice")
        let pool = try await env.server.store.createPool(CreatePoolRequest(name: "edge", template: .generic), by: env.admin)
        try await env.server.application().test(.router) { c in
            let (cookie, csrf) = try await P.signIn(c, "alice")
            let big = "csrf=\(csrf)&hostname=" + String(repeating: "a", count: 70 * 1024)
            let r = try await c.execute(uri: "/pools/\(pool.id)/failover", method: .post, headers: P.formHeaders + [.cookie: cookie],
                                        body: ByteBuffer(string: big))
            #expect(r.status == .contentTooLarge)
            #expect(r.headers[.contentSecurityPolicy] == DashboardHeaders.csp)
            let s = try await c.execute(uri: "/signin", method: .post, headers: P.formHeaders,
                                        body: ByteBuffer(string: "username=alice&password=" + String(repeating: "a", count: 17 * 1024)))
            #expect(s.status == .contentTooLarge)
        }
    }
}
