import AgentKernel
import BalctlProtocol

/// Parameters shared by the restore commands.
public struct RestoreParameters: CommandParameters {
    /// The snapshot's ID (32 hex characters).
    public var snapshot: String
    /// Unpack into this new or empty directory instead of over the live files (no validation,
    /// no reload): to look at a snapshot, or copy single files back by hand.
    public var restoreTo: String?
    /// Keep setuid/setgid bits (stripped by default).
    public var keepSetuid: Bool?
    /// Unpacked bytes per stored byte before the restore is refused as a bomb (default 200).
    public var maxCompressionRatio: Int?

    public func validate() throws {
        guard snapshot.utf8.count == 32, snapshot.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw ParameterError("snapshot must be a snapshot ID (32 lowercase hex characters)")
        }
        if let restoreTo {
            let parts = restoreTo.split(separator: "/", omittingEmptySubsequences: true)
            guard restoreTo.hasPrefix("/"), !parts.isEmpty, !parts.contains(where: { $0 == "." || $0 == ".." }) else {
                throw ParameterError("restoreTo must be an absolute path without '.' or '..' (and not /)")
            }
        }
        if let r = maxCompressionRatio, !(2...100_000).contains(r) { throw ParameterError("maxCompressionRatio must be 2–100000") }
    }

    func limits(maxEntries: Int) -> ExtractionLimits {
        var l = ExtractionLimits()
        l.maxEntries = maxEntries
        l.keepSetuid = keepSetuid ?? false
        if let r = maxCompressionRatio { l.maxCompressionRatio = Int64(r) }
        return l
    }
}

/// `backup.restore`: put a snapshot's files back on this member (its own snapshot, or another
/// member's of the same account: the control plane decides which it may read).
public struct BackupRestoreHandler: CommandHandler {
    public typealias Parameters = RestoreParameters
    public let settings: BackupSettings
    public init(settings: BackupSettings) { self.settings = settings }

    public static let id = "backup.restore"
    public static let exampleParameters: JSONValue = .object(["snapshot": .string("0123456789abcdef0123456789abcdef")])
    public static let snapshotUse: SnapshotUse? = .restores
    public static let summary = "Restore a snapshot: verify, unpack to staging, validate, swap in, reload; roll back on failure"
    public static let parameterHelp = "snapshot: id (required); restoreTo: absolute dir (unpack only); keepSetuid: bool; maxCompressionRatio: int (default 200)"
    public static let requiresRoot = true
    public static let lock: String? = "backup"
    /// Long work (a whole transfer and unpack): an hour unless the job says otherwise.
    public static let defaultTimeoutSec: Int? = 3600
    public static let supportsCheckMode = true

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        try await SnapshotRestore(settings: settings, snapshot: p.snapshot, restoreTo: p.restoreTo,
                                  limits: p.limits(maxEntries: settings.maxEntries)).run(in: context)
    }
}

/// `standby.provision_from_backup`: make a standby like the member a snapshot came from: install
/// the stack when it is missing (the scope's `prepare`, e.g. haproxy.provision), then restore.
public struct StandbyProvisionHandler: CommandHandler {
    public struct Parameters: CommandParameters {
        public var snapshot: String
        public var keepSetuid: Bool?
        public func validate() throws { try RestoreParameters(snapshot: snapshot).validate() }
    }
    public let settings: BackupSettings
    public init(settings: BackupSettings) { self.settings = settings }

    public static let id = "standby.provision_from_backup"
    public static let exampleParameters: JSONValue = .object(["snapshot": .string("0123456789abcdef0123456789abcdef")])
    public static let snapshotUse: SnapshotUse? = .restores
    public static let summary = "Provision a standby from a snapshot: install the stack if missing, then restore and reload"
    public static let parameterHelp = "snapshot: id (required); keepSetuid: bool"
    public static let requiresRoot = true
    public static let lock: String? = "backup"
    /// Long work (a whole transfer and unpack): an hour unless the job says otherwise.
    public static let defaultTimeoutSec: Int? = 3600
    public static let supportsCheckMode = true

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        var limits = RestoreParameters(snapshot: p.snapshot).limits(maxEntries: settings.maxEntries)
        limits.keepSetuid = p.keepSetuid ?? false
        return try await SnapshotRestore(settings: settings, snapshot: p.snapshot, limits: limits).run(in: context) { scope in
            guard let scope else { return nil }
            return try await scope.prepare(in: context) ? "installed the \(scope.name) stack" : nil
        }
    }
}
