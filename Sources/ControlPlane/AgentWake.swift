import Foundation
import GRDB
import NIOConcurrencyHelpers
import SQLEngine
import ServiceLifecycle

/// Agents parked on `GET /api/agents/wait`, one request per member, answered at once when work
/// for that member is committed (a job enqueued, a cancel asked), so a job starts within a round
/// trip instead of on the next heartbeat. The claim itself stays in the heartbeat: a wake only
/// tells the agent to beat now (one path for leases and fencing).
///
/// A wake for a member that is not waiting (its agent is between two waits, beating) is kept and
/// answers the next wait at once, so work committed in that gap is never left for the interval.
/// Where the wake comes from: the database, at commit (`SQLiteJobWakes`, `WakeListener`), so
/// every way a job is made (operator, recipe step, schedule, update rollout) wakes its member,
/// and on PostgreSQL every replica hears it, whichever replica the agent waits on.
public final class AgentWakeHub: Sendable {
    private struct Waiter {
        let token: UInt64
        let continuation: CheckedContinuation<Bool, Never>
    }
    private struct State {
        var waiters: [Int64: Waiter] = [:]
        var pending = Set<Int64>()
        var next: UInt64 = 0
        /// The server is shutting down: no request is parked any more.
        var closed = false
    }
    private let state = NIOLockedValueBox(State())

    public init() {}

    /// Park until work for `member` is committed (true) or `timeoutSec` has passed (false). A
    /// second wait of the same member (its agent restarted) answers the first with false.
    public func wait(member: Int64, timeoutSec: Double) async -> Bool {
        enum Start { case pendingWork, closed, park(UInt64) }
        let start: Start = state.withLockedValue { s in
            if s.closed { return .closed }
            if s.pending.remove(member) != nil { return .pendingWork }
            s.next &+= 1
            return .park(s.next)
        }
        let token: UInt64
        switch start {
        case .pendingWork: return true
        case .closed: return false
        case .park(let t): token = t
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                let (displaced, closed): (Waiter?, Bool) = state.withLockedValue { s in
                    if s.closed { return (nil, true) }
                    let old = s.waiters[member]
                    s.waiters[member] = Waiter(token: token, continuation: c)
                    return (old, false)
                }
                displaced?.continuation.resume(returning: false)
                if closed { c.resume(returning: false); return }
                Task { [weak self] in
                    try? await Task.sleep(for: .seconds(timeoutSec))
                    self?.finish(member, token)
                }
            }
        } onCancel: {
            finish(member, token)
        }
    }

    /// The waiter `token` of `member` gives up (timeout, client gone); a no-op once it was woken.
    private func finish(_ member: Int64, _ token: UInt64) {
        let waiter: Waiter? = state.withLockedValue { s in
            guard let w = s.waiters[member], w.token == token else { return nil }
            s.waiters[member] = nil
            return w
        }
        waiter?.continuation.resume(returning: false)
    }

    /// Work for these members was committed.
    public func wake<S: Sequence>(_ members: S) where S.Element == Int64 {
        let woken: [Waiter] = state.withLockedValue { s in
            var out: [Waiter] = []
            for m in members {
                if let w = s.waiters.removeValue(forKey: m) { out.append(w) } else { s.pending.insert(m) }
            }
            return out
        }
        for w in woken { w.continuation.resume(returning: true) }
    }

    /// Every waiting agent beats now (the database's notifications may have been missed: the
    /// LISTEN connection was lost). Those not waiting get nothing: their next beat is due anyway.
    public func wakeAll() {
        let woken: [Waiter] = state.withLockedValue { s in
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for w in woken { w.continuation.resume(returning: true) }
    }

    /// Graceful shutdown: every parked request is answered ("no work") and none is parked again,
    /// so the HTTP server's drain does not wait out the 25 s of each wait.
    public func close() {
        let woken: [Waiter] = state.withLockedValue { s in
            s.closed = true
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for w in woken { w.continuation.resume(returning: false) }
    }

    /// Agents parked right now (for `/metrics` and the benchmark).
    public var waiting: Int { state.withLockedValue { $0.waiters.count } }

    /// Hear the database's commits: on SQLite an observer is installed now (held by the database
    /// for its lifetime); on PostgreSQL the returned service listens (run it with the others).
    func attach(to db: any SQLDatabase) -> WakeListener? {
        if let sqlite = db as? SQLiteEngine {
            sqlite.pool.add(transactionObserver: SQLiteJobWakes(hub: self), extent: .databaseLifetime)
            return nil
        }
        return (db as? PostgresEngine).map { WakeListener(engine: $0, hub: self) }
    }
}

/// Closes the hub when graceful shutdown begins. Listed after the HTTP server in the service
/// group, so it is told first (the group shuts services down in reverse order).
struct WakeHubCloser: Service {
    let hub: AgentWakeHub
    func run() async throws {
        try? await gracefulShutdown()
        hub.close()
    }
}

/// SQLite (one process): a transaction observer sees the `jobs` rows inserted and the cancels
/// asked, and wakes their members once the transaction has committed (never before: an agent
/// woken early would find nothing to claim).
final class SQLiteJobWakes: TransactionObserver, @unchecked Sendable {
    private let hub: AgentWakeHub
    /// Job row IDs changed by the transaction in progress (touched only on the writer's queue).
    private var jobs: [Int64] = []

    init(hub: AgentWakeHub) { self.hub = hub }

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        switch eventKind {
        case .insert(let table): return table == "jobs"
        case .update(let table, let columns): return table == "jobs" && columns.contains("cancel_requested")
        case .delete: return false
        }
    }

    func databaseDidChange(with event: DatabaseEvent) { jobs.append(event.rowID) }

    func databaseDidCommit(_ db: Database) {
        guard !jobs.isEmpty else { return }
        let ids = jobs
        jobs = []
        // Still on the writer, after COMMIT: the rows are there to read.
        let members = (try? Int64.fetchAll(db, sql: "SELECT DISTINCT member_id FROM jobs WHERE id IN (\(ids.map(String.init).joined(separator: ",")))")) ?? []
        hub.wake(members)
    }

    func databaseDidRollback(_ db: Database) { jobs = [] }
}

/// PostgreSQL: the `jobs` triggers notify `Store.wakeChannel` with the member ID at commit; every
/// replica listens and wakes the agents parked on it. While the LISTEN connection is down,
/// notifications are lost, so every parked agent is woken when it is back (it beats, and claims
/// whatever it missed).
struct WakeListener: Service {
    let engine: PostgresEngine
    let hub: AgentWakeHub

    func run() async throws {
        let hub = self.hub
        await cancelWhenGracefulShutdown {
            await engine.listen(channel: Store.wakeChannel,
                                onListening: { listening in if listening { hub.wakeAll() } },
                                onNotification: { payload in if let member = Int64(payload) { hub.wake([member]) } })
        }
    }
}
