#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Backup snapshots on the wire. A snapshot is a tar stream compressed with zstd, cut into data
/// parts (default 16 MiB), plus a manifest (JSON Lines, also cut into parts). The agent uploads
/// them over its own HTTPS session with its bearer secret while it produces them; the control
/// plane keeps the catalog (every part's size and SHA-256) and the bytes (filesystem or S3).
public enum SnapshotWire {
    public static let beginPath = "/api/agents/snapshots/begin"
    public static func infoPath(_ id: String) -> String { "/api/agents/snapshots/\(id)" }
    /// `kind`: "data" or "manifest".
    public static func partPath(_ id: String, _ kind: String, _ index: Int) -> String {
        "/api/agents/snapshots/\(id)/\(kind)/\(index)"
    }
    public static func commitPath(_ id: String) -> String { "/api/agents/snapshots/\(id)/commit" }
    /// The part's SHA-256 (lowercase hex), sent with a part uploaded whole and checked before the
    /// part is stored. A data part streamed while it is compressed (chunked, no length known up
    /// front) comes without it: the control plane answers every part upload with the part as it
    /// stored it (index, size, SHA-256), the agent compares, and the commit compares again.
    public static let hashHeader = "X-Balctl-SHA256"
    public static let defaultPartBytes = 16 << 20
    public static let minPartBytes = 1 << 20
    /// Largest part the control plane accepts (413 beyond).
    public static let maxPartBytes = 64 << 20
    /// A snapshot has at most this many data parts (1 TiB at 16 MiB) and manifest parts.
    public static let maxParts = 65_536
    public static let manifestFormat = "balctl-snapshot-1"
}

/// One stored part: its number (from 0), size and SHA-256.
public struct SnapshotPart: Codable, Sendable, Hashable {
    public var index: Int
    public var size: Int64
    public var sha256: String
    public init(index: Int, size: Int64, sha256: String) { self.index = index; self.size = size; self.sha256 = sha256 }
}

/// `POST /api/agents/snapshots/begin`: the running `backup.create` attempt asks for its snapshot.
/// The same job always gets the same snapshot, so a retried attempt resumes it.
public struct SnapshotBeginRequest: Codable, Sendable {
    public var jobId: Int64
    public var attempt: Int
    public var scope: String
    public init(jobId: Int64, attempt: Int, scope: String) { self.jobId = jobId; self.attempt = attempt; self.scope = scope }
}

/// The parts the control plane already holds: the agent skips those whose hash it reproduces.
public struct SnapshotBeginReply: Codable, Sendable {
    public var snapshotId: String
    public var data: [SnapshotPart]
    public var manifest: [SnapshotPart]
    public init(snapshotId: String, data: [SnapshotPart], manifest: [SnapshotPart]) {
        self.snapshotId = snapshotId; self.data = data; self.manifest = manifest
    }
}

/// `POST /api/agents/snapshots/{id}/commit`: the complete list; the control plane checks it
/// against what it stored, drops parts beyond it and marks the snapshot complete.
public struct SnapshotCommitRequest: Codable, Sendable {
    public var jobId: Int64
    public var attempt: Int
    public var data: [SnapshotPart]
    public var manifest: [SnapshotPart]
    public var entries: Int
    /// Uncompressed bytes of the files in the snapshot.
    public var sourceBytes: Int64
    public init(jobId: Int64, attempt: Int, data: [SnapshotPart], manifest: [SnapshotPart], entries: Int, sourceBytes: Int64) {
        self.jobId = jobId; self.attempt = attempt; self.data = data; self.manifest = manifest
        self.entries = entries; self.sourceBytes = sourceBytes
    }
}

/// A snapshot as the catalog knows it (operator API, and the agent before a restore).
public struct SnapshotView: Codable, Sendable, Equatable {
    public var id: String
    public var memberId: Int64
    public var memberHostname: String
    public var accountId: Int64
    public var scope: String
    /// uploading, complete, failed.
    public var state: String
    public var jobId: Int64?
    public var createdAt: Double
    public var completedAt: Double?
    /// Stored (compressed) bytes: data and manifest parts.
    public var bytes: Int64
    public var sourceBytes: Int64
    public var entries: Int
    public var error: String?
    /// Filled for one snapshot (show, restore), empty in lists.
    public var data: [SnapshotPart]
    public var manifest: [SnapshotPart]

    public init(id: String, memberId: Int64, memberHostname: String, accountId: Int64, scope: String, state: String,
                jobId: Int64?, createdAt: Double, completedAt: Double?, bytes: Int64, sourceBytes: Int64,
                entries: Int, error: String?, data: [SnapshotPart] = [], manifest: [SnapshotPart] = []) {
        self.id = id; self.memberId = memberId; self.memberHostname = memberHostname; self.accountId = accountId
        self.scope = scope; self.state = state; self.jobId = jobId; self.createdAt = createdAt
        self.completedAt = completedAt; self.bytes = bytes; self.sourceBytes = sourceBytes
        self.entries = entries; self.error = error; self.data = data; self.manifest = manifest
    }
}

/// `POST /api/backups/{id}/restore`: restore onto the snapshot's member, or `to` another member
/// of the same account (disaster recovery).
public struct SnapshotRestoreRequest: Codable, Sendable {
    public var to: Int64?
    public var checkMode: Bool?
    /// `standby.provision_from_backup` instead of `backup.restore` (installs the stack first).
    public var provision: Bool?
    public init(to: Int64? = nil, checkMode: Bool? = nil, provision: Bool? = nil) {
        self.to = to; self.checkMode = checkMode; self.provision = provision
    }
}

/// Per member: which snapshots survive a new one. A snapshot is kept when it is among the last
/// `keepLast` or younger than `keepDays`; nil rules keep everything they would decide.
public struct BackupPolicyView: Codable, Sendable, Equatable {
    public var keepLast: Int?
    public var keepDays: Int?
    public init(keepLast: Int? = nil, keepDays: Int? = nil) { self.keepLast = keepLast; self.keepDays = keepDays }
}

/// Per account: the most snapshot bytes it may store (nil: unlimited), and what it uses.
public struct BackupQuotaView: Codable, Sendable, Equatable {
    public var quotaBytes: Int64?
    public var usedBytes: Int64
    public init(quotaBytes: Int64?, usedBytes: Int64) { self.quotaBytes = quotaBytes; self.usedBytes = usedBytes }
}

public struct SetBackupQuotaRequest: Codable, Sendable {
    public var quotaBytes: Int64?
    public init(quotaBytes: Int64?) { self.quotaBytes = quotaBytes }
}

/// The first line of a manifest.
public struct SnapshotManifestHeader: Codable, Sendable, Equatable {
    public var format: String
    public var scope: String
    /// The absolute paths the snapshot was taken of.
    public var roots: [String]
    public var createdAt: Double
    public var hostname: String
    public init(format: String = SnapshotWire.manifestFormat, scope: String, roots: [String], createdAt: Double, hostname: String) {
        self.format = format; self.scope = scope; self.roots = roots; self.createdAt = createdAt; self.hostname = hostname
    }
}

/// Every later line of a manifest: one archive entry, in archive order. `path` is relative to
/// `/` (no leading slash), exactly the archive entry's name.
public struct SnapshotManifestEntry: Codable, Sendable, Equatable {
    /// file, dir, symlink, hardlink (a later name of a file: `target` is its first name's path,
    /// `size` and `sha256` repeat that file's).
    public var type: String
    public var path: String
    public var size: Int64
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var mtime: Int64
    public var mtimeNsec: Int64
    /// Files: SHA-256 of the content.
    public var sha256: String?
    /// Symlinks: the target, as stored. Hard links: the first name's path.
    public var target: String?
    public init(type: String, path: String, size: Int64, mode: UInt32, uid: UInt32, gid: UInt32, mtime: Int64,
                mtimeNsec: Int64, sha256: String? = nil, target: String? = nil) {
        self.type = type; self.path = path; self.size = size; self.mode = mode; self.uid = uid; self.gid = gid
        self.mtime = mtime; self.mtimeNsec = mtimeNsec; self.sha256 = sha256; self.target = target
    }
}
