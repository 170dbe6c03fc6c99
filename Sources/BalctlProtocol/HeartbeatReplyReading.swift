extension HeartbeatReply {
    /// The reply to a heartbeat, read from its bytes: parsed once (JSONTree, strict RFC 8259) and
    /// the four fields of the common reply (no job, no cancel) taken from the tree directly;
    /// anything else goes through the Codable types (`JSONTree.decode`), whose errors name the
    /// field. JSONDecoder on this path was the agent's largest cost after the report (issue 18).
    public static func read(_ bytes: [UInt8]) throws -> HeartbeatReply {
        let tree = try JSONTree.parse(bytes)
        if case .object(let o) = tree,
           case .number(let interval)? = o["heartbeatIntervalSec"], let intervalSec = Int(exactly: interval),
           case .number(let serverTime)? = o["serverTime"],
           case .array(let jobs)? = o["jobs"], jobs.isEmpty,
           case .array(let cancels)? = o["cancelJobs"], cancels.isEmpty {
            switch o["latestAgentVersion"] {
            case nil, .null?: return HeartbeatReply(heartbeatIntervalSec: intervalSec, serverTime: serverTime, jobs: [], cancelJobs: [], latestAgentVersion: nil)
            case .string(let v)?: return HeartbeatReply(heartbeatIntervalSec: intervalSec, serverTime: serverTime, jobs: [], cancelJobs: [], latestAgentVersion: v)
            default: break
            }
        }
        return try JSONTree.decode(HeartbeatReply.self, from: tree)
    }
}
