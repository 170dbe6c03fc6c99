#if canImport(Glibc)
import Glibc
#endif
import BalctlProtocol
import ControlPlane
import Foundation
import ServiceLaunchers
import Testing

/// Issue 19 in a real browser: Debian's headless Chromium (through chromedriver and PyPI's
/// selenium, `Browser/scenarios.py`) signs in to a real `balctl-server` and works its dashboard
/// while real agents, a real haproxy per agent and a real BIND9 do what the pages ask.
///
/// One world per suite (the `.dashboardWorld` trait): BIND9, the server (bcrypt cost 4 so
/// sign-ins stay fast), a haproxy pool of two agents whose failover hostname lives in BIND9
/// (the failover e2e tests' `Rig`), one member made active through the API, and a second
/// account with a pool of its own. Each test runs one scenario, which starts one Chromium.
/// Tests do not depend on each other's order: make-active promotes whichever card is the
/// standby, drain puts the server back to ready.
@Suite("Dashboard in real Chromium: overview, live jobs, make-active with BIND9, haproxy drain, security, every page",
       .serialized, .dashboardWorld)
struct DashboardBrowserTests {
    let world: DashboardWorld
    init() throws { world = try DashboardWorld.current() }

    @Test("signed out / goes to sign-in; signed in, the pool overview shows the two member cards with Active and Standby, KPIs and traffic flow")
    func overview() async throws {
        let run = try await world.browse("overview")
        try run.requirePassed()
    }

    @Test("host.echo enqueued from the member's Jobs tab: its timeline row reaches completed without a reload")
    func liveJobTimeline() async throws {
        let run = try await world.browse("jobs")
        run.expectPassed()
        let id = try #require(run.result?["jobId"]?.doubleValue.map { Int($0) }, "the scenario saw no new job row")
        let job = try await world.api.job(Int64(id))
        #expect(job.state == .completed && job.command == "host.echo", "\(job.state) \(job.command)")
        #expect(job.result?["message"] == run.result?["message"], "the job ran with other params: \(String(describing: job.result))")
        #expect(job.memberId == world.members[0].enrollment.member.id)
    }

    @Test("make the standby active from its card's confirmation page: the card roles swap and BIND9 answers with its address")
    func makeActive() async throws {
        let run = try await world.browse("make-active")
        run.expectPassed()
        let promoted = try #require(run.result?["promoted"]?.doubleValue.map { Int($0) }, "the scenario found no standby card")
        let ip = try #require(run.result?["promotedIP"]?.stringValue)
        #expect(try world.bind.dig(world.hostname) == [ip])
        let status = try await world.rig.status(world.pool)
        #expect(status.members.first { $0.memberId == Int64(promoted) }?.role == .active, "\(status.members)")
        let event = try await world.rig.events(world.pool).first
        #expect(event?.kind == "make_active" && event?.toMemberId == Int64(promoted), "\(String(describing: event))")
    }

    @Test("drain, then ready, backend server be1/s1 from the Status tab: the real haproxy's status is shown DRAIN, then UP")
    func drainFromStatusTab() async throws {
        let started = Date().timeIntervalSince1970 - 1
        let run = try await world.browse("drain")
        run.expectPassed()
        let member = world.members[0].enrollment.member.id
        let jobs: [JobView] = try await world.api.call("GET", "/members/\(member)/jobs?limit=50")
        let recent = jobs.filter { $0.createdAt >= started }
        for command in ["haproxy.server_drain", "haproxy.server_ready"] {
            let j = recent.first { $0.command == command }
            #expect(j?.state == .completed && j?.params["backend"]?.stringValue == "be1" && j?.params["server"]?.stringValue == "s1",
                    "\(command): \(recent.map { "\($0.command) \($0.state) \($0.params.jsonString())" })")
        }
    }

    @Test("security: session cookie flags, another account's pool 404, CSRF missing or wrong 403, CSP refuses inline script, sign-out ends the session")
    func security() async throws {
        let run = try await world.browse("security")
        run.expectPassed()
        // None of the refused posts queued anything, on either account's member.
        let a: [JobView] = try await world.api.call("GET", "/members/\(world.members[0].enrollment.member.id)/jobs?limit=100")
        let b: [JobView] = try await world.apiB.call("GET", "/members/\(world.memberB.member.id)/jobs?limit=100")
        let probes = (a + b).filter { $0.params["message"]?.stringValue == world.csrfProbe }
        #expect(probes.isEmpty, "refused posts queued jobs: \(probes.map(\.id))")
    }

    @Test("every page of the contract: 200, HTML at most 200 KB, the CSP and security headers, no console violation, no Swift optional printed by a template; assets served; no page wider than a 360 px phone")
    func everyPage() async throws {
        let run = try await world.browse("pages")
        try run.requirePassed()
    }
}

/// Its own server: five failed sign-ins from 127.0.0.1 also lock that address for 15 minutes,
/// which would lock every other scenario out of a shared one.
@Suite("Dashboard sign-in rate limit in real Chromium", .serialized)
struct DashboardSignInLimitTests {
    @Test("four wrong passwords are 401 with the username kept; after the fifth the right password gets 429 and no session")
    func fiveWrongPasswords() async throws {
        let h = try Harness()
        h.serverEnv = DashboardWorld.serverEnv
        try await h.startServer()
        let api = try h.api()
        let user = DashboardWorld.User(username: "carol", password: "carol-" + DashboardWorld.randomHex(8))
        try await DashboardWorld.createUser(api, user)
        var config = DashboardWorld.Config(base: h.base, caFile: h.tls.caCert, serverCert: h.tls.serverCert,
                                           artifacts: DashboardWorld.artifacts)
        config.limited = user
        let run = try await DashboardWorld.browse("rate-limit", config: config, dir: h.dir)
        try run.requirePassed()
    }
}

// MARK: the world

/// The suite's running services and what the scenarios need to know of them.
final class DashboardWorld: @unchecked Sendable {
    let bind: BINDServer
    let rig: FailoverEndToEndTests.Rig
    let pool: PoolView
    let hostname: String
    let members: [(enrollment: MemberEnrollment, ip: String)]
    let apiB: Harness.Operator
    let poolB: PoolView
    let memberB: MemberEnrollment
    let csrfProbe = "csrf-probe-" + DashboardWorld.randomHex(6)
    let config: Config
    var api: Harness.Operator { rig.api }

    @TaskLocal static var shared: DashboardWorld?

    static func current() throws -> DashboardWorld {
        guard let w = shared else { throw Harness.HarnessError("no dashboard world: the suite needs the .dashboardWorld trait") }
        return w
    }

    /// bcrypt at its minimum cost: each sign-in costs ~1 ms instead of ~250 ms.
    static let serverEnv = ["BALCTL_BCRYPT_COST": "4"]

    /// Screenshots go to `$BALCTL_TEST_ARTIFACTS/screenshots`, by default `test-artifacts/` at the repository root.
    static let artifacts: String = ProcessInfo.processInfo.environment["BALCTL_TEST_ARTIFACTS"]
        ?? Harness.repoRoot.appendingPathComponent("test-artifacts").path

    static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    struct User: Codable { var username: String; var password: String }
    struct Ref: Codable { var id: Int64; var name: String }
    struct Member: Codable { var id: Int64; var name: String; var ip: String }

    /// What `scenarios.py --config` reads.
    struct Config: Codable {
        var base: String
        var caFile: String
        var serverCert: String
        var artifacts: String
        var user: User?
        var userB: User?
        var limited: User?
        var pool: Ref?
        var members: [Member]?
        var failoverHostname: String?
        var poolB: Ref?
        var memberB: Ref?
        var csrfProbe: String?
    }

    static func randomHex(_ bytes: Int) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    static func createUser(_ api: Harness.Operator, _ user: User) async throws {
        let r = try await api.raw("POST", "/users", try JSONEncoder().encode(user))
        guard (200..<300).contains(r.status) else {
            throw Harness.HarnessError("POST /users \(user.username) → \(r.status): \(r.text)")
        }
    }

    private init(bind: BINDServer) async throws {
        self.bind = bind
        rig = try await FailoverEndToEndTests.Rig(bind: bind, serverEnv: Self.serverEnv)
        let (pool, hostname) = try await rig.pool("dash", template: .haproxy, auto: false)
        self.pool = pool
        self.hostname = hostname
        var members: [(MemberEnrollment, String)] = []
        for (name, ip) in [("dash-1", "81.2.69.201"), ("dash-2", "81.2.69.202")] {
            members.append((try await rig.agent(pool, name, ip: ip), ip))
        }
        self.members = members
        try await rig.waitReady(pool)
        _ = try await rig.makeActive(members[0].0)

        // A second account with a pool and a member of its own (no agent needed: it is only looked at).
        let tenant: TokenIssued = try await rig.api.call("POST", "/accounts", CreateAccountRequest(name: "tenant-b", isAdmin: false))
        apiB = try rig.h.api(token: tenant.token)
        poolB = try await apiB.call("POST", "/pools", CreatePoolRequest(name: "b-pool", template: .generic))
        memberB = try await apiB.member(pool: poolB.id, hostname: "b-web-1")

        let user = User(username: "alice", password: "alice-" + Self.randomHex(8))
        let userB = User(username: "bob", password: "bob-" + Self.randomHex(8))
        try await Self.createUser(rig.api, user)
        try await Self.createUser(apiB, userB)
        var config = Config(base: rig.h.base, caFile: rig.h.tls.caCert, serverCert: rig.h.tls.serverCert, artifacts: Self.artifacts)
        config.user = user
        config.userB = userB
        config.pool = Ref(id: pool.id, name: pool.name)
        config.members = members.map { Member(id: $0.0.member.id, name: $0.0.member.hostname, ip: $0.1) }
        config.failoverHostname = hostname
        config.poolB = Ref(id: poolB.id, name: poolB.name)
        config.memberB = Ref(id: memberB.member.id, name: memberB.member.hostname)
        config.csrfProbe = csrfProbe
        self.config = config
    }

    static func start() async throws -> DashboardWorld {
        let bind = try await BINDServer.start()
        do {
            return try await DashboardWorld(bind: bind)
        } catch {
            bind.stop()
            throw error
        }
    }

    func stop() { bind.stop() }

    func browse(_ scenario: String) async throws -> BrowserRun {
        try await Self.browse(scenario, config: config, dir: rig.h.dir)
    }

    // MARK: running a scenario

    struct BrowserRun {
        var scenario: String
        var status: Int32
        var output: String
        var seconds: Double
        /// The scenario's `RESULT {json}` line.
        var result: JSONValue?

        /// Records the scenario's failure with its output; the test goes on to check what the
        /// services did (which says whether the page or the server fell short).
        func expectPassed(sourceLocation: SourceLocation = #_sourceLocation) {
            if status != 0 {
                Issue.record("browser scenario \(scenario) failed (exit \(status)):\n\(output)", sourceLocation: sourceLocation)
            }
        }

        func requirePassed(sourceLocation: SourceLocation = #_sourceLocation) throws {
            expectPassed(sourceLocation: sourceLocation)
            if status != 0 { throw Harness.HarnessError("browser scenario \(scenario) failed") }
        }
    }

    /// Runs `scenarios.py --config … scenario` (its own deadline is `timeout`; killed 15 s later if it hangs).
    static func browse(_ scenario: String, config: Config, dir: URL, timeout: Int = 120) async throws -> BrowserRun {
        let configURL = dir.appendingPathComponent("browser-\(scenario).json")
        try JSONEncoder().encode(config).write(to: configURL)
        try FileManager.default.createDirectory(atPath: config.artifacts + "/screenshots", withIntermediateDirectories: true)
        let p = Process()
        // The python3 on PATH: the one the README's `python3 -m pip install` put selenium in.
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", scripts.appendingPathComponent("scenarios.py").path, "--config", configURL.path,
                       "--timeout", "\(timeout)", scenario]
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BALCTL_") }
        env["PYTHONDONTWRITEBYTECODE"] = "1"  // no __pycache__ in the source tree
        env["PYTHONUNBUFFERED"] = "1"
        p.environment = env
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        let started = Date()
        try p.run()
        let drain = Harness.CLIRun.Drain(pipe.fileHandleForReading)
        let deadline = started.addingTimeInterval(Double(timeout) + 15)
        while p.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
        var killed = false
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            killed = true
        }
        p.waitUntilExit()
        var output = String(decoding: drain.wait(), as: UTF8.self)
        if killed { output += "\n(killed: no exit within \(timeout + 15) s)" }
        let seconds = Date().timeIntervalSince(started)
        let result = output.split(separator: "\n").last { $0.hasPrefix("RESULT ") }
            .flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.dropFirst(7).utf8)) }
        print("[browser \(scenario)] exit \(p.terminationStatus) in \(String(format: "%.1f", seconds)) s\n"
              + output.split(separator: "\n").map { "[browser \(scenario)] \($0)" }.joined(separator: "\n"))
        return BrowserRun(scenario: scenario, status: killed ? -9 : p.terminationStatus, output: output, seconds: seconds, result: result)
    }
}

/// Suite trait: one dashboard world for the whole suite, stopped when the suite ends.
struct DashboardWorldTrait: SuiteTrait, TestScoping {
    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let world = try await DashboardWorld.start()
        defer { world.stop() }
        try await DashboardWorld.$shared.withValue(world) { try await function() }
    }
}

extension Trait where Self == DashboardWorldTrait {
    static var dashboardWorld: Self { Self() }
}
