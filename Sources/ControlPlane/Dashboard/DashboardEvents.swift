import BalctlProtocol
import Foundation
import Hummingbird
import NIOCore
import ServiceLifecycle
import SQLEngine

/// `GET /pools/{id}/events`: Server-Sent Events for one pool. Each connection looks at the store
/// once a second with one small query (the pool's newest heartbeat, newest job event, newest
/// failover event, member count); only when that changed does it re-read the overview and send
/// the cards, job rows and traffic-flow line whose HTML differs from what it last sent. An idle
/// pool costs one indexed query per second per open page. Streams end on graceful shutdown (the
/// server would otherwise wait on them), when the browser goes away (the write fails), when
/// their session ends (sign-out, sign-out everywhere, expiry, the user removed: red team D2 — a
/// stream used to outlive its session and go on sending the pool's cards and job rows), and when
/// the user opens more than `DashboardStreams.perUser` (red team D3).
struct DashboardEvents {
    let server: ControlPlane
    let pool: Int64
    let op: Operator
    /// The session the stream was opened with (its token's hash) and its user; nil only for
    /// tests of the change detector.
    var session: WebSession? = nil
    var intervalSec: Double = 1
    /// A comment line this often keeps proxies from closing a quiet stream.
    var keepAliveSec: Double = 15
    /// The session is looked up this often: a small indexed read, and it must not slide the
    /// session's idle expiry (an open tab is not a person using it).
    var sessionCheckSec: Double = 3

    func response() -> Response {
        var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-store"]
        DashboardHeaders.apply(&headers, html: false)
        let me = self
        return Response(status: .ok, headers: headers, body: .init { writer in
            try await me.stream(&writer)
            try await writer.finish(nil)
        })
    }

    struct Fingerprint: Equatable { var heartbeat: Double; var jobEvent: Int64; var failover: Int64; var members: Int }

    func fingerprint() async throws -> Fingerprint {
        try await server.store.db.read { db in
            let row = try SQLRow.fetchOne(db, sql: """
                SELECT (SELECT MAX(h.received_at) FROM heartbeat_latest h JOIN members m ON m.id = h.member_id WHERE m.pool_id = ?) AS hb,
                       (SELECT MAX(id) FROM job_events) AS je,
                       (SELECT MAX(id) FROM failover_events WHERE pool_id = ?) AS fe,
                       (SELECT COUNT(*) FROM members WHERE pool_id = ?) AS n
                """, arguments: [pool, pool, pool])!
            return Fingerprint(heartbeat: row["hb"] ?? 0, jobEvent: row["je"] ?? 0, failover: row["fe"] ?? 0, members: row["n"])
        }
    }

    /// What changed since `sent` (updated in place), as SSE text.
    func changes(_ sent: inout [String: String]) async throws -> String {
        let ui = server.dashboard
        let d = try await OverviewPage.load(server: server, pool: pool, by: op)
        var out = ""
        func emit(_ key: String, _ html: String, event: String, _ payload: [String: JSONValue]) {
            guard sent[key] != html else { return }
            sent[key] = html
            var p = payload
            p["html"] = .string(html)
            let data = (try? JSONEncoder().encode(JSONValue.object(p))).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
            out += "event: \(event)\ndata: \(data)\n\n"
        }
        for m in d.members {
            emit("m\(m.id)", OverviewPage.card(m, d, ui), event: "member", ["id": .number(Double(m.id))])
        }
        emit("flow", OverviewPage.trafficFlow(d, ui), event: "failover", [:])
        let kpis = Dictionary(uniqueKeysWithValues: d.kpis.map { ($0.key, JSONValue.string($0.value)) })
        let kpiText = d.kpis.map { "\($0.key)=\($0.value)" }.joined(separator: ";")
        if sent["kpis"] != kpiText {
            sent["kpis"] = kpiText
            let data = (try? JSONEncoder().encode(JSONValue.object(kpis))).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
            out += "event: kpis\ndata: \(data)\n\n"
        }
        let jobs = try await server.store.listJobs(member: nil, pool: pool, limit: 30, by: op)
        for j in jobs.reversed() {
            emit("j\(j.id)", MemberPage.jobRow(j, ui), event: "job", ["id": .number(Double(j.id)), "memberID": .number(Double(j.memberId))])
        }
        return out
    }

    func stream(_ writer: inout any ResponseBodyWriter) async throws {
        guard let session else { return try await run(&writer, id: nil) }
        let streams = server.dashboard.streams
        let id = await streams.open(user: session.userID)
        do {
            try await run(&writer, id: id)
        } catch {
            await streams.close(id, user: session.userID)
            throw error
        }
        await streams.close(id, user: session.userID)
    }

    private func run(_ writer: inout any ResponseBodyWriter, id: UInt64?) async throws {
        let streams = server.dashboard.streams
        var sent: [String: String] = [:]
        var last: Fingerprint? = nil
        var quietSince = ContinuousClock.now
        var sessionCheckedAt = ContinuousClock.now
        // The first round fills `sent` with what the page already shows: nothing is re-sent.
        try await writer.write(ByteBuffer(string: "retry: 3000\n\n"))
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // Ended for a newer stream of the same user (D3).
            if let id, await !streams.isOpen(id) {
                // A page whose stream was ended for a newer one waits a minute before it tries
                // again (not EventSource's usual 3 s), so nine tabs do not take turns evicting.
                try await writer.write(ByteBuffer(string: "retry: 60000\n\n"))
                return
            }
            if let session, ContinuousClock.now - sessionCheckedAt >= .milliseconds(Int(sessionCheckSec * 1000)) {
                // D2: the session is gone or expired — stop sending. (The page's EventSource then
                // reconnects, and the session middleware sends it to sign-in.)
                guard try await server.store.webSessionIsLive(tokenHash: session.tokenHash) else { return }
                sessionCheckedAt = .now
            }
            let f = try await fingerprint()
            if f != last {
                let text = try await changes(&sent)
                if last != nil, !text.isEmpty {
                    try await writer.write(ByteBuffer(string: text))
                    quietSince = .now
                }
                last = f
            }
            if ContinuousClock.now - quietSince > .seconds(keepAliveSec) {
                try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                quietSince = .now
            }
            try? await Task.sleep(for: .milliseconds(Int(intervalSec * 1000)))
        }
    }
}

/// The SSE streams open per user (red team D3: one cookie could hold any number of them, each
/// reading the database every second). Past `perUser`, opening one ends the user's oldest rather
/// than refusing the new one: a reloaded page's old stream is noticed as gone only at its next
/// write (up to `keepAliveSec`), and EventSource does not retry a refused stream — refusing
/// would leave a user who reloads a few times without live updates.
actor DashboardStreams {
    static let perUser = 8
    private var open: [Int64: [UInt64]] = [:]
    private var live: Set<UInt64> = []
    private var next: UInt64 = 0

    func open(user: Int64) -> UInt64 {
        next += 1
        var list = open[user] ?? []
        list.append(next)
        live.insert(next)
        while list.count > Self.perUser { live.remove(list.removeFirst()) }
        open[user] = list
        return next
    }

    func isOpen(_ id: UInt64) -> Bool { live.contains(id) }

    func close(_ id: UInt64, user: Int64) {
        live.remove(id)
        open[user]?.removeAll { $0 == id }
        if open[user]?.isEmpty == true { open[user] = nil }
    }

    func count(user: Int64) -> Int { open[user]?.count ?? 0 }
}

extension Store {
    /// Whether the session of `tokenHash` still exists and has not expired, without sliding its
    /// expiry (the SSE stream's check: an open tab must not keep a session alive).
    func webSessionIsLive(tokenHash: String) async throws -> Bool {
        let t = now()
        return try await db.read { db in
            // Joined as `webSession(token:)` reads it: a session whose user or account is gone is not live.
            try Double.fetchOne(db, sql: """
                SELECT s.expires_at FROM web_sessions s JOIN users u ON u.id = s.user_id JOIN accounts a ON a.id = u.account_id
                WHERE s.token_hash = ?
                """, arguments: [tokenHash])
        }.map { $0 > t } ?? false
    }
}
