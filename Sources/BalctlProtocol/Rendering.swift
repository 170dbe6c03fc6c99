/// Plain-text rendering shared by the CLI and the demo: aligned tables, ages, times, timelines.
public enum Render {
    /// Columns padded to their widest cell; the last column is not padded.
    public static func table(_ headers: [String], _ rows: [[String]]) -> String {
        var widths = headers.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                i == cells.count - 1 ? c : c + String(repeating: " ", count: max(0, widths[i] - c.count))
            }.joined(separator: "  ")
        }
        return ([line(headers)] + rows.map(line)).joined(separator: "\n")
    }

    /// "4s", "3m12s", "2h05m", "3d04h".
    /// A figure without a trailing ".0" (90, 0.75, 1.5); at most two decimals.
    public static func number(_ x: Double) -> String {
        guard x.isFinite else { return "\(x)" }
        let rounded = (x * 100).rounded() / 100
        if rounded == rounded.rounded(), abs(rounded) < 1e15 { return String(Int64(rounded)) }
        return "\(rounded)"
    }

    /// `Int(x)` that cannot trap: numbers from an agent's report (1e300, NaN) are clamped to
    /// ±9e15 (NaN → 0). `Int(_:)` stops the process on a value out of range.
    public static func integer(_ x: Double) -> Int {
        guard !x.isNaN else { return 0 }
        return Int(min(max(x, -9e15), 9e15))
    }

    public static func age(_ seconds: Double) -> String {
        let s = integer(seconds.rounded(.down))
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(pad(s % 60))s" }
        if s < 86_400 { return "\(s / 3600)h\(pad(s / 60 % 60))m" }
        return "\(s / 86_400)d\(pad(s / 3600 % 24))h"
    }

    /// UTC time of day with milliseconds: "14:03:27.512".
    public static func timeOfDay(_ unix: Double) -> String {
        let ms = Int((unix * 1000).rounded()) % 86_400_000
        let s = ms / 1000
        return "\(pad(s / 3600)):\(pad(s / 60 % 60)):\(pad(s % 60)).\(pad3(ms % 1000))"
    }

    /// UTC date and time: "2026-11-25 14:03:27Z".
    public static func dateTime(_ unix: Double) -> String {
        let secs = Int(unix.rounded(.down))
        let days = secs >= 0 ? secs / 86_400 : (secs - 86_399) / 86_400
        let (y, m, d) = civilDate(daysSinceEpoch: days)
        let t = secs - days * 86_400
        return "\(y)-\(pad(m))-\(pad(d)) \(pad(t / 3600)):\(pad(t / 60 % 60)):\(pad(t % 60))Z"
    }

    /// Days since 1970-01-01 → (year, month 1–12, day 1–31), proleptic Gregorian (the "civil from
    /// days" algorithm of Howard Hinnant's date library). Shared with the cron evaluator.
    public static func civilDate(daysSinceEpoch days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    public static func bytes(_ n: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n), i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(n) B" : "\((v * 10).rounded() / 10) \(units[i])"
    }

    /// A job and its events, one line per event.
    public static func timeline(_ job: JobView) -> String {
        var outcome = job.state.rawValue
        if job.state == .completed, let changed = job.changed { outcome += changed ? " (changed)" : " (unchanged)" }
        var lines = ["job \(job.id)  \(job.command) on \(job.hostname)  \(outcome)  attempt \(job.attempt)/\(job.maxAttempts)"]
        for e in job.events ?? [] {
            lines.append("  \(timeOfDay(e.at))  #\(e.attempt)  \(e.kind.padding(16))\(e.message ?? "")")
        }
        if let error = job.error, job.state != .completed { lines.append("  error: \(error)") }
        return lines.joined(separator: "\n")
    }

    private static func pad(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
    private static func pad3(_ n: Int) -> String { n < 10 ? "00\(n)" : n < 100 ? "0\(n)" : "\(n)" }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self + " " : self + String(repeating: " ", count: width - count) }
}
