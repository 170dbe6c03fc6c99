import Foundation

/// A 5-field cron expression (minute hour day-of-month month day-of-week), evaluated in UTC.
/// Supports `*`, lists, ranges, steps (`*/15`, `1-10/3`), month and weekday names, 7 as Sunday,
/// and presets. As in Vixie cron, when both day-of-month and day-of-week are restricted a day
/// matching either fires; otherwise both must match.
public struct CronExpression: Sendable, Equatable, CustomStringConvertible {
    public let source: String
    let minutes: Set<Int>
    let hours: Set<Int>
    let days: Set<Int>
    let months: Set<Int>
    let weekdays: Set<Int>
    let dayRestricted: Bool
    let weekdayRestricted: Bool

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
        minutes = try Self.field(fields[0], "minute", 0...59, names: [:])
        hours = try Self.field(fields[1], "hour", 0...23, names: [:])
        days = try Self.field(fields[2], "day-of-month", 1...31, names: [:])
        months = try Self.field(fields[3], "month", 1...12, names: Self.monthNames)
        // 0 and 7 are both Sunday.
        weekdays = Set(try Self.field(fields[4], "day-of-week", 0...7, names: Self.dayNames).map { $0 % 7 })
        dayRestricted = fields[2] != "*"
        weekdayRestricted = fields[4] != "*"
    }

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

    static var utc: Calendar {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC")!
        return c
    }

    func dayMatches(day: Int, weekday: Int) -> Bool {
        let d = days.contains(day), w = weekdays.contains(weekday)
        if dayRestricted && weekdayRestricted { return d || w }
        return d && w
    }

    /// The first time strictly after `date` (to the minute) that matches, or nil if none within
    /// eight years (e.g. "0 0 30 2 *" never matches).
    public func next(after date: Date) -> Date? {
        let cal = Self.utc
        var c = cal.dateComponents([.year, .month, .day, .hour, .minute], from: date.addingTimeInterval(60))
        c.second = 0
        guard let startYear = c.year else { return nil }
        while let year = c.year, year <= startYear + 8 {
            guard months.contains(c.month!) else {
                c.month! += 1; c.day = 1; c.hour = 0; c.minute = 0
                if c.month! > 12 { c.month = 1; c.year! += 1 }
                continue
            }
            let daysInMonth = cal.range(of: .day, in: .month, for: cal.date(from: DateComponents(year: year, month: c.month, day: 1))!)!.count
            if c.day! > daysInMonth {
                c.month! += 1; c.day = 1; c.hour = 0; c.minute = 0
                if c.month! > 12 { c.month = 1; c.year! += 1 }
                continue
            }
            let weekday = cal.component(.weekday, from: cal.date(from: DateComponents(year: year, month: c.month, day: c.day))!) - 1
            guard dayMatches(day: c.day!, weekday: weekday) else {
                c.day! += 1; c.hour = 0; c.minute = 0
                continue
            }
            guard hours.contains(c.hour!) else {
                c.hour! += 1; c.minute = 0
                if c.hour! > 23 { c.day! += 1; c.hour = 0 }
                continue
            }
            guard minutes.contains(c.minute!) else {
                c.minute! += 1
                if c.minute! > 59 { c.hour! += 1; c.minute = 0; if c.hour! > 23 { c.day! += 1; c.hour = 0 } }
                continue
            }
            return cal.date(from: DateComponents(year: year, month: c.month, day: c.day, hour: c.hour, minute: c.minute))
        }
        return nil
    }
}
