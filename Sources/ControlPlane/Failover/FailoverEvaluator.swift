import BalctlProtocol
import Foundation
import SQLEngine
import Logging
import ServiceLifecycle
import Synchronization

/// Failover for the whole control plane: the evaluator's clock state, the executor, and the
/// manual actions and drill that share them.
public final class Failover: Sendable {
    let store: Store
    let executor: FailoverExecutor
    let logger: Logger
    /// A standby's heartbeat is fresh when at most this old.
    let freshSec: Double
    /// When this process started evaluating: no automatic failover for one delay after it.
    let startedAt: Double

    struct ClockState: Sendable {
        /// Since when every member has been silent (nil: someone is heard).
        var silentSince: Double?
        /// When the last all-silent outage ended: silence before it does not count.
        var silentEndedAt: Double = 0
        /// Pools with a write in flight from this process (the next tick leaves them alone).
        var busy: Set<Int64> = []
    }
    let clock = Mutex(ClockState())
    /// The last snapshot read, reused while `failover_global.generation` stands (see `snapshot`).
    let cache = Mutex<CachedFailoverSnapshot?>(nil)

    /// Replicas: ticks run only while this replica leads (nil: always, as in tests).
    let leader: LeaderLease?

    init(store: Store, box: SecretBox, heartbeatIntervalSec: Int, logger: Logger, startedAt: Double = now(),
         owner: String = "\(ProcessInfo.processInfo.hostName):\(getpid()):\(UInt32.random(in: 0...UInt32.max))",
         leader: LeaderLease? = nil, metrics: ServerMetrics? = nil,
         beforeWrite: @escaping @Sendable (FailoverExecutor.Decision) async -> Void = { _ in }) {
        self.store = store
        self.leader = leader
        executor = FailoverExecutor(store: store, box: box, owner: owner, logger: logger, metrics: metrics, beforeWrite: beforeWrite)
        self.logger = logger
        freshSec = Double(3 * heartbeatIntervalSec)
        self.startedAt = startedAt
    }

    func readiness(at t: Double = now()) -> Readiness {
        let ended = clock.withLock { $0.silentEndedAt }
        return Readiness(now: t, freshSec: freshSec, baseline: max(startedAt, ended))
    }

    /// One evaluator pass: read every pool with failover settings, decide, act. Writes to DNS run
    /// as tasks of their own so one slow provider never delays the next tick's detection.
    /// Returns the actions it took (tests and the benchmark read them).
    @discardableResult
    func tick(at t: Double = now(), group: TaskGroupHandle? = nil) async throws -> [FailoverAction] {
        let fence = leader?.fence()
        guard leader == nil || fence != nil else { return [] }  // a standby replica watches nothing
        var pools = try await store.db.read { try self.snapshot($0, at: t) }
        let (allSilent, silenceAlert, silenceEnded) = updateSilence(pools, at: t)
        if silenceEnded { logger.notice("failover: members heard again after an all-silent outage; no failover for one delay") }
        let planner = FailoverPlanner(readiness: readiness(at: t), allSilent: allSilent)
        let actions = try await exactly(planner.plan(pools), pools: &pools, planner: planner)
        try await recordWithoutIO(actions, pools: pools, silenceAlert: silenceAlert, silenceEnded: silenceEnded, at: t, fence: fence)
        for action in actions {
            guard var planned = decision(for: action, pools: pools, at: t) else { continue }
            planned.fence = fence
            let decision = planned
            let claimed = clock.withLock { $0.busy.insert(decision.pool).inserted }
            guard claimed else { continue }
            let work: @Sendable () async -> Void = { [self] in
                defer { _ = clock.withLock { $0.busy.remove(decision.pool) } }
                do {
                    if let e = try await executor.execute(decision) {
                        logger.notice("failover: pool \(decision.pool) \(decision.kind.rawValue) → \(decision.ip): \(e.verified == true ? "verified" : "NOT verified: \(e.error ?? "?")")")
                    }
                } catch {
                    logger.error("failover: pool \(decision.pool) \(decision.kind.rawValue) failed: \(error)")
                }
            }
            if let group { group.add(work) } else { await work() }
        }
        return actions
    }

    /// What one tick plans over. Pools, members and the heartbeat facts come from the cached
    /// snapshot while `failover_global.generation` stands (triggers move it on any change to
    /// them: migration v7); heartbeat times are exact for the members heard more than `freshSec`
    /// ago (read through the received_at index: in a healthy fleet, none) and `t` for the rest.
    /// Silence only grows with time, so the members read exactly are the only ones whose age can
    /// decide anything but the order of equally ranked standbys (see `tick`). A full read of a
    /// fleet of 1,000 pools costs ~30 ms; this costs a fraction of a millisecond when unchanged.
    func snapshot(_ db: any SQLConnection, at t: Double) throws -> [PoolSnapshot] {
        let generation = try Store.failoverGeneration(db)
        let heardLong = try Store.heartbeatsBefore(db, t - freshSec)
        // Patched in place under the lock: the previous tick's copy is gone by now, so the
        // arrays are not copied (copying 1,000 pools' member arrays was most of a tick).
        return try cache.withLock { slot in
            // Moved out, not copied, so the patch below mutates the only reference.
            var c = slot.take() ?? CachedFailoverSnapshot(generation: generation - 1, pools: [])
            if c.generation != generation { c = CachedFailoverSnapshot(generation: generation, pools: try Store.failoverSnapshot(db)) }
            for i in c.pools.indices {
                for j in c.pools[i].members.indices where c.pools[i].members[j].lastHeartbeat != nil {
                    c.pools[i].members[j].lastHeartbeat = heardLong[c.pools[i].members[j].id] ?? t
                }
            }
            slot = c
            return c.pools
        }
    }

    /// The snapshot calls every member heard within `freshSec` "heard now", which decides
    /// nothing but the order of equally ranked standbys: a pool about to fail over (or to report
    /// that it cannot) is read again exactly and planned again.
    func exactly(_ actions: [FailoverAction], pools: inout [PoolSnapshot], planner: FailoverPlanner) async throws -> [FailoverAction] {
        let deciding = Set(actions.compactMap { action -> Int64? in
            switch action {
            case let .promote(pool, _, _, _), let .noReadyStandby(pool, _, _): pool
            default: nil
            }
        })
        guard !deciding.isEmpty else { return actions }
        let exact = try await store.db.read { db in try deciding.compactMap { try Store.failoverSnapshot(db, pool: $0) } }
        for p in exact { if let i = pools.firstIndex(where: { $0.id == p.id }) { pools[i] = p } }
        return planner.plan(pools)
    }

    private func decision(for action: FailoverAction, pools: [PoolSnapshot], at t: Double) -> FailoverExecutor.Decision? {
        switch action {
        case let .promote(poolID, to, reason, since):
            guard let pool = pools.first(where: { $0.id == poolID }), let m = pool.members.first(where: { $0.id == to }),
                  let ip = m.publicIP else { return nil }
            return .init(pool: poolID, kind: .failover, expectedActive: pool.activeMemberID, to: to, ip: ip,
                         reason: reason, unhealthySince: since, detectedAt: t)
        case let .syncAddress(poolID, member, ip, reason):
            let pending = pools.first { $0.id == poolID }?.pendingIP != nil
            return .init(pool: poolID, kind: pending ? .retry : .dynamicDNS, expectedActive: member, to: member, ip: ip,
                         reason: reason, unhealthySince: nil, detectedAt: t)
        default:
            return nil
        }
    }

    /// All-silent bookkeeping: (every member silent now, this process should send the one
    /// control-plane alert, the outage just ended). The alert goes out once the silence has
    /// lasted the shortest pool delay, and once per outage even with several control planes
    /// (`failover_global` is claimed with a conditional update).
    private func updateSilence(_ pools: [PoolSnapshot], at t: Double) -> (Bool, Bool, Bool) {
        let baseline = max(startedAt, clock.withLock { $0.silentEndedAt })
        let silent = FailoverPlanner.everyoneSilent(pools, now: t, freshSec: freshSec, baseline: baseline)
        let minDelay = Double(pools.map(\.settings.delaySec).min() ?? 30)
        return clock.withLock { c in
            if silent {
                if c.silentSince == nil { c.silentSince = t - freshSec }
                return (true, t - c.silentSince! >= minDelay, false)
            }
            if c.silentSince != nil {
                c.silentSince = nil
                c.silentEndedAt = t
                return (false, false, true)
            }
            return (false, false, false)
        }
    }

    /// Alerts, flags and events that need no DNS call, in one transaction.
    private func recordWithoutIO(_ actions: [FailoverAction], pools: [PoolSnapshot], silenceAlert: Bool,
                                 silenceEnded: Bool, at t: Double, fence: LeaderFence?) async throws {
        let actions = actions.filter { if case .promote = $0 { false } else if case .syncAddress = $0 { false } else { true } }
        guard !actions.isEmpty || silenceAlert || silenceEnded else { return }
        let owner = executor.owner
        try await store.db.write { db in
            try fence?.check(db)
            if silenceAlert {
                try db.execute(sql: "UPDATE failover_global SET all_silent_since = ? WHERE id = 1 AND all_silent_since IS NULL", arguments: [t])
                if db.changesCount == 1 {
                    for pool in pools {
                        _ = try Store.recordFailoverEvent(db, pool: pool.id, kind: "all_silent",
                                                          reason: "the control plane cannot hear any member; automatic failover is held",
                                                          decidedBy: owner)
                    }
                    // One alert per account, counting only its own pools.
                    let accounts = try SQLRow.fetchAll(db, sql: """
                        SELECT p.account_id, COUNT(*) FROM pools p JOIN pool_failover f ON f.pool_id = p.id GROUP BY p.account_id
                        """).map { ($0[0] as Int64, $0[1] as Int) }
                    for (account, poolCount) in accounts {
                        try Store.enqueueAlert(db, AlertMessage(
                            kind: .allSilent, poolID: nil, accountID: account, subject: "[balctl] control plane cannot hear any member",
                            text: "No member of any pool has sent a heartbeat for \(Int(self.freshSec)) s or more.\nThis is most likely the control plane's own network: automatic failover is held until members are heard again, and for one failover delay after that.\n",
                            facts: ["pools": .number(Double(poolCount))]))
                    }
                }
            }
            if silenceEnded {
                try db.execute(sql: "UPDATE failover_global SET all_silent_since = NULL WHERE id = 1")
            }
            for action in actions {
                try self.apply(action, db, pools: pools, owner: owner)
            }
        }
    }

    private func apply(_ action: FailoverAction, _ db: any SQLConnection, pools: [PoolSnapshot], owner: String) throws {
        func hostname(_ pool: Int64, _ member: Int64) -> String {
            pools.first { $0.id == pool }?.members.first { $0.id == member }?.hostname ?? "member \(member)"
        }
        func poolName(_ pool: Int64) -> String { pools.first { $0.id == pool }?.name ?? "pool \(pool)" }
        switch action {
        case let .noReadyStandby(pool, reason, since):
            // Once per outage, also across control planes: the flag is claimed conditionally.
            try db.execute(sql: "UPDATE pool_failover SET no_standby_alerted = 1 WHERE pool_id = ? AND no_standby_alerted = 0", arguments: [pool])
            guard db.changesCount == 1 else { return }
            let snapshot = pools.first { $0.id == pool }
            let standbys = snapshot.map { p in readiness().view(p).filter { $0.role == .standby }
                .map { "\($0.hostname): \($0.reason)" } } ?? []
            let why = standbys.isEmpty ? "the pool has no standby" : standbys.joined(separator: "; ")
            _ = try Store.recordFailoverEvent(db, pool: pool, kind: "no_ready_standby", reason: "\(reason); \(why)",
                                              from: snapshot?.activeMemberID, unhealthySince: since, decidedBy: owner)
            try Store.enqueueAlert(db, AlertMessage(
                kind: .noReadyStandby, poolID: pool, subject: "[balctl] \(poolName(pool)): active member down, NO ready standby",
                text: "Pool: \(poolName(pool))\nActive: \(reason)\nUnhealthy since: \(Render.dateTime(since))\nStandbys: \(why)\nDNS was not changed.\n",
                facts: ["pool": .string(poolName(pool)), "reason": .string(reason), "standbys": .string(why)]))
        case let .clearNoStandby(pool):
            try db.execute(sql: "UPDATE pool_failover SET no_standby_alerted = 0 WHERE pool_id = ?", arguments: [pool])
        case let .heartbeatLost(pool, member, last):
            try db.execute(sql: "UPDATE members SET lost_alerted_at = ? WHERE id = ? AND lost_alerted_at IS NULL", arguments: [now(), member])
            guard db.changesCount == 1 else { return }
            let name = hostname(pool, member)
            try Store.enqueueAlert(db, AlertMessage(
                kind: .heartbeatLost, poolID: pool, subject: "[balctl] \(poolName(pool)): \(name) stopped sending heartbeats",
                text: "Pool: \(poolName(pool))\nMember: \(name)\nLast heartbeat: \(Render.dateTime(last))\n",
                facts: ["pool": .string(poolName(pool)), "member": .string(name), "lastHeartbeat": .number(last)]))
        case let .heartbeatRecovered(pool, member):
            try db.execute(sql: "UPDATE members SET lost_alerted_at = NULL WHERE id = ? AND lost_alerted_at IS NOT NULL", arguments: [member])
            guard db.changesCount == 1 else { return }
            let name = hostname(pool, member)
            try Store.enqueueAlert(db, AlertMessage(
                kind: .heartbeatRecovered, poolID: pool, subject: "[balctl] \(poolName(pool)): \(name) is sending heartbeats again",
                text: "Pool: \(poolName(pool))\nMember: \(name)\n", facts: ["pool": .string(poolName(pool)), "member": .string(name)]))
        case .promote, .syncAddress:
            break  // DNS writes: see `tick`
        }
    }
}

/// Runs the evaluator's ticks while the server runs; DNS writes go to a task group so shutdown
/// waits for a write in flight (its outcome is recorded) instead of abandoning it.
struct FailoverEvaluator: Service {
    let failover: Failover
    let intervalSec: Double

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            let handle = TaskGroupHandle()
            group.addTask {
                try? await runEvery(intervalSec, logger: failover.logger, what: "failover evaluation") {
                    try await failover.tick(group: handle)
                }
                handle.finish()
            }
            for await work in handle.stream { group.addTask { await work() } }
        }
    }
}

/// Hands work from a tick to the evaluator's task group.
final class TaskGroupHandle: Sendable {
    let stream: AsyncStream<@Sendable () async -> Void>
    private let continuation: AsyncStream<@Sendable () async -> Void>.Continuation
    init() { (stream, continuation) = AsyncStream.makeStream() }
    func add(_ work: @escaping @Sendable () async -> Void) { continuation.yield(work) }
    func finish() { continuation.finish() }
}
