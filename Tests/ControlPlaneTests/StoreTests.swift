import BalctlProtocol
@testable import ControlPlane
import Crypto
import Foundation
import SQLEngine
import Testing
import TestSupport

func sha256(_ s: String) -> String {
    SHA256.hash(data: Data(s.utf8)).map { String(format: "%02x", $0) }.joined()
}

@Suite("Store: accounts, pools and members", .storeEngines)
struct AccountsPoolsMembersTests {
    @Test("issue 22: the store under test is on the engine the run is for (each store test runs on SQLite, then PostgreSQL)")
    func engineUnderTest() async throws {
        let f = try await Fixture()
        #expect(f.store.db.dialect.rawValue == StoreEngine.current.rawValue)
        let version = try await f.store.db.read { db in
            try String.fetchOne(db, sql: db.dialect == .postgres ? "SELECT version()" : "SELECT 'SQLite ' || sqlite_version()")
        }
        #expect(version?.hasPrefix(StoreEngine.current == .postgres ? "PostgreSQL 1" : "SQLite 3") == true, "\(version ?? "nil")")
    }

    @Test("bootstrapAdminIfNeeded creates the admin once, then returns nil")
    func bootstrap() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-cpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let open = try storeOpener(dir: dir)
        let store = try open()
        let issued = try #require(try store.bootstrapAdminIfNeeded())
        #expect(issued.account.name == "admin")
        #expect(issued.account.isAdmin)
        #expect(issued.token.hasPrefix("bct_") && issued.token.utf8.count == 44)
        let op = try #require(try await store.authenticateOperator(token: issued.token))
        #expect(op.isAdmin && op.accountID == issued.account.id)
        #expect(try store.bootstrapAdminIfNeeded() == nil)
        // Also after reopening the database.
        let reopened = try open()
        #expect(try reopened.bootstrapAdminIfNeeded() == nil)
        #expect(try await reopened.listAccounts(by: op).count == 1)
        // The token is stored hashed only.
        let stored = try await store.db.read { try String.fetchAll($0, sql: "SELECT token_hash FROM api_tokens") }
        #expect(stored == [sha256(issued.token)])
        #expect(try await store.authenticateOperator(token: "bct_" + String(repeating: "0", count: 40)) == nil)
    }

    @Test("createPool, and a duplicate name in the same account is a conflict")
    func pools() async throws {
        let f = try await Fixture()
        let p = try await f.store.createPool(CreatePoolRequest(name: "edge", template: .haproxy), by: f.admin)
        #expect(p.name == "edge" && p.template == .haproxy && p.memberCount == 0)
        let e = await cpError { _ = try await f.store.createPool(CreatePoolRequest(name: "edge", template: .generic), by: f.admin) }
        #expect(e?.kind == .conflict)
        #expect(try await f.store.listPools(by: f.admin).map(\.name) == ["edge"])
        // Another account may use the same name.
        let other = try await f.otherOperator()
        let theirs = try await f.store.createPool(CreatePoolRequest(name: "edge", template: .generic), by: other)
        #expect(theirs.id != p.id)
        // Bad names are refused.
        for bad in ["", String(repeating: "x", count: 65), "a\nb", "tab\there"] {
            let e = await cpError { _ = try await f.store.createPool(CreatePoolRequest(name: bad, template: .generic), by: f.admin) }
            #expect(e?.kind == .badRequest, "\(bad.debugDescription)")
        }
    }

    @Test("addMember refuses bad host names", arguments: [
        "", "bad host", "-lead", "trail-", "a..b", ".lead", "under_score", "quote'd", "semi;colon",
        String(repeating: "a", count: 64), String(repeating: "a.", count: 127) + "ab",
    ])
    func badHostname(_ hostname: String) async throws {
        let f = try await Fixture()
        let pool = try await f.store.createPool(CreatePoolRequest(name: "p", template: .generic), by: f.admin)
        let e = await cpError {
            _ = try await f.store.addMember(pool: pool.id, CreateMemberRequest(hostname: hostname, allowedIPs: ["203.0.113.1"],
                                                                               family: .debian, role: nil),
                                            publicURL: "https://cp", by: f.admin)
        }
        #expect(e?.kind == .badRequest)
        #expect(try await f.count("SELECT COUNT(*) FROM members") == 0)
    }

    @Test("addMember refuses bad IPv4 allow-lists", arguments: [
        [], ["1.2.3"], ["01.2.3.4"], ["256.0.0.1"], ["203.0.113.1", "nope"], ["203.0.113.0/24"], ["::1"],
        Array(repeating: "203.0.113.1", count: 33),
    ] as [[String]])
    func badIPs(_ ips: [String]) async throws {
        let f = try await Fixture()
        let pool = try await f.store.createPool(CreatePoolRequest(name: "p", template: .generic), by: f.admin)
        let e = await cpError {
            _ = try await f.store.addMember(pool: pool.id, CreateMemberRequest(hostname: "web-1", allowedIPs: ips,
                                                                               family: .debian, role: nil),
                                            publicURL: "https://cp", by: f.admin)
        }
        #expect(e?.kind == .badRequest)
        #expect(try await f.count("SELECT COUNT(*) FROM members") == 0)
    }

    @Test("addMember: 48-hex secret returned once, only its SHA-256 stored; IPs normalised; role from template")
    func addMemberSecret() async throws {
        let f = try await Fixture()
        let pool = try await f.store.createPool(CreatePoolRequest(name: "lb", template: .haproxy), by: f.admin)
        let e = try await f.store.addMember(
            pool: pool.id, CreateMemberRequest(hostname: "lb-1.example.com", allowedIPs: [" 203.0.113.7 ", "198.51.100.2"],
                                               family: .rhel, role: nil),
            publicURL: "https://cp.example/", by: f.admin)
        let secret = e.enrollmentSecret
        #expect(secret.utf8.count == 48)
        #expect(secret.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(e.member.allowedIPs == ["203.0.113.7", "198.51.100.2"])
        #expect(e.member.role == "haproxy-balancer")
        #expect(e.member.family == .rhel)
        #expect(e.installCommand.contains("BALCTL_ENROLLMENT_SECRET=\(secret) sh balctl-agent.sh --enrol --hostname lb-1.example.com --api-base 'https://cp.example'"))
        #expect(e.installCommand.contains("dnf install"))

        let row = try #require(try await f.store.db.read {
            try SQLRow.fetchOne($0, sql: "SELECT * FROM members WHERE id = ?", arguments: [e.member.id])
        })
        #expect(row["secret_hash"] as String == sha256(secret))
        // The secret itself appears in no column.
        for (column, value) in zip(row.columns, row.values) {
            #expect(!"\(value)".contains(secret), "column \(column) holds the secret")
        }
        // A second member gets a different secret; a duplicate host name (any case) is a conflict.
        let second = try await f.member(pool: "lb", hostname: "lb-2")
        #expect(second.enrollment.enrollmentSecret != secret)
        let dup = await cpError { _ = try await f.member(pool: "lb", hostname: "LB-1.example.com") }
        #expect(dup?.kind == .conflict)
        // A member in an unknown pool.
        let nopool = await cpError {
            _ = try await f.store.addMember(pool: 9999, CreateMemberRequest(hostname: "x", allowedIPs: ["203.0.113.1"],
                                                                            family: .debian, role: nil),
                                            publicURL: "https://cp", by: f.admin)
        }
        #expect(nopool?.kind == .notFound)
    }

    @Test("rotateSecret changes the stored hash; the old secret stops working at once")
    func rotate() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        let hash = { try await f.store.db.read {
            try String.fetchOne($0, sql: "SELECT secret_hash FROM members WHERE id = ?", arguments: [e.member.id])
        } }
        #expect(try await hash() == sha256(e.enrollmentSecret))
        let rotated = try await f.store.rotateSecret(e.member.id, publicURL: "https://cp", by: f.admin)
        #expect(rotated.enrollmentSecret != e.enrollmentSecret)
        #expect(Enrollment.isWellFormedSecret(rotated.enrollmentSecret))
        #expect(try await hash() == sha256(rotated.enrollmentSecret))
        #expect(rotated.member.secretRotatedAt >= e.member.secretRotatedAt)

        let old = await cpError {
            _ = try await f.store.authenticateAgent(secret: e.enrollmentSecret, clientIP: Fixture.agentIP, hostname: "web-1")
        }
        #expect(old?.kind == .unauthorized)
        let agent = try await f.store.authenticateAgent(secret: rotated.enrollmentSecret, clientIP: Fixture.agentIP, hostname: "web-1")
        #expect(agent.memberID == e.member.id)
    }

    @Test("authenticateAgent: secret, source IP and host name are all checked")
    func authenticateAgent() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member(hostname: "Web-1")
        let s = e.enrollmentSecret
        let ok = try await f.store.authenticateAgent(secret: s.uppercased(), clientIP: Fixture.agentIP, hostname: "web-1")
        #expect(ok.memberID == e.member.id && ok.hostname == "Web-1")
        _ = try await f.store.authenticateAgent(secret: s, clientIP: Fixture.agentIP, hostname: nil)

        let cases: [(String?, IPv4?, String?, ControlPlaneError.Kind)] = [
            (nil, Fixture.agentIP, "web-1", .unauthorized),
            ("nothex", Fixture.agentIP, "web-1", .unauthorized),
            (String(repeating: "0", count: 48), Fixture.agentIP, "web-1", .unauthorized),
            (s, IPv4("203.0.113.11"), "web-1", .forbidden),
            (s, nil, "web-1", .forbidden),
            (s, Fixture.agentIP, "web-2", .forbidden),
        ]
        for (secret, ip, host, kind) in cases {
            let err = await cpError { _ = try await f.store.authenticateAgent(secret: secret, clientIP: ip, hostname: host) }
            #expect(err?.kind == kind, "\(String(describing: secret)) \(String(describing: ip)) \(String(describing: host))")
        }
    }

    @Test("deletePool removes its members, their jobs, events and heartbeats")
    func deleteCascades() async throws {
        let f = try await Fixture()
        let (pool, e) = try await f.member(pool: "doomed")
        let (_, keep) = try await f.member(pool: "kept", hostname: "keeper")
        f.heartbeat.historySampleSec = 0
        try await f.beat(e)
        try await f.beat(keep)
        _ = try await f.enqueue(e.member.id)
        _ = try await f.enqueue(keep.member.id)
        try await f.beat(e)  // claims the job: events and a running job

        try await f.store.deletePool(pool.id, by: f.admin)

        let m = e.member.id
        #expect(try await f.count("SELECT COUNT(*) FROM pools WHERE id = ?", [pool.id]) == 0)
        #expect(try await f.count("SELECT COUNT(*) FROM members WHERE id = ?", [m]) == 0)
        #expect(try await f.count("SELECT COUNT(*) FROM jobs WHERE member_id = ?", [m]) == 0)
        #expect(try await f.count("SELECT COUNT(*) FROM job_events e WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = e.job_id)") == 0)
        #expect(try await f.count("SELECT COUNT(*) FROM heartbeat_latest WHERE member_id = ?", [m]) == 0)
        #expect(try await f.count("SELECT COUNT(*) FROM heartbeat_history WHERE member_id = ?", [m]) == 0)
        // The other pool is untouched.
        #expect(try await f.count("SELECT COUNT(*) FROM members WHERE id = ?", [keep.member.id]) == 1)
        #expect(try await f.count("SELECT COUNT(*) FROM jobs WHERE member_id = ?", [keep.member.id]) == 1)
        #expect(try await f.count("SELECT COUNT(*) FROM heartbeat_latest WHERE member_id = ?", [keep.member.id]) == 1)
        #expect(try await f.count("SELECT COUNT(*) FROM job_events") > 0)
        let gone = await cpError { _ = try await f.store.pool(pool.id, by: f.admin) }
        #expect(gone?.kind == .notFound)
        // The secret of a deleted member no longer authenticates.
        let auth = await cpError {
            _ = try await f.store.authenticateAgent(secret: e.enrollmentSecret, clientIP: Fixture.agentIP, hostname: nil)
        }
        #expect(auth?.kind == .unauthorized)
    }

    @Test("tenant isolation: another account's operator sees none of it (notFound)")
    func tenantIsolation() async throws {
        let f = try await Fixture()
        let (pool, e) = try await f.member()
        try await f.beat(e)
        let job = try await f.enqueue(e.member.id)
        let other = try await f.otherOperator()
        #expect(!other.isAdmin)

        let attempts: [(String, () async throws -> Void)] = [
            ("pool", { _ = try await f.store.pool(pool.id, by: other) }),
            ("renamePool", { _ = try await f.store.renamePool(pool.id, RenamePoolRequest(name: "mine"), by: other) }),
            ("deletePool", { try await f.store.deletePool(pool.id, by: other) }),
            ("listMembers", { _ = try await f.store.listMembers(pool: pool.id, by: other) }),
            ("addMember", { _ = try await f.store.addMember(pool: pool.id, CreateMemberRequest(
                hostname: "intruder", allowedIPs: ["203.0.113.99"], family: .debian, role: nil),
                publicURL: "https://cp", by: other) }),
            ("member", { _ = try await f.store.member(e.member.id, by: other) }),
            ("updateMember", { _ = try await f.store.updateMember(e.member.id, UpdateMemberRequest(hostname: "x", allowedIPs: nil), by: other) }),
            ("rotateSecret", { _ = try await f.store.rotateSecret(e.member.id, publicURL: "https://cp", by: other) }),
            ("removeMember", { try await f.store.removeMember(e.member.id, by: other) }),
            ("history", { _ = try await f.store.heartbeatHistory(member: e.member.id, limit: 10, by: other) }),
            ("enqueue", { _ = try await f.enqueue(e.member.id, by: other) }),
            ("job", { _ = try await f.store.job(job.id, by: other) }),
            ("cancelJob", { _ = try await f.store.cancelJob(job.id, by: other) }),
            ("listJobs", { _ = try await f.store.listJobs(member: e.member.id, pool: nil, limit: 10, by: other) }),
        ]
        for (name, attempt) in attempts {
            let err = await cpError(attempt)
            #expect(err?.kind == .notFound, "\(name) by another account")
        }
        #expect(try await f.store.listPools(by: other).isEmpty)
        #expect(try await f.store.listMembers(pool: nil, by: other).isEmpty)
        #expect(try await f.store.listJobs(member: nil, pool: nil, limit: 10, by: other).isEmpty)
        // Nothing changed for the owner.
        #expect(try await f.store.pool(pool.id, by: f.admin).name == "edge")
        #expect(try await f.store.member(e.member.id, by: f.admin).hostname == "web-1")
        #expect(try await f.store.job(job.id, by: f.admin).state == .pending)
        #expect(try await f.count("SELECT COUNT(*) FROM members") == 1)
    }
}

/// Issue 21 item 17: schedules and recipe runs are as private as pools, members and jobs.
@Suite("Store: tenant isolation of schedules and recipe runs", .storeEngines)
struct ScheduleAndRecipeIsolationTests {
    @Test("issue 21 item 17: another account cannot create, read, list, edit, delete or cancel schedules and recipe runs")
    func isolation() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        try await f.beat(e)
        let recipe = try Fixture.twoStepRecipe()
        let recipes = [recipe.id: recipe]
        let echo = CreateScheduleRequest(name: "nightly", cron: "@daily", command: "host.echo", recipe: nil,
                                         params: .object(["message": .string("a")]), enabled: true, missed: nil)
        let schedule = try await f.store.createSchedule(member: e.member.id, echo, recipes: recipes, catalogue: f.catalogue,
                                                        policy: f.queue, by: f.admin)
        let run = try await f.store.startRecipe(recipe, member: e.member.id, params: [:], catalogue: f.catalogue,
                                                policy: f.queue, by: f.admin)
        let other = try await f.otherOperator()

        let attempts: [(String, () async throws -> Void)] = [
            ("createSchedule", { _ = try await f.store.createSchedule(member: e.member.id, echo, recipes: recipes, catalogue: f.catalogue,
                                                                     policy: f.queue, by: other) }),
            ("schedule", { _ = try await f.store.schedule(schedule.id, by: other) }),
            ("listSchedules(member)", { _ = try await f.store.listSchedules(member: e.member.id, by: other) }),
            ("updateSchedule", { _ = try await f.store.updateSchedule(schedule.id, UpdateScheduleRequest(enabled: false), recipes: recipes,
                                                                     catalogue: f.catalogue, policy: f.queue, by: other) }),
            ("deleteSchedule", { try await f.store.deleteSchedule(schedule.id, by: other) }),
            ("startRecipe", { _ = try await f.store.startRecipe(recipe, member: e.member.id, params: [:], catalogue: f.catalogue,
                                                               policy: f.queue, by: other) }),
            ("disableRecipe", { _ = try await f.store.startRecipe(recipe, disable: true, member: e.member.id, params: [:],
                                                                 catalogue: f.catalogue, policy: f.queue, by: other) }),
            ("recipeRun", { _ = try await f.store.recipeRun(run.id, by: other) }),
            ("listRecipeRuns", { _ = try await f.store.listRecipeRuns(member: e.member.id, limit: 10, by: other) }),
            ("cancelRecipeRun", { _ = try await f.store.cancelRecipeRun(run.id, by: other) }),
            ("applicableRecipes", { _ = try await f.store.applicableRecipes([recipe], member: e.member.id, by: other) }),
        ]
        for (name, attempt) in attempts {
            let err = await cpError(attempt)
            #expect(err?.kind == .notFound, "\(name) by another account")
        }
        #expect(try await f.store.listSchedules(member: nil, by: other).isEmpty)

        // Nothing changed for the owner.
        let kept = try await f.store.schedule(schedule.id, by: f.admin)
        #expect(kept.enabled && kept.name == "nightly")
        let runNow = try await f.store.recipeRun(run.id, by: f.admin)
        #expect(runNow.state == .running)
        #expect(try await f.store.job(try #require(runNow.steps[0].jobId), by: f.admin).cancelRequested == false)
        #expect(try await f.count("SELECT COUNT(*) FROM schedules") == 1)
        #expect(try await f.count("SELECT COUNT(*) FROM recipe_runs") == 1)
        #expect(try await f.store.listSchedules(member: nil, by: f.admin).map(\.id) == [schedule.id])
    }
}

@Suite("Store: heartbeats", .storeEngines)
struct HeartbeatTests {
    @Test("history is sampled and bounded: historyKeep newest rows are kept")
    func historyBounded() async throws {
        let f = try await Fixture()
        f.heartbeat.historySampleSec = 0
        f.heartbeat.historyKeep = 3
        let (_, e) = try await f.member()
        for i in 1...5 { try await f.beat(e, uptime: Double(i)) }
        #expect(try await f.count("SELECT COUNT(*) FROM heartbeat_history WHERE member_id = ?", [e.member.id]) == 3)
        let history = try await f.store.heartbeatHistory(member: e.member.id, limit: 10, by: f.admin)
        #expect(history.map(\.report.uptimeSec) == [5, 4, 3])
        #expect(history.allSatisfy { $0.sourceIP == Fixture.agentIP.description })
        // The latest row is always the newest report.
        #expect(try await f.store.latestReport(member: e.member.id, by: f.admin)?.report.uptimeSec == 5)
    }

    @Test("with the default sampling, quick heartbeats add one history row, but the latest is always updated")
    func historySampled() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        for i in 1...4 { try await f.beat(e, uptime: Double(i)) }
        #expect(try await f.count("SELECT COUNT(*) FROM heartbeat_history WHERE member_id = ?", [e.member.id]) == 1)
        #expect(try await f.store.latestReport(member: e.member.id, by: f.admin)?.report.uptimeSec == 4)
        let hb = try #require(try await f.store.member(e.member.id, by: f.admin).heartbeat)
        #expect(hb.sourceIP == Fixture.agentIP.description)
        #expect(hb.memoryUsedPercent == 75)
        #expect(hb.commands == ["host.echo", "host.collect_facts"])
    }
}

@Suite("ClientIP.resolve")
struct ClientIPTests {
    let proxies = [CIDR("10.0.0.0/8")!, CIDR("192.0.2.1")!]
    let peerProxy = IPv4("10.1.1.1")
    let outsider = IPv4("198.51.100.9")

    @Test("an untrusted peer is the client, whatever headers it sends")
    func untrustedPeer() {
        let r = ClientIP.resolve(peer: outsider, cfConnectingIP: "203.0.113.5", forwardedFor: "203.0.113.6",
                                 trustedProxies: proxies)
        #expect(r == outsider)
        #expect(ClientIP.resolve(peer: outsider, cfConnectingIP: nil, forwardedFor: nil, trustedProxies: []) == outsider)
        // With no trusted proxies configured, even a private peer's headers are ignored.
        #expect(ClientIP.resolve(peer: peerProxy, cfConnectingIP: "203.0.113.5", forwardedFor: nil, trustedProxies: []) == peerProxy)
    }

    @Test("no peer address at all gives nil")
    func noPeer() {
        #expect(ClientIP.resolve(peer: nil, cfConnectingIP: "203.0.113.5", forwardedFor: nil, trustedProxies: proxies) == nil)
    }

    // issue 20 item 2: each header is believed only from the ranges configured for it.
    @Test("a --trusted-proxy peer's CF-Connecting-IP is ignored: X-Forwarded-For only")
    func cfIgnoredFromTrustedProxy() {
        // A client behind nginx/haproxy that passes headers through cannot pick its address.
        #expect(ClientIP.resolve(peer: peerProxy, cfConnectingIP: "198.51.100.77", forwardedFor: "203.0.113.6",
                                 trustedProxies: proxies) == IPv4("203.0.113.6"))
        #expect(ClientIP.resolve(peer: peerProxy, cfConnectingIP: "198.51.100.77", forwardedFor: nil,
                                 trustedProxies: proxies) == nil)
    }

    @Test("a --cloudflare-proxy peer's CF-Connecting-IP is read, and its X-Forwarded-For is not")
    func cfFromCloudflare() {
        let cloudflare = [CIDR("173.245.48.0/20")!]
        let edge = IPv4("173.245.48.9")
        func resolve(_ cf: String?, _ xff: String?) -> IPv4? {
            ClientIP.resolve(peer: edge, cfConnectingIP: cf, forwardedFor: xff, trustedProxies: proxies, cloudflareProxies: cloudflare)
        }
        #expect(resolve(" 203.0.113.5 ", "203.0.113.6") == IPv4("203.0.113.5"))
        #expect(resolve(nil, "203.0.113.6") == nil, "no CF-Connecting-IP from Cloudflare: no client IP")
        #expect(resolve("garbage", "203.0.113.6") == nil, "a malformed CF header is not replaced by a guess")
        // An ordinary peer's CF header means nothing, even with Cloudflare ranges configured.
        #expect(ClientIP.resolve(peer: outsider, cfConnectingIP: "203.0.113.5", forwardedFor: nil,
                                 trustedProxies: proxies, cloudflareProxies: cloudflare) == outsider)
        // Behind Cloudflare and then our nginx: the Cloudflare hop is skipped like our own.
        #expect(ClientIP.resolve(peer: peerProxy, cfConnectingIP: "1.1.1.1", forwardedFor: "203.0.113.8, 173.245.48.9",
                                 trustedProxies: proxies, cloudflareProxies: cloudflare) == IPv4("203.0.113.8"))
    }

    @Test("a trusted peer's X-Forwarded-For is read right to left, skipping trusted hops")
    func forwardedFor() {
        func resolve(_ xff: String) -> IPv4? {
            ClientIP.resolve(peer: peerProxy, cfConnectingIP: nil, forwardedFor: xff, trustedProxies: proxies)
        }
        #expect(resolve("203.0.113.6") == IPv4("203.0.113.6"))
        // The left-most entry is whatever the client claimed; the nearest untrusted hop is believed.
        #expect(resolve("1.1.1.1, 203.0.113.6, 10.2.2.2, 192.0.2.1") == IPv4("203.0.113.6"))
        #expect(resolve("1.1.1.1,203.0.113.7") == IPv4("203.0.113.7"))
        // Only trusted hops: no client address.
        #expect(resolve("10.3.3.3, 192.0.2.1") == nil)
        // A malformed nearest hop stops the walk.
        #expect(resolve("203.0.113.6, not-an-ip") == nil)
        // red team finding F10: an empty hop is refused like `unknown`, not skipped.
        #expect(resolve("203.0.113.6, unknown") == nil)
        #expect(resolve("203.0.113.7,") == nil)
        #expect(resolve("203.0.113.7, ") == nil)
        #expect(resolve("203.0.113.7,,10.2.2.2") == nil)
        #expect(resolve(",203.0.113.7") == IPv4("203.0.113.7"), "the nearest hop is believed before the walk reaches the empty one")
    }

    @Test("a trusted peer without proxy headers gives nil")
    func trustedWithoutHeaders() {
        #expect(ClientIP.resolve(peer: peerProxy, cfConnectingIP: nil, forwardedFor: nil, trustedProxies: proxies) == nil)
        #expect(ClientIP.resolve(peer: IPv4("192.0.2.1"), cfConnectingIP: nil, forwardedFor: nil, trustedProxies: proxies) == nil)
    }
}
