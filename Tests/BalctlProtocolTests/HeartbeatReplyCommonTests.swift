@testable import BalctlProtocol
import Foundation
import Testing
import TestSupport

/// The agent reads the common heartbeat reply (no job, no cancel) straight from its bytes
/// (`HeartbeatReply.commonReply`, issue 18); anything it does not take goes to the full parser.
/// Whatever it takes must be exactly what JSONDecoder reads from the same bytes.
@Suite("HeartbeatReply: the common reply read from its bytes")
struct HeartbeatReplyCommonTests {
    /// What the control plane writes (`HeartbeatReplyBody`), and near misses.
    static let taken = [
        #"{"heartbeatIntervalSec":10,"latestAgentVersion":"1.4.0","jobs":[],"cancelJobs":[],"serverTime":1764124000.25}"#,
        #"{"heartbeatIntervalSec":1,"latestAgentVersion":null,"jobs":[],"cancelJobs":[],"serverTime":5}"#,
        #"{"heartbeatIntervalSec":60,"latestAgentVersion":"é-ü 2","jobs":[],"cancelJobs":[],"serverTime":1e+16}"#,
        #"{"heartbeatIntervalSec":0,"latestAgentVersion":"","jobs":[],"cancelJobs":[],"serverTime":-0.5E-3}"#,
    ]
    static let leftToTheParser = [
        #"{"heartbeatIntervalSec":10,"latestAgentVersion":"a\"b","jobs":[],"cancelJobs":[],"serverTime":1}"#,  // escape
        #"{"heartbeatIntervalSec":10,"latestAgentVersion":"1","jobs":[],"cancelJobs":[],"serverTime":1} "#,  // trailing space
        #"{"heartbeatIntervalSec":10, "latestAgentVersion":"1","jobs":[],"cancelJobs":[],"serverTime":1}"#,  // spacing
        #"{"heartbeatIntervalSec":010,"latestAgentVersion":"1","jobs":[],"cancelJobs":[],"serverTime":1}"#,  // leading zero
        #"{"heartbeatIntervalSec":1.0,"latestAgentVersion":"1","jobs":[],"cancelJobs":[],"serverTime":1}"#,
        #"{"heartbeatIntervalSec":-1,"latestAgentVersion":"1","jobs":[],"cancelJobs":[],"serverTime":1}"#,
        #"{"heartbeatIntervalSec":1234567890,"latestAgentVersion":"1","jobs":[],"cancelJobs":[],"serverTime":1}"#,
        #"{"heartbeatIntervalSec":10,"latestAgentVersion":"1","jobs":[],"cancelJobs":[],"serverTime":1e999}"#,
        #"{"heartbeatIntervalSec":10,"latestAgentVersion":"1","jobs":[],"cancelJobs":[],"serverTime":1e-400}"#,
        #"{"heartbeatIntervalSec":10,"latestAgentVersion":"1","jobs":[],"cancelJobs":[],"serverTime":0}"#,
        #"{"heartbeatIntervalSec":10,"latestAgentVersion":"1","jobs":[],"cancelJobs":[],"serverTime":1.}"#,
        #"{"heartbeatIntervalSec":10,"latestAgentVersion":"1","jobs":[],"cancelJobs":[],"serverTime":.5}"#,
        #"{"heartbeatIntervalSec":10,"latestAgentVersion":"1","jobs":[],"cancelJobs":[],"serverTime":1}}"#,
        #"{"heartbeatIntervalSec":10,"latestAgentVersion":"1","jobs":[],"cancelJobs":[],"serverTime":1"#,
        #"{"heartbeatIntervalSec":10,"latestAgentVersion":nul,"jobs":[],"cancelJobs":[],"serverTime":1}"#,
        #"{"heartbeatIntervalSec":10,"latestAgentVersion":"1","jobs":[],"cancelJobs":[{"id":3,"attempt":1}],"serverTime":1}"#,
        #"{"heartbeatIntervalSec":10,"jobs":[],"cancelJobs":[],"serverTime":1}"#,
    ]

    static func decoder(_ bytes: [UInt8]) -> HeartbeatReply? { try? JSONDecoder().decode(HeartbeatReply.self, from: Data(bytes)) }

    static func same(_ a: HeartbeatReply, _ b: HeartbeatReply) -> Bool {
        a.heartbeatIntervalSec == b.heartbeatIntervalSec && a.serverTime.bitPattern == b.serverTime.bitPattern
            && a.jobs == b.jobs && a.cancelJobs == b.cancelJobs && a.latestAgentVersion == b.latestAgentVersion
    }

    @Test("the control plane's common replies are taken, with JSONDecoder's values", arguments: taken)
    func takes(_ body: String) throws {
        let bytes = Array(body.utf8)
        let mine = try #require(HeartbeatReply.commonReply(bytes))
        let theirs = try #require(Self.decoder(bytes))
        #expect(Self.same(mine, theirs))
    }

    @Test("anything else is left to the full parser, which agrees with JSONDecoder", arguments: leftToTheParser)
    func leaves(_ body: String) {
        let bytes = Array(body.utf8)
        #expect(HeartbeatReply.commonReply(bytes) == nil)
        let read = try? HeartbeatReply.read(bytes), theirs = Self.decoder(bytes)
        #expect((read == nil) == (theirs == nil))
        if let read, let theirs { #expect(Self.same(read, theirs)) }
    }

    @Test("20,000 seeded mutations of the common reply: whatever is taken is what JSONDecoder reads")
    func mutations() {
        var rng = SplitMix64(seed: 0x18_C0_4E)
        let alphabet = Array(#"{}[]",:.-+eE0123456789 nul\"aé"#.utf8)
        var taken = 0
        for round in 0..<20_000 {
            var b = Array(Self.taken[round % Self.taken.count].utf8)
            for _ in 0...Int(rng.next() % 3) {
                // Half the time in the values (the interval after its key, the server time at
                // the end), where a change may still be taken; else anywhere.
                let at: Int
                switch rng.next() % 4 {
                case 0: at = min(b.count - 1, 23 + Int(rng.next() % 3))
                case 1: at = max(0, b.count - 1 - Int(rng.next() % 20))
                default: at = Int(rng.next() % UInt64(b.count))
                }
                switch rng.next() % 3 {
                case 0: b[at] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                case 1: b.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: at)
                default: if b.count > 1 { b.remove(at: at) }
                }
            }
            guard let mine = HeartbeatReply.commonReply(b) else { continue }
            taken += 1
            guard let theirs = Self.decoder(b) else {
                Issue.record("taken but JSONDecoder refuses: \(String(decoding: b, as: UTF8.self))")
                continue
            }
            #expect(Self.same(mine, theirs), "\(String(decoding: b, as: UTF8.self))")
        }
        #expect(taken > 500)  // the mutations do reach the fast path
    }
}
