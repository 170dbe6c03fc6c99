#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// For a stack plugin that restores part of a snapshot (one OpenLiteSpeed virtual host out of a
/// whole-server snapshot): the snapshot fetched, every part verified and every entry policed
/// exactly as `backup.restore` does, unpacked into a private staging directory; then one subtree
/// of it put in place with the same swap (kept previous files, rollback, commit).
public struct SnapshotStaging: Sendable {
    public let settings: BackupSettings
    public init(settings: BackupSettings = .fromEnvironment()) { self.settings = settings }

    /// A parameter naming a snapshot: its ID, 32 lowercase hex characters.
    public static func checkSnapshotID(_ id: String) throws { try RestoreParameters(snapshot: id).validate() }

    /// The catalog entry of a complete snapshot of `scope` (refused otherwise).
    public func info(snapshot: String, scope: String, in context: JobContext) async throws -> SnapshotView {
        guard let channel = context.controlPlane else { throw JobFailure("\(context.command) needs the agent's control-plane session") }
        let transfer = SnapshotTransfer(channel: channel, retryWindowSec: settings.retryWindowSec)
        let info = try await runBlocking { try transfer.info(snapshot: snapshot) }
        guard info.state == "complete" else { throw JobFailure("snapshot \(snapshot) is \(info.state), not complete: nothing to restore") }
        guard info.scope == scope else { throw JobFailure("snapshot \(snapshot) is of scope '\(info.scope)', not '\(scope)'") }
        return info
    }

    /// Download and unpack a snapshot into a new staging directory (root's, 0700). The caller
    /// removes it (`StagedSnapshot.remove`) when done.
    public func stage(_ info: SnapshotView, keepSetuid: Bool = false, in context: JobContext) async throws -> StagedSnapshot {
        guard let channel = context.controlPlane else { throw JobFailure("\(context.command) needs the agent's control-plane session") }
        let transfer = SnapshotTransfer(channel: channel, retryWindowSec: settings.retryWindowSec)
        var limits = RestoreParameters(snapshot: info.id).limits(maxEntries: settings.maxEntries)
        limits.keepSetuid = keepSetuid
        guard info.entries <= limits.maxEntries else {
            throw JobFailure("snapshot refused: it lists \(info.entries) entries, more than \(limits.maxEntries) (BALCTL_BACKUP_MAX_ENTRIES); nothing was restored")
        }
        let restore = SnapshotRestore(settings: settings, snapshot: info.id, limits: limits)
        let staging = try restore.makeStaging()
        do {
            let (stats, roots) = try await restore.extract(info, transfer: transfer, into: staging, in: context)
            for path in stats.setuidStripped.prefix(50) { context.log("setuid/setgid bits stripped: \(path) (keepSetuid: true keeps them)") }
            return StagedSnapshot(info: info, path: staging, roots: roots, directories: stats.directories)
        } catch {
            TreeRemoval.remove(staging)
            throw error is HostileSnapshot ? JobFailure("\(error); nothing was restored") : error
        }
    }

    /// Check mode: what restoring the subtree `under` (absolute) would change, from the manifest
    /// alone (no data downloaded).
    public func diff(_ info: SnapshotView, under: String, in context: JobContext) async throws -> (isEmpty: Bool, summary: String, json: JSONValue) {
        guard let channel = context.controlPlane else { throw JobFailure("\(context.command) needs the agent's control-plane session") }
        let transfer = SnapshotTransfer(channel: channel, retryWindowSec: settings.retryWindowSec)
        let only = String(under.drop(while: { $0 == "/" }))
        let diff = try await runBlocking {
            try ManifestDiff.compare(manifest: ManifestReader(source: RemoteParts(transfer: transfer, snapshot: info.id, kind: "manifest", parts: info.manifest)),
                                     liveRoot: "/", only: only)
        }
        return (diff.isEmpty, diff.summary, diff.json)
    }
}

/// A snapshot unpacked into a private staging directory that mirrors `/`.
public struct StagedSnapshot: Sendable {
    public let info: SnapshotView
    /// The staging directory (`<state dir>/work/restore-XXXXXX`, root's, 0700).
    public let path: String
    /// The absolute paths the snapshot was taken of.
    public let roots: [String]
    let directories: Set<String>

    /// "snapshot ID (scope, host, date)", for job output.
    public var label: String { "snapshot \(info.id) (\(info.scope), \(info.memberHostname), \(Render.dateTime(info.createdAt)))" }

    /// A staged regular file's bytes (`absolute` as it was on the member), reached from the
    /// staging root one directory at a time without following any link: the snapshot's links are
    /// another member's, never read through. Nil when the snapshot has no regular file there.
    public func readFile(_ absolute: String, limit: Int = 16 << 20) throws -> [UInt8]? {
        var components = absolute.split(separator: "/").map(String.init)
        guard !components.isEmpty, !components.contains(where: { $0 == "." || $0 == ".." }) else { return nil }
        let last = components.removeLast()
        var fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw JobFailure("cannot open the staging directory: \(String(cString: strerror(errno)))") }
        for c in components {
            let next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            close(fd)
            guard next >= 0 else { return nil }
            fd = next
        }
        defer { close(fd) }
        let file = openat(fd, last, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard file >= 0 else { return nil }
        defer { close(file) }
        var st = stat()
        guard fstat(file, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
        guard st.st_size <= limit else { throw JobFailure("\(absolute) in the snapshot is over \(limit) bytes") }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        let n = RestoreSwap.readFull(file, &bytes)
        guard n == bytes.count else { throw JobFailure("cannot read \(absolute) from the staging directory") }
        return bytes
    }

    /// Whether the snapshot holds `absolute` as one of its directories (not merely an ancestor
    /// the extractor made on the way).
    public func hasDirectory(_ absolute: String) -> Bool { directories.contains(String(absolute.drop(while: { $0 == "/" }))) }

    /// Put the staged subtree `absolute` in place over the live files (nothing else of the
    /// snapshot). Roll back or commit the returned swap.
    public func swapIn(_ absolute: String, jobID: Int64) async throws -> SubtreeSwap {
        let swap = RestoreSwap(stagingRoot: path, snapshotDirectories: directories, jobID: jobID)
        swap.only = String(absolute.drop(while: { $0 == "/" }))
        let result = SubtreeSwap(swap)
        do { try await runBlocking { try swap.apply() } } catch {
            let left = swap.rollBack()
            throw JobFailure("putting \(absolute) in place failed (\(error)); rolled back\(left.isEmpty ? "" : "; could not undo: " + left.joined(separator: ", "))")
        }
        return result
    }

    /// Remove the staging directory.
    public func remove() { TreeRemoval.remove(path) }
}

/// A subtree put in place, its previous files kept until `commit` (or put back by `rollBack`).
public final class SubtreeSwap: @unchecked Sendable {
    private let swap: RestoreSwap
    init(_ swap: RestoreSwap) { self.swap = swap }
    public var replaced: Int { swap.replacedCount }
    public var created: Int { swap.createdCount }
    public var unchanged: Int { swap.unchanged }
    public var changed: Bool { swap.replacedCount + swap.createdCount > 0 }
    /// Put the previous files back; returns what could not be undone.
    public func rollBack() -> [String] { swap.rollBack() }
    /// Drop the kept previous files; returns what was left in place (a previous directory).
    public func commit() -> [String] { swap.commit() }
}
