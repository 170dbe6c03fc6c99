import BalctlProtocol
@testable import ControlPlane
import Foundation
import Logging
import NIOCore
import SQLEngine
import Testing
import TestSupport

/// Red team of the monitoring work (Prometheus `/metrics`, alert thresholds): what an agent's
/// report, an operator of another account or a scraper without the token can do.
///
/// Findings (fixed; see the comments marked "Red team (monitoring)" in the sources):
/// - R1: a report naming thousands of new mounts (or certificates) at the raise level raised an
///   alert for each, every 5 s, without end: 3 heartbeats of 6,000 mounts made 18,000
///   `threshold_states` rows and 18,000 history rows, one more with two recipients 12,000
///   queued emails (reproduced against a live server). Now ≤ 64 disks / 256 certificates per
///   report, each subject once, and at most that many raised per member and metric.
/// - R2: subjects were cut at 256 *Characters* (one Character can be 100,000 scalars), the stack
///   name in a certificate's subject and HAProxy server names in the alert text not at all, and
///   control characters went into log lines and `balctl alerts list` (terminal escapes). Now
///   ≤ 256 UTF-8 bytes, controls and bidi overrides as "?".
/// - R3: duplicate mounts with different figures in one report flapped the alert every pass.
@Suite(.storeEngines)
struct RedTeamMonitoringTests {
    func monitor(_ f: Fixture) -> ThresholdMonitor {
        ThresholdMonitor(store: f.store, metrics: ServerMetrics(), logger: Logger(label: "redteam"))
    }

    /// A report as JSON, built by hand so it can hold what no real agent sends.
    func report(_ hostname: String, disks: [(mount: String, total: UInt64, available: UInt64)] = [], cpu: String = "5",
                cores: String = "2", load: String = "0.1", memory: String = #"{"totalBytes":1000,"availableBytes":500}"#,
                stacks: String = "{}") -> String {
        let d = disks.map { #"{"mount":\#(json($0.mount)),"fsType":"ext4","totalBytes":\#($0.total),"availableBytes":\#($0.available)}"# }
        return #"{"hostname":\#(json(hostname)),"agentVersion":"0.1.0","protocolVersion":1,"os":{"family":"debian","id":"debian","versionID":"12","prettyName":"D","kernel":"6"},"uptimeSec":1,"load":[\#(load),0,0],"cpuPercent":\#(cpu),"cpuCount":\#(cores),"memory":\#(memory),"disks":[\#(d.joined(separator: ","))],"stacks":\#(stacks),"commands":[],"jobsInFlight":[]}"#
    }

    func json(_ s: String) -> String { String(decoding: try! JSONEncoder().encode(s), as: UTF8.self) }

    func count(_ f: Fixture, _ sql: String) async throws -> Int {
        try await f.store.db.read { try Int.fetchOne($0, sql: sql) ?? -1 }
    }

    /// A pool with one member and two email recipients; `metric` preset on the pool.
    func watched(_ f: Fixture, _ metric: ThresholdMetric, raiseAt: Double) async throws -> (PoolView, MemberEnrollment, ThresholdMonitor) {
        let (pool, e) = try await f.member()
        _ = try await f.store.updateFailoverSettings(
            pool: pool.id, UpdateFailoverSettingsRequest(alertEmails: ["ops@example.com", "oncall@example.com"]),
            box: try SecretBox.open(dataDir: f.dir.path), by: f.admin)
        _ = try await f.store.setThreshold(pool: pool.id, metric, SetThresholdRequest(raiseAt: raiseAt), by: f.admin)
        let m = monitor(f)
        try await m.refresh()
        return (pool, e, m)
    }

    // MARK: R1 — unbounded subjects

    @Test("R1: reports naming 6,000 new full mounts each time raise at most 64 disk alerts, ever")
    func diskFlood() async throws {
        let f = try await Fixture()
        let (_, e, m) = try await watched(f, .disk, raiseAt: 90)
        for round in 0..<3 {
            let disks = (0..<6000).map { (mount: "/r\(round)/m\($0)", total: UInt64(1), available: UInt64(0)) }
            let raw = report("web-1", disks: disks)
            #expect(raw.utf8.count < AgentWire.maxAgentBodyBytes)  // one heartbeat's worth
            m.offer(member: e.member.id, report: raw)
            let started = ContinuousClock.now
            _ = try await m.pass()
            // One pass on a full-size hostile report stays short (debug build, shared machine).
            #expect(ContinuousClock.now - started < .seconds(5))
        }
        let cap = ThresholdEvaluation.maxSubjects(.disk)
        #expect(try await count(f, "SELECT COUNT(*) FROM threshold_states") == cap)
        #expect(try await count(f, "SELECT COUNT(*) FROM threshold_events") == cap)
        #expect(try await count(f, "SELECT COUNT(*) FROM alert_outbox") == 2 * cap)  // two recipients
        #expect(try await f.store.alerts(member: nil, limit: 1000, by: f.admin).firing.count == cap)
    }

    @Test("R1: certificates across many stacks: at most 256 tls_expiry alerts per member")
    func certificateFlood() async throws {
        let f = try await Fixture()
        let (_, e, m) = try await watched(f, .tlsExpiry, raiseAt: 14)
        let certs = (0..<256).map { #"{"path":"/c/\#($0).pem","notAfter":1}"# }.joined(separator: ",")
        let stacks = "{" + (0..<40).map { #""s\#($0)":{"certificates":[\#(certs)]}"# }.joined(separator: ",") + "}"
        let raw = report("web-1", stacks: stacks)
        #expect(raw.utf8.count < AgentWire.maxAgentBodyBytes)
        #expect(ThresholdEvaluation.readings(raw, wanted: [.tlsExpiry]).count == 256)
        m.offer(member: e.member.id, report: raw)
        _ = try await m.pass()
        // Another report, other stack names: nothing more is raised.
        m.offer(member: e.member.id, report: raw.replacingOccurrences(of: "\"s", with: "\"t"))
        #expect(try await m.pass().isEmpty)
        #expect(try await count(f, "SELECT COUNT(*) FROM threshold_states") == 256)
    }

    @Test("R3: a mount reported twice with different figures neither flaps nor raises twice")
    func duplicateMounts() async throws {
        let f = try await Fixture()
        let (_, e, m) = try await watched(f, .disk, raiseAt: 90)
        var steps: [Bool] = []
        for _ in 0..<4 {
            m.offer(member: e.member.id, report: report("web-1", disks: [("/", 100, 0), ("/", 100, 100)]))
            steps += try await m.pass().map(\.raise)
        }
        #expect(steps == [true])  // the first figure for "/" counts; before: raise, clear, raise, clear
    }

    // MARK: R5 — decoding cost

    @Test("R5: one evaluation of a hostile 0.5 MB report (deep arrays, 10,000 certificates) takes well under a second")
    func decodingCost() throws {
        let deep = String(repeating: "[", count: 60) + Array(repeating: "1", count: 230_000).joined(separator: ",")
            + String(repeating: "]", count: 60)
        let certs = (0..<256).map { #"{"path":"/c/\#($0).pem","notAfter":1}"# }.joined(separator: ",")
        let manyCerts = (0..<40).map { #""s\#($0)":{"certificates":[\#(certs)]}"# }.joined(separator: ",")
        for stacks in [#"{"x":\#(deep)}"#, "{" + manyCerts + "}"] {
            let raw = report("web-1", cpu: "97", stacks: stacks)
            #expect(raw.utf8.count < AgentWire.maxAgentBodyBytes)
            let started = ContinuousClock.now
            let readings = ThresholdEvaluation.readings(raw, wanted: Set(ThresholdMetric.allCases))
            let took = ContinuousClock.now - started
            #expect(readings.contains { $0.metric == .cpu && $0.value == 97 })
            // Before (JSONDecoder): 7 s for the first shape at 240 KB, 1.9 s for the second (debug).
            #expect(took < .milliseconds(1500), "\(took)")
        }
    }

    // MARK: R2 — subjects from the report

    @Test("R2: subjects are ≤ 256 UTF-8 bytes and printable; no header in the email, valid webhook JSON")
    func hostileSubjects() async throws {
        let f = try await Fixture()
        let (pool, e) = try await f.member()
        _ = try await f.store.updateFailoverSettings(
            pool: pool.id, UpdateFailoverSettingsRequest(alertEmails: ["ops@example.com"]),
            box: try SecretBox.open(dataDir: f.dir.path), by: f.admin)
        for metric in [ThresholdMetric.disk, .tlsExpiry, .haproxyDown] {
            _ = try await f.store.setThreshold(pool: pool.id, metric, SetThresholdRequest(raiseAt: metric == .disk ? 90 : metric == .tlsExpiry ? 14 : 1), by: f.admin)
        }
        let m = monitor(f)
        try await m.refresh()
        let zalgo = "a" + String(repeating: "\u{0301}", count: 100_000)  // one Character, 200,001 bytes
        let injected = "/x\r\nBcc: victim@example.com\r\n\u{1b}]0;pwned\u{07}\u{1b}[31m\u{202e}gnp.exe\u{2028}"
        let longStack = String(repeating: "s", count: 20_000)
        let longName = String(repeating: "n", count: 50_000) + "\n\u{1b}[2J"
        let stats = #"{"columns":["pxname","svname","type","status"],"rows":[\#((0..<5).map { #"[\#(json(longName)),"web\#($0)",2,"DOWN"]"# }.joined(separator: ","))]}"#
        let stacks = #"{\#(json(longStack)):{"certificates":[{"path":\#(json(injected)),"notAfter":1}]},"haproxy":{"stats":\#(stats)}}"#
        let raw = report("web-1", disks: [(zalgo, 100, 0), (injected, 100, 0)], stacks: stacks)
        m.offer(member: e.member.id, report: raw)
        let raised = try await m.pass()
        #expect(raised.count == 4)  // two mounts, the certificate, haproxy_down
        for c in raised {
            #expect(c.reading.subject.utf8.count <= ThresholdEvaluation.maxSubjectBytes)
            #expect(!c.reading.subject.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f || $0.value == 0x202e || $0.value == 0x2028 })
        }
        let detail = try #require(raised.first { $0.reading.metric == .haproxyDown }?.detail)
        #expect(detail.utf8.count < 2_000)
        #expect(!detail.unicodeScalars.contains { $0.value < 0x20 })

        let rows = try await f.store.db.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT channel, subject, body FROM alert_outbox ORDER BY id")
                .map { ($0["channel"] as String, $0["subject"] as String, $0["body"] as String) }
        }
        #expect(rows.count == 4)
        for (_, subject, body) in rows {
            #expect(subject.utf8.count < 1_000)
            #expect(body.utf8.count < 4_000)
            let mail = String(decoding: try AlertMail(from: "balctl@example.com", to: "ops@example.com", subject: subject, text: body,
                                                      kind: "threshold_raised", uniquePart: "1").rfc5322(), as: UTF8.self)
            let headers = mail.components(separatedBy: "\r\n\r\n")[0]
            #expect(!headers.lowercased().contains("bcc:"))
            #expect(headers.components(separatedBy: "\r\n").allSatisfy { $0.hasPrefix(" ") || $0.range(of: #"^[A-Za-z-]+: "#, options: .regularExpression) != nil })
        }
        // The history and the alert list carry the same bounded subjects.
        let listed = try await f.store.alerts(member: e.member.id, limit: 10, by: f.admin)
        #expect(listed.firing.allSatisfy { $0.subject.utf8.count <= 256 && !$0.subject.contains("\u{1b}") })
    }

    @Test("R2: subjectText keeps ordinary paths and cuts on a scalar boundary")
    func subjectText() {
        #expect(ThresholdEvaluation.subjectText("/var/lib/mysql") == "/var/lib/mysql")
        #expect(ThresholdEvaluation.subjectText("/srv/données/ü𝄞") == "/srv/données/ü𝄞")
        #expect(ThresholdEvaluation.subjectText("a\tb\nc\u{85}d\u{7f}") == "a?b?c?d?")
        let cut = ThresholdEvaluation.subjectText(String(repeating: "𝄞", count: 100))  // 4 bytes each
        #expect(cut.utf8.count == 256)
        #expect(cut.unicodeScalars.allSatisfy { $0 == "𝄞" })
    }

    // MARK: hostile numbers

    @Test("hostile figures: huge, negative, zero cores, available > total, 1e308 dates: no crash, finite values")
    func hostileNumbers() throws {
        let all = Set(ThresholdMetric.allCases)
        let max = UInt64.max
        let cases = [
            report("h", disks: [("/", max, max), ("/a", max, 0), ("/b", 1, max)], memory: #"{"totalBytes":\#(max),"availableBytes":\#(max)}"#),
            report("h", memory: #"{"totalBytes":10,"availableBytes":99999}"#),
            report("h", cpu: "1e308", cores: "0", load: "1e308"),
            report("h", cpu: "-1e308", cores: "-4", load: "-1e308"),
            report("h", cores: "1", load: "1.7976931348623157e308"),
            report("h", cores: "99999999999999999999"),  // not an Int: the report is not read
            report("h", cpu: "1e999"),
            report("h", stacks: #"{"x":{"certificates":[{"path":"/a","notAfter":1e308},{"path":"/b","notAfter":-1e308},{"path":"/c","notAfter":"x"},{"path":5,"notAfter":1},{"notAfter":1}]}}"#),
            report("h", stacks: #"{"haproxy":{"stats":{"columns":["pxname","svname","type","status","pxname"],"rows":[[1,2,2,"DOWN",3],[null,null,2e308,"DOWN"],[[],{},2,"DOWN"]]}}}"#),
        ]
        for raw in cases {
            for r in ThresholdEvaluation.readings(raw, wanted: all) {
                #expect(r.value.isFinite)
                let s = ThresholdSetting(metric: r.metric, raiseAt: r.metric.range.lowerBound)
                _ = ThresholdEvaluation.subject(r, hostname: "h", s, raised: true)  // Render.number on any value
                _ = ThresholdEvaluation.step(r.value, raised: false, s)
            }
        }
        let mem = ThresholdEvaluation.readings(cases[1], wanted: [.memory])
        #expect(mem.map(\.value) == [0])
        #expect(ThresholdEvaluation.readings(cases[2], wanted: [.load]).isEmpty)  // 0 cores: no load figure
        #expect(ThresholdEvaluation.readings(cases[7], wanted: [.tlsExpiry]).map(\.subject) == ["x:/a", "x:/b"])
    }

    // MARK: the operator API

    @Test("another account's operator can neither read, set, remove nor list a pool's or member's thresholds and alerts")
    func crossAccount() async throws {
        let f = try await Fixture()
        let (_, e, m) = try await watched(f, .cpu, raiseAt: 90)
        let pool = e.member.poolId
        _ = try await f.store.setThreshold(member: e.member.id, .memory, SetThresholdRequest(raiseAt: 90), by: f.admin)
        m.offer(member: e.member.id, report: report("web-1", cpu: "99"))
        try await m.refresh()
        m.offer(member: e.member.id, report: report("web-1", cpu: "99"))
        #expect(try await m.pass().count == 1)

        let issued = try await f.store.createAccount(CreateAccountRequest(name: "mallory", isAdmin: false), by: f.admin)
        let other = try #require(try await f.store.authenticateOperator(token: issued.token))
        let req = SetThresholdRequest(raiseAt: 99)
        for attempt in [
            { _ = try await f.store.thresholds(pool: pool, by: other) },
            { _ = try await f.store.thresholds(member: e.member.id, by: other) },
            { _ = try await f.store.setThreshold(pool: pool, .cpu, req, by: other) },
            { _ = try await f.store.setThreshold(member: e.member.id, .cpu, req, by: other) },
            { _ = try await f.store.removeThreshold(pool: pool, .cpu, by: other) },
            { _ = try await f.store.removeThreshold(member: e.member.id, .memory, by: other) },
            { _ = try await f.store.alerts(member: e.member.id, limit: 10, by: other) },
        ] as [@Sendable () async throws -> Void] {
            do { try await attempt(); Issue.record("allowed across accounts") } catch let error as ControlPlaneError {
                #expect(error.kind == .notFound)
            }
        }
        let mine = try await f.store.alerts(member: nil, limit: 1000, by: other)
        #expect(mine.firing.isEmpty && mine.history.isEmpty)
        // Nothing of the owner's changed.
        #expect(try await f.store.thresholds(pool: pool, by: f.admin).own.map(\.raiseAt) == [90])
        #expect(try await f.store.thresholds(member: e.member.id, by: f.admin).own.map(\.metric) == [.memory])
    }

    @Test("levels: 1e999, -0, huge and out-of-range values are refused before anything is stored")
    func hostileLevels() async throws {
        let f = try await Fixture()
        let (pool, _) = try await f.member()
        for body in [#"{"raiseAt":1e999}"#, #"{"raiseAt":-0}"#, #"{"raiseAt":-0.0,"clearAt":-0.0}"#, #"{"raiseAt":1e308}"#,
                     #"{"raiseAt":90,"clearAt":-1e308}"#, #"{"raiseAt":90,"clearAt":1e999}"#, #"{"raiseAt":"90"}"#, #"{}"#,
                     #"{"raiseAt":90,"enabled":"yes"}"#] {
            do {
                let req = try decode(SetThresholdRequest.self, ByteBuffer(string: body))
                for metric in ThresholdMetric.allCases where metric != .tlsExpiry || req.raiseAt > 365 || !req.raiseAt.isFinite {
                    await #expect(throws: ControlPlaneError.self, "\(metric) \(body)") {
                        try await f.store.setThreshold(pool: pool.id, metric, req, by: f.admin)
                    }
                }
            } catch let error as ControlPlaneError {
                #expect(error.kind == .badRequest)
            }
        }
        #expect(try await f.store.thresholds(pool: pool.id, by: f.admin).own.isEmpty)
    }

    // MARK: /metrics

    @Test("/metrics access: only the exact token; header variants and forwarded addresses from an untrusted peer do not help")
    func metricsAccess() {
        let token = "scrape-token-0123456789abcdef"
        let access = MetricsAccess(token: token, allow: [CIDR("10.9.0.0/16")!])
        let outside = IPv4("198.51.100.7")!
        #expect(access.refusal(authorization: "Bearer \(token)", client: outside) == nil)
        for header in ["bearer \(token)", "Bearer  \(token)", "Bearer \(token)\n", "Bearer \(token)\r\n", "Bearer \t\(token)",
                       "Bearer ", "Bearer", "", "Basic \(token)", "Bearer \(token.prefix(16))", "Bearer \(token)x",
                       "Bearer \(token), Bearer wrong", "Bearer " + String(repeating: "a", count: 1 << 20), token] {
            #expect(access.refusal(authorization: header, client: outside)?.kind == .unauthorized, "\(header.prefix(40))")
        }
        #expect(access.refusal(authorization: nil, client: nil)?.kind == .unauthorized)
        // A peer that is not a trusted proxy: its X-Forwarded-For / CF-Connecting-IP are ignored.
        let resolved = ClientIP.resolve(peer: outside, cfConnectingIP: "10.9.0.5", forwardedFor: "10.9.0.5",
                                        trustedProxies: [CIDR("192.0.2.0/24")!], cloudflareProxies: [CIDR("203.0.113.0/24")!])
        #expect(resolved == outside)
        #expect(access.refusal(authorization: nil, client: resolved)?.kind == .unauthorized)
        // A trusted proxy without X-Forwarded-For: no address, refused.
        #expect(ClientIP.resolve(peer: IPv4("192.0.2.1")!, cfConnectingIP: nil, forwardedFor: nil,
                                 trustedProxies: [CIDR("192.0.2.0/24")!]) == nil)
        // Allow-list only: the refusal names the caller's own address, nothing else.
        let listOnly = MetricsAccess(allow: [CIDR("10.9.0.0/16")!])
        let refusal = listOnly.refusal(authorization: "Bearer \(token)", client: outside)
        #expect(refusal?.kind == .forbidden)
        #expect(refusal?.message.contains("10.9") == false)
        #expect(MetricsAccess().refusal(authorization: "Bearer x", client: IPv4("10.9.0.1")!)?.kind == .notFound)
    }

    @Test("pool names with quotes, backslashes, newlines and unicode keep the exposition parseable")
    func metricLabels() {
        let names = [#"a"b\c"#, "x}y{z= # HELP", "a\\nb", "\u{feff}bom", "ü 𝄞", "nl\nfake_metric 99", #"x"} 1"#]
        let fleet = ServerMetrics.FleetState(
            members: names.enumerated().map { (pool: Int64($0.offset + 1), name: $0.element, state: "fresh", count: 1) },
            jobs: [(state: "pending", count: 0)], thresholdsFiring: [])
        let text = String(decoding: ServerMetrics().render(fleet), as: UTF8.self)
        for line in text.split(separator: "\n") {
            #expect(line.hasPrefix("# ") || line.hasPrefix("balctl_"), "\(line)")
        }
        #expect(!text.contains("\nfake_metric"))
        for (i, name) in names.enumerated() {
            let escaped = name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n")
            #expect(text.contains(#"balctl_members{pool_id="\#(i + 1)",pool="\#(escaped)",state="fresh"} 1"#), "\(name)")
        }
    }
}

