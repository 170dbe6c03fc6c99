import BalctlProtocol

/// When the next heartbeat goes out, and how long one attempt may take.
///
/// After a success the wait is the control plane's interval with ±10 % jitter, so a fleet
/// restarted together does not beat in lock-step. After failures it grows exponentially from the
/// interval but never past `failureCapSec`, with full jitter (uniform between `failureFloorSec`
/// and the ceiling): a member whose control plane comes back after an outage of any length is heard
/// again within seconds — a back-off of a minute would let the failover evaluator see a healthy
/// member as dead and fail away from it (issue 12, agent side) — and a fleet cut off together
/// does not come back in one burst. Waits count from the start of an attempt, so together with the
/// attempt bounds below a member is heard again at most max(cap, attempt timeout) plus one
/// request after the control plane is reachable.
public struct HeartbeatSchedule: Sendable, Equatable {
    /// The longest wait between two attempts while heartbeats fail.
    public static let failureCapSec = 3.0
    /// The shortest wait after a failure: a refused connection fails in microseconds and the loop
    /// must not spin against it.
    public static let failureFloorSec = 0.25
    /// TCP connect plus TLS handshake (libcurl's connect phase): a dropped SYN or a peer that
    /// accepts and never answers the handshake ends the attempt after this.
    public static let connectTimeoutMs = 2_000
    /// The whole attempt, request and reply: a connection that went silent mid-request (a
    /// partition that sent no reset, so a reused connection still looks open) ends after this.
    /// Not above the cap, so a hung attempt never delays the next one more than a wait would.
    public static let attemptTimeoutMs = Int(failureCapSec * 1000)

    /// The interval the control plane asked for (the bootstrap setting until it answers).
    public private(set) var intervalSec: Int
    /// Failed attempts since the last success.
    public private(set) var failures = 0

    public init(intervalSec: Int) {
        self.intervalSec = Self.clamped(intervalSec)
    }

    /// A heartbeat was accepted: back to the control plane's interval.
    public mutating func succeeded(serverIntervalSec: Int) {
        failures = 0
        intervalSec = Self.clamped(serverIntervalSec)
    }

    public mutating func failed() { failures += 1 }

    /// The largest wait the next draw can give: about the interval after a success; after n
    /// failures interval·2^(n−1), capped.
    public var ceilingSec: Double {
        guard failures > 0 else { return Double(intervalSec) * 1.1 }
        // The exponent is bounded so the product stays finite however long the outage lasts.
        let grown = Double(intervalSec) * Double(1 << min(failures - 1, 16))
        return min(Self.failureCapSec, grown)
    }

    /// The wait before the next attempt, measured from the start of the one that just ended.
    public func nextDelaySec<R: RandomNumberGenerator>(using rng: inout R) -> Double {
        guard failures > 0 else { return Double(intervalSec) * Double.random(in: 0.9...1.1, using: &rng) }
        return Double.random(in: Self.failureFloorSec...max(Self.failureFloorSec, ceilingSec), using: &rng)
    }

    private static func clamped(_ sec: Int) -> Int {
        min(max(sec, AgentWire.intervalRange.lowerBound), AgentWire.intervalRange.upperBound)
    }
}
