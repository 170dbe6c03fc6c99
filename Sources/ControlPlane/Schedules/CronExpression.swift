import BalctlProtocol
import Foundation

/// A 5-field cron expression (minute hour day-of-month month day-of-week), evaluated in UTC.
/// Supports `*`, lists, ranges, steps (`*/15`, `1-10/3`), month and weekday names, 7 as Sunday,
/// and presets. The day rule is Vixie cron's (and cronie's): a day field whose text starts with
/// `*` (`*`, `*/2`) does not restrict the day; only when neither day field starts with `*` does a
/// day matching either one fire; otherwise both must match. An expression that can never fire
/// (`0 0 31 2 *`) is refused.
public struct CronExpression: Sendable, Equatable, CustomStringConvertible {
    public let source: String
    let minutes: [Int]
    let hours: [Int]
    let days: Set<Int>
    let months: Set<Int>
    let weekdays: Set<Int>
    /// The day-of-month / day-of-week text starts with `*`.
    let dayStar: Bool
    let weekdayStar: Bool

    /// Presets: the usual macros plus backup-friendly times (spread off the top of the hour).
    public static let presets: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
        "@backup-nightly": "17 2 * * *", "@backup-weekly": "17 3 * * 0", "@every-6h": "7 */6 * * *",
    ]

    public struct ParseError: Error, CustomStringConvertible, Sendable, Equatable {
        public var description: String
    }

    public init(_ text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let expanded = Self.presets[trimmed.lowercased()] ?? trimmed
        if trimmed.hasPrefix("@") && Self.presets[trimmed.lowercased()] == nil {
            throw ParseError(description: "unknown preset \(trimmed) (known: \(Self.presets.keys.sorted().joined(separator: ", ")))")
        }
        let fields = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count == 5 else {
            throw ParseError(description: "'\(text)' has \(fields.count) fields; expected 5 (minute hour day-of-month month day-of-week) or a preset")
        }
        source = trimmed
        minutes = try Self.field(fields[0], "minute", 0...59, names: [:]).sorted()
        hours = try Self.field(fields[1], "hour", 0...23, names: [:]).sorted()
        days = try Self.field(fields[2], "day-of-month", 1...31, names: [:])
        months = try Self.field(fields[3], "month", 1...12, names: Self.monthNames)
        // 0 and 7 are both Sunday.
        weekdays = Set(try Self.field(fields[4], "day-of-week", 0...7, names: Self.dayNames).map { $0 % 7 })
        dayStar = fields[2].hasPrefix("*")
        weekdayStar = fields[4].hasPrefix("*")
        // Issue 20 item 9: refuse what would silently never run. With the two day fields ORed,
        // every month has every weekday, so it fires. With both required, a month must have one of
        // the days (February counting the 29th); the weekday then comes round, as every date
        // falls on every weekday within the 400-year cycle of the calendar.
        if dayStar || weekdayStar,
           !months.contains(where: { m in days.contains { $0 <= Self.longestMonth[m - 1] } }) {
            throw ParseError(description: "'\(text)' can never fire: no month in '\(fields[3])' has a day in '\(fields[2])'")
        }
    }

    /// The most days each month can have (February in a leap year).
    static let longestMonth = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

    public var description: String { source }

    static let monthNames = ["jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8,
                             "sep": 9, "oct": 10, "nov": 11, "dec": 12]
    static let dayNames = ["sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6]

    static func field(_ text: Substring, _ name: String, _ range: ClosedRange<Int>, names: [String: Int]) throws -> Set<Int> {
        func value(_ s: Substring) throws -> Int {
            if let v = Int(s), range.contains(v) { return v }
            if let v = names[s.lowercased()] { return v }
            throw ParseError(description: "\(name): '\(s)' is not in \(range.lowerBound)–\(range.upperBound)")
        }
        var out = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !part.isEmpty else { throw ParseError(description: "\(name): empty list item in '\(text)'") }
            let stepParts = part.split(separator: "/", omittingEmptySubsequences: false)
            guard stepParts.count <= 2 else { throw ParseError(description: "\(name): bad step in '\(part)'") }
            var step = 1
            if stepParts.count == 2 {
                guard let s = Int(stepParts[1]), s > 0, s <= range.upperBound else {
                    throw ParseError(description: "\(name): bad step '\(stepParts[1])'")
                }
                step = s
            }
            let base = stepParts[0]
            var lo: Int, hi: Int
            if base == "*" {
                lo = range.lowerBound; hi = range.upperBound
            } else if let dash = base.firstIndex(of: "-") {
                lo = try value(base[..<dash]); hi = try value(base[base.index(after: dash)...])
                guard lo <= hi else { throw ParseError(description: "\(name): range '\(base)' runs backwards") }
            } else {
                lo = try value(base)
                // "5/15" means 5, 20, 35, 50 (from 5 to the end in steps of 15).
                hi = stepParts.count == 2 ? range.upperBound : lo
            }
            out.formUnion(stride(from: lo, through: hi, by: step))
        }
        return out
    }

    func dayMatches(day: Int, weekday: Int) -> Bool {
        let d = days.contains(day), w = weekdays.contains(weekday)
        return dayStar || weekdayStar ? d && w : d || w
    }

    /// The first time strictly after `date` (to the minute) that matches, or nil if none within
    /// 400 years (one full cycle of the Gregorian calendar: an expression that matches no day in it
    /// never will, and such expressions are refused anyway).
    public func next(after date: Date) -> Date? {
        let startMinute = Int((date.timeIntervalSince1970 / 60).rounded(.down)) + 1
        var day = Self.floorDiv(startMinute, 1440)
        var fromMinute = startMinute - day * 1440
        let lastDay = day + 146_097
        while day <= lastDay {
            let (_, month, dayOfMonth) = Self.civil(day)
            // 1970-01-01 (day 0) was a Thursday; 0 is Sunday.
            if months.contains(month), dayMatches(day: dayOfMonth, weekday: Self.floorMod(day + 4, 7)),
               let minute = firstMinute(from: fromMinute) {
                return Date(timeIntervalSince1970: Double((day * 1440 + minute) * 60))
            }
            day += 1
            fromMinute = 0
        }
        return nil
    }

    /// The first matching minute of a day at or after `from` (minutes since midnight).
    func firstMinute(from: Int) -> Int? {
        for h in hours where h >= from / 60 {
            for m in minutes where h * 60 + m >= from { return h * 60 + m }
        }
        return nil
    }

    static func floorDiv(_ a: Int, _ b: Int) -> Int { (a - floorMod(a, b)) / b }
    static func floorMod(_ a: Int, _ b: Int) -> Int { ((a % b) + b) % b }

    /// Days since 1970-01-01 → (year, month 1–12, day 1–31).
    static func civil(_ days: Int) -> (year: Int, month: Int, day: Int) { Render.civilDate(daysSinceEpoch: days) }
}
