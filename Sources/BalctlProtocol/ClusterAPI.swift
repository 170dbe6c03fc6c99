/// `GET /api/v1/pools/{pool}/clusters`: the database clusters of a pool as its members report
/// them (issue 16). Galera members (`stacks.galera`) grouped by cluster state UUID, each group
/// with what its nodes say and the warnings the control plane derives (ControlPlane's
/// `GaleraPoolEvaluation`); `balctl pools show` renders it.
public struct PoolClustersView: Codable, Sendable, Equatable {
    public var poolId: Int64
    public var galera: [GaleraClusterView]
    /// Pool-level findings (members that disagree on which cluster they are in).
    public var warnings: [String]
    public init(poolId: Int64, galera: [GaleraClusterView], warnings: [String]) {
        self.poolId = poolId; self.galera = galera; self.warnings = warnings
    }
}

public struct GaleraClusterView: Codable, Sendable, Equatable {
    /// nil: members that report no cluster UUID (down before they ever answered, never joined).
    public var clusterStateUUID: String?
    /// healthy | degraded | no quorum | unknown
    public var status: String
    public var nodes: [GaleraNodeView]
    public var warnings: [String]
    public init(clusterStateUUID: String?, status: String, nodes: [GaleraNodeView], warnings: [String]) {
        self.clusterStateUUID = clusterStateUUID; self.status = status; self.nodes = nodes; self.warnings = warnings
    }
}

public struct GaleraNodeView: Codable, Sendable, Equatable {
    public var memberId: Int64
    public var hostname: String
    /// The node's MariaDB answered at its last readout.
    public var up: Bool
    public var clusterSize: Int?
    public var clusterStatus: String?
    public var localState: String?
    public var confID: Int?
    /// Seconds since the member's latest heartbeat.
    public var reportAgeSec: Double?
    public init(memberId: Int64, hostname: String, up: Bool, clusterSize: Int?, clusterStatus: String?,
                localState: String?, confID: Int?, reportAgeSec: Double?) {
        self.memberId = memberId; self.hostname = hostname; self.up = up; self.clusterSize = clusterSize
        self.clusterStatus = clusterStatus; self.localState = localState; self.confID = confID; self.reportAgeSec = reportAgeSec
    }
}
