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
    /// the rest) keeps the evaluation off the heartbeat path's costs.
    struct Report: Decodable {
        var load: [Double]?
        var cpuPercent: Double?
        var cpuCount: Int?
        var memory: MemoryInfo?
        var disks: [DiskInfo]?
        var stacks: [String: JSONValue]?
    }

    /// Readings for the metrics in `wanted` (none for a metric the report has no figure for).
    static func readings(_ raw: String, wanted: Set<ThresholdMetric>) -> [Reading] {
        guard let report = try? JSONDecoder().decode(Report.self, from: Data(raw.utf8)) else { return [] }
        var out: [Reading] = []
        if wanted.contains(.cpu), let cpu = report.cpuPercent, cpu.isFinite {
            out.append(Reading(metric: .cpu, subject: "", value: cpu))
        }
        if wanted.contains(.memory), let m = report.memory, m.totalBytes > 0 {
            let used = Double(m.totalBytes - min(m.availableBytes, m.totalBytes)) / Double(m.totalBytes) * 100
            out.append(Reading(metric: .memory, subject: "", value: used))
        }
        if wanted.contains(.disk) {
            for d in report.disks ?? [] where d.totalBytes > 0 {
                let used = Double(d.totalBytes - min(d.availableBytes, d.totalBytes)) / Double(d.totalBytes) * 100
                out.append(Reading(metric: .disk, subject: String(d.mount.prefix(256)), value: used))
            }
        }
        if wanted.contains(.load), let load1 = report.load?.first, load1.isFinite, let cores = report.cpuCount, cores > 0 {
            out.append(Reading(metric: .load, subject: "", value: load1 / Double(cores)))
        }
        if wanted.contains(.haproxyDown), let down = haproxyServersDown(report.stacks?["haproxy"]) {
            out.append(Reading(metric: .haproxyDown, subject: "", value: Double(down.count)))
        }
        if wanted.contains(.tlsExpiry) {
            out += certificateDaysLeft(report.stacks ?? [:]).map { Reading(metric: .tlsExpiry, subject: $0.subject, value: $0.days) }
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
            down.append("\(r[px].stringValue ?? "")/\(r[sv].stringValue ?? "")")
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
                out.append(("\(stack):\(path.prefix(256))", (notAfter - t) / 86400))
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
