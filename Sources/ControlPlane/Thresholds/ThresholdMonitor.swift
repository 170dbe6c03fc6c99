import BalctlProtocol
import Foundation
import Logging
import ServiceLifecycle
import SQLEngine
import Synchronization

/// Evaluates member alert thresholds on the reports agents send, off the heartbeat path.
///
/// The heartbeat route hands each stored report to `offer`, which keeps only the latest report
/// of each *watched* member (a member with a threshold in effect) — a dictionary write under a
/// lock, nothing parsed. Once a second `pass` decodes those reports, finds the crossings and
/// records them in one transaction. A member heartbeating ten times between passes is evaluated
/// once, on its newest figures. Heartbeat age has no report to arrive with: it is checked from
/// the stored heartbeat times every few passes.
///
/// Replicas: each evaluates the heartbeats it received; a crossing takes effect only if the
/// stored state still allows it (see `Store.applyCrossings`), so one crossing alerts once.
public final class ThresholdMonitor: Sendable {
    let store: Store
    let metrics: ServerMetrics
    let logger: Logger

    /// A member's reports are evaluated at most this often: decoding a report costs ~0.1 ms, and
    /// at 10,000 watched members heartbeating every second that would be a whole core. Every
    /// `minIntervalSec` the newest report is what counts, so a crossing alerts within that long.
    let minIntervalSec: Double

    private struct State {
        var watched: [Int64: WatchedMember] = [:]
        var pending: [Int64: String] = [:]
        var evaluatedAt: [Int64: Double] = [:]
    }
    private let state = Mutex(State())

    init(store: Store, metrics: ServerMetrics, logger: Logger, minIntervalSec: Double = 0) {
        self.store = store; self.metrics = metrics; self.logger = logger; self.minIntervalSec = minIntervalSec
    }

    /// The latest report of a watched member, for the next pass (nothing kept for a member whose
    /// only threshold is heartbeat age: its report has nothing to read).
    public func offer(member: Int64, report: String) {
        state.withLock { s in if s.watched[member]?.readsReports == true { s.pending[member] = report } }
    }

    /// Reloads which members are watched and which of their alerts are raised (thresholds set
    /// through any replica, members removed), and drops raised states whose threshold is gone.
    func refresh() async throws {
        let (watched, orphaned) = try await store.watchedMembers()
        state.withLock { s in
            s.watched = watched
            s.pending = s.pending.filter { watched[$0.key] != nil }
            s.evaluatedAt = s.evaluatedAt.filter { watched[$0.key] != nil }
        }
        if !orphaned.isEmpty { try await store.dropThresholdStates(orphaned) }
    }

    /// Evaluates the reports offered since the last pass. Returns the crossings recorded.
    @discardableResult
    func pass(at t: Double = now()) async throws -> [ThresholdCrossing] {
        let minInterval = minIntervalSec
        let (reports, watched) = state.withLock { s -> ([Int64: String], [Int64: WatchedMember]) in
            var due: [Int64: String] = [:]
            for (id, raw) in s.pending where t - (s.evaluatedAt[id] ?? -.infinity) >= minInterval {
                due[id] = raw
                s.evaluatedAt[id] = t
            }
            for id in due.keys { s.pending[id] = nil }
            return (due, s.watched)
        }
        var crossings: [ThresholdCrossing] = []
        for (id, raw) in reports {
            guard let member = watched[id] else { continue }
            crossings += Self.crossings(member, ThresholdEvaluation.readings(raw, wanted: Set(member.settings.keys)), report: raw)
        }
        return try await record(crossings, at: t)
    }

    /// `pass` for the benchmark: how many crossings were recorded.
    public func evaluatePending(at t: Double = now()) async throws -> Int { try await pass(at: t).count }

    /// Heartbeat age of every watched member that has that threshold (members never heard from
    /// are not aged: there is nothing to be late against).
    @discardableResult
    func checkHeartbeatAges(at t: Double = now()) async throws -> [ThresholdCrossing] {
        let watched = state.withLock { $0.watched.filter { $0.value.settings[.heartbeatAge] != nil } }
        guard !watched.isEmpty else { return [] }
        let last = try await store.lastHeartbeats(Array(watched.keys))
        var crossings: [ThresholdCrossing] = []
        for (id, member) in watched {
            guard let at = last[id] else { continue }
            crossings += Self.crossings(member, [.init(metric: .heartbeatAge, subject: "", value: max(0, t - at))], report: nil)
        }
        return try await record(crossings, at: t)
    }

    static func crossings(_ member: WatchedMember, _ readings: [ThresholdEvaluation.Reading], report: String?) -> [ThresholdCrossing] {
        var out: [ThresholdCrossing] = []
        // Red team (monitoring) R1: at most `maxSubjects` alerts of a metric raised per member.
        // A report's subjects are capped, but a report naming new mounts each time would still
        // add rows (and alerts) without end, since a subject no longer reported is never cleared.
        var raisedPerMetric: [ThresholdMetric: Int] = [:]
        for key in member.raised { raisedPerMetric[key.metric, default: 0] += 1 }
        for r in readings {
            guard let setting = member.settings[r.metric] else { continue }
            let raised = member.raised.contains(StateKey(metric: r.metric, subject: r.subject))
            switch ThresholdEvaluation.step(r.value, raised: raised, setting) {
            case .none: continue
            case .raise, .clear:
                if !raised {
                    guard raisedPerMetric[r.metric, default: 0] < ThresholdEvaluation.maxSubjects(r.metric) else { continue }
                    raisedPerMetric[r.metric, default: 0] += 1
                }
                var c = ThresholdCrossing(member: member, reading: r, setting: setting, raise: !raised)
                if r.metric == .haproxyDown, !raised, let report,
                   let stacks = try? JSONTree.decode(ThresholdEvaluation.Report.self, from: report).stacks,  // R5: linear
                   let down = ThresholdEvaluation.haproxyServersDown(stacks["haproxy"]) {
                    c.detail = "down: " + down.prefix(20).joined(separator: ", ") + (down.count > 20 ? " and \(down.count - 20) more" : "")
                }
                out.append(c)
            }
        }
        return out
    }

    private func record(_ crossings: [ThresholdCrossing], at t: Double) async throws -> [ThresholdCrossing] {
        guard !crossings.isEmpty else { return [] }
        let done = try await store.applyCrossings(crossings, at: t)
        // Whether this replica or another recorded it, the stored state is now the crossing's.
        state.withLock { s in
            for c in crossings {
                let key = StateKey(metric: c.reading.metric, subject: c.reading.subject)
                if c.raise { s.watched[c.member.id]?.raised.insert(key) } else { s.watched[c.member.id]?.raised.remove(key) }
            }
        }
        for c in done {
            metrics.thresholdAlert(metric: c.reading.metric.rawValue, state: c.raise ? "raised" : "cleared")
            logger.notice("threshold \(c.raise ? "raised" : "cleared"): \(c.reading.metric.rawValue)\(c.reading.subject.isEmpty ? "" : " " + c.reading.subject) = \(Render.number(c.reading.value)) on \(c.member.hostname)")
        }
        return done
    }
}

extension WatchedMember {
    /// A threshold on a figure from the report (anything but heartbeat age).
    var readsReports: Bool { settings.keys.contains { $0 != .heartbeatAge } }
}

/// Runs the monitor: a pass every `tickSec`, heartbeat ages and a refresh of what is watched
/// every `refreshSec`.
struct ThresholdMonitorService: Service {
    let monitor: ThresholdMonitor
    let tickSec: Double
    let refreshSec: Double

    func run() async throws {
        try? await monitor.refresh()
        await withDiscardingTaskGroup { group in
            group.addTask {
                try? await runEvery(refreshSec, logger: monitor.logger, what: "threshold refresh") {
                    try await monitor.refresh()
                    try await monitor.checkHeartbeatAges()
                }
            }
            group.addTask {
                try? await runEvery(tickSec, logger: monitor.logger, what: "threshold evaluation") {
                    try await monitor.pass()
                }
            }
        }
    }
}

extension Store {
    /// When each of `members` was last heard from.
    func lastHeartbeats(_ members: [Int64]) async throws -> [Int64: Double] {
        let wanted = Set(members)
        return try await db.read { db in
            var out: [Int64: Double] = [:]
            for row in try SQLRow.fetchAll(db, sql: "SELECT member_id, received_at FROM heartbeat_latest") {
                let id: Int64 = row["member_id"]
                if wanted.contains(id) { out[id] = row["received_at"] }
            }
            return out
        }
    }

    /// Raised states whose threshold was removed or switched off: they end without an alert
    /// (nobody watches that figure any more), leaving a "cleared" line in the history.
    func dropThresholdStates(_ keys: [(member: Int64, key: StateKey)], at t: Double = now()) async throws {
        try await db.write { db in
            for (member, key) in keys {
                guard let row = try SQLRow.fetchOne(db, sql: """
                    SELECT m.account_id, s.value, s.raise_at, s.clear_at FROM threshold_states s JOIN members m ON m.id = s.member_id
                    WHERE s.member_id = ? AND s.metric = ? AND s.subject = ?
                    """, arguments: [member, key.metric.rawValue, key.subject]) else { continue }
                try db.execute(sql: "DELETE FROM threshold_states WHERE member_id = ? AND metric = ? AND subject = ?",
                               arguments: [member, key.metric.rawValue, key.subject])
                try db.execute(sql: """
                    INSERT INTO threshold_events(account_id, member_id, metric, subject, state, value, raise_at, clear_at, at)
                    VALUES (?, ?, ?, ?, 'unwatched', ?, ?, ?, ?)
                    """, arguments: [row["account_id"] as Int64, member, key.metric.rawValue, key.subject, row["value"] as Double,
                                     row["raise_at"] as Double, row["clear_at"] as Double, t])
            }
        }
    }
}
