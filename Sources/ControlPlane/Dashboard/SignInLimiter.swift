import BalctlProtocol
import Foundation
import NIOCore

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
    private let maxKeys: Int

    public init(maxFailures: Int = 5, windowSec: Double = 15 * 60, maxKeys: Int = 100_000) {
        self.maxFailures = maxFailures
        self.windowSec = windowSec
        self.maxKeys = maxKeys
    }

    /// The keys one attempt counts against: the username (lowercased, so case variants share a
    /// count; cut to what a username can be, so a 16 KiB "username" is not kept whole — red team
    /// D6b) and the client. An IPv6 client is keyed by its /64, what one subscriber is given: by
    /// single address an attacker has 2^64 fresh keys, and without any (the old "ip:unknown")
    /// every IPv6 client shared one count, so five wrong passwords locked them all out (D6).
    /// `clientIP` is `ClientIP.resolve`'s answer: nil from a trusted proxy that named no client
    /// keeps the shared key (a misconfigured proxy, not a client).
    static func keys(username: String, peer: SocketAddress?, clientIP: IPv4?) -> [String] {
        let user = "user:" + String(username.lowercased().prefix(64))
        if let clientIP { return [user, "ip:\(clientIP)"] }
        if case .v6(let a)? = peer, ClientIP.peerIPv4(peer) == nil {
            let bytes = withUnsafeBytes(of: a.address.sin6_addr) { Array($0.prefix(8)) }
            let groups = stride(from: 0, to: 8, by: 2).map { String(format: "%04x", Int(bytes[$0]) << 8 | Int(bytes[$0 + 1])) }
            return [user, "ip6:" + groups.joined(separator: ":") + "::/64"]
        }
        return [user, "ip:unknown"]
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

    /// Check and count an attempt in one actor step: nil when it may go on (it is counted as a
    /// failure until `succeeded` takes it back), else the seconds to wait. Red team D1: with the
    /// check and the count as separate calls around the bcrypt, 20 parallel guesses all passed
    /// the check before the first failure was counted, and got 20 tries instead of 5.
    public func begin(_ keys: [String], at t: Double = now()) -> Double? {
        if let wait = retryAfter(keys, at: t) { return wait }
        fail(keys, at: t)
        return nil
    }

    /// The attempt `begin` counted at `t` was the right password: the username's count is
    /// cleared, and the attempt is taken back from the other keys (not their earlier failures:
    /// one good password must not reset a spray from that address).
    public func succeeded(_ keys: [String], at t: Double) {
        guard let user = keys.first else { return }
        failures[user] = nil
        for key in keys.dropFirst() {
            guard var list = failures[key], let i = list.firstIndex(of: t) else { continue }
            list.remove(at: i)
            failures[key] = list.isEmpty ? nil : list
        }
    }

    public func fail(_ keys: [String], at t: Double = now()) {
        if failures.count + keys.count > maxKeys { prune(at: t, room: keys.count) }
        for key in keys {
            var list = (failures[key] ?? []).filter { t - $0 < windowSec }
            list.append(t)
            failures[key] = Array(list.suffix(maxFailures))
        }
    }

    /// A successful sign-in clears the username's count (not the IP's: one good password must
    /// not reset a spray from that address).
    public func succeed(username key: String) { failures[key] = nil }

    var keyCount: Int { failures.count }

    /// Expired entries go; if the table is still full, the unlocked keys that failed longest ago
    /// go first and locked keys last. Red team D5: the table used to be emptied outright, so a
    /// spray of usernames from many addresses reset the lock on the account being guessed.
    private func prune(at t: Double, room: Int) {
        failures = failures.compactMapValues { list in
            let live = list.filter { t - $0 < windowSec }
            return live.isEmpty ? nil : live
        }
        // Down to 90 % (not to just below the cap: the sort below then runs once per 10 % of the
        // cap, not on every failure), and room for this attempt's keys.
        let target = max(0, min(maxKeys * 9 / 10, maxKeys - room))
        guard failures.count > target else { return }
        let order = failures.sorted { a, b in
            let (la, lb) = (a.value.count >= maxFailures, b.value.count >= maxFailures)
            return la != lb ? !la : (a.value.last ?? 0) < (b.value.last ?? 0)
        }
        for (key, _) in order.prefix(failures.count - target) { failures[key] = nil }
    }
}
