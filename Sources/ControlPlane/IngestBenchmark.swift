import BalctlProtocol
import Foundation
import GRDB

extension ControlPlane {
    /// For `balctl-bench`: writes `count` heartbeats straight through the ingest's group-commit
    /// path (no HTTP, no TLS), spread over the first members of the database, `batch` per
    /// transaction as the writer does under load. Returns the elapsed seconds.
    public func measureStoreIngest(count: Int, batch: Int, body: @Sendable (String) -> String) async throws -> Double {
        let members = try await store.db.read { db in
            try Row.fetchAll(db, sql: "SELECT id, hostname FROM members ORDER BY id").map {
                AgentIdentity(memberID: $0["id"], hostname: $0["hostname"])
            }
        }
        guard !members.isEmpty else { return 0 }
        let items = members.map { m -> (AgentIdentity, HeartbeatEnvelope, String) in
            let raw = body(m.hostname)
            return (m, try! HeartbeatEnvelope.read(raw), raw)
        }
        let (heartbeat, queue) = (config.heartbeat, config.queue)
        let ip = IPv4("127.0.0.1")!
        let start = monotonicSeconds()
        var done = 0
        while done < count {
            let n = min(batch, count - done)
            let offset = done
            _ = try await store.db.write { db in
                try (0..<n).map { k in
                    let (agent, envelope, raw) = items[(offset + k) % items.count]
                    return try Store.applyHeartbeat(db, agent, report: envelope, rawReport: raw, sourceIP: ip,
                                                    heartbeat: heartbeat, queue: queue)
                }
            }
            done += n
        }
        return monotonicSeconds() - start
    }
}

private func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
