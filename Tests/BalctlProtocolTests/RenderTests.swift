import BalctlProtocol
import Testing

@Suite("Render")
struct RenderTests {
    // Expected values computed independently with Python:
    // datetime.datetime.fromtimestamp(t, datetime.UTC).strftime('%Y-%m-%d %H:%M:%SZ')
    @Test("dateTime matches known UTC timestamps (epoch, leap days, century rules, negatives)",
          arguments: [
              (0.0, "1970-01-01 00:00:00Z"),
              (86_399, "1970-01-01 23:59:59Z"),
              (951_782_400, "2000-02-29 00:00:00Z"),
              (951_868_799, "2000-02-29 23:59:59Z"),
              (1_234_567_890, "2009-02-13 23:31:30Z"),
              (1_582_934_400, "2020-02-29 00:00:00Z"),
              (1_700_000_000, "2023-11-14 22:13:20Z"),
              (1_709_251_199, "2024-02-29 23:59:59Z"),
              (1_772_409_600, "2026-03-02 00:00:00Z"),
              (4_102_444_800, "2100-01-01 00:00:00Z"),
              (4_107_542_399, "2100-02-28 23:59:59Z"),
              (4_107_542_400, "2100-03-01 00:00:00Z"),
              (253_402_300_799, "9999-12-31 23:59:59Z"),
              (-1, "1969-12-31 23:59:59Z"),
              (-86_400, "1969-12-31 00:00:00Z"),
              (-2_208_988_800, "1900-01-01 00:00:00Z"),
          ] as [(Double, String)])
    func dateTime(_ unix: Double, _ expected: String) {
        #expect(Render.dateTime(unix) == expected)
    }

    @Test("dateTime drops fractions of a second rather than rounding up")
    func dateTimeFraction() {
        #expect(Render.dateTime(59.999) == "1970-01-01 00:00:59Z")
        #expect(Render.dateTime(-0.5) == "1969-12-31 23:59:59Z")
    }

    @Test("age picks the two most significant units, zero-padded",
          arguments: [
              (0.0, "0s"), (4.9, "4s"), (59.99, "59s"), (60, "1m00s"), (192, "3m12s"),
              (3599, "59m59s"), (3600, "1h00m"), (7500, "2h05m"), (86_399, "23h59m"),
              (86_400, "1d00h"), (273_600 + 59, "3d04h"), (100 * 86_400 + 3600 * 23, "100d23h"),
          ] as [(Double, String)])
    func age(_ seconds: Double, _ expected: String) {
        #expect(Render.age(seconds) == expected)
    }

    @Test("timeOfDay shows UTC time with milliseconds")
    func timeOfDay() {
        #expect(Render.timeOfDay(1_700_000_000.512) == "22:13:20.512")
        #expect(Render.timeOfDay(86_400 * 3 + 5.007) == "00:00:05.007")
    }

    @Test("table pads every column but the last to its widest cell, two spaces apart")
    func tableAlignment() {
        let text = Render.table(["ID", "NAME", "STATE"], [["1", "alpha", "ok"], ["22", "b", "running"]])
        #expect(text == """
            ID  NAME   STATE
            1   alpha  ok
            22  b      running
            """)
        let lines = text.split(separator: "\n")
        // Every line's third column starts at the same offset; no line ends in padding.
        #expect(Set(lines.map { $0.distance(from: $0.startIndex, to: $0.lastIndex(of: " ")!) }).count == 1)
        #expect(lines.allSatisfy { $0.last != " " })
    }

    @Test("table with a header wider than every cell, and with no rows")
    func tableEdges() {
        #expect(Render.table(["HOSTNAME", "IP"], [["a", "1.2.3.4"]]) == "HOSTNAME  IP\na         1.2.3.4")
        #expect(Render.table(["A", "B"], []) == "A  B")
    }

    @Test("bytes uses binary units with one decimal")
    func bytes() {
        #expect(Render.bytes(0) == "0 B")
        #expect(Render.bytes(1023) == "1023 B")
        #expect(Render.bytes(1536) == "1.5 KiB")
        #expect(Render.bytes(3 << 30) == "3.0 GiB")
    }
}
