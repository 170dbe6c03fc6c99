import BalctlProtocol

/// The pool's Galera clusters from its members' heartbeats: pure, so the rules are tested apart
/// from the store. A DBA watching a small fleet wants to know, per cluster, whether it still has
/// quorum and whether every node the pool knows is in the component:
///
/// - members are grouped by the `clusterStateUUID` they report (a node that is down keeps the
///   last UUID it saw, so it stays in its cluster's group);
/// - a node that is down, or whose heartbeat is older than `staleAfterSec`, is named;
/// - a node that answers but is not Primary has lost quorum in its component ("no quorum");
/// - a Primary node that is not Synced (Donor/Desynced, Joining, Joined) is named;
/// - a node that sees fewer nodes (`clusterSize`) than the pool has in that group is named;
/// - live Primary nodes of one UUID that disagree on size or conf id are named;
/// - two or more UUIDs in one pool: the members disagree on which cluster they are in.
///
/// The agent's values are outside input: statuses are clipped, counts bounded, UUIDs shape-checked.
public enum GaleraPoolEvaluation {
    public struct Member: Sendable {
        public var id: Int64
        public var hostname: String
        /// `stacks.galera` of its latest heartbeat.
        public var galera: JSONValue
        public var reportAgeSec: Double?
        public init(id: Int64, hostname: String, galera: JSONValue, reportAgeSec: Double?) {
            self.id = id; self.hostname = hostname; self.galera = galera; self.reportAgeSec = reportAgeSec
        }
    }

    public static let staleAfterSec = 120.0

    public static func evaluate(poolId: Int64, members: [Member], staleAfterSec: Double = staleAfterSec) -> PoolClustersView {
        var groups: [String?: [GaleraNodeView]] = [:]
        var order: [String?] = []
        for m in members.sorted(by: { $0.id < $1.id }) {
            guard case .object = m.galera else { continue }
            let g = m.galera
            let node = GaleraNodeView(
                memberId: m.id, hostname: m.hostname, up: g["up"]?.boolValue ?? false,
                clusterSize: count(g["clusterSize"]), clusterStatus: word(g["clusterStatus"]),
                localState: word(g["localState"]), confID: count(g["confID"]),
                reportAgeSec: m.reportAgeSec.flatMap { $0.isFinite ? max(0, $0) : nil })
            let uuid = g["clusterStateUUID"]?.stringValue.flatMap(uuid)
            if groups[uuid] == nil { order.append(uuid) }
            groups[uuid, default: []].append(node)
        }
        var clusters: [GaleraClusterView] = []
        for uuid in order { clusters.append(cluster(uuid, groups[uuid] ?? [], staleAfterSec: staleAfterSec)) }
        var warnings: [String] = []
        let uuids = order.compactMap { $0 }
        if uuids.count > 1 {
            let who = uuids.map { u in "\(short(u)) (\((groups[u] ?? []).map(\.hostname).joined(separator: ", ")))" }
            warnings.append("members disagree: this pool holds \(uuids.count) Galera clusters — \(who.joined(separator: "; ")); a split or two separate clusters")
        }
        return PoolClustersView(poolId: poolId, galera: clusters, warnings: warnings)
    }

    static func cluster(_ uuid: String?, _ nodes: [GaleraNodeView], staleAfterSec: Double) -> GaleraClusterView {
        var warnings: [String] = []
        var noQuorum = false
        func stale(_ n: GaleraNodeView) -> Bool { (n.reportAgeSec ?? 0) > staleAfterSec }
        for n in nodes {
            if stale(n) {
                warnings.append("\(n.hostname): no heartbeat for \(Int(n.reportAgeSec ?? 0))s")
            } else if !n.up {
                warnings.append("\(n.hostname): MariaDB is down (\(n.clusterStatus ?? "Disconnected"))")
            } else if n.clusterStatus != "Primary" {
                noQuorum = true
                warnings.append("\(n.hostname): \(n.clusterStatus ?? "no status") — lost quorum (not in a Primary component)")
            } else if let state = n.localState, state != "Synced" {
                warnings.append("\(n.hostname): \(state), not Synced (a state transfer or a desync)")
            }
        }
        let live = nodes.filter { !stale($0) && $0.up && $0.clusterStatus == "Primary" }
        guard let uuid else {
            return GaleraClusterView(clusterStateUUID: nil, status: "unknown", nodes: nodes, warnings: warnings)
        }
        for n in live {
            if let size = n.clusterSize, size < nodes.count {
                warnings.append("\(n.hostname) sees \(size) of the \(nodes.count) nodes this pool has in the cluster")
            }
        }
        let sizes = Set(live.compactMap(\.clusterSize)), confs = Set(live.compactMap(\.confID))
        if sizes.count > 1 || confs.count > 1 {
            let detail = live.map { "\($0.hostname) size \($0.clusterSize.map(String.init) ?? "?") conf \($0.confID.map(String.init) ?? "?")" }
            warnings.append("nodes of cluster \(short(uuid)) disagree: \(detail.joined(separator: ", "))")
        }
        if live.isEmpty { noQuorum = true }
        let status = noQuorum ? "no quorum" : warnings.isEmpty ? "healthy" : "degraded"
        return GaleraClusterView(clusterStateUUID: uuid, status: status, nodes: nodes, warnings: warnings)
    }

    static func count(_ v: JSONValue?) -> Int? {
        guard let d = v?.doubleValue, d.isFinite, d >= 0, d < 1e9, d == d.rounded() else { return nil }
        return Int(d)
    }

    /// A state word as the agent sent it, at most 32 printable ASCII bytes.
    static func word(_ v: JSONValue?) -> String? {
        guard let s = v?.stringValue else { return nil }
        let bytes = s.utf8.filter { $0 >= 0x20 && $0 < 0x7F }.prefix(32)
        return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
    }

    static func uuid(_ s: String) -> String? {
        let t = Array(s.lowercased().utf8)
        guard t.count == 36 else { return nil }
        for (i, b) in t.enumerated() {
            if [8, 13, 18, 23].contains(i) { guard b == 0x2D else { return nil } } else {
                guard (0x30...0x39).contains(b) || (0x61...0x66).contains(b) else { return nil }
            }
        }
        return String(decoding: t, as: UTF8.self)
    }

    static func short(_ uuid: String) -> String { String(uuid.prefix(8)) }
}
