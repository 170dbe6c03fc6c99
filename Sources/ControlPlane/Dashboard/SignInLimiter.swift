import Foundation

/// Sign-in throttle: 5 failures within 15 minutes for one username, or from one client IP, and
/// that key is refused (429) until its oldest failure is 15 minutes old.
///
/// An actor in memory rather than the store, on purpose: a failed guess must cost the attacker
/// nothing we have to write (a database row per guess would let a flood fill the disk and load
/// every replica), and the check must not wait on the database. The cost: the count is per
/// process — with PostgreSQL replicas behind a load balancer an attacker gets 5 tries per replica
/// per window — and a restart forgets it. Both are bounded (replicas × 5 per 15 min), and bcrypt
/// makes each try expensive anyway. Keys are capped so a spray of usernames cannot grow memory.
public actor SignInLimiter {
    public let maxFailures: Int
    public let windowSec: Double
    private var failures: [String: [Double]] = [:]
    private let maxKeys = 100_000

    public init(maxFailures: Int = 5, windowSec: Double = 15 * 60) {
        self.maxFailures = maxFailures
        self.windowSec = windowSec
    }

    /// Seconds until `keys` may try again, or nil when none of them is locked.
    public func retryAfter(_ keys: [String], at t: Double = now()) -> Double? {
        var wait: Double? = nil
        for key in keys {
            let recent = (failures[key] ?? []).filter { t - $0 < windowSec }
            if recent.count >= maxFailures, let oldest = recent.first {
                wait = max(wait ?? 0, oldest + windowSec - t)
            }
        }
        return wait
    }

    public func fail(_ keys: [String], at t: Double = now()) {
        if failures.count > maxKeys { prune(at: t) }
        for key in keys {
            var list = (failures[key] ?? []).filter { t - $0 < windowSec }
            list.append(t)
            failures[key] = Array(list.suffix(maxFailures))
        }
    }

    /// A successful sign-in clears the username's count (not the IP's: one good password must
    /// not reset a spray from that address).
    public func succeed(username key: String) { failures[key] = nil }

    private func prune(at t: Double) {
        failures = failures.filter { $0.value.contains { t - $0 < windowSec } }
        if failures.count > maxKeys { failures = [:] }
    }
}
