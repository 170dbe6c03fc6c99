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
/// server would otherwise wait on them) and when the browser goes away (the write fails).
struct DashboardEvents {
    let server: ControlPlane
    let pool: Int64
    let op: Operator
    var intervalSec: Double = 1
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
        var sent: [String: String] = [:]
        var last: Fingerprint? = nil
        var quietSince = ContinuousClock.now
        // The first round fills `sent` with what the page already shows: nothing is re-sent.
        try await writer.write(ByteBuffer(string: "retry: 3000\n\n"))
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
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
