import BalctlProtocol

/// Typed parameters of a command: decoded from the job's JSON and validated before anything runs.
public protocol CommandParameters: Codable, Sendable {
    /// Throw a `ParameterError` naming the field when a value is out of range or unsafe.
    func validate() throws
}

extension CommandParameters {
    public func validate() throws {}
}

/// Parameters for commands that take none; any unexpected key is refused.
public struct NoParameters: CommandParameters {
    public init() {}
    public init(from decoder: any Decoder) throws {
        if let c = try? decoder.container(keyedBy: AnyKey.self), let key = c.allKeys.first {
            throw ParameterError("unexpected parameter '\(key.stringValue)': this command takes none")
        }
    }
    public func encode(to encoder: any Encoder) throws {
        _ = encoder.container(keyedBy: AnyKey.self)
    }
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

/// What a handler reports when it finishes without throwing.
public struct JobOutcome: Sendable {
    /// false: an idempotent re-run found everything already as asked ("unchanged").
    public var changed: Bool
    /// One line for the timeline.
    public var summary: String
    public var result: JSONValue?
    public var exitCode: Int?
    /// Restart the agent once this completion has reached the control plane (a self-update
    /// installed a new binary). Kernel-level: the agent finishes its other jobs first.
    public var restartAgent = false

    public init(changed: Bool, summary: String, result: JSONValue? = nil, exitCode: Int? = 0) {
        self.changed = changed; self.summary = summary; self.result = result; self.exitCode = exitCode
    }

    public static func unchanged(_ summary: String, result: JSONValue? = nil) -> JobOutcome {
        JobOutcome(changed: false, summary: summary, result: result)
    }
}

/// A handler's way to fail with a message (and optionally the exit code of what it ran).
public struct JobFailure: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var exitCode: Int?
    public var result: JSONValue?
    public init(_ message: String, exitCode: Int? = nil, result: JSONValue? = nil) {
        self.message = message; self.exitCode = exitCode; self.result = result
    }
    public var description: String { message }
}

/// One command: its ID, typed parameters, and the code that runs it. One handler per file.
public protocol CommandHandler: Sendable {
    associatedtype Parameters: CommandParameters
    /// e.g. "haproxy.reload".
    static var id: String { get }
    static var summary: String { get }
    /// Human description of the parameters for the catalogue.
    static var parameterHelp: String { get }
    static var requiresRoot: Bool { get }
    /// Jobs sharing a lock run one at a time on a host; nil runs freely.
    static var lock: String? { get }
    static var supportsCheckMode: Bool { get }
    /// Parameters that decode and validate (an empty object for commands whose parameters are
    /// all optional); see `CommandInfo.example`.
    static var exampleParameters: JSONValue { get }
    /// Whether it uploads or reads a snapshot (see `CommandInfo.snapshotUse`).
    static var snapshotUse: SnapshotUse? { get }
    /// A job's timeout when the enqueuer names none (see `CommandInfo.defaultTimeoutSec`); nil:
    /// the queue's default.
    static var defaultTimeoutSec: Int? { get }

    func run(_ params: Parameters, in context: JobContext) async throws -> JobOutcome
}

extension CommandHandler {
    public static var parameterHelp: String { "none" }
    public static var requiresRoot: Bool { false }
    public static var lock: String? { nil }
    public static var supportsCheckMode: Bool { false }
    public static var exampleParameters: JSONValue { .emptyObject }
    public static var snapshotUse: SnapshotUse? { nil }
    public static var defaultTimeoutSec: Int? { nil }

    /// Decode and validate untyped job parameters; a `ParameterError` says what was wrong.
    public static func decodeParameters(_ json: JSONValue) throws -> Parameters {
        // A job without parameters is an empty object.
        let value: JSONValue = json == .null ? .emptyObject : json
        let params: Parameters
        do {
            params = try value.decode(as: Parameters.self)
            try refuseUndeclaredKeys(value, of: params)
        } catch let e as DecodingError {
            throw ParameterError("\(id): \(e.balctlReason)")
        } catch let e as ParameterError {
            throw ParameterError("\(id): \(e.message)")
        }
        do { try params.validate() } catch let e as ParameterError {
            throw ParameterError("\(id): \(e.message)")
        }
        return params
    }

    /// Every command refuses keys its parameters do not declare, so a typo (`fial: true`) is an
    /// error instead of being ignored (issue 21 item 8). The declared keys are the parameter
    /// type's stored properties plus whatever it encodes (for types that rename their keys).
    static func refuseUndeclaredKeys(_ json: JSONValue, of params: Parameters) throws {
        guard case .object(let given) = json, !given.isEmpty else { return }
        var declared = Set(Mirror(reflecting: params).children.compactMap(\.label))
        if case .object(let encoded)? = try? JSONValue.from(params) { declared.formUnion(encoded.keys) }
        guard let unknown = given.keys.sorted().first(where: { !declared.contains($0) }) else { return }
        let takes = declared.isEmpty ? "none" : declared.sorted().joined(separator: ", ")
        throw ParameterError("unexpected parameter '\(unknown)' (this command takes: \(takes))")
    }
}

/// A plugin: one stack's probe and its handlers. Building a plugin value must have no side
/// effects, so the control plane can link every plugin to read the catalogue.
public protocol AgentPlugin: Sendable {
    /// The stack name, e.g. "host", "haproxy"; also the key of its probe in the heartbeat.
    var name: String { get }
    var handlers: [any CommandHandler] { get }
    /// What this plugin detects on the host, folded into every heartbeat; nil when there is
    /// nothing to report (e.g. the stack is not installed).
    func probe() async -> JSONValue?
    /// Work the plugin starts by itself when the agent service starts (a first-start install
    /// asked for in agent.env, say); nil when there is none. It waits its turn on its lock like a
    /// job, runs beside the heartbeat loop, and is logged, not reported to the control plane.
    func startupWork(log: AgentLog) -> StartupWork?
    /// What this stack contributes to backups (see `BackupScope`); most plugins have none.
    var backupScopes: [any BackupScope] { get }
    /// Work the plugin repeats beside the heartbeat loop while the agent runs, e.g. refreshing a
    /// readout that costs a program run, so `probe()` can return a cached value and no program
    /// ever runs on the heartbeat path; nil when there is none. Declaring it has no side effect.
    var periodicWork: PeriodicWork? { get }
    /// The certificates this stack serves (see `CertificateSource`); most plugins have none.
    var certificateSources: [any CertificateSource] { get }
}

extension AgentPlugin {
    public func probe() async -> JSONValue? { nil }
    public func startupWork(log: AgentLog) -> StartupWork? { nil }
    public var backupScopes: [any BackupScope] { [] }
    public var periodicWork: PeriodicWork? { nil }
    public var certificateSources: [any CertificateSource] { [] }
}

/// A stack that serves TLS certificates says where they are, so a host-level command
/// (`host.cert_expiry` without paths) checks them without knowing the stack: the kernel hands
/// every plugin's sources to handlers (`JobContext.certificateSources`).
public protocol CertificateSource: Sendable {
    /// The stack, e.g. "haproxy".
    var name: String { get }
    /// Absolute paths of PEM files or certificate directories, read now from the stack's
    /// configuration; empty when it has none or is not configured.
    func certificatePaths() -> [String]
}

/// See `AgentPlugin.periodicWork`. The agent runs `run` once at start, then every `intervalSec`
/// (counted from the end of the previous run, so a slow run never overlaps the next), in a task
/// of its own beside the heartbeat loop, until the agent stops. Takes no job lock: it must only
/// read (a job that changes the stack is free to run meanwhile).
public struct PeriodicWork: Sendable {
    /// For the log, e.g. "mariadb health".
    public var name: String
    public var intervalSec: Double
    public var run: @Sendable () async -> Void

    public init(name: String, intervalSec: Double, run: @escaping @Sendable () async -> Void) {
        self.name = name; self.intervalSec = intervalSec; self.run = run
    }

    /// The loop the agent runs (public for tests and benchmarks that run it themselves).
    public func loop() async {
        while !Task.isCancelled {
            await run()
            try? await Task.sleep(for: .seconds(max(0.1, intervalSec)))
        }
    }
}

/// See `AgentPlugin.startupWork`.
public struct StartupWork: Sendable {
    /// For the log, e.g. "BALCTL_PROVISION_HAPROXY".
    public var name: String
    /// The lock the plugin's jobs take, so the work never overlaps one of them.
    public var lock: String
    public var run: @Sendable () async -> Void

    public init(name: String, lock: String, run: @escaping @Sendable () async -> Void) {
        self.name = name; self.lock = lock; self.run = run
    }
}
