import BalctlProtocol
import Foundation

/// The figures a report gives for the watched metrics, and the rule that turns a figure into a
/// raise or a clear. Pure: no database, no clock.
enum ThresholdEvaluation {
    /// One figure: a metric, what it is about (a mount, a certificate, or "" for the member) and
    /// its value.
    struct Reading: Hashable, Sendable {
        var metric: ThresholdMetric
        var subject: String
        var value: Double
    }

    /// The part of a stored report the thresholds read. Decoding only these keys (Codable skips
    /// the rest) keeps the evaluation off the heartbeat path's costs. Decode it with `JSONTree`
    /// (see `readings`).
    struct Report: Decodable {
        var load: [Double]?
        var cpuPercent: Double?
        var cpuCount: Int?
        var memory: MemoryInfo?
        var disks: [DiskInfo]?
        var stacks: [String: JSONValue]?
    }

    /// Red team (monitoring) R1: a member's report is outside input (the agent, or whoever holds
    /// its secret, writes it). Per report at most this many subjects (mounts, certificates) of a
    /// metric are read, each subject once (its first figure), and a member has at most this many
    /// alerts of a metric raised at a time (`ThresholdMonitor.crossings`). Before, one heartbeat
    /// naming 6,000 new mounts at 100 % raised 6,000 alerts (a state row, a history row and an
    /// email per recipient each), and the next one 6,000 more: a mount no longer reported is
    /// never cleared, so the rows grew without end.
    static func maxSubjects(_ metric: ThresholdMetric) -> Int {
        switch metric {
        case .disk: return 64
        case .tlsExpiry: return 256  // the agent's own cut (CertificateExpiry.maxCertificates)
        default: return 1
        }
    }

    /// Red team (monitoring) R2: a subject (or a name in an alert's text) taken from a report is
    /// at most this many UTF-8 bytes. `prefix(256)` counted Characters, and one Character can be
    /// a base letter with 100,000 combining marks.
    static let maxSubjectBytes = 256

    /// A name from a report as it may appear in an alert, a log line or `balctl alerts list`:
    /// controls (C0, DEL, C1), line and paragraph separators and bidirectional overrides become
    /// "?" (no escape sequences for an operator's terminal, no forged log lines, no reordered
    /// text), cut to `maxSubjectBytes` on a scalar boundary.
    static func subjectText<S: StringProtocol>(_ s: S, maxBytes: Int = maxSubjectBytes) -> String {
        var out = String.UnicodeScalarView()
        var bytes = 0
        for scalar in s.unicodeScalars {
            let v = scalar.value
            let unsafe = v < 0x20 || (0x7f...0x9f).contains(v) || v == 0x2028 || v == 0x2029
                || (0x202a...0x202e).contains(v) || (0x2066...0x2069).contains(v)
            let c: Unicode.Scalar = unsafe ? "?" : scalar
            bytes += UTF8.width(c)
            guard bytes <= maxBytes else { break }
            out.append(c)
        }
        return String(out)
    }

    /// Readings for the metrics in `wanted` (none for a metric the report has no figure for).
    static func readings(_ raw: String, wanted: Set<ThresholdMetric>) -> [Reading] {
        // Red team (monitoring) R5: JSONTree, not JSONDecoder. `stacks` holds JSONValues, which
        // JSONDecoder decodes by trial and error in time that grows with nesting: one 240 KB
        // report of numbers 60 arrays deep cost the server ~7 s of CPU per evaluation (every
        // 5 s, per member), stalling every member's thresholds. JSONTree is linear (~50 ms).
        guard let report = try? JSONTree.decode(Report.self, from: raw) else { return [] }
        var out: [Reading] = []
        var seen = Set<StateKey>()
        var perMetric: [ThresholdMetric: Int] = [:]
        /// Each (metric, subject) once, at most `maxSubjects` per metric (R1).
        func add(_ metric: ThresholdMetric, _ subject: String, _ value: Double) {
            guard value.isFinite, perMetric[metric, default: 0] < maxSubjects(metric),
                  seen.insert(StateKey(metric: metric, subject: subject)).inserted else { return }
            perMetric[metric, default: 0] += 1
            out.append(Reading(metric: metric, subject: subject, value: value))
        }
        if wanted.contains(.cpu), let cpu = report.cpuPercent {
            add(.cpu, "", cpu)
        }
        if wanted.contains(.memory), let m = report.memory, m.totalBytes > 0 {
            add(.memory, "", Double(m.totalBytes - min(m.availableBytes, m.totalBytes)) / Double(m.totalBytes) * 100)
        }
        if wanted.contains(.disk) {
            for d in report.disks ?? [] where d.totalBytes > 0 {
                guard perMetric[.disk, default: 0] < maxSubjects(.disk) else { break }
                add(.disk, subjectText(d.mount), Double(d.totalBytes - min(d.availableBytes, d.totalBytes)) / Double(d.totalBytes) * 100)
            }
        }
        if wanted.contains(.load), let load1 = report.load?.first, let cores = report.cpuCount, cores > 0 {
            add(.load, "", load1 / Double(cores))
        }
        if wanted.contains(.haproxyDown), let down = haproxyServersDown(report.stacks?["haproxy"]) {
            add(.haproxyDown, "", Double(down.count))
        }
        if wanted.contains(.tlsExpiry) {
            for c in certificateDaysLeft(report.stacks ?? [:]) {
                guard perMetric[.tlsExpiry, default: 0] < maxSubjects(.tlsExpiry) else { break }
                add(.tlsExpiry, c.subject, c.days)
            }
        }
        return out
    }

    /// Servers (backend members, `type` 2 in `show stat`) whose status is DOWN, as
    /// "backend/server"; nil when the report has no haproxy statistics.
    static func haproxyServersDown(_ haproxy: JSONValue?) -> [String]? {
        guard case .array(let columns)? = haproxy?["stats"]?["columns"], case .array(let rows)? = haproxy?["stats"]?["rows"] else {
            return nil
        }
        let names = columns.map { $0.stringValue ?? "" }
        guard let px = names.firstIndex(of: "pxname"), let sv = names.firstIndex(of: "svname"),
              let type = names.firstIndex(of: "type"), let status = names.firstIndex(of: "status") else { return nil }
        var down: [String] = []
        for case .array(let r) in rows where r.count > max(px, sv, type, status) {
            guard r[type].doubleValue == 2, let s = r[status].stringValue, s.hasPrefix("DOWN") else { continue }
            // Names from the report, bounded and made printable for the alert's text (R2).
            down.append(subjectText(r[px].stringValue ?? "", maxBytes: 128) + "/" + subjectText(r[sv].stringValue ?? "", maxBytes: 128))
        }
        return down
    }

    /// Certificates a stack reports as `certificates: [{path, notAfter}]` (Unix seconds), with
    /// the days each has left, keyed "stack:path".
    static func certificateDaysLeft(_ stacks: [String: JSONValue], at t: Double = now()) -> [(subject: String, days: Double)] {
        var out: [(String, Double)] = []
        for (stack, value) in stacks.sorted(by: { $0.key < $1.key }) {
            guard case .array(let certs)? = value["certificates"] else { continue }
            for cert in certs.prefix(256) {
                guard let path = cert["path"]?.stringValue, let notAfter = cert["notAfter"]?.doubleValue, notAfter.isFinite else { continue }
                // The stack's name is from the report too: the whole subject is bounded (R2).
                out.append((subjectText("\(stack):\(path)"), (notAfter - t) / 86400))
            }
        }
        return out
    }

    /// What a reading does to its alert: raise it (not raised, value at or past `raiseAt`),
    /// clear it (raised, value back to `clearAt`), or nothing. Between the two levels the state
    /// stays as it is: that gap is the hysteresis.
    enum Step: Equatable { case raise, clear, none }

    static func step(_ value: Double, raised: Bool, _ setting: ThresholdSetting) -> Step {
        if setting.metric.raisesBelow {
            if !raised, value <= setting.raiseAt { return .raise }
            if raised, value >= setting.clearAt { return .clear }
        } else {
            if !raised, value >= setting.raiseAt { return .raise }
            if raised, value <= setting.clearAt { return .clear }
        }
        return .none
    }

    /// The alert's subject line: "cpu 93% on web-1 (raise at 90%)".
    static func subject(_ r: Reading, hostname: String, _ s: ThresholdSetting, raised: Bool) -> String {
        let what = r.subject.isEmpty ? r.metric.rawValue : "\(r.metric.rawValue) \(r.subject)"
        let unit = s.metric.unit == "%" ? "%" : " \(s.metric.unit)"
        return raised
            ? "\(what) \(Render.number(r.value))\(unit) on \(hostname) (raises at \(Render.number(s.raiseAt))\(unit))"
            : "cleared: \(what) \(Render.number(r.value))\(unit) on \(hostname) (clears at \(Render.number(s.clearAt))\(unit))"
    }
}
