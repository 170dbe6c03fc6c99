import BalctlPlugins
import BalctlProtocol
@testable import ControlPlane
import Foundation
import SQLEngine
import Testing
import TestSupport

/// Opens stores on one fresh database of the engine the test runs on (`StoreEngine.current`):
/// a SQLite file in `dir`, or a new database on the test process's PostgreSQL. Each call is
/// another store on the same database (a second control plane, a restart).
func storeOpener(dir: URL) throws -> @Sendable () throws -> Store {
    switch StoreEngine.current {
    case .sqlite:
        let path = dir.appendingPathComponent("test.sqlite").path
        return { try Store(path: path) }
    case .postgres:
        let url = try StoreEngine.postgres().createDatabase() + "?sslmode=disable"
        return { try Store(engine: PostgresEngine(url: url, maxConnections: 4)) }
    }
}

/// A store on a fresh database, its admin operator, and helpers that act as an agent would.
final class Fixture: @unchecked Sendable {
    let dir: URL
    let store: Store
    /// Another store on the same database.
    let openStore: @Sendable () throws -> Store
    let admin: Operator
    let catalogue = AllPlugins.registry.catalogue
    var queue = QueuePolicy()
    var heartbeat = HeartbeatPolicy()
    static let agentIP = IPv4("203.0.113.10")!

    init() async throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-cpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        openStore = try storeOpener(dir: dir)
        store = try openStore()
        let issued = try #require(try store.bootstrapAdminIfNeeded())
        admin = try #require(try await store.authenticateOperator(token: issued.token))
    }

    deinit { try? FileManager.default.removeItem(at: dir) }

    /// A pool with one member (allowed from `agentIP`); returns the enrollment.
    func member(pool name: String = "edge", hostname: String = "web-1", by op: Operator? = nil) async throws
        -> (pool: PoolView, enrollment: MemberEnrollment) {
        let op = op ?? admin
        let existing = try await store.listPools(by: op).first { $0.name == name }
        let pool: PoolView
        if let existing { pool = existing } else {
            pool = try await store.createPool(CreatePoolRequest(name: name, template: .generic), by: op)
        }
        let e = try await store.addMember(
            pool: pool.id, CreateMemberRequest(hostname: hostname, allowedIPs: [Self.agentIP.description],
                                               family: .debian, role: nil),
            publicURL: "https://cp.example", by: op)
        return (pool, e)
    }

    func report(_ hostname: String, commands: [String] = ["host.echo", "host.collect_facts"],
                inFlight: [JobRef] = [], uptime: Double = 100, publicIP: String? = nil,
                stacks: [String: JSONValue] = [:]) -> HostReport {
        HostReport(
            hostname: hostname, agentVersion: "0.1.0",
            os: OSInfo(family: "debian", id: "debian", versionID: "12", prettyName: "Debian 12", kernel: "6.1.0"),
            uptimeSec: uptime, load: [0.1, 0.2, 0.3], cpuPercent: 5, cpuCount: 2,
            memory: MemoryInfo(totalBytes: 1000, availableBytes: 250), disks: [], publicIPv4: publicIP,
            publicIPSource: publicIP == nil ? nil : "declared", stacks: stacks, commands: commands, jobsInFlight: inFlight)
    }

    /// Authenticate with the secret (as the route does) and record a heartbeat.
    @discardableResult
    func beat(_ e: MemberEnrollment, commands: [String] = ["host.echo", "host.collect_facts"],
              inFlight: [JobRef] = [], uptime: Double = 100, publicIP: String? = nil,
              stacks: [String: JSONValue] = [:]) async throws -> HeartbeatOutcome {
        let agent = try await store.authenticateAgent(secret: e.enrollmentSecret, clientIP: Self.agentIP,
                                                      hostname: e.member.hostname)
        let r = report(e.member.hostname, commands: commands, inFlight: inFlight, uptime: uptime, publicIP: publicIP, stacks: stacks)
        let raw = String(decoding: try JSONEncoder().encode(r), as: UTF8.self)
        // The route's own path: the envelope reader and the group-commit writer.
        return try await HeartbeatWriter(store: store, heartbeat: heartbeat, queue: queue)
            .record(agent, report: try HeartbeatEnvelope.read(raw), raw: raw, ip: Self.agentIP)
    }

    func enqueue(_ memberID: Int64, _ command: String = "host.echo",
                 _ params: JSONValue = .object(["message": .string("hi")]),
                 priority: Int? = nil, maxAttempts: Int? = nil, by op: Operator? = nil) async throws -> JobView {
        try await store.enqueue(member: memberID,
                                EnqueueJobRequest(command: command, params: params, priority: priority,
                                                  maxAttempts: maxAttempts),
                                catalogue: catalogue, policy: queue, by: op ?? admin)
    }

    func completion(_ job: ClaimedJob, _ status: AttemptStatus, output: String = "ok\n", attempt: Int? = nil,
                    error: String? = nil) -> JobCompletion {
        JobCompletion(jobId: job.id, attempt: attempt ?? job.attempt, status: status, exitCode: status == .completed ? 0 : 1,
                      output: output, result: .object(["n": .number(1)]), changed: false, error: error,
                      startedAt: 1, finishedAt: 2)
    }

    func count(_ sql: String, _ args: SQLArguments = []) async throws -> Int {
        try await store.db.read { try Int.fetchOne($0, sql: sql, arguments: args) ?? -1 }
    }

    /// A two-step recipe of host.echo jobs, with one disable step.
    static func twoStepRecipe() throws -> Recipe {
        try RecipeLoader.parse("""
            id: two-steps
            title: Two steps
            description: test
            steps:
              - name: first
                run: host.echo
                with: { message: one }
              - name: second
                run: host.echo
                with: { message: two }
            disable:
              - name: undo
                run: host.echo
                with: { message: undo }
            """, file: "two-steps.yaml")
    }

    /// Another (non-admin) account's operator.
    func otherOperator(_ name: String = "tenant-b") async throws -> Operator {
        let issued = try await store.createAccount(CreateAccountRequest(name: name, isAdmin: false), by: admin)
        return try #require(try await store.authenticateOperator(token: issued.token))
    }
}

/// Run `body`, expecting a ControlPlaneError; returns it.
func cpError(_ body: () async throws -> Void) async -> ControlPlaneError? {
    do {
        try await body()
        return nil
    } catch let e as ControlPlaneError {
        return e
    } catch {
        Issue.record("expected a ControlPlaneError, got \(error)")
        return nil
    }
}
