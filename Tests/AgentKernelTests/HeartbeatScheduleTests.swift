import AgentKernel
import BalctlProtocol
import Testing
import TestSupport

/// issue 12 (agent side): after an outage of any length a member must be heard again within 5 s
/// of the control plane being reachable, so the back-off after failed heartbeats is capped (it
/// used to grow to 60 s) and jittered (a fleet cut off together must not return in one burst).
@Suite("HeartbeatSchedule")
struct HeartbeatScheduleTests {
    static let cap = HeartbeatSchedule.failureCapSec

    @Test("issue 12: after any number of failures, at any interval, the wait stays within [floor, cap]")
    func neverAboveTheCap() {
        var rng = SplitMix64(seed: 12)
        for interval in [1, 2, 5, 30, 60] {
            var schedule = HeartbeatSchedule(intervalSec: interval)
            for failures in 1...5_000 {
                schedule.failed()
                #expect(schedule.failures == failures)
                #expect(schedule.ceilingSec <= Self.cap)
                for _ in 0..<4 {
                    let wait = schedule.nextDelaySec(using: &rng)
                    if wait > Self.cap || wait < HeartbeatSchedule.failureFloorSec {
                        Issue.record("interval \(interval) s, \(failures) failures: waits \(wait) s")
                        return
                    }
                }
            }
        }
    }

    @Test("issue 12: the ceiling grows exponentially from the interval until the cap")
    func exponentialFromTheInterval() {
        var schedule = HeartbeatSchedule(intervalSec: 1)
        var ceilings: [Double] = []
        for _ in 0..<5 {
            schedule.failed()
            ceilings.append(schedule.ceilingSec)
        }
        #expect(ceilings == [1, 2, Self.cap, Self.cap, Self.cap])
        // An interval above the cap: failures are retried sooner than the interval, not later.
        var slow = HeartbeatSchedule(intervalSec: 60)
        slow.failed()
        #expect(slow.ceilingSec == Self.cap)
    }

    @Test("issue 12: jitter spreads the waits over the range (many seeded draws, not all equal)")
    func jitterSpreads() {
        var schedule = HeartbeatSchedule(intervalSec: 1)
        for _ in 0..<10 { schedule.failed() }
        var rng = SplitMix64(seed: 2026)
        let waits = (0..<2_000).map { _ in schedule.nextDelaySec(using: &rng) }
        #expect(Set(waits).count > 1_900, "draws are spread, not a handful of values")
        #expect(waits.allSatisfy { (HeartbeatSchedule.failureFloorSec...Self.cap).contains($0) })
        // Full jitter: the draws cover the range, so agents cut off together come back spread out.
        let floor = HeartbeatSchedule.failureFloorSec
        let width = Self.cap - floor
        for tenth in 0..<10 {
            let low = floor + width * Double(tenth) / 10, high = low + width / 10
            let inBin = waits.filter { $0 >= low && $0 < high }.count
            #expect(inBin > 100, "\(inBin) of 2000 waits in [\(low), \(high))")
        }
        // Two agents seeded differently do not retry in lock-step.
        var a = SplitMix64(seed: 1), b = SplitMix64(seed: 2)
        let first = (0..<20).map { _ in schedule.nextDelaySec(using: &a) }
        let second = (0..<20).map { _ in schedule.nextDelaySec(using: &b) }
        #expect(zip(first, second).filter { abs($0 - $1) < 0.01 }.count < 5)
    }

    @Test("issue 12: a success resets to the server's interval (±10 %), clamped to 1–60 s")
    func resetAfterSuccess() {
        var schedule = HeartbeatSchedule(intervalSec: 1)
        for _ in 0..<40 { schedule.failed() }
        schedule.succeeded(serverIntervalSec: 20)
        #expect(schedule.failures == 0)
        #expect(schedule.intervalSec == 20)
        var rng = SplitMix64(seed: 7)
        let waits = (0..<500).map { _ in schedule.nextDelaySec(using: &rng) }
        #expect(waits.allSatisfy { (18.0...22.0).contains($0) }, "the interval with ±10 % jitter, not the back-off")
        #expect(Set(waits).count > 400)
        // The first failure after that starts the back-off again from the interval, capped.
        schedule.failed()
        #expect(schedule.ceilingSec == Self.cap)

        schedule.succeeded(serverIntervalSec: 0)
        #expect(schedule.intervalSec == 1)
        schedule.succeeded(serverIntervalSec: 3_600)
        #expect(schedule.intervalSec == 60)
    }
}

/// issue 12 (agent side): one heartbeat attempt against a dead control plane must end within
/// the back-off cap (it used to take 5 s to time out a connect and 10 s a silent reply).
@Suite("HeartbeatAttemptBound", .serialized)
struct HeartbeatAttemptBoundTests {
    static func agent(port: Int, state: TempDir) throws -> Agent {
        let config = try AgentConfig.load(file: [
            "BALCTL_ENROLLMENT_SECRET": String(repeating: "ab", count: 24),
            "BALCTL_API_BASE": "https://127.0.0.1:\(port)",
            "BALCTL_HOSTNAME": "bound-1",
            "BALCTL_STATE_DIR": state.path,
        ], environment: [:])
        return try Agent(config: config, plugins: [])
    }

    /// Seconds one heartbeat attempt takes to fail against `peer`.
    static func failedAttemptSec(against peer: DeadPeerListener) async throws -> Double {
        let state = try TempDir()
        let agent = try agent(port: peer.port, state: state)
        let started = monotonic()
        await #expect(throws: (any Error).self) { try await agent.beat() }
        return monotonic() - started
    }

    @Test("issue 12: SYNs dropped — the attempt ends after the 2 s connect timeout, within the cap")
    func droppedSYNs() async throws {
        let peer = try DeadPeerListener(.dropsSYNs)
        defer { peer.stop() }
        let took = try await Self.failedAttemptSec(against: peer)
        #expect(took >= 1.5, "the connect really waited (the SYN was dropped, not refused): \(took) s")
        #expect(took <= HeartbeatSchedule.failureCapSec, "took \(took) s")
    }

    @Test("issue 12: accepted and never answered — the attempt ends within the cap")
    func silentPeer() async throws {
        let peer = try DeadPeerListener(.silent)
        defer { peer.stop() }
        let took = try await Self.failedAttemptSec(against: peer)
        #expect(took >= 1.5, "the attempt really waited on the silent peer: \(took) s")
        #expect(took <= HeartbeatSchedule.failureCapSec, "took \(took) s")
    }
}

/// issue 12 (agent side): the public-IP probe is part of every heartbeat's report; once it has
/// answered (or failed) once, a dead echo service must not hold a heartbeat attempt again.
@Suite("PublicIPProbeOffTheLoop", .serialized)
struct PublicIPProbeOffTheLoopTests {
    @Test("issue 12: a stale probe refreshes in the background; the report does not wait on a silent echo service")
    func staleProbeDoesNotBlock() async throws {
        let peer = try DeadPeerListener(.silent)
        defer { peer.stop() }
        let config = try AgentConfig.load(file: [
            "BALCTL_ENROLLMENT_SECRET": String(repeating: "cd", count: 24),
            "BALCTL_API_BASE": "https://127.0.0.1:1",
            "BALCTL_HOSTNAME": "probe-1",
            "BALCTL_PROBE_PUBLIC_IP": "1",
            "BALCTL_PUBLIC_IP_URL": "https://127.0.0.1:\(peer.port)/",
        ], environment: [:])
        // Every call finds the cache stale.
        let resolver = PublicIPResolver(config: config, cacheSec: 0)

        // The first probe is waited for (the first report should carry the address), bounded.
        var started = monotonic()
        #expect(await resolver.current() == nil)
        let first = monotonic() - started
        #expect(first >= 1.5 && first <= 3.5, "the first probe waited on the silent peer: \(first) s")
        #expect(peer.connections == 1)

        // Later ones start a probe and return the cached answer at once.
        started = monotonic()
        #expect(await resolver.current() == nil)
        let second = monotonic() - started
        #expect(second < 1, "the report waited \(second) s on the echo service")
        #expect(await eventually(timeout: 2) { peer.connections == 2 }, "the background probe really went out")
        // One probe at a time: calls while it is in flight do not start another.
        for _ in 0..<5 { _ = await resolver.current() }
        try await Task.sleep(for: .milliseconds(300))
        #expect(peer.connections == 2)
    }
}
