/// What the control plane and the CLI know about one command ID. The plugins' own declarations
/// are the single source of truth; this is their description without the code that runs them.
public struct CommandInfo: Codable, Sendable, Hashable {
    public var id: String
    /// The plugin (stack) that owns it, e.g. "host", "haproxy".
    public var stack: String
    public var summary: String
    public var requiresRoot: Bool
    /// Jobs that share a lock run one at a time on a host (e.g. every `haproxy.*` job).
    public var lock: String?
    public var supportsCheckMode: Bool
    /// Human description of the parameters, e.g. "message: string (≤ 4096), delaySeconds: 0–3600".
    public var parameters: String
    /// Parameters that decode and validate: shown in the catalogue, and the recipe loader's test
    /// runs every command with them (so a new plugin needs no test edits outside its folder).
    public var example: JSONValue?
    /// What the command does with snapshots: the control plane lets a running job of a
    /// `creates` command upload one, and a running job of a `restores` command (its `snapshot`
    /// parameter) read one — by these declarations, not by command names.
    public var snapshotUse: SnapshotUse?
    /// How long a job of this command may run when its enqueuer names no `timeoutSec`; nil: the
    /// queue's default (600 s). Long work (package upgrades, dumps, restores) declares its own so
    /// a job is not failed mid-way by a default meant for quick commands.
    public var defaultTimeoutSec: Int?

    public init(id: String, stack: String, summary: String, requiresRoot: Bool, lock: String?,
                supportsCheckMode: Bool, parameters: String, example: JSONValue? = nil, snapshotUse: SnapshotUse? = nil,
                defaultTimeoutSec: Int? = nil) {
        self.id = id; self.stack = stack; self.summary = summary; self.requiresRoot = requiresRoot
        self.lock = lock; self.supportsCheckMode = supportsCheckMode; self.parameters = parameters
        self.example = example; self.snapshotUse = snapshotUse; self.defaultTimeoutSec = defaultTimeoutSec
    }
}

/// See `CommandInfo.snapshotUse`.
public enum SnapshotUse: String, Codable, Sendable, Hashable {
    /// Uploads a snapshot of a scope (`backup.create`, `ols.backup`).
    case creates
    /// Reads the snapshot its `snapshot` parameter names (`backup.restore`, …).
    case restores
}

/// A command's description plus its parameter validator (decode into the typed parameters and
/// check them), free of side effects so the control plane can run it at enqueue time.
public struct CommandDescriptor: Sendable {
    public var info: CommandInfo
    public var validate: @Sendable (JSONValue) throws -> Void

    public init(info: CommandInfo, validate: @escaping @Sendable (JSONValue) throws -> Void) {
        self.info = info; self.validate = validate
    }
}

/// A job parameter problem, reported before anything runs.
public struct ParameterError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Command IDs look like `stack.verb_noun`.
public enum CommandID {
    public static func isWellFormed(_ id: String) -> Bool {
        let parts = id.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, id.utf8.count <= 64 else { return false }
        return parts.allSatisfy { part in
            guard let first = part.first, first.isASCII, first.isLowercase else { return false }
            return part.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }
        }
    }
}

/// The set of known commands.
public struct CommandCatalogue: Sendable {
    public let descriptors: [String: CommandDescriptor]

    public init(_ list: [CommandDescriptor]) {
        var map: [String: CommandDescriptor] = [:]
        for d in list {
            precondition(CommandID.isWellFormed(d.info.id), "malformed command id \(d.info.id)")
            precondition(map[d.info.id] == nil, "command \(d.info.id) declared twice")
            map[d.info.id] = d
        }
        descriptors = map
    }

    public var infos: [CommandInfo] { descriptors.values.map(\.info).sorted { $0.id < $1.id } }

    /// The timeout a job of `command` gets when none is asked for: the command's own default,
    /// else `fallback` (the queue's).
    public func defaultTimeout(for command: String, fallback: Int) -> Int {
        descriptors[command]?.info.defaultTimeoutSec ?? fallback
    }

    /// Refuse an unknown command, check mode it does not support, or bad parameters.
    public func validate(command: String, params: JSONValue, checkMode: Bool) throws {
        guard let d = descriptors[command] else {
            throw ParameterError("unknown command '\(command)'")
        }
        if checkMode && !d.info.supportsCheckMode {
            throw ParameterError("command '\(command)' does not support check mode")
        }
        try d.validate(params)
    }
}
