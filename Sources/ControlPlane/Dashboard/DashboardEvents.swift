import BalctlProtocol
import Foundation
import Hummingbird
import NIOCore
import ServiceLifecycle
import SQLEngine

/// `GET /pools/{id}/events`: Server-Sent Events for one pool. The store is read by the pool's
/// shared poller (`DashboardHub`: one small query a second per pool with watchers, whatever the
/// number of pages open on it; the pieces rendered once per change); each connection only
/// compares the pieces of a new tick with what it last sent and writes what differs. Streams
/// end on graceful shutdown (the server would otherwise wait on them), when the browser goes
/// away (the write fails), when their session ends (sign-out, sign-out everywhere, expiry, the
/// user removed: red team D2 — checked by the poller for all its streams in one query), when the
/// user opens more than `DashboardStreams.perUser` (red team D3), and past the server's
/// `DashboardHub.maxStreams` (the page is told to retry in 30 s).
struct DashboardEvents {
    let server: ControlPlane
    let pool: Int64
    let op: Operator
    /// The session the stream was opened with (its token's hash) and its user; nil only for
    /// tests of the change detector.
    var session: WebSession? = nil
    /// A comment line this often keeps proxies from closing a quiet stream.
    var keepAliveSec: Double = 15

    func response() -> Response {
        var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-store"]
        DashboardHeaders.apply(&headers, html: false)
        let me = self
        return Response(status: .ok, headers: headers, body: .init { writer in
            try await me.stream(&writer)
            try await writer.finish(nil)
        })
    }

    /// What changed since `sent` (updated in place), as SSE text (tests of the change detector).
    func changes(_ sent: inout [String: String]) async throws -> String {
        var out = ""
        for p in try await DashboardPieces.render(server: server, pool: pool, by: op) where sent[p.key] != p.value {
            sent[p.key] = p.value
            out += p.text
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
        let hub = server.dashboard.hub
        let sub: (id: UInt64, ticks: AsyncStream<DashboardTick>)
        do {
            sub = try await hub.subscribe(server: server, pool: pool, op: op, tokenHash: session?.tokenHash)
        } catch is DashboardHub.Full {
            // Past the server's bound: EventSource retries later (a refused stream it would not).
            try await writer.write(ByteBuffer(string: "retry: 30000\n\n: too many live streams on this server\n\n"))
            return
        }
        do {
            try await withGracefulShutdownHandler {
                try await loop(&writer, sub: sub, id: id, streams: streams)
            } onGracefulShutdown: {
                // Ends the tick stream at once (the loop also checks on every tick).
                Task { await hub.unsubscribe(sub.id) }
            }
        } catch {
            await hub.unsubscribe(sub.id)
            throw error
        }
        await hub.unsubscribe(sub.id)
    }

    private func loop(_ writer: inout any ResponseBodyWriter, sub: (id: UInt64, ticks: AsyncStream<DashboardTick>), id: UInt64?,
                      streams: DashboardStreams) async throws {
        var sent: [String: String] = [:]
        var seen: UInt64? = nil
        var quietSince = ContinuousClock.now
        try await writer.write(ByteBuffer(string: "retry: 3000\n\n"))
        // Every tick (once a second) wakes the stream, changed or not: its clock for the checks.
        for await tick in sub.ticks {
            if Task.isCancelled || Task.isShuttingDownGracefully { return }
            // Ended for a newer stream of the same user (D3).
            if let id, await !streams.isOpen(id) {
                // A page whose stream was ended for a newer one waits a minute before it tries
                // again (not EventSource's usual 3 s), so nine tabs do not take turns evicting.
                try await writer.write(ByteBuffer(string: "retry: 60000\n\n"))
                return
            }
            if tick.version != seen {
                var out = ""
                for p in tick.pieces where sent[p.key] != p.value {
                    sent[p.key] = p.value
                    // The first tick fills `sent` with what the page already shows: nothing re-sent.
                    if seen != nil { out += p.text }
                }
                seen = tick.version
                if !out.isEmpty {
                    try await writer.write(ByteBuffer(string: out))
                    quietSince = .now
                }
            }
            if ContinuousClock.now - quietSince > .seconds(keepAliveSec) {
                try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                quietSince = .now
            }
        }
        // The tick stream ended: the session is gone (D2), the pool is gone, or shutdown.
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
    /// Which of `tokenHashes` are live sessions (the hub's check for all streams of a pool in
    /// one query; same rule as `webSessionIsLive`).
    func liveWebSessions(_ tokenHashes: [String]) async throws -> Set<String> {
        guard !tokenHashes.isEmpty else { return [] }
        let t = now()
        let marks = Array(repeating: "?", count: tokenHashes.count).joined(separator: ", ")
        return try await db.read { db in
            Set(try String.fetchAll(db, sql: """
                SELECT s.token_hash FROM web_sessions s JOIN users u ON u.id = s.user_id JOIN accounts a ON a.id = u.account_id
                WHERE s.expires_at > ? AND s.token_hash IN (\(marks))
                """, arguments: SQLArguments([t as any SQLValueConvertible] + tokenHashes.map { $0 as any SQLValueConvertible })))
        }
    }

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
