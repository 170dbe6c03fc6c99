import Foundation
@testable import OperatorClient
import Testing

/// issue 21 item 12: `--follow` retries a transient network error, with back-off, for a bounded
/// time. A fake clock that the fake sleep advances: no real waiting.
@Suite struct TransientRetryTests {
    final class FakeClock: @unchecked Sendable {
        private let lock = NSLock()
        private var time = 1_000.0
        private var slept: [Double] = []
        var now: Double { lock.withLock { time } }
        var sleeps: [Double] { lock.withLock { slept } }
        func sleep(_ s: Double) { lock.withLock { time += s; slept.append(s) } }
    }

    func retry(_ clock: FakeClock, giveUpAfter: Double = 120) -> TransientRetry {
        TransientRetry(giveUpAfterSec: giveUpAfter, sleep: { clock.sleep($0) }, now: { clock.now })
    }

    @Test("an unreachable server for a few tries, then an answer: the answer, after back-off")
    func recoversAfterOutage() throws {
        let clock = FakeClock()
        var calls = 0
        var reported: [Int] = []
        let value = try retry(clock).run({ () throws -> String in
            calls += 1
            if calls <= 4 { throw APIClient.Failure(status: 0, message: "cannot reach") }
            return "job"
        }, onRetry: { failure, _ in reported.append(failure.status) })
        #expect(value == "job")
        #expect(calls == 5)
        #expect(clock.sleeps == [0.5, 1, 2, 4])
        #expect(reported == [0, 0, 0, 0])
    }

    @Test("a proxy's 502/503/504 is transient too")
    func proxyErrorsAreTransient() throws {
        let clock = FakeClock()
        var statuses = [502, 503, 504]
        let value = try retry(clock).run { () throws -> Int in
            if let s = statuses.first { statuses.removeFirst(); throw APIClient.Failure(status: s, message: "away") }
            return 1
        }
        #expect(value == 1)
        #expect(clock.sleeps.count == 3)
    }

    @Test("bounded: gives up after the window, delays capped")
    func givesUp() {
        let clock = FakeClock()
        var calls = 0
        #expect(throws: APIClient.Failure.self) {
            try retry(clock, giveUpAfter: 30).run { () throws -> Int in
                calls += 1
                throw APIClient.Failure(status: 0, message: "cannot reach")
            }
        }
        #expect(clock.now - 1_000 <= 30.0001)
        #expect(clock.now - 1_000 >= 30)
        #expect(clock.sleeps.allSatisfy { $0 <= 5 })
        #expect(calls == clock.sleeps.count + 1)
    }

    @Test("a network failure that cannot pass (a certificate that does not verify) is final")
    func permanentNetworkFailureNotRetried() {
        let clock = FakeClock()
        var calls = 0
        #expect(throws: APIClient.Failure.self) {
            try retry(clock).run { () throws -> Int in
                calls += 1
                throw APIClient.Failure(status: 0, message: "SSL peer certificate was not OK", networkTransient: false)
            }
        }
        #expect(calls == 1)
    }

    @Test("a real answer (404) or a refusal is final: no retry")
    func finalErrorsNotRetried() {
        let clock = FakeClock()
        var calls = 0
        #expect(throws: APIClient.Failure.self) {
            try retry(clock).run { () throws -> Int in
                calls += 1
                throw APIClient.Failure(status: 404, message: "no job 9")
            }
        }
        #expect(calls == 1)
        #expect(clock.sleeps.isEmpty)
    }
}
