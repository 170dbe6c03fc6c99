import BalctlProtocol
import Foundation
import Testing
import TestSupport

/// The heartbeat body is written by hand (`HostReport.jsonBytes`); the control plane and the
/// operators' views read it with the Codable types. These tests hold the two to the same value.
@Suite("JSONWriter: the hand-written heartbeat body decodes to the report it was written from")
struct JSONWriterTests {
    /// Every field equal (HostReport itself is not Equatable).
    func expectSame(_ a: HostReport, _ b: HostReport, _ note: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.hostname == b.hostname && a.agentVersion == b.agentVersion && a.protocolVersion == b.protocolVersion, note, sourceLocation: sourceLocation)
        #expect(a.os == b.os, note, sourceLocation: sourceLocation)
        #expect(a.uptimeSec.bitPattern == b.uptimeSec.bitPattern || (a.uptimeSec == 0 && b.uptimeSec == 0), note, sourceLocation: sourceLocation)
        #expect(a.load == b.load && a.cpuPercent == b.cpuPercent && a.cpuCount == b.cpuCount, note, sourceLocation: sourceLocation)
        #expect(a.memory == b.memory && a.disks == b.disks, note, sourceLocation: sourceLocation)
        #expect(a.publicIPv4 == b.publicIPv4 && a.publicIPSource == b.publicIPSource, note, sourceLocation: sourceLocation)
        #expect(a.stacks == b.stacks, note, sourceLocation: sourceLocation)
        #expect(a.commands == b.commands && a.jobsInFlight == b.jobsInFlight, note, sourceLocation: sourceLocation)
        #expect(a.updateEvents == b.updateEvents && a.updateTrial == b.updateTrial, note, sourceLocation: sourceLocation)
    }

    func decode(_ bytes: [UInt8]) throws -> HostReport { try JSONDecoder().decode(HostReport.self, from: Data(bytes)) }

    static let awkward = [
        "", "plain", "quote \" and backslash \\ and slash /", "\n\r\t\u{0}\u{1}\u{8}\u{c}\u{1f}\u{7f}",
        "héllo wörld", "日本語", "emoji 🧪👩‍👩‍👧", "\u{2028}\u{2029}", "\\u0041 is not an escape here", "\"\"\"",
    ]

    static let doubles: [Double] = [
        0, -0.0, 1, -1, 0.1, 0.5, 12345.67, -273.15, 1e-7, 5e-324, 2.2250738585072014e-308,
        1.7976931348623157e308, 9.0e15 - 1, 9.0e15, 9.007199254740993e15, 1e16, 1e21, -1e300, 33.3, 99.9, 100,
    ]

    func report(strings s: [String], doubles d: [Double], trial: Bool? = nil) -> HostReport {
        func str(_ i: Int) -> String { s[i % s.count] }
        func num(_ i: Int) -> Double { d[i % d.count] }
        let stacks: [String: JSONValue] = [
            // Prefixed: a random key must not collide with the fixed ones in a dictionary literal.
            "s" + str(0): .object(["k" + str(1): .string(str(2)), "n": .number(num(3)), "neg": .number(-num(4)), "t": .bool(true),
                             "f": .bool(false), "nil": .null, "list": .array([.number(num(5)), .string(str(6)), .array([]), .object([:])])]),
            "haproxy": .object(["active": .bool(true), "processes": .number(2), "stats": .object(["rows": .array([.array([.string(str(7))])])])]),
        ]
        return HostReport(
            hostname: str(3), agentVersion: str(4),
            os: OSInfo(family: str(5), id: str(6), versionID: str(7), prettyName: str(8), kernel: str(9)),
            uptimeSec: abs(num(1)), load: [num(2), num(3), num(4)], cpuPercent: num(5), cpuCount: Int.max,
            memory: MemoryInfo(totalBytes: UInt64.max, availableBytes: 0),
            disks: [DiskInfo(mount: str(2), fsType: "ext4", totalBytes: 40_000_000_000, availableBytes: UInt64.max - 1),
                    DiskInfo(mount: "/", fsType: str(1), totalBytes: 0, availableBytes: 1)],
            publicIPv4: str(0), publicIPSource: "declared", stacks: stacks, commands: s,
            jobsInFlight: [JobRef(id: Int64.max, attempt: Int.min), JobRef(id: 0, attempt: 1), JobRef(id: -5, attempt: 0)],
            updateEvents: [AgentUpdateEvent(id: str(1), kind: .rolledBack, from: str(2), to: nil, at: num(6), message: str(3), jobId: nil),
                           AgentUpdateEvent(id: "b", kind: .updated, from: "1.0.0", to: str(4), at: 1_700_000_000.123, message: "", jobId: Int64.min)],
            updateTrial: trial)
    }

    @Test("escapes, non-ASCII, extreme integers and doubles: the Codable decoder reads the same report as from JSONEncoder")
    func awkwardValues() throws {
        for shift in 0..<Self.awkward.count {
            let strings = Array(Self.awkward[shift...] + Self.awkward[..<shift])
            let doubles = Array(Self.doubles[shift...] + Self.doubles[..<shift])
            let original = report(strings: strings, doubles: doubles, trial: shift % 2 == 0 ? true : nil)
            let mine = try decode(original.jsonBytes())
            let theirs = try decode(Array(try JSONEncoder().encode(original)))
            expectSame(mine, original, "shift \(shift)")
            expectSame(mine, theirs, "shift \(shift)")
            // Strict RFC 8259 (the server's parser): no trailing commas, no raw control characters.
            #expect(throws: Never.self) { try JSONTree.parse(original.jsonBytes()) }
        }
    }

    @Test("nil optionals are left out, as the Codable encoder leaves them out")
    func optionalsOmitted() throws {
        let bare = HostReport(
            hostname: "h", agentVersion: "1", os: OSInfo(family: "debian", id: "debian", versionID: "12", prettyName: "D", kernel: "6"),
            uptimeSec: 1, load: [], cpuPercent: nil, cpuCount: 1, memory: MemoryInfo(totalBytes: 1, availableBytes: 1), disks: [],
            publicIPv4: nil, publicIPSource: nil, stacks: [:], commands: [], jobsInFlight: [])
        let text = String(decoding: bare.jsonBytes(), as: UTF8.self)
        for key in ["cpuPercent", "publicIPv4", "publicIPSource", "updateEvents", "updateTrial"] { #expect(!text.contains(key)) }
        #expect(text.hasPrefix(#"{"hostname":"h","agentVersion":"1","protocolVersion":1,"os":{"#))
        #expect(text.contains(#""load":[],"cpuCount":1,"memory":{"totalBytes":1,"availableBytes":1},"disks":[],"stacks":{},"commands":[],"jobsInFlight":[]}"#))
        expectSame(try decode(bare.jsonBytes()), bare)
    }

    @Test("numbers: integers without a fraction, others in the shortest form that reads back to the same Double")
    func numberForms() {
        func written(_ d: Double) -> String {
            var w = JSONWriter()
            w.number(d)
            return String(decoding: w.bytes, as: UTF8.self)
        }
        #expect(written(0) == "0" && written(-0.0) == "0" && written(5) == "5" && written(-42) == "-42")
        #expect(written(8_999_999_999_999_999) == "8999999999999999" && written(12345.67) == "12345.67" && written(0.1) == "0.1")
        #expect(written(1e-7) == "1e-07" && written(1e300) == "1e+300")
        #expect(written(.nan) == "null" && written(.infinity) == "null" && written(-.infinity) == "null")
        var w = JSONWriter()
        w.beginArray(); w.finite(.nan); w.finite(-.infinity); w.finite(2.5); w.integer(Int64.min); w.integer(UInt64.max); w.endArray()
        #expect(String(decoding: w.bytes, as: UTF8.self) == "[0,0,2.5,-9223372036854775808,18446744073709551615]")
    }

    @Test("not-a-number in a plugin's stack is null and a required one 0: the body stays JSON and still decodes")
    func nonFinite() throws {
        var r = report(strings: ["a"], doubles: [1])
        r.uptimeSec = .nan
        r.load = [.infinity, -.infinity, 1]
        r.cpuPercent = .nan
        r.stacks = ["x": .object(["bad": .number(.nan), "list": .array([.number(.infinity)])])]
        let bytes = r.jsonBytes()
        #expect(throws: Never.self) { try JSONTree.parse(bytes) }
        let back = try decode(bytes)
        #expect(back.uptimeSec == 0 && back.load == [0, 0, 1] && back.cpuPercent == nil)
        #expect(back.stacks == ["x": .object(["bad": .null, "list": .array([.null])])])
    }

    @Test("20,000 seeded random strings (any scalar) and doubles (any finite bit pattern) round-trip exactly")
    func randomRoundTrip() throws {
        var rng = SplitMix64(seed: 0x15_5E_18)
        func randomString() -> String {
            var s = String.UnicodeScalarView()
            for _ in 0..<Int(rng.next() % 12) {
                let pick = rng.next() % 4
                let v: UInt32
                switch pick {
                case 0: v = UInt32(rng.next() % 0x20)                  // control characters
                case 1: v = [0x22, 0x5C, 0x2F, 0x7F, 0x2028][Int(rng.next() % 5)]
                case 2: v = UInt32(0x20 + rng.next() % 0x5F)           // printable ASCII
                default: v = UInt32(rng.next() % 0x110000)             // anything (surrogates skipped below)
                }
                if let u = Unicode.Scalar(v) { s.append(u) }
            }
            return String(s)
        }
        func randomDouble() -> Double {
            while true {
                let d = rng.next() % 3 == 0 ? Double(Int64(bitPattern: rng.next()) >> Int(rng.next() % 64)) / 100 : Double(bitPattern: rng.next())
                if d.isFinite { return d }
            }
        }
        for round in 0..<2_000 {
            let strings = (0..<10).map { _ in randomString() }
            let doubles = (0..<10).map { _ in randomDouble() }
            let original = report(strings: strings, doubles: doubles)
            let bytes = original.jsonBytes()
            let back = try decode(bytes)
            expectSame(back, original, "round \(round)")
            #expect(throws: Never.self, "round \(round)") { try JSONTree.parse(bytes) }
        }
    }
}

/// The agent reads the heartbeat reply with `HeartbeatReply.read` (the common reply straight from
/// the parsed tree); it must agree with JSONDecoder on every reply the control plane writes.
@Suite("HeartbeatReply.read agrees with JSONDecoder")
struct HeartbeatReplyReadTests {
    static let bodies = [
        #"{"heartbeatIntervalSec":10,"latestAgentVersion":null,"jobs":[],"cancelJobs":[],"serverTime":1700000000.123}"#,
        #"{"heartbeatIntervalSec":1,"latestAgentVersion":"1.4.0","jobs":[],"cancelJobs":[],"serverTime":5}"#,
        #"{"heartbeatIntervalSec":60,"jobs":[],"cancelJobs":[],"serverTime":0.5}"#,
        #"{"heartbeatIntervalSec":10,"serverTime":1.5,"jobs":[{"id":7,"command":"host.echo","params":{"message":"hé \"x\""},"attempt":2,"leaseSec":60,"timeoutSec":300,"checkMode":false}],"cancelJobs":[{"id":3,"attempt":1}],"latestAgentVersion":"2.0.0"}"#,
        #"{"heartbeatIntervalSec":10,"serverTime":1.5,"jobs":[],"cancelJobs":[{"id":3,"attempt":1}]}"#,
        // Refused by both: wrong types, missing fields, not an object.
        #"{"heartbeatIntervalSec":1.5,"jobs":[],"cancelJobs":[],"serverTime":1}"#,
        #"{"heartbeatIntervalSec":"10","jobs":[],"cancelJobs":[],"serverTime":1}"#,
        #"{"heartbeatIntervalSec":10,"jobs":[],"cancelJobs":[],"serverTime":1,"latestAgentVersion":5}"#,
        #"{"heartbeatIntervalSec":10,"jobs":[],"serverTime":1}"#,
        #"{"heartbeatIntervalSec":10,"jobs":{},"cancelJobs":[],"serverTime":1}"#,
        #"{"heartbeatIntervalSec":10,"jobs":[1],"cancelJobs":[],"serverTime":1}"#,
        #"[]"#, #"{"#, "",
    ]

    @Test("the same reply, or an error from both", arguments: bodies)
    func agrees(_ body: String) throws {
        let mine = try? HeartbeatReply.read(Array(body.utf8))
        let theirs = try? JSONDecoder().decode(HeartbeatReply.self, from: Data(body.utf8))
        #expect((mine == nil) == (theirs == nil))
        guard let mine, let theirs else { return }
        #expect(mine.heartbeatIntervalSec == theirs.heartbeatIntervalSec && mine.serverTime == theirs.serverTime)
        #expect(mine.jobs == theirs.jobs && mine.cancelJobs == theirs.cancelJobs && mine.latestAgentVersion == theirs.latestAgentVersion)
    }
}
