import FoundationEssentials
import BalctlProtocol
import CurlClient

/// A non-2xx answer from the control plane.
public struct AgentAPIError: Error, CustomStringConvertible, Sendable {
    public var status: Int
    public var message: String
    public var description: String { "HTTP \(status): \(message)" }
    public init(status: Int, message: String) { self.status = status; self.message = message }
}

/// How the control plane took a completion.
public enum CompletionAck: Sendable, Equatable {
    case accepted
    /// 409: that attempt is no longer current (the lease ran out and the job moved on).
    case stale(String)
    /// 404: the job is gone (deleted with its member or pool).
    case gone
}

/// The agent side of wire protocol v1. Heartbeats and job reports use separate libcurl handles so
/// a slow job report never delays a heartbeat.
public final class AgentAPIClient: Sendable {
    let base: String
    let secret: String
    let heartbeatSession: CurlSession
    let jobSession: CurlSession
    /// Snapshot parts: a third handle, so a 16 MiB upload never queues a job report behind it.
    let bulkSession: CurlSession
    /// Streamed snapshot parts: a fifth handle, so a data part that waits for the writer's
    /// next bytes never holds up a manifest part sent whole on `bulkSession`.
    let streamSession: CurlSession
    /// The long poll (`GET /api/agents/wait`): a fourth handle, so a parked request never
    /// delays a heartbeat or a report.
    let waitSession: CurlSession

    public init(config: AgentConfig) throws {
        var jobOptions = CurlSession.Options(caFile: config.caFile, requireHTTPS: true,
                                             userAgent: "balctl-heartbeat/\(BalctlVersion.current)")
        jobOptions.timeoutMs = 10_000
        jobOptions.maxResponseBytes = 4 << 20
        // A heartbeat attempt is bounded tighter than a job report: a dead peer must not hold the
        // heartbeat loop longer than its back-off cap (issue 12, agent side).
        var heartbeatOptions = jobOptions
        heartbeatOptions.connectTimeoutMs = HeartbeatSchedule.connectTimeoutMs
        heartbeatOptions.timeoutMs = HeartbeatSchedule.attemptTimeoutMs
        try CurlSession.checkScheme(config.apiBase, requireHTTPS: true)
        base = config.apiBase
        secret = config.enrollmentSecret
        heartbeatSession = try CurlSession(options: heartbeatOptions)
        jobSession = try CurlSession(options: jobOptions)
        var bulkOptions = jobOptions
        bulkOptions.timeoutMs = 600_000
        bulkOptions.maxResponseBytes = SnapshotWire.maxPartBytes + (1 << 20)
        bulkSession = try CurlSession(options: bulkOptions)
        streamSession = try CurlSession(options: bulkOptions)
        var waitOptions = heartbeatOptions
        waitOptions.timeoutMs = Self.waitTimeoutMs
        waitOptions.maxResponseBytes = 4096
        waitSession = try CurlSession(options: waitOptions)
        heartbeatURL = base + AgentWire.heartbeatPath
        heartbeatHeaders = [("Authorization", "Bearer \(secret)"), ("Content-Type", "application/json")]
    }

    /// Built once: the heartbeat's URL and headers are the same every second.
    let heartbeatURL: String
    let heartbeatHeaders: [(String, String)]

    /// A wait is held up to the server's 25 s; past 40 s the connection is taken as dead.
    static let waitTimeoutMs = 40_000

    /// Park until the control plane has work for this member (true: beat now) or its wait time
    /// passed (false). A control plane without the route answers 404 (`AgentAPIError`).
    public func waitForWork() async throws -> Bool {
        let r = try await waitSession.request("GET", base + AgentWire.waitPath, headers: [("Authorization", "Bearer \(secret)")])
        guard r.status == 200 else { throw AgentAPIError(status: r.status, message: Self.errorMessage(r)) }
        // {"wake":true} / {"wake":false}: no decoder needed for one flag.
        return r.text.contains("true")
    }

    private func post<T: Encodable>(_ session: CurlSession, _ path: String, _ body: T) async throws -> HTTPResponse {
        try await post(session, path, bytes: Array(try JSONEncoder().encode(body)))
    }

    private func post(_ session: CurlSession, _ path: String, bytes: [UInt8]) async throws -> HTTPResponse {
        try await session.request(
            "POST", base + path,
            headers: [("Authorization", "Bearer \(secret)"), ("Content-Type", "application/json")],
            body: bytes)
    }

    private static func errorMessage(_ r: HTTPResponse) -> String {
        (try? JSONDecoder().decode(APIErrorBody.self, from: Data(r.body)))?.error ?? r.text
    }

    public func heartbeat(_ report: HostReport) async throws -> HeartbeatReply {
        // Written by hand (JSONWriter), every second: the Codable encoder cost more than the
        // rest of the request.
        let r = try await heartbeatSession.request("POST", heartbeatURL, headers: heartbeatHeaders, body: report.jsonBytes())
        return try Self.heartbeatReply(r)
    }

    /// The same heartbeat, its transfer run on the calling thread: only from a thread that may
    /// block (the heartbeat loop's own, `DedicatedThreadExecutor`), where it saves the hop to the
    /// session's queue and back — two thread wake-ups per heartbeat.
    func heartbeatOnThisThread(_ report: HostReport) throws -> HeartbeatReply {
        let r = try heartbeatSession.requestBlocking("POST", heartbeatURL, headers: heartbeatHeaders, body: report.jsonBytes())
        return try Self.heartbeatReply(r)
    }

    private static func heartbeatReply(_ r: HTTPResponse) throws -> HeartbeatReply {
        guard r.status == 200 else { throw AgentAPIError(status: r.status, message: Self.errorMessage(r)) }
        return try HeartbeatReply.read(r.body)
    }

    /// Returns false when the control plane no longer considers this attempt current.
    public func progress(_ p: JobProgress) async throws -> Bool {
        let r = try await post(jobSession, AgentWire.progressPath, p)
        if r.status == 200 { return true }
        if r.status == 409 || r.status == 404 { return false }
        throw AgentAPIError(status: r.status, message: Self.errorMessage(r))
    }

    public func complete(_ c: JobCompletion) async throws -> CompletionAck {
        let r = try await post(jobSession, AgentWire.completePath, c)
        switch r.status {
        case 200: return .accepted
        case 409: return .stale(Self.errorMessage(r))
        case 404: return .gone
        default: throw AgentAPIError(status: r.status, message: Self.errorMessage(r))
        }
    }
}

extension AgentAPIClient: ControlPlaneChannel {
    public func send(_ method: String, _ path: String, headers: [(String, String)], body: [UInt8]?) throws -> HTTPResponse {
        try bulkSession.requestBlocking(method, base + path, headers: headers + [("Authorization", "Bearer \(secret)")], body: body)
    }

    public func stream(_ method: String, _ path: String, headers: [(String, String)],
                       body: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) throws -> HTTPResponse {
        try streamSession.requestBlocking(method, base + path, headers: headers + [("Authorization", "Bearer \(secret)")], streamingBody: body)
    }
}
