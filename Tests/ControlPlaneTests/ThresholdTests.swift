import BalctlProtocol
@testable import ControlPlane
import Foundation
import Logging
import SQLEngine
import Testing
import TestSupport

/// Member alert thresholds: a crossing alerts once, a value hovering at the threshold does not
/// alert again, the way back clears once; presets, overrides, subjects, replicas.
@Suite(.storeEngines)
struct ThresholdTests {
    func monitor(_ f: Fixture) -> ThresholdMonitor {
        ThresholdMonitor(store: f.store, metrics: ServerMetrics(), logger: Logger(label: "thresholds"))
    }

    /// A report as an agent sends it, with the figures the thresholds read.
    func report(_ hostname: String, cpu: Double = 5, memoryUsed: Double = 0.5, disks: [(String, Double)] = [],
                load1: Double = 0.1, cores: Int = 2, stacks: [String: JSONValue] = [:]) throws -> String {
        let r = HostReport(
            hostname: hostname, agentVersion: "0.1.0",
            os: OSInfo(family: "debian", id: "debian", versionID: "12", prettyName: "Debian 12", kernel: "6.1.0"),
            uptimeSec: 100, load: [load1, 0.2, 0.3], cpuPercent: cpu, cpuCount: cores,
            memory: MemoryInfo(totalBytes: 1000, availableBytes: UInt64(1000 * (1 - memoryUsed))),
            disks: disks.map { DiskInfo(mount: $0.0, fsType: "ext4", totalBytes: 1000, availableBytes: UInt64(1000 * (1 - $0.1))) },
            publicIPv4: nil, publicIPSource: nil, stacks: stacks, commands: [], jobsInFlight: [])
        return String(decoding: try JSONEncoder().encode(r), as: UTF8.self)
    }

    func events(_ f: Fixture) async throws -> [String] {
        try await f.store.db.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT metric, subject, state FROM threshold_events ORDER BY id").map {
                "\($0["metric"] as String)\(($0["subject"] as String).isEmpty ? "" : " " + ($0["subject"] as String)) \($0["state"] as String)"
            }
        }
    }

    func outbox(_ f: Fixture) async throws -> [String] {
        try await f.store.db.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT kind, target FROM alert_outbox ORDER BY id").map { "\($0["kind"] as String) \($0["target"] as String)" }
        }
    }

    @Test("a value hovering at the threshold raises once and clears once; the alert goes to the pool's recipients")
    func hysteresis() async throws {
        let f = try await Fixture()
        let (pool, e) = try await f.member()
        _ = try await f.store.updateFailoverSettings(pool: pool.id, UpdateFailoverSettingsRequest(alertEmails: ["ops@example.com"]),
                                                      box: try SecretBox.open(dataDir: f.dir.path), by: f.admin)
        _ = try await f.store.setThreshold(pool: pool.id, .cpu, SetThresholdRequest(raiseAt: 90, clearAt: 80), by: f.admin)
        let m = monitor(f)
        try await m.refresh()
        var crossings: [Bool] = []
        for cpu in [50.0, 91, 89, 92, 85, 90, 81, 80.5, 95, 79.9, 82, 85, 79] {
            m.offer(member: e.member.id, report: try report("web-1", cpu: cpu))
            crossings += try await m.pass().map(\.raise)
        }
        // Raised at 91, held through 89…95 (never back to 80), cleared at 79.9, not raised by 82/85.
        #expect(crossings == [true, false])
        #expect(try await events(f) == ["cpu raised", "cpu cleared"])
        #expect(try await outbox(f) == ["threshold_raised ops@example.com", "threshold_cleared ops@example.com"])
        let subject = try await f.store.db.read { try String.fetchOne($0, sql: "SELECT subject FROM alert_outbox ORDER BY id LIMIT 1") }
        #expect(subject == "cpu 91% on web-1 (raises at 90%)")
        #expect(try await f.store.alerts(member: nil, limit: 10, by: f.admin).firing.isEmpty)
    }

    @Test("a member's own setting wins over the pool preset; switched off, the preset does not apply to it")
    func presetsAndOverrides() async throws {
        let f = try await Fixture()
        let (pool, a) = try await f.member(hostname: "web-1")
        let (_, b) = try await f.member(hostname: "web-2")
        _ = try await f.store.setThreshold(pool: pool.id, .memory, SetThresholdRequest(raiseAt: 80), by: f.admin)
        _ = try await f.store.setThreshold(member: a.member.id, .memory, SetThresholdRequest(raiseAt: 95), by: f.admin)
        let view = try await f.store.thresholds(member: a.member.id, by: f.admin)
        #expect(view.effective == [EffectiveThreshold(setting: ThresholdSetting(metric: .memory, raiseAt: 95, clearAt: 90), source: "member")])
        let m = monitor(f)
        try await m.refresh()
        m.offer(member: a.member.id, report: try report("web-1", memoryUsed: 0.85))
        m.offer(member: b.member.id, report: try report("web-2", memoryUsed: 0.85))
        let raised = try await m.pass()
        #expect(raised.map(\.member.hostname) == ["web-2"])  // 85 % is past the preset (80), not web-1's own 95

        // Off for web-2: its raised alert ends as 'unwatched' (no alert), and 99 % raises nothing.
        _ = try await f.store.setThreshold(member: b.member.id, .memory, SetThresholdRequest(raiseAt: 80, enabled: false), by: f.admin)
        try await m.refresh()
        m.offer(member: b.member.id, report: try report("web-2", memoryUsed: 0.99))
        #expect(try await m.pass().isEmpty)
        #expect(try await events(f) == ["memory raised", "memory unwatched"])
        #expect(try await f.store.thresholds(member: b.member.id, by: f.admin).effective == [])
    }

    @Test("disk alerts per mount, HAProxy servers down, certificates close to expiry, heartbeat age")
    func subjects() async throws {
        let f = try await Fixture()
        let (pool, e) = try await f.member()
        for (metric, raise) in [(ThresholdMetric.disk, 90.0), (.haproxyDown, 1), (.tlsExpiry, 14), (.load, 2)] {
            _ = try await f.store.setThreshold(pool: pool.id, metric, SetThresholdRequest(raiseAt: raise), by: f.admin)
        }
        let m = monitor(f)
        try await m.refresh()
        let stats: JSONValue = .object([
            "columns": .array(["pxname", "svname", "type", "status"].map(JSONValue.string)),
            "rows": .array([
                .array([.string("be_web"), .string("BACKEND"), .number(1), .string("UP")]),
                .array([.string("be_web"), .string("web1"), .number(2), .string("UP")]),
                .array([.string("be_web"), .string("web2"), .number(2), .string("DOWN")]),
                .array([.string("be_web"), .string("web3"), .number(2), .string("DOWN 1/2")]),
            ]),
        ])
        let certs: JSONValue = .array([
            .object(["path": .string("/etc/haproxy/certs/a.pem"), "notAfter": .number(now() + 3 * 86400)]),
            .object(["path": .string("/etc/haproxy/certs/b.pem"), "notAfter": .number(now() + 90 * 86400)]),
        ])
        m.offer(member: e.member.id, report: try report("web-1", disks: [("/", 0.95), ("/var", 0.5)], load1: 5, cores: 2,
                                                         stacks: ["haproxy": .object(["stats": stats, "certificates": certs])]))
        let raised = try await m.pass()
        #expect(Set(raised.map { "\($0.reading.metric.rawValue) \($0.reading.subject) \(Render.number($0.reading.value))" })
                == ["disk / 95", "haproxy_down  2", "tls_expiry haproxy:/etc/haproxy/certs/a.pem 3", "load  2.5"])
        #expect(raised.first { $0.reading.metric == .haproxyDown }?.detail == "down: be_web/web2, be_web/web3")

        // Heartbeat age: the member beat (stored heartbeat time), then is checked 100 s later.
        try await f.beat(e)
        _ = try await f.store.setThreshold(member: e.member.id, .heartbeatAge, SetThresholdRequest(raiseAt: 30), by: f.admin)
        try await m.refresh()
        #expect(try await m.checkHeartbeatAges(at: now() + 5).isEmpty)
        #expect(try await m.checkHeartbeatAges(at: now() + 100).map(\.raise) == [true])
        #expect(try await m.checkHeartbeatAges(at: now() + 200).isEmpty)  // still raised: no second alert
        #expect(try await m.checkHeartbeatAges(at: now() + 1).map(\.raise) == [false])
        let firing = try await f.store.alerts(member: e.member.id, limit: 50, by: f.admin).firing
        #expect(Set(firing.map(\.metric)) == [.disk, .haproxyDown, .tlsExpiry, .load])
    }

    @Test("a member's reports are evaluated at most every minIntervalSec, on the newest one")
    func pacing() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        _ = try await f.store.setThreshold(member: e.member.id, .cpu, SetThresholdRequest(raiseAt: 90), by: f.admin)
        let m = ThresholdMonitor(store: f.store, metrics: ServerMetrics(), logger: Logger(label: "paced"), minIntervalSec: 5)
        try await m.refresh()
        let t0 = now()
        m.offer(member: e.member.id, report: try report("web-1", cpu: 95))
        #expect(try await m.pass(at: t0).map(\.raise) == [true])
        m.offer(member: e.member.id, report: try report("web-1", cpu: 10))
        #expect(try await m.pass(at: t0 + 1).isEmpty)  // not due: kept for later
        m.offer(member: e.member.id, report: try report("web-1", cpu: 20))
        #expect(try await m.pass(at: t0 + 4.9).isEmpty)
        let cleared = try await m.pass(at: t0 + 5)
        #expect(cleared.map(\.raise) == [false])
        #expect(cleared.first?.reading.value == 20)  // the newest report
        #expect(try await m.pass(at: t0 + 20).isEmpty)  // nothing new offered
    }

    @Test("two replicas that both see a crossing record it once")
    func replicasAlertOnce() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        _ = try await f.store.setThreshold(member: e.member.id, .cpu, SetThresholdRequest(raiseAt: 90), by: f.admin)
        let other = try f.openStore()
        let a = monitor(f), b = ThresholdMonitor(store: other, metrics: ServerMetrics(), logger: Logger(label: "b"))
        try await a.refresh(); try await b.refresh()
        a.offer(member: e.member.id, report: try report("web-1", cpu: 97))
        b.offer(member: e.member.id, report: try report("web-1", cpu: 98))
        async let ra = a.pass()
        async let rb = b.pass()
        let total = try await ra.count + rb.count
        #expect(total == 1)
        #expect(try await events(f) == ["cpu raised"])
    }

    @Test("settings are validated before anything is stored; other accounts' members are not found")
    func validation() async throws {
        let f = try await Fixture()
        let (pool, e) = try await f.member()
        for bad in [SetThresholdRequest(raiseAt: 150), SetThresholdRequest(raiseAt: 90, clearAt: 95),
                    SetThresholdRequest(raiseAt: .nan), SetThresholdRequest(raiseAt: 90, clearAt: -1)] {
            await #expect(throws: ControlPlaneError.self) {
                try await f.store.setThreshold(pool: pool.id, .cpu, bad, by: f.admin)
            }
        }
        await #expect(throws: ControlPlaneError.self) {  // tls_expiry clears above its raise level
            try await f.store.setThreshold(pool: pool.id, .tlsExpiry, SetThresholdRequest(raiseAt: 14, clearAt: 7), by: f.admin)
        }
        #expect(try await f.store.thresholds(pool: pool.id, by: f.admin).own.isEmpty)
        let stranger = try await f.store.createAccount(CreateAccountRequest(name: "other", isAdmin: false), by: f.admin)
        let op = Operator(accountID: stranger.account.id, name: "other", isAdmin: false)
        await #expect(throws: ControlPlaneError(.notFound, "no member \(e.member.id)")) {
            try await f.store.setThreshold(member: e.member.id, .cpu, SetThresholdRequest(raiseAt: 90), by: op)
        }
        await #expect(throws: ControlPlaneError.self) {
            try await f.store.removeThreshold(pool: pool.id, .cpu, by: f.admin)  // nothing set
        }
    }

    @Test("readings from hostile or partial reports: no figure, no crash")
    func hostileReports() {
        let all = Set(ThresholdMetric.allCases)
        #expect(ThresholdEvaluation.readings("", wanted: all).isEmpty)
        #expect(ThresholdEvaluation.readings("{\"cpuPercent\": \"x\"}", wanted: all).isEmpty)
        #expect(ThresholdEvaluation.readings("{\"memory\": {\"totalBytes\": 0, \"availableBytes\": 5}}", wanted: all).isEmpty)
        #expect(ThresholdEvaluation.readings("{\"disks\": [{\"mount\": \"/\", \"fsType\": \"x\", \"totalBytes\": 10, \"availableBytes\": 50}]}",
                                             wanted: all).map(\.value) == [0])
        #expect(ThresholdEvaluation.haproxyServersDown(.object(["stats": .object(["columns": .array([]), "rows": .array([.number(1)])])])) == nil)
        #expect(ThresholdEvaluation.haproxyServersDown(.object(["stats": .object([
            "columns": .array(["pxname", "svname", "type", "status"].map(JSONValue.string)),
            "rows": .array([.array([.string("x")]), .number(3)]),
        ])])) == [])
    }
}
