import Foundation
import Testing
import TestSupport
@testable import ControlPlane

/// The cron parser against a table of expressions and edge cases, evaluated in UTC.
struct CronExpressionTests {
    static func utc(_ text: String) -> Date {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: text)!
    }

    static let table: [(cron: String, after: String, next: String?)] = [
        ("*/15 * * * *", "2026-01-01T00:07:30Z", "2026-01-01T00:15:00Z"),
        ("0 * * * *", "2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z"),          // strictly after
        ("30 2 * * *", "2026-03-10T02:30:00Z", "2026-03-11T02:30:00Z"),
        ("5/20 * * * *", "2026-01-01T10:06:00Z", "2026-01-01T10:25:00Z"),        // 5, 25, 45
        ("0 8-18/5 * * *", "2026-01-01T13:00:00Z", "2026-01-01T18:00:00Z"),      // 8, 13, 18
        ("0 8-18/5 * * *", "2026-01-01T18:00:00Z", "2026-01-02T08:00:00Z"),
        ("1,31 4 * * *", "2026-01-01T04:01:00Z", "2026-01-01T04:31:00Z"),        // lists
        ("0 0 31 * *", "2026-04-01T00:00:00Z", "2026-05-31T00:00:00Z"),          // April has 30 days
        ("59 23 31 12 *", "2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z"),        // year end
        ("0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),          // leap day
        ("0 0 29 2 1", "2026-01-01T00:00:00Z", "2026-02-02T00:00:00Z"),          // dom OR dow: a Monday in February
        ("0 0 */28 2 sun", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"),      // dom starts with *: AND
        ("0 0 29 2 */7", "2026-01-01T00:00:00Z", "2032-02-29T00:00:00Z"),        // Feb 29 that is a Sunday
        // Issue 20 item 9: the examples of the issue (Vixie: a field starting with * restricts nothing for the OR).
        ("0 12 */9 * 5", "2026-11-26T00:00:00Z", "2027-01-01T12:00:00Z"),        // Fridays on days 1, 10, 19, 28
        ("0 12 */9 * 5", "2027-01-01T12:00:00Z", "2027-02-19T12:00:00Z"),
        ("7 0 18 * */2", "2026-11-26T00:00:00Z", "2027-02-18T00:07:00Z"),        // the 18th on Sun/Tue/Thu/Sat only
        ("7 0 18 * */2", "2027-02-18T00:07:00Z", "2027-03-18T00:07:00Z"),
        ("0 12 * * 1-5", "2026-11-28T10:00:00Z", "2026-11-30T12:00:00Z"),        // Sat → Mon
        ("0 0 * * 7", "2026-11-26T00:00:00Z", "2026-11-29T00:00:00Z"),           // 7 is Sunday
        ("0 0 * * sun", "2026-11-26T00:00:00Z", "2026-11-29T00:00:00Z"),
        ("0 0 13 * 5", "2026-11-26T00:00:00Z", "2026-11-27T00:00:00Z"),          // dom OR dow: Friday
        ("0 0 13 * 5", "2026-12-11T00:00:00Z", "2026-12-13T00:00:00Z"),          // dom OR dow: the 13th (a Sunday)
        ("0 9 * jan,jul mon", "2026-11-26T00:00:00Z", "2027-01-04T09:00:00Z"),   // names; dom * so dow alone
        ("0 0 1 * *", "2026-01-31T12:00:00Z", "2026-02-01T00:00:00Z"),
        ("@hourly", "2026-01-01T10:30:00Z", "2026-01-01T11:00:00Z"),
        ("@daily", "2026-01-01T10:30:00Z", "2026-01-02T00:00:00Z"),
        ("@weekly", "2026-11-26T10:30:00Z", "2026-11-29T00:00:00Z"),
        ("@monthly", "2026-11-26T10:30:00Z", "2026-12-01T00:00:00Z"),
        ("@yearly", "2026-11-26T10:30:00Z", "2027-01-01T00:00:00Z"),
        ("@backup-nightly", "2026-11-26T03:00:00Z", "2026-11-27T02:17:00Z"),
    ]

    @Test("next run for every expression in the table", arguments: table.indices)
    func nextRuns(_ i: Int) throws {
        let row = Self.table[i]
        let cron = try CronExpression(row.cron)
        let next = cron.next(after: Self.utc(row.after))
        #expect(next == row.next.map(Self.utc), "\(row.cron) after \(row.after)")
    }

    @Test("a run of successive times never repeats and never goes backwards")
    func successive() throws {
        let cron = try CronExpression("*/7 */5 * * *")
        var t = Self.utc("2026-01-01T00:00:00Z")
        var seen: [Date] = []
        for _ in 0..<50 {
            let n = try #require(cron.next(after: t))
            #expect(n > t)
            let c = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: n)
            #expect(c.minute! % 7 == 0 && c.hour! % 5 == 0)
            seen.append(n)
            t = n
        }
        #expect(Set(seen).count == 50)
    }

    @Test("malformed expressions are refused with a reason", arguments: [
        ("60 * * * *", "minute"), ("* 24 * * *", "hour"), ("* * 0 * *", "day-of-month"), ("* * * 13 *", "month"),
        ("* * * * 8", "day-of-week"), ("* * * *", "5"), ("* * * * * *", "5"), ("a * * * *", "minute"),
        ("5-1 * * * *", "backwards"), ("*/0 * * * *", "step"), ("1,,2 * * * *", "empty"), ("@never", "preset"),
        ("* * * foo *", "month"),
        // Issue 20 item 9: expressions that can never fire are refused with the reason.
        ("0 0 31 2 *", "can never fire"), ("* * 31 6,11 *", "can never fire"), ("0 0 30 2 *", "can never fire"),
        ("0 0 30-31 2 */2", "no month in '2' has a day in '30-31'"), ("0 0 31 apr,jun *", "can never fire"),
    ])
    func malformed(_ text: String, _ mention: String) {
        #expect {
            _ = try CronExpression(text)
        } throws: { error in
            "\(error)".contains(mention)
        }
    }

    @Test("issue 20 item 9: expressions that look impossible but are not are accepted")
    func possibleButRare() throws {
        // ORed day fields: any Monday in February fires, though February has no 31st.
        _ = try CronExpression("0 0 31 2 1")
        // Feb 29 exists (leap years).
        #expect(try CronExpression("0 0 29 2 *").next(after: CronExpressionTests.utc("2026-01-01T00:00:00Z"))
                == CronExpressionTests.utc("2028-02-29T00:00:00Z"))
        // The 31st of a month that has one.
        _ = try CronExpression("* * 31 2,3 *")
    }

    @Test("issue 20 item 9: 4,000 random expressions agree with an independent brute-force reference of Vixie cron")
    func agreesWithReference() throws {
        var rng = SplitMix64(seed: 20_09)
        var compared = 0, refused = 0
        for _ in 0..<4_000 {
            let fields = ReferenceCron.randomExpression(&rng)
            let text = fields.joined(separator: " ")
            let reference = try #require(ReferenceCron(fields), "the generator made a malformed expression: \(text)")
            // A start between 2000 and 2040, to the second.
            let start = 946_684_800 + Int.random(in: 0..<(40 * 365 * 86_400), using: &rng)
            let parsed: CronExpression
            do {
                parsed = try CronExpression(text)
            } catch {
                // Refused as never firing: the reference finds no time in a whole 400-year cycle.
                #expect("\(error)".contains("can never fire"), "\(text): \(error)")
                #expect(reference.next(after: start, days: 146_097) == nil, "\(text) was refused but fires")
                refused += 1
                continue
            }
            var t = start
            for _ in 0..<3 {
                // The reference searches 3 years; beyond that the expression only has to agree it is later.
                let expected = reference.next(after: t, days: 3 * 366)
                let got = parsed.next(after: Date(timeIntervalSince1970: Double(t))).map { Int($0.timeIntervalSince1970) }
                if let expected {
                    #expect(got == expected, "\(text) after \(t)")
                    t = expected
                } else {
                    #expect(got.map { $0 > t + 3 * 366 * 86_400 - 86_400 } ?? false, "\(text) after \(t): got \(String(describing: got))")
                    break
                }
            }
            compared += 1
        }
        #expect(compared > 3_000 && refused > 0, "compared \(compared), refused \(refused)")
    }
}


/// An independent reference for the tests, written from the semantics of Vixie cron's entry.c and
/// cron.c rather than from balctl's code: each field becomes a bit per value (Vixie's bit_set), the
/// DOM_STAR / DOW_STAR flags come from the field's first character, and times are found by brute
/// force, one day at a time, with the C library's gmtime_r for the calendar.
struct ReferenceCron {
    var minute = [Bool](repeating: false, count: 60)
    var hour = [Bool](repeating: false, count: 24)
    var dom = [Bool](repeating: false, count: 32)
    var month = [Bool](repeating: false, count: 13)
    var dow = [Bool](repeating: false, count: 8)
    let domStar: Bool
    let dowStar: Bool

    static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    init?(_ f: [String]) {
        guard f.count == 5,
              Self.set(&minute, f[0], 0, 59, names: [], base: 0),
              Self.set(&hour, f[1], 0, 23, names: [], base: 0),
              Self.set(&dom, f[2], 1, 31, names: [], base: 0),
              Self.set(&month, f[3], 1, 12, names: Self.monthNames, base: 1),
              Self.set(&dow, f[4], 0, 7, names: Self.dayNames, base: 0) else { return nil }
        // Vixie: "make sundays equivalent" — 7 and 0 are the same day.
        if dow[7] || dow[0] { dow[0] = true; dow[7] = true }
        domStar = f[2].first == "*"
        dowStar = f[4].first == "*"
    }

    /// Vixie's get_list/get_range: items separated by commas; an item is `*`, a number, a name, or
    /// a range, optionally followed by /step. Like cronie (and balctl), `n/step` runs from n to the
    /// highest value.
    static func set(_ bits: inout [Bool], _ text: String, _ low: Int, _ high: Int, names: [String], base: Int) -> Bool {
        func number(_ s: Substring) -> Int? {
            if let n = Int(s) { return (low...high).contains(n) ? n : nil }
            if let i = names.firstIndex(of: s.lowercased()) { return i + base }
            return nil
        }
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let slash = item.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            let range = slash[0]
            var step = 1
            if slash.count == 2 { guard let s = Int(slash[1]), s >= 1 else { return false }; step = s }
            var first: Int, last: Int
            if range == "*" {
                first = low; last = high
            } else if let dash = range.firstIndex(of: "-") {
                guard let a = number(range[..<dash]), let b = number(range[range.index(after: dash)...]), a <= b else { return false }
                first = a; last = b
            } else {
                guard let a = number(range) else { return false }
                first = a; last = slash.count == 2 ? high : a
            }
            var v = first
            while v <= last { bits[v] = true; v += step }
        }
        return true
    }

    /// cron.c's test: minute, hour and month bits, then the day rule.
    func matches(_ parts: tm) -> Bool {
        let day = Int(parts.tm_mday), weekday = Int(parts.tm_wday)
        let dayOK = domStar || dowStar ? (dow[weekday] && dom[day]) : (dow[weekday] || dom[day])
        return month[Int(parts.tm_mon) + 1] && dayOK
    }

    /// The first matching minute strictly after `t` (Unix seconds), searching `days` days.
    func next(after t: Int, days: Int) -> Int? {
        let firstMinute = t / 60 * 60 + 60
        var midnight = firstMinute - firstMinute % 86_400
        for _ in 0...days {
            var time = time_t(midnight)
            var parts = tm()
            gmtime_r(&time, &parts)
            if matches(parts) {
                for h in 0..<24 where hour[h] {
                    for m in 0..<60 where minute[m] {
                        let candidate = midnight + h * 3600 + m * 60
                        if candidate >= firstMinute { return candidate }
                    }
                }
            }
            midnight += 86_400
        }
        return nil
    }

    /// A random, well-formed expression: mixes of `*`, `*/n`, values, names, ranges, steps and
    /// lists, with day fields that sometimes start with `*` and sometimes do not.
    static func randomExpression(_ rng: inout SplitMix64) -> [String] {
        func item(_ low: Int, _ high: Int, names: [String], base: Int) -> String {
            func value() -> String {
                let v = Int.random(in: low...high, using: &rng)
                if !names.isEmpty, v - base >= 0, v - base < names.count, Bool.random(using: &rng) { return names[v - base] }
                return "\(v)"
            }
            switch Int.random(in: 0..<7, using: &rng) {
            case 0: return "*"
            case 1: return "*/\(Int.random(in: 1...max(1, high / 2 + 1), using: &rng))"
            case 2, 3: return value()
            case 4:
                let a = Int.random(in: low...high, using: &rng), b = Int.random(in: a...high, using: &rng)
                return "\(a)-\(b)"
            case 5:
                let a = Int.random(in: low...high, using: &rng), b = Int.random(in: a...high, using: &rng)
                return "\(a)-\(b)/\(Int.random(in: 1...5, using: &rng))"
            default: return "\(Int.random(in: low...high, using: &rng))/\(Int.random(in: 1...min(9, high), using: &rng))"
            }
        }
        func field(_ low: Int, _ high: Int, names: [String] = [], base: Int = 0) -> String {
            (0..<Int.random(in: 1...3, using: &rng)).map { _ in item(low, high, names: names, base: base) }
                .joined(separator: ",")
        }
        var month = field(1, 12, names: monthNames, base: 1)
        var dom = field(1, 31)
        // Bias towards the interesting corner: short months with late days.
        if Int.random(in: 0..<16, using: &rng) == 0 {
            month = ["2", "feb", "4,6", "9,11", "2,4"].randomElement(using: &rng)!
            dom = ["30", "31", "29-31", "30,31", "*/30", "31/5"].randomElement(using: &rng)!
        }
        return [field(0, 59), field(0, 23), dom, month, field(0, 7, names: dayNames)]
    }
}
