import Foundation
import Logging
import SQLEngine
import ServiceLifecycle
import Synchronization

/// Which replica runs the singletons (failover evaluator, scheduler, lease sweeper): the holder
/// of the `leader_lease` row (issue 22). The row carries a fencing token that grows by one at
/// every change of holder; each singleton write checks, in its own transaction, that its token is
/// still the row's and unexpired (`LeaderFence.check`), so a leader that stalled past its lease
/// and woke up cannot write anything once another replica took over.
///
/// Expiry is judged by the database's clock (`SQLDialect.epochNow`), never a replica's, so clock
/// skew between replicas does not matter. A replica believes it leads only until `ttl - margin`
/// after it *sent* its last successful renewal (the database set the expiry later than that), so
/// its own belief always ends before anyone else can take the lease.
///
/// With SQLite there is one process: it takes the lease at start whoever held it (a previous
/// process on the same file is gone: the data directory is its alone) and keeps it.
public final class LeaderLease: Sendable {
    public struct Policy: Sendable {
        /// A leader that stops renewing is replaced this long after its last renewal at most
        /// (plus one `pollSec`).
        public var ttlSec: Double = 4
        /// How often the leader renews.
        public var renewSec: Double = 1
        /// How often a standby tries to take the lease.
        public var pollSec: Double = 0.5
        /// The leader stops acting this long before its lease runs out by its own clock.
        public var marginSec: Double = 0.5
        public init() {}
    }

    public enum Role: String, Sendable { case leader, standby }

    let db: any SQLDatabase
    let policy: Policy
    /// This replica: "host:pid:random", unique per process.
    public let holder: String
    /// SQLite: take the lease unconditionally (one process per database).
    let exclusive: Bool
    let logger: Logger

    struct State: Sendable {
        var token: Int64?
        /// Leads until then (monotonic).
        var until: ContinuousClock.Instant = .now
        /// The last time the database answered (healthz).
        var lastContact: ContinuousClock.Instant?
        /// Leadership changes seen by this replica (gained or lost).
        var changes = 0
        /// The database's clock minus this replica's, seconds (replicas judge heartbeat ages and
        /// job leases by their own clocks: they must agree, see README "Scaling out").
        var clockOffset: Double?
        var offsetWarned = false
    }
    private let state = Mutex(State())
    static let name = "singletons"

    public init(db: any SQLDatabase, holder: String, policy: Policy = Policy(), logger: Logger) {
        self.db = db
        self.holder = holder
        self.policy = policy
        exclusive = db.dialect == .sqlite
        self.logger = logger
    }

    /// The fence to carry into a singleton's transaction, or nil when this replica does not lead.
    public func fence() -> LeaderFence? {
        state.withLock { s in
            guard let token = s.token, ContinuousClock.now < s.until else { return nil }
            return LeaderFence(token: token)
        }
    }

    public var role: Role { fence() == nil ? .standby : .leader }
    public var changes: Int { state.withLock { $0.changes } }
    /// The database's clock minus this replica's, in seconds, as of the last round.
    public var clockOffset: Double? { state.withLock { $0.clockOffset } }
    /// Beyond this, replicas disagree enough to matter (a heartbeat looks this much older or
    /// younger on the leader); logged once.
    static let clockOffsetWarnSec = 0.5
    /// Seconds since the database last answered this replica's lease call (nil: never).
    public var secondsSinceContact: Double? {
        state.withLock { s in s.lastContact.map { (ContinuousClock.now - $0).seconds } }
    }

    /// One round: renew (leader) or try to take (standby). Returns the role after it.
    @discardableResult
    public func round() async throws -> Role {
        let sentAt = ContinuousClock.now
        let (holder, ttl, exclusive) = (self.holder, policy.ttlSec, self.exclusive)
        let token: Int64?, clockOffset: Double?
        do {
            (token, clockOffset) = try await db.write { db -> (Int64?, Double?) in
                let now = db.dialect.epochNow
                // A leader frozen inside a fenced transaction holds the row's lock (until the
                // server ends its session): give up this round rather than wait for it.
                if db.dialect == .postgres { try db.execute("SET LOCAL lock_timeout = '1s'") }
                // A new holder gets a new token; the same holder renewing keeps its own.
                try db.execute("""
                    UPDATE leader_lease SET token = CASE WHEN holder = ?1 THEN token ELSE token + 1 END,
                        acquired_at = CASE WHEN holder = ?1 THEN acquired_at ELSE \(now) END,
                        holder = ?1, expires_at = \(now) + ?2
                    WHERE name = ?3\(exclusive ? "" : " AND (holder = ?1 OR expires_at < \(now))")
                    """, holder, ttl, Self.name)
                // The database's clock read between two readings of ours, in one round trip.
                let before = Date().timeIntervalSince1970
                let dbNow = try db.fetchValue(Double.self, "SELECT \(now)")
                let after = Date().timeIntervalSince1970
                return (try db.fetchValue(Int64.self, "SELECT token FROM leader_lease WHERE name = ? AND holder = ?", Self.name, holder),
                        dbNow.map { $0 - (before + after) / 2 })
            }
        } catch {
            state.withLock { s in
                // No answer: this replica can no longer prove it leads; it stops at `until` anyway.
                if s.token != nil, ContinuousClock.now >= s.until { s.token = nil; s.changes += 1 }
            }
            throw error
        }
        let (before, after, warnOffset) = state.withLock { s -> (Role, Role, Double?) in
            let before: Role = s.token != nil && ContinuousClock.now < s.until ? .leader : .standby
            s.lastContact = .now
            var warn: Double?
            if let clockOffset {
                s.clockOffset = clockOffset
                if abs(clockOffset) > Self.clockOffsetWarnSec, !s.offsetWarned { s.offsetWarned = true; warn = clockOffset }
            }
            if let token {
                if s.token != token { s.changes += 1 }
                s.token = token
                s.until = sentAt + .seconds(ttl - policy.marginSec)
            } else {
                if s.token != nil { s.changes += 1 }
                s.token = nil
            }
            return (before, s.token == nil ? .standby : .leader, warn)
        }
        if let warnOffset {
            logger.warning("clock: this replica's clock is \(String(format: "%+.2f", -warnOffset)) s off the database's; replicas judge heartbeat ages and job leases by their own clocks: run NTP on every replica")
        }
        if before != after {
            logger.notice("leader lease: this replica (\(holder)) is now \(after.rawValue)\(token.map { ", fencing token \($0)" } ?? "")")
        }
        return after
    }

    /// Give the lease up (graceful shutdown): another replica takes over at its next poll instead
    /// of waiting for the lease to run out.
    public func resign() async {
        let holder = self.holder
        state.withLock { $0.token = nil }
        _ = try? await db.write { db in
            try db.execute("UPDATE leader_lease SET expires_at = 0 WHERE name = ? AND holder = ?", Self.name, holder)
        }
    }
}

/// A leader's proof, checked inside each singleton transaction.
public struct LeaderFence: Sendable, Equatable {
    public let token: Int64

    /// Throws `notLeader` unless `token` still holds an unexpired lease, by the database's clock.
    /// The check updates the lease row, so it holds the row's lock until the transaction ends:
    /// another replica cannot take the lease between this check and the commit.
    public func check(_ db: any SQLConnection) throws {
        let n = try db.execute("""
            UPDATE leader_lease SET token = token WHERE name = ? AND token = ? AND expires_at > \(db.dialect.epochNow)
            """, LeaderLease.name, token)
        guard n == 1 else { throw NotLeader(token: token) }
    }
}

/// A singleton's write refused: this replica's leadership (token) ended.
public struct NotLeader: Error, CustomStringConvertible, Sendable {
    public var token: Int64
    public var description: String { "refused by the leader fence: fencing token \(token) is no longer the leader's" }
}

/// The lease loop: renew every `renewSec` while leading, try every `pollSec` otherwise; resign
/// at graceful shutdown.
struct LeaderLeaseService: Service {
    let lease: LeaderLease

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var failures = 0
            while !Task.isCancelled {
                var pause = lease.policy.pollSec
                do {
                    if try await lease.round() == .leader { pause = lease.policy.renewSec }
                    failures = 0
                } catch is CancellationError {
                    break
                } catch {
                    failures += 1
                    // One line per outage, then every 30th: a database down for an hour must not flood the log.
                    if failures == 1 || failures % 30 == 0 { lease.logger.error("leader lease: \(error)") }
                }
                try? await Task.sleep(for: .seconds(pause))
            }
        }
        await lease.resign()
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
