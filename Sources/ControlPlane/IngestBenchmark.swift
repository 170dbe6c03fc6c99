import AgentKernel
import BalctlProtocol
import Foundation
import SQLEngine

extension ControlPlane {
    /// For `balctl-bench`: writes `count` heartbeats through the ingest's batch path (one
    /// transaction per batch) without HTTP or TLS, spread over the members in the
    /// database, `batch` per transaction as the group commit does under load. Returns seconds.
    public func measureStoreIngest(count: Int, batch: Int, body: @Sendable (String) -> String) async throws -> Double {
        let members = try await store.db.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT id, hostname FROM members ORDER BY id").map {
                AgentIdentity(memberID: $0["id"], hostname: $0["hostname"])
            }
        }
        guard !members.isEmpty else { return 0 }
        let ip = IPv4("127.0.0.1")!
        let heartbeats = try members.map { m in
            let raw = body(m.hostname)
            return HeartbeatWriter.Heartbeat(agent: m, report: try HeartbeatEnvelope.read(raw), raw: raw, ip: ip)
        }
        let (heartbeat, queue) = (config.heartbeat, config.queue)
        let start = monotonicNow()
        var done = 0
        while done < count {
            let slice = (done..<min(done + batch, count)).map { heartbeats[$0 % heartbeats.count] }
            let outcomes = await HeartbeatWriter.write(slice, store.db, heartbeat: heartbeat, queue: queue)
            for case .failure(let error) in outcomes { throw error }
            done += slice.count
        }
        return monotonicNow() - start
    }
}
