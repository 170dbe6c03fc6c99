import BalctlProtocol
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import SQLEngine

/// Who may scrape `GET /metrics`: a bearer token (Prometheus' `authorization` / `bearer_token_file`)
/// and/or source addresses. With neither the route answers 404: metrics name pools and members,
/// which is not for anyone who can reach the port.
public struct MetricsAccess: Sendable {
    /// SHA-256 of the scrape token: compared as digests, so the comparison's time says nothing
    /// about the token, and the token itself is not kept in memory longer than needed.
    let tokenDigest: SHA256Digest?
    public let allow: [CIDR]

    public init(token: String? = nil, allow: [CIDR] = []) {
        tokenDigest = token.map { SHA256.hash(data: Data($0.utf8)) }
        self.allow = allow
    }

    public var enabled: Bool { tokenDigest != nil || !allow.isEmpty }

    /// nil: let it through; else the refusal.
    func refusal(authorization: String?, client: IPv4?) -> ControlPlaneError? {
        guard enabled else {
            return ControlPlaneError(.notFound, "metrics are off: start the server with --metrics-token-file or --metrics-allow")
        }
        if let tokenDigest, let header = authorization, header.hasPrefix("Bearer "),
           SHA256.hash(data: Data(header.utf8.dropFirst(7))) == tokenDigest {
            return nil
        }
        if let client, allow.contains(where: { $0.contains(client) }) { return nil }
        if tokenDigest != nil {
            return .unauthorized(authorization == nil ? "a scrape token is required (Authorization: Bearer …)" : "wrong scrape token")
        }
        return .forbidden("\(client?.description ?? "this address") is not in the metrics allow-list")
    }
}

struct MetricsRoute {
    let server: ControlPlane

    func register(_ router: Router<BalctlRequestContext>) {
        router.get("metrics") { request, context in
            let client = ClientIP.resolve(
                peer: ClientIP.peerIPv4(context.peer), cfConnectingIP: request.headers[.cfConnectingIP],
                forwardedFor: request.headers[.xForwardedFor], trustedProxies: server.config.trustedProxies,
                cloudflareProxies: server.config.cloudflareProxies)
            if let refusal = server.config.metrics.refusal(authorization: request.headers[.authorization], client: client) {
                throw refusal
            }
            let fleet = try await server.store.metricsFleetState(freshSec: Double(3 * server.config.heartbeat.intervalSec))
            let text = server.metrics.render(fleet)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: text)))
        }
    }
}

extension Store {
    /// The fleet's state for a scrape: members fresh (heard within `freshSec`), stale or never
    /// heard, per pool; jobs by state; members with a threshold alert raised, per metric.
    func metricsFleetState(freshSec: Double, at t: Double = now()) async throws -> ServerMetrics.FleetState {
        try await db.read { db in
            let members = try SQLRow.fetchAll(db, sql: """
                SELECT p.id AS pool_id, p.name AS pool_name,
                       CASE WHEN h.received_at IS NULL THEN 'never' WHEN h.received_at >= ? THEN 'fresh' ELSE 'stale' END AS state,
                       COUNT(*) AS n
                FROM members m JOIN pools p ON p.id = m.pool_id LEFT JOIN heartbeat_latest h ON h.member_id = m.id
                GROUP BY p.id, p.name, 3
                """, arguments: [t - freshSec]).map { row in
                (pool: row["pool_id"] as Int64, name: row["pool_name"] as String, state: row["state"] as String, count: row["n"] as Int)
            }
            let counted = try SQLRow.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
                .map { (state: $0["state"] as String, count: $0["n"] as Int) }
            // Every state appears, at 0 when no job is in it: a series that vanishes reads as "no data".
            let jobs = JobState.allCases.map { s in (state: s.rawValue, count: counted.first { $0.state == s.rawValue }?.count ?? 0) }
            let firing = try SQLRow.fetchAll(db, sql: """
                SELECT metric, COUNT(*) AS n FROM threshold_states WHERE raised_at IS NOT NULL GROUP BY metric
                """).map { (metric: $0["metric"] as String, count: $0["n"] as Int) }
            return ServerMetrics.FleetState(members: members, jobs: jobs, thresholdsFiring: firing)
        }
    }
}
