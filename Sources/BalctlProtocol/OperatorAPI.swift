/// Types of the operator API (`/api/v1/...`), shared by the control plane and the `balctl` CLI.
/// Times are Unix seconds.
public enum OperatorAPI {
    public static let prefix = "/api/v1"
}

public enum PoolTemplate: String, Codable, Sendable, CaseIterable {
    case haproxy
    case generic
}

public enum LinuxFamily: String, Codable, Sendable, CaseIterable {
    case debian
    case rhel
}

public struct PoolView: Codable, Sendable {
    public var id: Int64
    public var name: String
    public var template: PoolTemplate
    public var createdAt: Double
    public var memberCount: Int
    public init(id: Int64, name: String, template: PoolTemplate, createdAt: Double, memberCount: Int) {
        self.id = id; self.name = name; self.template = template; self.createdAt = createdAt
        self.memberCount = memberCount
    }
}

public struct CreatePoolRequest: Codable, Sendable {
    public var name: String
    public var template: PoolTemplate
    public init(name: String, template: PoolTemplate) { self.name = name; self.template = template }
}

public struct RenamePoolRequest: Codable, Sendable {
    public var name: String
    public init(name: String) { self.name = name }
}

public struct CreateMemberRequest: Codable, Sendable {
    public var hostname: String
    public var allowedIPs: [String]
    public var family: LinuxFamily
    /// Role template, e.g. "haproxy-balancer" or "generic-linux".
    public var role: String?
    public init(hostname: String, allowedIPs: [String], family: LinuxFamily, role: String?) {
        self.hostname = hostname; self.allowedIPs = allowedIPs; self.family = family; self.role = role
    }
}

public struct UpdateMemberRequest: Codable, Sendable {
    public var hostname: String?
    public var allowedIPs: [String]?
    public init(hostname: String?, allowedIPs: [String]?) {
        self.hostname = hostname; self.allowedIPs = allowedIPs
    }
}

/// The latest heartbeat's key facts, as member listings show them.
public struct HeartbeatSummary: Codable, Sendable {
    public var receivedAt: Double
    public var ageSec: Double
    public var agentVersion: String
    public var sourceIP: String
    public var osFamily: String
    public var osPretty: String
    public var uptimeSec: Double
    public var load1: Double
    public var cpuPercent: Double?
    public var memoryUsedPercent: Double
    public var publicIPv4: String?
    public var stacks: [String]
    public var commands: [String]
    /// The version the control plane offers (its agent bundle's); set on operator reads.
    public var latestAgentVersion: String?
    /// The agent runs an older version than the control plane offers.
    public var agentOutdated: Bool {
        guard let latest = latestAgentVersion.flatMap(AgentVersion.init), let mine = AgentVersion(agentVersion) else { return false }
        return mine < latest
    }
    public init(receivedAt: Double, ageSec: Double, agentVersion: String, sourceIP: String,
                osFamily: String, osPretty: String, uptimeSec: Double, load1: Double,
                cpuPercent: Double?, memoryUsedPercent: Double, publicIPv4: String?,
                stacks: [String], commands: [String]) {
        self.receivedAt = receivedAt; self.ageSec = ageSec; self.agentVersion = agentVersion
        self.sourceIP = sourceIP; self.osFamily = osFamily; self.osPretty = osPretty
        self.uptimeSec = uptimeSec; self.load1 = load1; self.cpuPercent = cpuPercent
        self.memoryUsedPercent = memoryUsedPercent; self.publicIPv4 = publicIPv4
        self.stacks = stacks; self.commands = commands
    }
}

public struct MemberView: Codable, Sendable {
    public var id: Int64
    public var poolId: Int64
    public var hostname: String
    public var allowedIPs: [String]
    public var family: LinuxFamily
    public var role: String
    public var createdAt: Double
    public var secretRotatedAt: Double
    public var heartbeat: HeartbeatSummary?
    public init(id: Int64, poolId: Int64, hostname: String, allowedIPs: [String], family: LinuxFamily,
                role: String, createdAt: Double, secretRotatedAt: Double, heartbeat: HeartbeatSummary?) {
        self.id = id; self.poolId = poolId; self.hostname = hostname; self.allowedIPs = allowedIPs
        self.family = family; self.role = role; self.createdAt = createdAt
        self.secretRotatedAt = secretRotatedAt; self.heartbeat = heartbeat
    }
}

/// Returned once when a member is added or its secret rotated: the secret is never shown again.
public struct MemberEnrollment: Codable, Sendable {
    public var member: MemberView
    public var enrollmentSecret: String
    public var installCommand: String
    public init(member: MemberView, enrollmentSecret: String, installCommand: String) {
        self.member = member; self.enrollmentSecret = enrollmentSecret
        self.installCommand = installCommand
    }
}

public struct HeartbeatRecord: Codable, Sendable {
    public var receivedAt: Double
    public var sourceIP: String
    public var report: HostReport
    public init(receivedAt: Double, sourceIP: String, report: HostReport) {
        self.receivedAt = receivedAt; self.sourceIP = sourceIP; self.report = report
    }
}

public enum JobState: String, Codable, Sendable, CaseIterable {
    case pending, running, completed, failed, cancelled
    public var isTerminal: Bool { self == .completed || self == .failed || self == .cancelled }
}

public struct EnqueueJobRequest: Codable, Sendable {
    public var command: String
    public var params: JSONValue?
    public var priority: Int?
    public var maxAttempts: Int?
    public var timeoutSec: Int?
    public var checkMode: Bool?
    public init(command: String, params: JSONValue?, priority: Int? = nil, maxAttempts: Int? = nil,
                timeoutSec: Int? = nil, checkMode: Bool? = nil) {
        self.command = command; self.params = params; self.priority = priority
        self.maxAttempts = maxAttempts; self.timeoutSec = timeoutSec; self.checkMode = checkMode
    }
}

public struct JobEventView: Codable, Sendable {
    public var at: Double
    public var attempt: Int
    /// enqueued, claimed, progress, completed, failed, cancelled, cancel_requested,
    /// interrupted, lease_expired, timed_out, expired, late_result
    public var kind: String
    public var message: String?
    public init(at: Double, attempt: Int, kind: String, message: String?) {
        self.at = at; self.attempt = attempt; self.kind = kind; self.message = message
    }
}

public struct JobView: Codable, Sendable {
    public var id: Int64
    public var poolId: Int64
    public var memberId: Int64
    public var hostname: String
    public var command: String
    public var params: JSONValue
    public var state: JobState
    public var attempt: Int
    public var maxAttempts: Int
    public var priority: Int
    public var timeoutSec: Int
    public var checkMode: Bool
    public var cancelRequested: Bool
    public var createdAt: Double
    public var startedAt: Double?
    public var finishedAt: Double?
    public var exitCode: Int?
    public var changed: Bool?
    public var error: String?
    public var progressMessage: String?
    public var progressPercent: Double?
    public var output: String?
    public var result: JSONValue?
    public var events: [JobEventView]?
    /// Set when the job is a step of a recipe run.
    public var recipeRunId: Int64?
    public var recipeStep: Int?
    public init(id: Int64, poolId: Int64, memberId: Int64, hostname: String, command: String,
                params: JSONValue, state: JobState, attempt: Int, maxAttempts: Int, priority: Int,
                timeoutSec: Int, checkMode: Bool, cancelRequested: Bool, createdAt: Double,
                startedAt: Double?, finishedAt: Double?, exitCode: Int?, changed: Bool?,
                error: String?, progressMessage: String?, progressPercent: Double?, output: String?,
                result: JSONValue?, events: [JobEventView]?, recipeRunId: Int64? = nil, recipeStep: Int? = nil) {
        self.id = id; self.poolId = poolId; self.memberId = memberId; self.hostname = hostname
        self.command = command; self.params = params; self.state = state; self.attempt = attempt
        self.maxAttempts = maxAttempts; self.priority = priority; self.timeoutSec = timeoutSec
        self.checkMode = checkMode; self.cancelRequested = cancelRequested
        self.createdAt = createdAt; self.startedAt = startedAt; self.finishedAt = finishedAt
        self.exitCode = exitCode; self.changed = changed; self.error = error
        self.progressMessage = progressMessage; self.progressPercent = progressPercent
        self.output = output; self.result = result; self.events = events
        self.recipeRunId = recipeRunId; self.recipeStep = recipeStep
    }
}

public struct AccountView: Codable, Sendable {
    public var id: Int64
    public var name: String
    public var isAdmin: Bool
    public var createdAt: Double
    public init(id: Int64, name: String, isAdmin: Bool, createdAt: Double) {
        self.id = id; self.name = name; self.isAdmin = isAdmin; self.createdAt = createdAt
    }
}

public struct CreateAccountRequest: Codable, Sendable {
    public var name: String
    public var isAdmin: Bool?
    public init(name: String, isAdmin: Bool?) { self.name = name; self.isAdmin = isAdmin }
}

public struct CreateTokenRequest: Codable, Sendable {
    public var label: String?
    public init(label: String?) { self.label = label }
}

/// An API token, shown once.
public struct TokenIssued: Codable, Sendable {
    public var account: AccountView
    public var token: String
    public init(account: AccountView, token: String) { self.account = account; self.token = token }
}

/// A dashboard user as the operator API shows it (never its password hash). `GET /api/v1/users`.
public struct WebUserView: Codable, Sendable {
    public var id: Int64
    public var accountId: Int64
    public var username: String
    public var createdAt: Double
    public init(id: Int64, accountId: Int64, username: String, createdAt: Double) {
        self.id = id; self.accountId = accountId; self.username = username; self.createdAt = createdAt
    }
}

/// `POST /api/v1/users`.
public struct CreateWebUserRequest: Codable, Sendable {
    public var username: String
    public var password: String
    /// Admin tokens only: create the user in another account.
    public var account: Int64?
    public init(username: String, password: String, account: Int64? = nil) {
        self.username = username; self.password = password; self.account = account
    }
}
