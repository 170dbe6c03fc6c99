import Foundation
import Testing
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
        ("0 0 30 2 *", "2026-01-01T00:00:00Z", nil),                             // never
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
    ])
    func malformed(_ text: String, _ mention: String) {
        #expect {
            _ = try CronExpression(text)
        } throws: { error in
            "\(error)".contains(mention)
        }
    }
}
