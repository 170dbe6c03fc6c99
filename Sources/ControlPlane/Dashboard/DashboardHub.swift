import BalctlProtocol
import Foundation
import Logging
import SQLEngine

/// One live piece of a pool's pages: a member card, a job row, the traffic-flow line, the KPIs, a
/// HAProxy server's status. `value` is what a stream compares with what it last sent; `text` is
/// the ready SSE event.
struct DashboardPiece: Sendable, Equatable {
    let key: String
    let value: String
    let text: String
}

/// What a pool's poller publishes every tick. `version` changes only when the store did, so a
/// stream compares its pieces only then; the tick itself (every `intervalSec`) is the stream's
/// clock for keep-alives, shutdown and session checks.
struct DashboardTick: Sendable {
    let version: UInt64
    let pieces: [DashboardPiece]
}

/// The SSE fan-out (issue 19): ONE poller per pool with watchers, not one per connection. It
/// reads the pool's fingerprint once a second (one small indexed query); only when that changed
/// does it load and render the overview's pieces — once, for every connected page of that pool.
/// The pages of a pool all belong to the pool's account, so they see the same pieces; the key
/// includes the account all the same, so a poller never renders for anyone but its own tenant.
///
/// Bounds: `maxStreams` streams per server (past it a new stream gets 503 and EventSource retries
/// later); the per-user bound is `DashboardStreams`.
actor DashboardHub {
    struct Key: Hashable { var pool: Int64; var account: Int64; var solo: UInt64 }

    final class Poller {
        var subscribers: [UInt64: AsyncStream<DashboardTick>.Continuation] = [:]
        /// The session token hash of each stream that has one (checked in one query per round).
        var sessions: [UInt64: String] = [:]
        var task: Task<Void, Never>?
        var latest: DashboardTick?
    }

    let maxStreams: Int
    let intervalSec: Double
    /// The streams' sessions are checked this often (sign-out, expiry, user removed: red team D2),
    /// without sliding their expiry (an open tab is not a person using it).
    let sessionCheckSec: Double
    /// false: every stream gets its own poller — what the dashboard did before the hub; kept only
    /// so `balctl-bench dashboard --sse-clients` can measure the difference on the same code.
    let shared: Bool
    private var pollers: [Key: Poller] = [:]
    private var where_: [UInt64: Key] = [:]
    private var nextID: UInt64 = 0
    /// Fingerprint reads and renders since start (tests and the bench).
    private(set) var reads = 0
    private(set) var renders = 0

    init(maxStreams: Int = 1000, intervalSec: Double = 1, sessionCheckSec: Double = 3, shared: Bool = true) {
        self.maxStreams = maxStreams
        self.intervalSec = intervalSec
        self.sessionCheckSec = sessionCheckSec
        self.shared = shared
    }

    var streamCount: Int { where_.count }
    var pollerCount: Int { pollers.count }

    struct Full: Error {}

    /// A stream of ticks for `pool` as `op` sees it, starting with the latest one when the poller
    /// already runs. Throws `Full` past `maxStreams`.
    func subscribe(server: ControlPlane, pool: Int64, op: Operator, tokenHash: String? = nil) throws -> (id: UInt64, ticks: AsyncStream<DashboardTick>) {
        guard where_.count < maxStreams else { throw Full() }
        nextID += 1
        let id = nextID
        let key = Key(pool: pool, account: op.accountID, solo: shared ? 0 : id)
        let (stream, continuation) = AsyncStream.makeStream(of: DashboardTick.self, bufferingPolicy: .bufferingNewest(1))
        let poller = pollers[key] ?? Poller()
        poller.subscribers[id] = continuation
        if let tokenHash { poller.sessions[id] = tokenHash }
        where_[id] = key
        pollers[key] = poller
        if let latest = poller.latest { continuation.yield(latest) }
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            Task { await self.unsubscribe(id) }
        }
        if poller.task == nil {
            let interval = intervalSec, check = sessionCheckSec
            poller.task = Task { [weak self] in
                await Self.poll(hub: self, key: key, server: server, op: op, intervalSec: interval, sessionCheckSec: check)
            }
        }
        return (id, stream)
    }

    /// A stream went away: its poller stops with the last one.
    func unsubscribe(_ id: UInt64) {
        guard let key = where_.removeValue(forKey: id), let poller = pollers[key] else { return }
        poller.subscribers.removeValue(forKey: id)?.finish()
        poller.sessions[id] = nil
        if poller.subscribers.isEmpty {
            poller.task?.cancel()
            pollers[key] = nil
        }
    }

    private func publish(_ key: Key, _ tick: DashboardTick) {
        guard let poller = pollers[key] else { return }
        poller.latest = tick
        for c in poller.subscribers.values { c.yield(tick) }
    }

    /// The pool is gone (or no longer this account's): every stream of it ends.
    private func end(_ key: Key) {
        guard let poller = pollers.removeValue(forKey: key) else { return }
        for (id, c) in poller.subscribers {
            where_[id] = nil
            c.finish()
        }
    }

    private func sessions(_ key: Key) -> [UInt64: String] { pollers[key]?.sessions ?? [:] }

    /// Ends the streams whose session is not among `live`.
    private func endExpired(_ key: Key, live: Set<String>) {
        guard let poller = pollers[key] else { return }
        for (id, token) in poller.sessions where !live.contains(token) { unsubscribe(id) }
    }

    private func counted(read: Bool, render: Bool) {
        if read { reads += 1 }
        if render { renders += 1 }
    }

    private static func poll(hub: DashboardHub?, key: Key, server: ControlPlane, op: Operator, intervalSec: Double,
                             sessionCheckSec: Double) async {
        var last: DashboardFingerprint? = nil
        var version: UInt64 = 0
        var pieces: [DashboardPiece] = []
        var sessionsCheckedAt = ContinuousClock.now
        while !Task.isCancelled, let hub {
            do {
                if ContinuousClock.now - sessionsCheckedAt >= .milliseconds(Int(sessionCheckSec * 1000)) {
                    let tokens = await hub.sessions(key)
                    if !tokens.isEmpty {
                        await hub.endExpired(key, live: try await server.store.liveWebSessions(Array(Set(tokens.values))))
                    }
                    sessionsCheckedAt = .now
                }
                let f = try await DashboardFingerprint.read(server.store, pool: key.pool)
                let changed = f != last
                if changed {
                    pieces = try await DashboardPieces.render(server: server, pool: key.pool, by: op)
                    version += 1
                    last = f
                }
                await hub.counted(read: true, render: changed)
                await hub.publish(key, DashboardTick(version: version, pieces: pieces))
            } catch let e as ControlPlaneError where e.kind == .notFound {
                await hub.end(key)
                return
            } catch {
                // A database blip: the streams stay; the next tick tries again.
                server.logger.warning("dashboard live updates for pool \(key.pool): \(error)")
            }
            try? await Task.sleep(for: .milliseconds(Int(intervalSec * 1000)))
        }
    }
}

/// What tells a pool's pages changed: its newest heartbeat, newest job event, newest failover
/// event and member count — one small indexed query. Job events are those of the pool's 30
/// newest jobs (what the pages show; other pools' jobs do not wake this pool's poller).
struct DashboardFingerprint: Equatable {
    var heartbeat: Double, jobEvent: Int64, failover: Int64, members: Int

    static func read(_ store: Store, pool: Int64) async throws -> DashboardFingerprint {
        try await store.db.read { db in
            let row = try SQLRow.fetchOne(db, sql: """
                SELECT (SELECT MAX(h.received_at) FROM heartbeat_latest h JOIN members m ON m.id = h.member_id WHERE m.pool_id = ?) AS hb,
                       (SELECT MAX(e.id) FROM job_events e WHERE e.job_id IN (SELECT id FROM jobs WHERE pool_id = ? ORDER BY id DESC LIMIT 30)) AS je,
                       (SELECT MAX(id) FROM failover_events WHERE pool_id = ?) AS fe,
                       (SELECT COUNT(*) FROM members WHERE pool_id = ?) AS n
                """, arguments: [pool, pool, pool, pool])!
            return DashboardFingerprint(heartbeat: row["hb"] ?? 0, jobEvent: row["je"] ?? 0, failover: row["fe"] ?? 0, members: row["n"])
        }
    }
}

/// The live pieces of a pool, rendered once per change for all its pages.
enum DashboardPieces {
    static func render(server: ControlPlane, pool: Int64, by op: Operator) async throws -> [DashboardPiece] {
        let ui = server.dashboard
        let d = try await OverviewPage.load(server: server, pool: pool, by: op)
        var out: [DashboardPiece] = []
        func add(_ key: String, _ event: String, _ payload: [String: JSONValue], value: String, html: String?) {
            var p = payload
            if let html { p["html"] = .string(html) }
            out.append(DashboardPiece(key: key, value: value, text: "event: \(event)\ndata: \(encode(.object(p)))\n\n"))
        }
        for m in d.members {
            let html = OverviewPage.card(m, d, ui)
            add("m\(m.id)", "member", ["id": .number(Double(m.id))], value: html, html: html)
        }
        let flow = OverviewPage.trafficFlow(d, ui)
        add("flow", "failover", [:], value: flow, html: flow)
        let kpiText = d.kpis.map { "\($0.key)=\($0.value)" }.joined(separator: ";")
        out.append(DashboardPiece(key: "kpis", value: kpiText, text: "event: kpis\ndata: \(encode(.object(Dictionary(uniqueKeysWithValues: d.kpis.map { ($0.key, JSONValue.string($0.value)) }))))\n\n"))
        let jobs = try await server.store.listJobs(member: nil, pool: pool, limit: 30, by: op)
        for j in jobs.reversed() {
            let html = MemberPage.jobRow(j, ui)
            add("j\(j.id)", "job", ["id": .number(Double(j.id)), "memberID": .number(Double(j.memberId))], value: html, html: html)
        }
        // The Status tab's rows: a drain shows once the agent's heartbeat reports it.
        for (member, stack) in try await server.store.haproxyStacks(pool: pool, by: op) {
            for row in MemberPage.haproxyServers(stack) {
                let b = row["backend"] as? String ?? "", s = row["server"] as? String ?? ""
                let status = row["status"] as? String ?? "", scur = row["scur"] as? String ?? "", check = row["check"] as? String ?? ""
                add("h\(member)/\(b)/\(s)", "haproxy", [
                    "memberID": .number(Double(member)), "backend": .string(b), "server": .string(s),
                    "status": .string(status), "scur": .string(scur), "check": .string(check),
                ], value: "\(status)|\(scur)|\(check)", html: nil)
            }
        }
        return out
    }

    static func encode(_ v: JSONValue) -> String {
        (try? JSONEncoder().encode(v)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

extension Store {
    /// The `haproxy` stack of each member of the pool that reports one (the report is decoded
    /// only when it names the stack).
    func haproxyStacks(pool: Int64, by op: Operator) async throws -> [(Int64, JSONValue)] {
        let rows = try await db.read { db in
            try SQLRow.fetchAll(db, sql: """
                SELECT h.member_id, h.report FROM heartbeat_latest h JOIN members m ON m.id = h.member_id
                WHERE m.pool_id = ? AND m.account_id = ? ORDER BY h.member_id
                """, arguments: [pool, op.accountID])
        }
        return rows.compactMap { row -> (Int64, JSONValue)? in
            let text: String = row["report"]
            guard text.contains("\"haproxy\""), case .object(let r)? = try? JSONTree.decode(JSONValue.self, from: text),
                  case .object(let stacks)? = r["stacks"], let h = stacks["haproxy"] else { return nil }
            return (row["member_id"], h)
        }
    }
}

extension ControlPlane {
    /// The live-update fan-out's figures (`balctl-bench dashboard --sse-clients`): open streams,
    /// running pollers, fingerprint reads and renders since start.
    public func dashboardLiveStats() async -> (streams: Int, pollers: Int, reads: Int, renders: Int) {
        let hub = dashboard.hub
        return (await hub.streamCount, await hub.pollerCount, await hub.reads, await hub.renders)
    }
}
