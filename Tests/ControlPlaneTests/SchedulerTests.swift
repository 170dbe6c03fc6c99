import BalctlPlugins
import BalctlProtocol
import Foundation
import SQLEngine
import Testing
import TestSupport
@testable import ControlPlane

/// Cron schedules fire exactly once per (schedule, due time): across a restart at the boundary,
/// with two schedulers on one database, and for runs missed while down (run once or skip).
@Suite("Scheduler: exactly once per due time", .storeEngines)
struct SchedulerTests {
    let dir: URL
    /// Stores on this test's database (`storeOpener`).
    let open: @Sendable () throws -> Store
    let catalogue = AllPlugins.registry.catalogue
    let policy = QueuePolicy()

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("sched-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        open = try storeOpener(dir: dir)
    }


    static func utc(_ text: String) -> Date { CronExpressionTests.utc(text) }

    /// A store with one member whose agent reported host.echo, and a schedule on it.
    func setUp(cron: String, missed: MissedRunPolicy = .runOnce, created: String) async throws -> (Store, Operator, ScheduleView) {
        let store = try open()
        _ = try store.bootstrapAdminIfNeeded()
        let op = try await store.adminOperator()!
        let pool = try await store.createPool(CreatePoolRequest(name: "p", template: .generic), by: op)
        let e = try await store.addMember(pool: pool.id, CreateMemberRequest(hostname: "h1", allowedIPs: ["127.0.0.1"], family: .debian, role: nil),
                                          publicURL: "https://cp", by: op)
        let agent = try await store.authenticateAgent(secret: e.enrollmentSecret, clientIP: IPv4("127.0.0.1"), hostname: "h1")
        let report = HostReport(hostname: "h1", agentVersion: "0.1.0",
                                os: OSInfo(family: "debian", id: "debian", versionID: "12", prettyName: "D", kernel: "6"),
                                uptimeSec: 1, load: [0, 0, 0], cpuPercent: nil, cpuCount: 1,
                                memory: MemoryInfo(totalBytes: 1, availableBytes: 1), disks: [], publicIPv4: nil,
                                publicIPSource: nil, stacks: [:], commands: ["host.echo"], jobsInFlight: [])
        let raw = String(decoding: try JSONEncoder().encode(report), as: UTF8.self)
        _ = try await HeartbeatWriter(store: store, heartbeat: HeartbeatPolicy(), queue: policy)
            .record(agent, report: try HeartbeatEnvelope.read(raw), raw: raw, ip: IPv4("127.0.0.1")!)
        let s = try await store.createSchedule(
            member: e.member.id,
            CreateScheduleRequest(name: "echo", cron: cron, command: "host.echo", recipe: nil,
                                  params: .object(["message": .string("tick")]), enabled: true, missed: missed),
            recipes: [:], catalogue: catalogue, policy: policy, by: op, now: Self.utc(created))
        return (store, op, s)
    }

    func jobCount(_ store: Store) async throws -> Int {
        try await store.db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM jobs") ?? 0 }
    }

    @Test("next run is computed on create and the schedule fires at its due time, once")
    func firesOnce() async throws {
        let (store, op, s) = try await setUp(cron: "*/5 * * * *", created: "2026-11-26T10:02:00Z")
        #expect(s.nextRunAt == Self.utc("2026-11-26T10:05:00Z").timeIntervalSince1970)
        #expect(try await store.schedulerTick(now: Self.utc("2026-11-26T10:04:59Z"), recipes: [:], catalogue: catalogue, policy: policy) == 0)
        #expect(try await store.schedulerTick(now: Self.utc("2026-11-26T10:05:00Z"), recipes: [:], catalogue: catalogue, policy: policy) == 1)
        #expect(try await store.schedulerTick(now: Self.utc("2026-11-26T10:05:30Z"), recipes: [:], catalogue: catalogue, policy: policy) == 0)
        #expect(try await jobCount(store) == 1)
        let after = try await store.schedule(s.id, by: op)
        #expect(after.lastRunAt == Self.utc("2026-11-26T10:05:00Z").timeIntervalSince1970)
        #expect(after.nextRunAt == Self.utc("2026-11-26T10:10:00Z").timeIntervalSince1970)
        let job = try await store.job(try #require(after.lastJobId), by: op)
        #expect(job.command == "host.echo" && job.state == .pending)
        #expect(job.events?.first?.message?.contains("schedule \(s.id)") == true)
    }

    @Test("a restart at the cron boundary yields exactly one job for that due time")
    func restartAtBoundary() async throws {
        let (store, _, _) = try await setUp(cron: "*/5 * * * *", created: "2026-11-26T10:02:00Z")
        #expect(try await store.schedulerTick(now: Self.utc("2026-11-26T10:05:00Z"), recipes: [:], catalogue: catalogue, policy: policy) == 1)
        // The control plane restarts: a new store on the same database, ticking in the same minute.
        let restarted = try open()
        #expect(try await restarted.schedulerTick(now: Self.utc("2026-11-26T10:05:01Z"), recipes: [:], catalogue: catalogue, policy: policy) == 0)
        #expect(try await jobCount(restarted) == 1)
        // Even if the stored next run were rolled back (a crash between steps), the fire record holds.
        try await restarted.db.write { try $0.execute(sql: "UPDATE schedules SET next_run_at = ?", arguments: [Self.utc("2026-11-26T10:05:00Z").timeIntervalSince1970]) }
        #expect(try await restarted.schedulerTick(now: Self.utc("2026-11-26T10:05:02Z"), recipes: [:], catalogue: catalogue, policy: policy) == 0)
        #expect(try await jobCount(restarted) == 1)
        #expect(try await restarted.schedulerTick(now: Self.utc("2026-11-26T10:10:00Z"), recipes: [:], catalogue: catalogue, policy: policy) == 1)
        #expect(try await jobCount(restarted) == 2)
    }

    @Test("two schedulers on one database fire a due time once")
    func twoSchedulers() async throws {
        let (store, _, _) = try await setUp(cron: "* * * * *", created: "2026-11-26T10:00:30Z")
        let other = try open()
        let catalogue = self.catalogue, policy = self.policy
        for minute in 1...5 {
            let now = Self.utc("2026-11-26T10:0\(minute):00Z")
            async let a = store.schedulerTick(now: now, recipes: [:], catalogue: catalogue, policy: policy)
            async let b = other.schedulerTick(now: now, recipes: [:], catalogue: catalogue, policy: policy)
            let (x, y) = try await (a, b)
            #expect(x + y == 1, "minute \(minute): \(x) + \(y)")
        }
        #expect(try await jobCount(store) == 5)
        let fires = try await store.db.read { try Int.fetchOne($0, sql: "SELECT COUNT(DISTINCT due_at) FROM schedule_fires") ?? 0 }
        #expect(fires == 5)
    }

    @Test("runs missed while down run once on start, or are skipped, per schedule")
    func missedRuns() async throws {
        let (store, op, s) = try await setUp(cron: "*/5 * * * *", created: "2026-11-26T10:02:00Z")
        // Down from 10:03 to 10:31: 10:05 … 10:30 were missed; run once, for the latest.
        #expect(try await store.schedulerTick(now: Self.utc("2026-11-26T10:31:00Z"), recipes: [:], catalogue: catalogue, policy: policy) == 1)
        #expect(try await jobCount(store) == 1)
        let after = try await store.schedule(s.id, by: op)
        #expect(after.lastRunAt == Self.utc("2026-11-26T10:30:00Z").timeIntervalSince1970)
        #expect(after.nextRunAt == Self.utc("2026-11-26T10:35:00Z").timeIntervalSince1970)

        let skip = try await store.createSchedule(
            member: s.memberId, CreateScheduleRequest(name: "skipper", cron: "*/5 * * * *", command: "host.echo", recipe: nil,
                                                      params: .object(["message": .string("s")]), enabled: true, missed: .skip),
            recipes: [:], catalogue: catalogue, policy: policy, by: op, now: Self.utc("2026-11-26T10:32:00Z"))
        #expect(try await store.schedulerTick(now: Self.utc("2026-11-26T11:01:00Z"), recipes: [:], catalogue: catalogue, policy: policy) == 1,
                "only the run-once schedule fires")
        let skipped = try await store.schedule(skip.id, by: op)
        #expect(skipped.lastRunAt == nil)
        #expect(skipped.nextRunAt == Self.utc("2026-11-26T11:05:00Z").timeIntervalSince1970)
    }

    @Test("disable stops firing; enable recomputes from now; bad input is refused")
    func editAndValidate() async throws {
        let (store, op, s) = try await setUp(cron: "@hourly", created: "2026-11-26T10:02:00Z")
        let off = try await store.updateSchedule(s.id, UpdateScheduleRequest(enabled: false), recipes: [:], catalogue: catalogue,
                                                 policy: policy, by: op, now: Self.utc("2026-11-26T10:03:00Z"))
        #expect(off.nextRunAt == nil)
        #expect(try await store.schedulerTick(now: Self.utc("2026-11-26T12:00:00Z"), recipes: [:], catalogue: catalogue, policy: policy) == 0)
        let on = try await store.updateSchedule(s.id, UpdateScheduleRequest(cron: "30 * * * *", enabled: true), recipes: [:],
                                                catalogue: catalogue, policy: policy, by: op, now: Self.utc("2026-11-26T12:10:00Z"))
        #expect(on.nextRunAt == Self.utc("2026-11-26T12:30:00Z").timeIntervalSince1970)
        for bad in [CreateScheduleRequest(name: "x", cron: "61 * * * *", command: "host.echo", recipe: nil, params: .object(["message": .string("m")]), enabled: nil, missed: nil),
                    CreateScheduleRequest(name: "x", cron: "@daily", command: "host.nope", recipe: nil, params: nil, enabled: nil, missed: nil),
                    CreateScheduleRequest(name: "x", cron: "@daily", command: "host.echo", recipe: "r", params: nil, enabled: nil, missed: nil),
                    CreateScheduleRequest(name: "x", cron: "@daily", command: "host.echo", recipe: nil, params: .object(["message": .number(1)]), enabled: nil, missed: nil)] {
            await #expect(throws: ControlPlaneError.self) {
                _ = try await store.createSchedule(member: s.memberId, bad, recipes: [:], catalogue: catalogue, policy: policy, by: op)
            }
        }
    }

    @Test("issue 20 item 9: a schedule whose expression can never fire is refused at creation and on edit, with the reason")
    func neverFiringRefused() async throws {
        let (store, op, s) = try await setUp(cron: "@hourly", created: "2026-11-26T10:02:00Z")
        for cron in ["0 0 31 2 *", "* * 31 6,11 *"] {
            let create = await cpError {
                _ = try await store.createSchedule(
                    member: s.memberId, CreateScheduleRequest(name: "never", cron: cron, command: "host.echo", recipe: nil,
                                                              params: .object(["message": .string("m")]), enabled: true, missed: nil),
                    recipes: [:], catalogue: catalogue, policy: policy, by: op)
            }
            #expect(create?.kind == .badRequest)
            #expect(create?.message.contains("can never fire") == true, "\(cron): \(create?.message ?? "")")
            let edit = await cpError {
                _ = try await store.updateSchedule(s.id, UpdateScheduleRequest(cron: cron), recipes: [:], catalogue: catalogue,
                                                   policy: policy, by: op)
            }
            #expect(edit?.kind == .badRequest)
        }
        #expect(try await store.listSchedules(member: nil, by: op).map(\.cron) == ["@hourly"])
    }
}
