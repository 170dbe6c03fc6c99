import AgentKernel
import BalctlPlugins
import BalctlProtocol
@testable import ControlPlane
import Foundation
import Testing
import TestSupport

/// issue 20 item 1: the scanner must finish on any input, with work proportional to its length.
/// A body ending right after a backslash inside a string once spun a thread forever. Each input
/// here is scanned with the scanner's step counter (one step per loop turn) and must stay within
/// `HeartbeatEnvelope.stepBudget(length)` = 16·length + 64 steps; the time limit catches a hang
/// outright.
@Suite("Heartbeat envelope reader: termination and work bound", .timeLimit(.minutes(2)))
struct HeartbeatEnvelopeBoundTests {
    /// Scans `bytes`: whether the scanner accepted them, and what broke the bound (nil: nothing).
    static func boundedScan(_ bytes: UnsafeBufferPointer<UInt8>) -> (accepted: Bool, violation: String?) {
        let (result, steps) = HeartbeatEnvelope.scan(bytes)
        if steps > HeartbeatEnvelope.stepBudget(bytes.count) {
            return (false, "\(steps) steps for \(bytes.count) bytes")
        }
        switch result {
        case .success: return (true, nil)
        case .failure(let e) where e.message.contains(HeartbeatEnvelope.budgetExceeded): return (false, "work bound hit: \(e.message)")
        case .failure: return (false, nil)
        }
    }

    static func describe(_ bytes: some Collection<UInt8>) -> String {
        String(decoding: bytes.prefix(200), as: UTF8.self).debugDescription + (bytes.count > 200 ? "… (\(bytes.count) bytes)" : "")
    }

    /// Every body of the scanner's own test corpus.
    static func corpus() throws -> [[UInt8]] {
        var bodies = [try HeartbeatEnvelopeTests.realBody(), try HeartbeatEnvelopeTests.realBody(jobs: []),
                      HeartbeatEnvelopeTests.escapesBody, HeartbeatEnvelopeTests.deepBody]
        bodies += HeartbeatEnvelopeTests.malformedCases.map(\.0)
        bodies += HeartbeatEnvelopeTests.wrongShapeCases.map(\.0)
        return bodies.map { Array($0.utf8) }
    }

    /// A report as the agent builds and sends it: the kernel's host probe and every plugin's
    /// probe on this machine, encoded as `AgentAPIClient` encodes it.
    static func agentReport() async throws -> [UInt8] {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-envelope-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: state) }
        let config = try AgentConfig.load(file: [:], environment: [
            "BALCTL_ENROLLMENT_SECRET": String(repeating: "ab", count: 24),
            "BALCTL_API_BASE": "https://127.0.0.1:9", "BALCTL_HOSTNAME": "edge-1", "BALCTL_STATE_DIR": state.path,
        ])
        let agent = try Agent(config: config, plugins: AllPlugins.list)
        return Array(try JSONEncoder().encode(await agent.buildReport()))
    }

    @Test("a body that ends right after a backslash in a string is refused at once")
    func backslashAtEnd() {
        for body in [#"{"a\"#, #"{"hostname":"x\"#, #"{"x":["\"#, #"{"x":{"y":"\"#, "\"\\"] {
            let bytes = Array(body.utf8)
            bytes.withUnsafeBufferPointer { buf in
                let (result, steps) = HeartbeatEnvelope.scan(buf)
                guard case .failure(let e) = result else { Issue.record("accepted \(body)"); return }
                #expect(e.kind == .badRequest)
                #expect(e.message.contains("unterminated string") || e.message.contains("expected an object"), "\(e.message)")
                #expect(steps <= HeartbeatEnvelope.stepBudget(buf.count), "\(steps) steps for \(body)")
            }
        }
    }

    @Test("every prefix of every corpus body and of a real agent report finishes within the work bound")
    func everyPrefix() async throws {
        var bodies = try Self.corpus()
        bodies.append(try await Self.agentReport())
        var scanned = 0
        for body in bodies {
            body.withUnsafeBufferPointer { whole in
                for length in 0...whole.count {
                    let prefix = UnsafeBufferPointer(rebasing: whole[0..<length])
                    if let problem = Self.boundedScan(prefix).violation {
                        Issue.record("\(problem) on \(Self.describe(prefix))")
                        return  // one report per body is enough
                    }
                    scanned += 1
                }
            }
        }
        #expect(scanned > 200_000, "prefixes scanned: \(scanned)")
    }

    /// Seeded, so a failure reproduces. Each input is a corpus body (or the real report) with 1–4
    /// random byte flips, insertions (random bytes and JSON's own), deletions or truncations,
    /// sometimes piled onto the previous input.
    @Test("100,000 seeded mutations finish within the work bound")
    func mutationFuzz() async throws {
        var bases = try Self.corpus().filter { $0.count < 4096 }
        bases.append(try await Self.agentReport())
        let jsonBytes = Array(#"{}[]:,"\ -+.eE0123456789abtrufnlsux"#.utf8) + [0x09, 0x0A, 0x0D, 0x00, 0x7F, 0xC3, 0xFF]
        var rng = SplitMix64(seed: 0x20_01)
        var previous = bases[0]
        var (accepted, refused) = (0, 0)
        for n in 0..<100_000 {
            var bytes = Int.random(in: 0..<4, using: &rng) == 0 ? previous : bases.randomElement(using: &rng)!
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let at = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<5, using: &rng) {
                case 0 where !bytes.isEmpty: bytes[at] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)  // bit flip
                case 1 where !bytes.isEmpty: bytes[at] = jsonBytes.randomElement(using: &rng)!                // byte swap
                case 2: bytes.insert(Bool.random(using: &rng) ? jsonBytes.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng), at: at)
                case 3 where !bytes.isEmpty: bytes.remove(at: at)
                default: bytes.removeLast(bytes.isEmpty ? 0 : Int.random(in: 0...min(bytes.count, 64), using: &rng))  // truncation
                }
            }
            let (ok, problem) = bytes.withUnsafeBufferPointer(Self.boundedScan)
            if ok { accepted += 1 } else { refused += 1 }
            if let problem {
                Issue.record("input \(n): \(problem) on \(Self.describe(bytes))")
                return
            }
            previous = bytes.count < 8192 ? bytes : bases[0]
        }
        // Both outcomes must be exercised for the bound to mean anything.
        #expect(accepted > 100 && refused > 10_000, "accepted \(accepted), refused \(refused)")
    }
}
