import BalctlProtocol
@testable import ControlPlane
import Foundation
import Testing
import TestSupport

/// The heartbeat route reads its four fields with a one-pass scanner instead of JSONDecoder.
/// These tests hold it to JSONDecoder: same values for what both accept, refusal with a reason for
/// what JSON does not allow, and agreement on thousands of mutated bodies.
@Suite("Heartbeat envelope reader", .timeLimit(.minutes(1)))
struct HeartbeatEnvelopeTests {
    /// The Codable twin the scanner must agree with.
    struct Mirror: Decodable, Equatable {
        var hostname: String
        var agentVersion: String
        var protocolVersion: Int
        var jobsInFlight: [JobRef]
    }

    static func realBody(jobs: [JobRef] = [JobRef(id: 41, attempt: 2), JobRef(id: 9_007_199_254_740_993, attempt: 1)]) throws -> String {
        let report = HostReport(
            hostname: "edge-1.example.net", agentVersion: "0.1.0",
            os: OSInfo(family: "debian", id: "debian", versionID: "12", prettyName: "Debian GNU/Linux 12 (bookworm)", kernel: "6.1.0"),
            uptimeSec: 86_400.5, load: [0.12, 0.2, 0.18], cpuPercent: 3.4, cpuCount: 2,
            memory: MemoryInfo(totalBytes: 4_100_000_000, availableBytes: 3_000_000_000),
            disks: [DiskInfo(mount: "/", fsType: "ext4", totalBytes: 40_000_000_000, availableBytes: 30_000_000_000)],
            publicIPv4: "203.0.113.10", publicIPSource: "declared",
            stacks: ["haproxy": .object(["servers": .array([.object(["name": .string("web\"1\\"), "weight": .number(1e-3)])]),
                                         "running": .bool(true), "note": .null])],
            commands: ["host.collect_facts", "host.echo"], jobsInFlight: jobs)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys  // the same body on every run, so the mutations are too
        return String(decoding: try encoder.encode(report), as: UTF8.self)
    }

    /// JSONDecoder's reading. JSONDecoder checks only what it decodes (a trailing comma, `1.`, `01`,
    /// `\\x` or a raw tab in a member nobody reads passes), so the whole body is also decoded as
    /// a `JSONValue`, which makes it look at every value.
    func mirror(_ body: String) -> Mirror? {
        guard (try? JSONDecoder().decode(JSONValue.self, from: Data(body.utf8))) != nil else { return nil }
        return try? JSONDecoder().decode(Mirror.self, from: Data(body.utf8))
    }

    func reason(_ body: String) -> String? {
        do {
            _ = try HeartbeatEnvelope.read(body)
            return nil
        } catch let e as ControlPlaneError {
            #expect(e.kind == .badRequest)
            return e.message
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test("a real agent report reads the same as JSONDecoder reads it")
    func realReport() throws {
        let body = try Self.realBody()
        let env = try HeartbeatEnvelope.read(body)
        let m = try #require(mirror(body))
        #expect(env.hostname == m.hostname && env.agentVersion == m.agentVersion)
        #expect(env.protocolVersion == m.protocolVersion && env.protocolVersion == AgentWire.protocolVersion)
        #expect(env.jobsInFlight == m.jobsInFlight)
        #expect(env.jobsInFlight.last?.id == 9_007_199_254_740_993)  // beyond Double's exact range
    }

    static let escapesBody = """
        \t{ "jobsInFlight" : [ ] ,\r\n "extra": {"a": [1, -0.5e+3, true, false, null, {"": ""}]},
          "host\\u006eame": "h\\u00e9\\ud83d\\ude00\\n\\t\\"\\\\\\/x", "agentVersion":"1", "protocolVersion": 1 }\n
        """

    @Test("escapes, surrogate pairs, escaped member names, whitespace and unknown members")
    func escapes() throws {
        let body = Self.escapesBody
        let env = try HeartbeatEnvelope.read(body)
        #expect(env.hostname == "hé😀\n\t\"\\/x")
        #expect(env == HeartbeatEnvelope(hostname: try #require(mirror(body)).hostname, agentVersion: "1",
                                         protocolVersion: 1, jobsInFlight: []))
    }

    static let malformedCases = [
        ("", "unexpected end"),
        ("[]", "expected an object"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":1,"jobsInFlight":[],"x":{"y":1,}}"#, "trailing comma in an object"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":1,"jobsInFlight":[],"x":[1,]}"#, "trailing comma in an array"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":1,"jobsInFlight":[],"x":-4e999}"#, "number out of range"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":01,"jobsInFlight":[]}"#, "do not start with 0"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":1,"jobsInFlight":[]} x"#, "after the JSON value"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":1,"jobsInFlight":[],"x":1.}"#, "expected a digit"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":1,"jobsInFlight":[],"x":.5}"#, "expected a value"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":1,"jobsInFlight":[],"x":tru}"#, "expected a value"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":1,"jobsInFlight":[],"x":NaN}"#, "expected a value"),
        (#"{"hostname":"a\x","agentVersion":"1","protocolVersion":1,"jobsInFlight":[]}"#, "invalid escape"),
        (#"{"hostname":"\u12g4","agentVersion":"1","protocolVersion":1,"jobsInFlight":[]}"#, "four hex digits"),
        (#"{"hostname":"\ud800","agentVersion":"1","protocolVersion":1,"jobsInFlight":[]}"#, "unpaired surrogate"),
        (#"{"hostname":"a","x":"\udc00","agentVersion":"1","protocolVersion":1,"jobsInFlight":[]}"#, "unpaired surrogate"),
        ("{\"hostname\":\"a\tb\",\"agentVersion\":\"1\",\"protocolVersion\":1,\"jobsInFlight\":[]}", "control character"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":1,"jobsInFlight":[]"#, "expected ',' or '}'"),
        (#"{"hostname" "a","agentVersion":"1","protocolVersion":1,"jobsInFlight":[]}"#, "expected ':'"),
        (#"{'hostname':"a"}"#, "member name"),
        (#"{"hostname":"a" "agentVersion":"1"}"#, "expected ',' or '}'"),
        (#"{"x":[1 2]}"#, "expected ',' or ']'"),
        (#"{"hostname":"unterminated"#, "unterminated string"),
        // issue 20 item 1: a body that ends right after a backslash inside a string.
        (#"{"a\"#, "unterminated string"),
        (#"{"hostname":"a\"#, "unterminated string"),
        (#"{"hostname":"a","x":["\"#, "unterminated string"),
        (#"{"\u12"#, "four hex digits"),
        // red team finding F5: non-zero numbers that underflow to 0 (JSONDecoder refuses them).
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":1,"jobsInFlight":[],"x":1e-400}"#, "too small for a Double"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":1,"jobsInFlight":[],"x":-1e-324}"#, "too small for a Double"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":1,"jobsInFlight":[],"x":0."# + String(repeating: "0", count: 400) + #"1}"#,
         "too small for a Double"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":1,"jobsInFlight":[],"x":[2.5e-999]}"#, "too small for a Double"),
        // red team finding F6: a key given twice (the scanner read the last, JSONDecoder the first).
        (#"{"hostname":"EVIL","agentVersion":"1","protocolVersion":1,"jobsInFlight":[{"id":1,"attempt":1}],"jobsInFlight":[],"hostname":"h1"}"#,
         "duplicate key 'jobsInFlight'"),
        (#"{"hostname":"EVIL","agentVersion":"1","protocolVersion":1,"jobsInFlight":[],"hostname":"h1"}"#, "duplicate key 'hostname'"),
        (#"{"host\u006eame":"EVIL","agentVersion":"1","protocolVersion":1,"jobsInFlight":[],"hostname":"h1"}"#, "duplicate key 'hostname'"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":1,"protocolVersion":2,"jobsInFlight":[]}"#, "duplicate key 'protocolVersion'"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":1,"jobsInFlight":[],"x":1,"x":2}"#, "duplicate key 'x'"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":1,"jobsInFlight":[{"id":1,"attempt":1,"id":2}]}"#,
         "duplicate key 'id' in jobsInFlight[0]"),
    ]

    // red team finding F5: zero, subnormals and ordinary small numbers are still accepted.
    @Test("red team finding F5: zero and subnormal numbers are accepted",
          arguments: ["0", "0.0", "4.9e-324", "1e-310", "2.2250738585072014e-308", "1e-5", "0.000001"])
    func smallNumbersAccepted(number: String) throws {
        let body = #"{"hostname":"a","agentVersion":"1","protocolVersion":1,"jobsInFlight":[],"x":"# + number + "}"
        #expect(reason(body) == nil)
        #expect(mirror(body) != nil, "JSONDecoder refuses \(number) too")
    }

    @Test("what JSON does not allow is refused with a reason", arguments: HeartbeatEnvelopeTests.malformedCases)
    func malformed(body: String, expected: String) throws {
        let message = try #require(reason(body))
        #expect(message.contains(expected), "\(message)")
        if !Self.stricterThanJSONDecoder.contains(where: { message.contains($0) }) {
            #expect(mirror(body) == nil, "JSONDecoder accepts what the scanner refused")
        }
    }

    static let wrongShapeCases = [
        (#"{"agentVersion":"1","protocolVersion":1,"jobsInFlight":[]}"#, "missing key 'hostname'"),
        (#"{"hostname":"a","protocolVersion":1,"jobsInFlight":[]}"#, "missing key 'agentVersion'"),
        (#"{"hostname":"a","agentVersion":"1","jobsInFlight":[]}"#, "missing key 'protocolVersion'"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":1}"#, "missing key 'jobsInFlight'"),
        (#"{"hostname":null,"agentVersion":"1","protocolVersion":1,"jobsInFlight":[]}"#, "wrong type at hostname: expected a string"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":1.5,"jobsInFlight":[]}"#, "wrong type at protocolVersion: expected an integer"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":"1","jobsInFlight":[]}"#, "wrong type at protocolVersion"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":99999999999999999999,"jobsInFlight":[]}"#, "does not fit in 64 bits"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":1,"jobsInFlight":{}}"#, "wrong type at jobsInFlight: expected an array"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":1,"jobsInFlight":[7]}"#, "wrong type at jobsInFlight[0]: expected an object"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":1,"jobsInFlight":[{"id":1,"attempt":1},{"id":2}]}"#, "missing key 'attempt' in jobsInFlight[1]"),
        (#"{"hostname":"a","agentVersion":"1","protocolVersion":1,"jobsInFlight":[{"id":"1","attempt":1}]}"#, "wrong type at jobsInFlight[0].id"),
    ]

    @Test("missing keys and wrong types name the field", arguments: HeartbeatEnvelopeTests.wrongShapeCases)
    func wrongShape(body: String, expected: String) throws {
        let message = try #require(reason(body))
        #expect(message.contains(expected), "\(message)")
        #expect(mirror(body) == nil, "JSONDecoder accepts what the scanner refused")
    }

    static let deepBody = #"{"hostname":"a","agentVersion":"1","protocolVersion":1,"jobsInFlight":[],"x":"#
        + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"

    @Test("nesting is bounded: a deep body is refused, not a stack overflow")
    func depth() throws {
        #expect(try #require(reason(Self.deepBody)).contains("nested deeper"))
    }

    /// JSONDecoder accepts a trailing comma before `}` or `]`; RFC 8259 does not, nor does the
    /// scanner.
    /// A duplicate key is the other (JSONDecoder keeps the first, red team finding F6).
    static let stricterThanJSONDecoder = ["trailing comma", "duplicate key"]

    /// Random single-byte edits, insertions and deletions of a real body (fixed seed, so a
    /// failure reproduces): whatever the scanner accepts JSONDecoder accepts with the same values;
    /// whatever JSONDecoder refuses the scanner refuses; where only the scanner refuses, the reason
    /// is JSONDecoder's known leniency.
    @Test("agrees with JSONDecoder on 5,000 mutated bodies")
    func differential() throws {
        let original = Array(try Self.realBody().utf8)
        let alphabet = Array(#"{}[]:,"\ -+.eE0123456789abtrufnlsx"#.utf8) + [0x09, 0x0A, 0x01]
        var rng = SplitMix64(seed: 0xBA1C7)
        var (bothAccept, bothRefuse, stricter) = (0, 0, 0)
        for _ in 0..<5_000 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[at] = alphabet.randomElement(using: &rng)!
                case 1: bytes.insert(alphabet.randomElement(using: &rng)!, at: at)
                default: bytes.remove(at: at)
                }
            }
            let body = String(decoding: bytes, as: UTF8.self)
            let theirs = mirror(body)
            switch (Result { try HeartbeatEnvelope.read(body) }, theirs) {
            case (.success(let ours), let theirs?):
                bothAccept += 1
                #expect(ours.hostname == theirs.hostname && ours.agentVersion == theirs.agentVersion
                        && ours.protocolVersion == theirs.protocolVersion && ours.jobsInFlight == theirs.jobsInFlight)
            case (.success, nil):
                Issue.record("the scanner accepts what JSONDecoder refuses: \(body)")
            case (.failure, nil):
                bothRefuse += 1
            case (.failure(let error), _?):
                stricter += 1
                let message = (error as? ControlPlaneError)?.message ?? "\(error)"
                #expect(Self.stricterThanJSONDecoder.contains { message.contains($0) }, "\(message) on \(body)")
            }
        }
        // Both outcomes must be exercised for the comparison to mean anything.
        #expect(bothAccept > 100 && bothRefuse > 100, "accepted \(bothAccept), refused \(bothRefuse), stricter \(stricter)")
    }
}

