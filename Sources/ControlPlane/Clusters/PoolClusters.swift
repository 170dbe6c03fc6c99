import Foundation
import BalctlProtocol
import SQLEngine

/// `GET /api/v1/pools/{pool}/clusters`: the pool's Galera clusters as its members' latest
/// heartbeats report them, evaluated by `GaleraPoolEvaluation`. Only `stacks.galera` of each
/// stored report is read (the report is parsed as a JSON tree, not decoded in full).
extension Store {
    public func poolClusters(_ pool: Int64, by op: Operator, at time: Double = now()) async throws -> PoolClustersView {
        let members: [GaleraPoolEvaluation.Member] = try await db.read { db in
            _ = try Self.pool(db, pool, op)
            let rows = try SQLRow.fetchAll(db, sql: """
                SELECT m.id AS id, m.hostname AS hostname, h.received_at AS received_at, h.report AS report
                FROM members m JOIN heartbeat_latest h ON h.member_id = m.id
                WHERE m.pool_id = ? AND m.account_id = ? ORDER BY m.id
                """, arguments: [pool, op.accountID])
            return rows.compactMap { row in
                let text: String = row["report"]
                // Most reports have no Galera entry: skip the parse for them (the dashboard's
                // overview asks for every pool it shows).
                guard text.contains("\"galera\"") else { return nil }
                guard let tree = try? JSONTree.parse(text), let galera = tree["stacks"]?["galera"] else { return nil }
                let received: Double = row["received_at"]
                return GaleraPoolEvaluation.Member(id: row["id"], hostname: row["hostname"], galera: galera,
                                                   reportAgeSec: time - received)
            }
        }
        return GaleraPoolEvaluation.evaluate(poolId: pool, members: members)
    }
}
