#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Wire protocol v1 between the agent and the control plane. Times are Unix seconds (Double).
public enum AgentWire {
    public static let protocolVersion = 1
    public static let heartbeatPath = "/api/agents/heartbeat"
    /// Long poll: held until work for the member is committed (`{"wake":true}`, beat now) or
    /// the server's wait time passed (`{"wake":false}`, ask again).
    public static let waitPath = "/api/agents/wait"
    public static let progressPath = "/api/agents/jobs/progress"
    public static let completePath = "/api/agents/jobs/complete"
    /// Largest agent request body the control plane accepts (413 beyond).
    public static let maxAgentBodyBytes = 512 * 1024
    /// Largest job output tail kept and sent (the agent keeps the last bytes).
    public static let maxOutputTailBytes = 64 * 1024
    /// The authoritative heartbeat interval range the control plane may hand out.
    public static let intervalRange = 1...60
}

public struct OSInfo: Codable, Sendable, Hashable {
    /// `debian`, `rhel` or `other`, from /etc/os-release ID and ID_LIKE.
    public var family: String
    public var id: String
    public var versionID: String
    public var prettyName: String
    public var kernel: String

    public init(family: String, id: String, versionID: String, prettyName: String, kernel: String) {
        self.family = family; self.id = id; self.versionID = versionID
        self.prettyName = prettyName; self.kernel = kernel
    }
}

public struct MemoryInfo: Codable, Sendable, Hashable {
    public var totalBytes: UInt64
    public var availableBytes: UInt64
    public init(totalBytes: UInt64, availableBytes: UInt64) {
        self.totalBytes = totalBytes; self.availableBytes = availableBytes
    }
}

public struct DiskInfo: Codable, Sendable, Hashable {
    public var mount: String
    public var fsType: String
    public var totalBytes: UInt64
    public var availableBytes: UInt64
    public init(mount: String, fsType: String, totalBytes: UInt64, availableBytes: UInt64) {
        self.mount = mount; self.fsType = fsType
        self.totalBytes = totalBytes; self.availableBytes = availableBytes
    }
}

/// A job attempt: the attempt number is the fencing token.
public struct JobRef: Codable, Sendable, Hashable {
    public var id: Int64
    public var attempt: Int
    public init(id: Int64, attempt: Int) { self.id = id; self.attempt = attempt }
}

/// The body of `POST /api/agents/heartbeat`.
public struct HostReport: Codable, Sendable {
    public var hostname: String
    public var agentVersion: String
    public var protocolVersion: Int
    public var os: OSInfo
    public var uptimeSec: Double
    /// 1, 5 and 15 minute load averages.
    public var load: [Double]
    /// Busy CPU share since the previous report, 0–100; nil on the first report.
    public var cpuPercent: Double?
    public var cpuCount: Int
    public var memory: MemoryInfo
    public var disks: [DiskInfo]
    /// Declared (BALCTL_DECLARE_IP) or probed public IPv4.
    public var publicIPv4: String?
    /// `declared` or `probed`.
    public var publicIPSource: String?
    /// What each plugin's probe found, keyed by plugin name (e.g. "haproxy").
    public var stacks: [String: JSONValue]
    /// Command IDs this agent can run.
    public var commands: [String]
    /// Jobs the agent is running now; the control plane extends their leases.
    public var jobsInFlight: [JobRef]
    /// Self-update outcomes not yet acknowledged (an accepted heartbeat acknowledges them).
    public var updateEvents: [AgentUpdateEvent]?
    /// A new agent version proving itself before it takes over (see `UpdateSupervisor`): the
    /// control plane records the heartbeat but hands out no jobs.
    public var updateTrial: Bool?
    /// Why a plugin's stack is absent from `stacks` (plugin name → reason, e.g. "wsrep is off
    /// (not a Galera node)"); nil when none says. Older agents omit it.
    public var hiddenStacks: [String: String]?

    public init(
        hostname: String, agentVersion: String, protocolVersion: Int = AgentWire.protocolVersion,
        os: OSInfo, uptimeSec: Double, load: [Double], cpuPercent: Double?, cpuCount: Int,
        memory: MemoryInfo, disks: [DiskInfo], publicIPv4: String?, publicIPSource: String?,
        stacks: [String: JSONValue], commands: [String], jobsInFlight: [JobRef],
        updateEvents: [AgentUpdateEvent]? = nil, updateTrial: Bool? = nil, hiddenStacks: [String: String]? = nil
    ) {
        self.hostname = hostname; self.agentVersion = agentVersion
        self.protocolVersion = protocolVersion; self.os = os; self.uptimeSec = uptimeSec
        self.load = load; self.cpuPercent = cpuPercent; self.cpuCount = cpuCount
        self.memory = memory; self.disks = disks; self.publicIPv4 = publicIPv4
        self.publicIPSource = publicIPSource; self.stacks = stacks; self.commands = commands
        self.jobsInFlight = jobsInFlight; self.updateEvents = updateEvents; self.updateTrial = updateTrial
        self.hiddenStacks = hiddenStacks
    }
}

/// A job handed to the agent in a heartbeat reply.
public struct ClaimedJob: Codable, Sendable, Hashable {
    public var id: Int64
    public var command: String
    public var params: JSONValue
    public var attempt: Int
    /// The lease: without a heartbeat listing the job, a progress post or a completion within
    /// this many seconds the control plane re-offers the job with attempt + 1.
    public var leaseSec: Int
    /// The agent stops the job after this many seconds and reports it failed.
    public var timeoutSec: Int
    /// Report what would change; change nothing.
    public var checkMode: Bool

    public init(id: Int64, command: String, params: JSONValue, attempt: Int, leaseSec: Int,
                timeoutSec: Int, checkMode: Bool) {
        self.id = id; self.command = command; self.params = params; self.attempt = attempt
        self.leaseSec = leaseSec; self.timeoutSec = timeoutSec; self.checkMode = checkMode
    }

    public var ref: JobRef { JobRef(id: id, attempt: attempt) }
}

/// The reply to a heartbeat.
public struct HeartbeatReply: Codable, Sendable {
    /// Authoritative interval, 1–60 s.
    public var heartbeatIntervalSec: Int
    public var serverTime: Double
    public var jobs: [ClaimedJob]
    /// Running jobs an operator cancelled, and attempts the agent listed in flight that the control
    /// plane no longer counts as running (timed out, ended, re-offered): stop them and report.
    public var cancelJobs: [JobRef]
    public var latestAgentVersion: String?

    public init(heartbeatIntervalSec: Int, serverTime: Double, jobs: [ClaimedJob],
                cancelJobs: [JobRef], latestAgentVersion: String?) {
        self.heartbeatIntervalSec = heartbeatIntervalSec; self.serverTime = serverTime
        self.jobs = jobs; self.cancelJobs = cancelJobs; self.latestAgentVersion = latestAgentVersion
    }
}

/// The body of `POST /api/agents/jobs/progress`: extends the lease.
public struct JobProgress: Codable, Sendable {
    public var jobId: Int64
    public var attempt: Int
    public var message: String?
    public var percent: Double?
    public init(jobId: Int64, attempt: Int, message: String?, percent: Double?) {
        self.jobId = jobId; self.attempt = attempt; self.message = message; self.percent = percent
    }
}

/// How an attempt ended, as the agent reports it.
public enum AttemptStatus: String, Codable, Sendable, CaseIterable {
    case completed
    case failed
    /// Stopped because an operator cancelled it.
    case cancelled
    /// Lost: the agent restarted (or shut down) while it ran. The job is re-offered.
    case interrupted
}

/// The body of `POST /api/agents/jobs/complete`. Idempotent per (jobId, attempt).
public struct JobCompletion: Codable, Sendable, Hashable {
    public var jobId: Int64
    public var attempt: Int
    public var status: AttemptStatus
    public var exitCode: Int?
    /// The last `AgentWire.maxOutputTailBytes` of output.
    public var output: String
    public var result: JSONValue?
    /// false when an idempotent re-run found nothing to change ("unchanged").
    public var changed: Bool?
    public var error: String?
    public var startedAt: Double?
    public var finishedAt: Double?

    public init(jobId: Int64, attempt: Int, status: AttemptStatus, exitCode: Int?, output: String,
                result: JSONValue?, changed: Bool?, error: String?, startedAt: Double?,
                finishedAt: Double?) {
        self.jobId = jobId; self.attempt = attempt; self.status = status; self.exitCode = exitCode
        self.output = output; self.result = result; self.changed = changed; self.error = error
        self.startedAt = startedAt; self.finishedAt = finishedAt
    }
}

/// Every error body the control plane sends.
public struct APIErrorBody: Codable, Sendable {
    public var error: String
    public init(error: String) { self.error = error }
}
