import BalctlProtocol
import Foundation
import SQLEngine
import GRDBSQLite  // sqlite3_libversion_number
import Synchronization
import Dispatch

/// A member whose agent proved who it is.
struct AgentIdentity: Sendable {
    var memberID: Int64
    var hostname: String
}

/// Secret → member, allowed IPs and hostname, kept a few seconds so a fleet heartbeating
/// every second does not cost a database read each. Rotating a secret, editing or removing a
/// member or deleting a pool clears it at once; replicas on the same PostgreSQL clear theirs when
/// the change's notification arrives (`AuthChangeListener`), and read through while they cannot
/// hear them.
///
/// A miss reads the database outside the lock, so a rotation can commit (and clear the cache)
/// while the read is under way: what that read found must not be stored after the clearing, or
/// the old secret would work for another `ttl` (issue 20 item 6). Each clearing starts a new
/// generation, and a read's result is stored only if the generation it began in is still current.
final class AgentAuthCache: Sendable {
    struct Entry: Sendable {
        var identity: AgentIdentity
        var allowed: [IPv4]
        var expires: Double
    }
    /// `trustedUntil`: replicas, the monotonic time (DispatchTime ns) until which this replica is
    /// sure it has heard every other replica's change (see `AuthChangeListener`); past it, lookups
    /// read through. Nil: a single process, every change is made here.
    private let state = Mutex<(entries: [String: Entry], generation: UInt64, trustedUntil: UInt64?)>(([:], 0, nil))
    let ttl: Double = 5

    /// The live entry for `key`, or what `read` finds (nil: no such secret). `read`'s result is
    /// cached unless `invalidateAll()` ran since the lookup began.
    func entry(_ key: String, at t: Double, read: () async throws -> Entry?) async throws -> Entry? {
        let (hit, generation, bypass) = state.withLock { s -> (Entry?, UInt64, Bool) in
            if let until = s.trustedUntil, DispatchTime.now().uptimeNanoseconds > until { return (nil, s.generation, true) }
            if let hit = s.entries[key] {
                if hit.expires >= t { return (hit, s.generation, false) }
                s.entries[key] = nil
            }
            return (nil, s.generation, false)
        }
        if let hit { return hit }
        guard let found = try await read() else { return nil }
        if bypass { return found }
        state.withLock { s in
            guard s.generation == generation else { return }  // read before an invalidation
            if s.entries.count > 100_000 { s.entries.removeAll() }  // bound memory under a flood of members
            s.entries[key] = found
        }
        return found
    }

    /// Replicas on PostgreSQL: from now on entries serve only while this replica has proof it
    /// hears the others (`heard(asOf:)`); until the first proof, every lookup reads the database.
    func requireProof() {
        state.withLock { s in
            s.trustedUntil = 0
            s.entries.removeAll()
            s.generation &+= 1
        }
    }

    /// Every change committed before `sentAt` (DispatchTime ns) has been heard: entries may serve
    /// for `proofSec` after it.
    func heard(asOf sentAt: UInt64) {
        state.withLock { s in
            guard let until = s.trustedUntil else { return }
            // Never trust beyond now + proofSec, whatever the stamp says.
            let now = DispatchTime.now().uptimeNanoseconds
            s.trustedUntil = max(until, min(sentAt, now) &+ UInt64(Self.proofSec * 1e9))
        }
    }
    static let proofSec: Double = 1

    /// Forget every entry, and every lookup still reading.
    func invalidateAll() {
        state.withLock { s in
            s.entries.removeAll()
            s.generation &+= 1
        }
    }
}

/// Heartbeat settings.
public struct HeartbeatPolicy: Sendable {
    /// The authoritative interval handed to agents (1–60 s).
    public var intervalSec: Int = 1
    /// One report per member is kept in the history at most this often…
    public var historySampleSec: Double = 60
    /// …and this many are kept per member (a day at the default sampling)…
    public var historyKeep: Int = 1440
    /// …within this many bytes per member, oldest samples dropped first (issue 20 item 7)…
    public var historyMaxBytesPerMember: Int = 4 << 20
    /// …each sample at most this large: a bigger report is kept trimmed to what the history views
    /// read (see `HistorySample`).
    public var historySampleMaxBytes: Int = 16 << 10
    /// One `members/:id/heartbeats` response carries at most this many bytes of reports.
    public var historyResponseMaxBytes: Int = 4 << 20
    public init() {}
}

extension Store {
    /// Bearer secret → member (401 when unknown); client IP must be allow-listed and the hostname
    /// must match, case-insensitively (403 otherwise).
    func authenticateAgent(secret: String?, clientIP: IPv4?, hostname: String?) async throws -> AgentIdentity {
        guard let secret, Enrollment.isWellFormedSecret(secret) else {
            throw ControlPlaneError.unauthorized("missing or malformed enrollment secret (expected Authorization: Bearer <48 hex>)")
        }
        // The cache is keyed by the secret itself (memory only), so a hit costs no hashing.
        let key = secret.lowercased()
        let t = now()
        let entry = try await authCache.entry(key, at: t) { try await readAgentEntry(secret: key, at: t) }
        guard let found = entry else { throw ControlPlaneError.unauthorized("unknown enrollment secret") }
        guard let clientIP else { throw ControlPlaneError.forbidden("no client IP could be determined") }
        guard found.allowed.contains(clientIP) else {
            throw ControlPlaneError.forbidden("source IP \(clientIP) is not in this member's allowed IPs")
        }
        let enrolled = found.identity.hostname
        if let hostname, hostname.lowercased() != enrolled.lowercased() {
            throw ControlPlaneError.forbidden("hostname '\(hostname)' does not match the enrolled hostname '\(enrolled)' (set BALCTL_HOSTNAME)")
        }
        return found.identity
    }

    /// The member a (lower-case) secret belongs to, from the database; nil when none does.
    func readAgentEntry(secret key: String, at t: Double) async throws -> AgentAuthCache.Entry? {
        let hash = Secrets.sha256Hex(key)
        // Rows are not Sendable: map inside, or the blocking (non-async) read gets picked.
        let found = try await db.read { db -> (id: Int64, hostname: String, allowed: String)? in
            try SQLRow.fetchOne(db.cachedStatement(sql: "SELECT id, hostname, allowed_ips FROM members WHERE secret_hash = ?"),
                             arguments: [hash]).map { ($0["id"], $0["hostname"], $0["allowed_ips"]) }
        }
        return found.map {
            AgentAuthCache.Entry(identity: AgentIdentity(memberID: $0.id, hostname: $0.hostname),
                                 allowed: $0.allowed.split(separator: ",").compactMap { IPv4($0) }, expires: t + authCache.ttl)
        }
    }

    /// SQLite 3.35+ (Debian 12 has 3.40) can return a row from an upsert; RHEL 9's 3.34 cannot.
    static let upsertCanReturn = sqlite3_libversion_number() >= 3_035_000

    /// Keeps the latest report of a member; true when this one also goes to the history (the
    /// last sample is `sampleSec` old, or there is none). Where SQLite allows, one statement does
    /// both (a statement less per heartbeat); otherwise history_at is read first.
    @discardableResult
    static func storeLatest(_ db: any SQLConnection, member: Int64, at t: Double, ip: String, version: String, report: String,
                            facts: FailoverFacts = FailoverFacts(), sampleSec: Double,
                            returning: Bool? = nil) throws -> Bool {
        try storeLatestReturning(db, member: member, at: t, ip: ip, version: version, report: report, facts: facts,
                                 sampleSec: sampleSec, returning: returning).keepHistory
    }

    /// As `storeLatest`, and whether the member has a pending job (nil: not known, ask). The
    /// returning upsert answers both in one statement, so the common heartbeat (no job waiting)
    /// costs one round trip on PostgreSQL instead of two.
    static func storeLatestReturning(_ db: any SQLConnection, member: Int64, at t: Double, ip: String, version: String, report: String,
                                     facts: FailoverFacts = FailoverFacts(), sampleSec: Double,
                                     returning: Bool? = nil) throws -> (keepHistory: Bool, hasPending: Bool?) {
        if returning ?? (db.dialect == .postgres || upsertCanReturn) {
            let row = try SQLRow.fetchOne(db.cachedStatement(sql: upsertReturning[db.dialect]!),
                                          arguments: [member, t, ip, version, report, sampleSec, facts.publicIP, facts.haproxyActive])
            return ((row?[0] as Double?) == t, row?[1] as Bool?)
        }
        let last = try Double.fetchOne(db.cachedStatement(sql: "SELECT history_at FROM heartbeat_latest WHERE member_id = ?"),
                                       arguments: [member])
        let keep = last.map { t - $0 >= sampleSec } ?? true
        try db.cachedStatement(sql: upsertPlain[db.dialect]!)
            .execute(arguments: [member, t, ip, version, report, keep ? t : last ?? t, facts.publicIP, facts.haproxyActive])
        return (keep, nil)
    }

    /// The latest-report upsert per dialect, built once: it runs for every heartbeat, and
    /// building (and hashing) its text each time was a measurable part of one. ?8 is cast:
    /// PostgreSQL must give a NULL parameter used twice one type.
    static let upsertReturning = Dictionary(uniqueKeysWithValues: SQLDialect.allCases.map { ($0, upsertSQL($0, returning: true)) })
    static let upsertPlain = Dictionary(uniqueKeysWithValues: SQLDialect.allCases.map { ($0, upsertSQL($0, returning: false)) })

    static func upsertSQL(_ d: SQLDialect, returning: Bool) -> String {
        let historyAt = returning
            ? """
              CASE WHEN excluded.received_at - heartbeat_latest.history_at >= ?6 THEN excluded.received_at
                                ELSE heartbeat_latest.history_at END
              """
            : "excluded.history_at"
        return """
            INSERT INTO heartbeat_latest(member_id, received_at, source_ip, agent_version, report, history_at,
                                         public_ip, public_ip_streak, haproxy_active, haproxy_inactive_since)
            VALUES (?1, ?2, ?3, ?4, ?5, \(returning ? "?2" : "?6"), ?7, 1, CAST(?8 AS BIGINT), CASE WHEN CAST(?8 AS BIGINT) = 0 THEN ?2 END)
            ON CONFLICT(member_id) DO UPDATE SET received_at = excluded.received_at,
                source_ip = excluded.source_ip, agent_version = excluded.agent_version, report = excluded.report,
                history_at = \(historyAt),
                \(failoverFactsUpdate(d))
            \(returning ? "RETURNING history_at, EXISTS(SELECT 1 FROM jobs WHERE member_id = ?1 AND state = 'pending')" : "")
            """
    }

    /// The upsert's update of what failover reads: how many heartbeats in a row carried this
    /// public IP (dynamic DNS acts on 2, so it counts no further: a settled value fires no
    /// failover_generation trigger), and since when haproxy has been reported inactive.
    static func failoverFactsUpdate(_ d: SQLDialect) -> String { """
        public_ip_streak = CASE WHEN \(d.same("heartbeat_latest.public_ip", "excluded.public_ip"))
                                THEN \(d.least("heartbeat_latest.public_ip_streak + 1", "2")) ELSE 1 END,
        public_ip = excluded.public_ip,
        haproxy_inactive_since = CASE WHEN excluded.haproxy_active = 0
                                      THEN COALESCE(heartbeat_latest.haproxy_inactive_since, excluded.received_at) END,
        haproxy_active = excluded.haproxy_active
        """
    }

    /// Adds a sample to a member's history, then drops its oldest samples beyond the count and
    /// the byte budget. Runs once per member per `historySampleSec`, not per heartbeat.
    static func storeHistorySample(_ db: any SQLConnection, member: Int64, at t: Double, ip: String, sample: String,
                                   policy: HeartbeatPolicy) throws {
        try db.cachedStatement(sql: "INSERT INTO heartbeat_history(member_id, received_at, source_ip, report, bytes) VALUES (?, ?, ?, ?, ?)")
            .execute(arguments: [member, t, ip, sample, sample.utf8.count])
        try db.cachedStatement(sql: """
            DELETE FROM heartbeat_history WHERE member_id = ? AND id <= (
                SELECT id FROM heartbeat_history WHERE member_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)
            """).execute(arguments: [member, member, policy.historyKeep])
        // The newest sample whose running total (newest first) passes the budget, and all older.
        // `bytes` is in the (member_id, id, bytes) index, so no report is read to add them up.
        try db.cachedStatement(sql: """
            DELETE FROM heartbeat_history WHERE member_id = ?1 AND id <= (
                SELECT id FROM (SELECT id, SUM(bytes) OVER (ORDER BY id DESC ROWS UNBOUNDED PRECEDING) AS newer
                                FROM heartbeat_history WHERE member_id = ?1) AS running
                WHERE newer > ?2 ORDER BY id DESC LIMIT 1)
            """).execute(arguments: [member, policy.historyMaxBytesPerMember])
    }

    /// Store the report (latest row, sampled history), renew the leases of the jobs the agent
    /// says it runs, and claim pending jobs, inside the caller's transaction.
    static func applyHeartbeat(_ db: any SQLConnection, _ agent: AgentIdentity, report: HeartbeatEnvelope, rawReport: String, sourceIP: IPv4,
                               heartbeat: HeartbeatPolicy, queue: QueuePolicy) throws -> HeartbeatOutcome {
        do {
            let t = now()
            let (keepHistory, hasPending) = try storeLatestReturning(db, member: agent.memberID, at: t, ip: sourceIP.description,
                                                                     version: report.agentVersion, report: rawReport,
                                                                     facts: FailoverFacts(report), sampleSec: heartbeat.historySampleSec)
            if keepHistory {
                try storeHistorySample(db, member: agent.memberID, at: t, ip: sourceIP.description,
                                       sample: HistorySample.make(rawReport, envelope: report, maxBytes: heartbeat.historySampleMaxBytes),
                                       policy: heartbeat)
            }
            if report.hasUpdateEvents { try AgentUpdateEvents.record(db, member: agent.memberID, rawReport: rawReport) }
            // A new version on trial proves it can heartbeat; the agent it replaces still holds the jobs.
            if report.updateTrial { return HeartbeatOutcome(jobs: [], cancels: []) }
            let lease = t + Double(queue.leaseSec)
            var cancels: [JobRef] = []
            if !report.jobsInFlight.isEmpty {
                let renew = try db.cachedStatement(sql: """
                    UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND member_id = ? AND attempt = ? AND state = 'running'
                    """)
                // Not running on this attempt, and not because the agent itself reported it.
                let stopped = try db.cachedStatement(sql: """
                    SELECT EXISTS(SELECT 1 FROM jobs WHERE id = ? AND member_id = ? AND NOT (attempt = ? AND agent_reported = 1))
                    """)
                for ref in report.jobsInFlight.prefix(256) {
                    try renew.execute(arguments: [lease, ref.id, agent.memberID, ref.attempt])
                    // An attempt this member's agent still runs that the control plane ended itself
                    // (timed out, cancelled past its lease) or re-offered: the agent stops it.
                    if db.changesCount == 0,
                       try Bool.fetchOne(stopped, arguments: [ref.id, agent.memberID, ref.attempt]) == true {
                        cancels.append(ref)
                    }
                }
                cancels += try SQLRow.fetchAll(db.cachedStatement(sql: """
                    SELECT id, attempt FROM jobs WHERE member_id = ? AND state = 'running' AND cancel_requested = 1
                    """), arguments: [agent.memberID]).map { JobRef(id: $0["id"], attempt: $0["attempt"]) }
            }
            let pending = hasPending == false ? [] : try SQLRow.fetchAll(db.cachedStatement(sql: """
                SELECT id, command, params, attempt, timeout_sec, check_mode, cancel_requested, created_at FROM jobs
                WHERE member_id = ? AND state = 'pending' ORDER BY priority DESC, id LIMIT ?
                """), arguments: [agent.memberID, queue.claimBatch])
            var jobs: [ClaimedJob] = []
            var waits: [Double] = []
            var deadlines = DeadlineChain(start: t, queue: queue)
            if !pending.isEmpty { try deadlines.seed(db, member: agent.memberID) }
            for row in pending {
                let id: Int64 = row["id"], attempt: Int = row["attempt"], command: String = row["command"]
                if row["cancel_requested"] as Bool {
                    // Never hand out a job an operator cancelled (a cancel is final on every path).
                    try Self.endJob(db, id, attempt: attempt, .cancelled, error: "cancelled before it was offered again",
                                    event: "cancelled", "not offered again: a cancel was requested", at: t)
                    continue
                }
                let timeout: Int = row["timeout_sec"]
                try db.cachedStatement(sql: """
                    UPDATE jobs SET state = 'running', lease_expires_at = ?, deadline_at = ?, started_at = COALESCE(started_at, ?) WHERE id = ?
                    """).execute(arguments: [lease, deadlines.claim(command, timeoutSec: timeout), t, id])
                try Self.event(db, id, attempt, "claimed", "by \(agent.hostname) (attempt \(attempt))")
                let paramsText: String = row["params"]
                jobs.append(ClaimedJob(
                    id: id, command: command,
                    params: (try? JSONTree.parse(paramsText)) ?? .emptyObject,
                    attempt: attempt, leaseSec: queue.leaseSec, timeoutSec: timeout,
                    checkMode: row["check_mode"]))
                // Enqueue → first claim; a re-offered attempt's wait includes the attempt before it.
                if attempt == 1 { waits.append(t - (row["created_at"] as Double)) }
            }
            return HeartbeatOutcome(jobs: jobs, cancels: cancels, claimWaits: waits)
        }
    }
}

/// Deadlines of the jobs a heartbeat claims. The agent starts a job's timeout when the job starts,
/// and runs the jobs on one lock one after another, so a job on a lock may start only when the
/// ones ahead of it on that lock have ended: its deadline counts from the latest of theirs (less
/// their grace). A job with no lock starts at once.
struct DeadlineChain {
    let grace: Double
    let locks: [String: String]
    /// Per lock, when the last job on it must have ended at the latest.
    var lockFree: [String: Double] = [:]
    let start: Double

    init(start: Double, queue: QueuePolicy) {
        self.start = start; grace = Double(queue.deadlineGraceSec); locks = queue.commandLocks
    }

    /// Start from the member's running jobs.
    mutating func seed(_ db: any SQLConnection, member: Int64) throws {
        for row in try SQLRow.fetchAll(db.cachedStatement(sql: """
            SELECT command, deadline_at FROM jobs WHERE member_id = ? AND state = 'running' AND deadline_at IS NOT NULL
            """), arguments: [member]) {
            guard let lock = locks[row["command"] as String] else { continue }
            lockFree[lock] = max(lockFree[lock] ?? start, (row["deadline_at"] as Double) - grace)
        }
    }

    /// The deadline of a job claimed now.
    mutating func claim(_ command: String, timeoutSec: Int) -> Double {
        guard let lock = locks[command] else { return start + Double(timeoutSec) + grace }
        let ends = max(lockFree[lock] ?? start, start) + Double(timeoutSec)
        lockFree[lock] = ends
        return ends + grace
    }
}

/// What the failover evaluator needs of a heartbeat, stored in columns beside the report.
struct FailoverFacts: Sendable {
    /// A well-formed IPv4 only: anything else the agent sent counts as none.
    var publicIP: String? = nil
    var haproxyActive: Bool? = nil
    init() {}
    init(_ envelope: HeartbeatEnvelope) {
        publicIP = envelope.publicIPv4.flatMap { IPv4($0)?.description }
        haproxyActive = envelope.haproxyActive
    }
}

struct HeartbeatOutcome: Sendable {
    var jobs: [ClaimedJob]
    var cancels: [JobRef]
    /// Seconds each claimed job waited since it was enqueued (metrics).
    var claimWaits: [Double] = []
}

/// Group commit for heartbeats: requests that arrive while a write is in progress are written
/// together in the next transaction. Under load one transaction carries many heartbeats; an idle
/// server writes each at once. Batches are written one after the other (on PostgreSQL too:
/// concurrent batches measured no faster on 2 cores, and two batches claiming one member's jobs
/// conflict and run again whole). A heartbeat that fails fails alone (see `writeEach`); agents
/// whose heartbeat failed retry on their next beat.
final class HeartbeatWriter: Sendable {
    /// One authenticated heartbeat, ready to be written.
    struct Heartbeat: Sendable {
        var agent: AgentIdentity
        var report: HeartbeatEnvelope
        var raw: String
        var ip: IPv4
    }
    struct Item: Sendable {
        var heartbeat: Heartbeat
        var done: CheckedContinuation<HeartbeatOutcome, any Error>
    }
    private let state = Mutex<(pending: [Item], writers: Int)>(([], 0))
    let store: Store
    let heartbeat: HeartbeatPolicy
    let queue: QueuePolicy
    let maxBatch = 256
    let maxWriters: Int

    init(store: Store, heartbeat: HeartbeatPolicy, queue: QueuePolicy) {
        self.store = store; self.heartbeat = heartbeat; self.queue = queue
        maxWriters = 1
    }

    func record(_ agent: AgentIdentity, report: HeartbeatEnvelope, raw: String, ip: IPv4) async throws -> HeartbeatOutcome {
        try await withCheckedThrowingContinuation { cont in
            let item = Item(heartbeat: Heartbeat(agent: agent, report: report, raw: raw, ip: ip), done: cont)
            let startWriting = state.withLock { s in
                s.pending.append(item)
                if s.writers >= maxWriters { return false }
                s.writers += 1
                return true
            }
            if startWriting { writeNextBatch() }
        }
    }

    /// Writes what is pending in one transaction; when it is committed, the requests that came
    /// in meanwhile follow as the next batch, until nothing is pending. One batch at a time
    /// (`writers`), so batches commit in order. The batch goes to the engine's own writer (SQLite:
    /// GRDB's writer queue) and is resumed from there; only a failed batch takes a task, to write
    /// its heartbeats one by one.
    private func writeNextBatch() {
        let batch: [Item] = state.withLock { s in
            let take = Array(s.pending.prefix(maxBatch))
            s.pending.removeFirst(take.count)
            if take.isEmpty { s.writers -= 1 }
            return take
        }
        if batch.isEmpty { return }
        let (heartbeat, queue, db) = (self.heartbeat, self.queue, store.db)
        let heartbeats = batch.map(\.heartbeat)
        db.write({ c in try heartbeats.map { try Self.apply(c, $0, heartbeat: heartbeat, queue: queue) } }) { result in
            switch result {
            case .success(let outcomes):
                for (item, outcome) in zip(batch, outcomes) { item.done.resume(returning: outcome) }
                self.writeNextBatch()
            case .failure(let e as SQLError) where e.kind == .commitUnknown:
                // The batch may have committed: writing each again could claim jobs twice over.
                // Every agent retries on its next beat; jobs claimed unseen come back after the lease.
                for item in batch { item.done.resume(throwing: e) }
                self.writeNextBatch()
            case .failure:
                Task {
                    let outcomes = await Self.writeEach(heartbeats, db, heartbeat: heartbeat, queue: queue)
                    for (item, outcome) in zip(batch, outcomes) { item.done.resume(with: outcome) }
                    self.writeNextBatch()
                }
            }
        }
    }

    static func apply(_ c: any SQLConnection, _ hb: Heartbeat, heartbeat: HeartbeatPolicy, queue: QueuePolicy) throws -> HeartbeatOutcome {
        try Store.applyHeartbeat(c, hb.agent, report: hb.report, rawReport: hb.raw, sourceIP: hb.ip,
                                 heartbeat: heartbeat, queue: queue)
    }

    /// One heartbeat per transaction, so only the one at fault fails.
    static func writeEach(_ batch: [Heartbeat], _ db: any SQLDatabase, heartbeat: HeartbeatPolicy,
                          queue: QueuePolicy) async -> [Result<HeartbeatOutcome, any Error>] {
        var outcomes: [Result<HeartbeatOutcome, any Error>] = []
        for hb in batch {
            do { outcomes.append(.success(try await db.write { c in try apply(c, hb, heartbeat: heartbeat, queue: queue) })) } catch {
                outcomes.append(.failure(error))
            }
        }
        return outcomes
    }

    /// Writes a batch in one transaction. Should that fail (a member was removed a moment ago,
    /// say), each heartbeat is written again in a transaction of its own, so only the one at
    /// fault fails. Savepoints would do the same in one pass but doubled the cost of every batch.
    static func write(_ batch: [Heartbeat], _ db: any SQLDatabase, heartbeat: HeartbeatPolicy,
                      queue: QueuePolicy) async -> [Result<HeartbeatOutcome, any Error>] {
        do {
            return try await db.write { c in try batch.map { try apply(c, $0, heartbeat: heartbeat, queue: queue) } }.map { .success($0) }
        } catch let e as SQLError where e.kind == .commitUnknown {
            // The batch may have committed: writing each again could claim jobs twice over.
            return batch.map { _ in .failure(e) }
        } catch {
            return await writeEach(batch, db, heartbeat: heartbeat, queue: queue)
        }
    }
}
