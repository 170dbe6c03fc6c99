#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// A restore, shared by `backup.restore` and `standby.provision_from_backup`: fetch the catalog
/// entry, unpack into a fresh staging directory (every part checked, every entry policed), let
/// the scope validate the staged files, swap them in keeping the previous ones, let the scope
/// activate them (reload), and roll back to the previous files when that fails.
struct SnapshotRestore {
    let settings: BackupSettings
    let snapshot: String
    var restoreTo: String?
    var limits: ExtractionLimits

    func run(in context: JobContext, beforeRestore: (((any BackupScope)?) async throws -> String?)? = nil) async throws -> JobOutcome {
        guard let channel = context.controlPlane else { throw JobFailure("\(context.command) needs the agent's control-plane session") }
        let transfer = SnapshotTransfer(channel: channel, retryWindowSec: settings.retryWindowSec)
        let snapshot = self.snapshot
        let info = try await runBlocking { try transfer.info(snapshot: snapshot) }
        guard info.state == "complete" else { throw JobFailure("snapshot \(snapshot) is \(info.state), not complete: nothing to restore") }
        let scope = context.backupScopes[info.scope]
        if restoreTo == nil && scope == nil {
            throw JobFailure("snapshot \(snapshot) is of scope '\(info.scope)', which this agent does not have (it has: \(context.backupScopes.keys.sorted().joined(separator: ", ")))")
        }
        let from = "snapshot \(snapshot) (\(info.scope), \(info.memberHostname), \(Render.dateTime(info.createdAt)))"
        if context.checkMode {
            let diff = try await runBlocking { [restoreTo] in
                try ManifestDiff.compare(manifest: ManifestReader(source: RemoteParts(transfer: transfer, snapshot: snapshot, kind: "manifest", parts: info.manifest)),
                                         liveRoot: restoreTo ?? "/")
            }
            return JobOutcome(changed: !diff.isEmpty, summary: "check mode: \(from): \(diff.summary)", result: diff.json)
        }
        // A count over the cap is refused before a byte is downloaded.
        guard info.entries <= limits.maxEntries else {
            throw JobFailure("snapshot refused: it lists \(info.entries) entries, more than \(limits.maxEntries) (BALCTL_BACKUP_MAX_ENTRIES); nothing was restored")
        }
        var prepared: String? = nil
        if let beforeRestore { prepared = try await beforeRestore(scope) }

        let staging = try makeStaging()
        let stats: SnapshotExtractor.Stats
        let roots: [String]
        do {
            (stats, roots) = try await extract(info, transfer: transfer, into: staging, in: context)
        } catch {
            if restoreTo == nil { TreeRemoval.remove(staging) } else { TreeRemoval.removeContents(staging) }
            throw error is HostileSnapshot ? JobFailure("\(error); nothing was restored") : error
        }
        for path in stats.setuidStripped.prefix(50) { context.log("setuid/setgid bits stripped: \(path) (keepSetuid: true keeps them)") }
        let prefix = prepared.map { $0 + "; " } ?? ""
        if let restoreTo {
            return JobOutcome(changed: true, summary: "\(prefix)\(from): \(stats.entries) entries, \(size(stats.bytes)) unpacked into \(restoreTo) (live files untouched)",
                              result: result(info, stats, extra: ["restoreTo": .string(restoreTo)]))
        }
        defer { TreeRemoval.remove(staging) }
        let scopeName = info.scope
        do { try await scope!.validateStaged(stagingRoot: staging, roots: roots, in: context) } catch {
            throw JobFailure("\(from): the \(scopeName) scope rejects the restored files; live files untouched: \(error)")
        }
        let swap = RestoreSwap(stagingRoot: staging, snapshotDirectories: stats.directories, jobID: context.jobID)
        do { try await runBlocking { try swap.apply() } } catch {
            let left = swap.rollBack()
            throw JobFailure("\(from): putting files in place failed (\(error)); rolled back\(left.isEmpty ? "" : "; could not undo: " + left.joined(separator: ", "))")
        }
        guard swap.replacedCount + swap.createdCount > 0 else {
            _ = swap.commit()
            return .unchanged("\(prefix)\(from): every file already matches; nothing changed", result: result(info, stats, extra: ["unchanged": .number(Double(swap.unchanged))]))
        }
        do { try await scope!.activate(in: context) } catch {
            let left = swap.rollBack()
            var again = "the previous files are active again"
            do { try await scope!.activate(in: context) } catch { again = "re-activating the previous files failed too: \(error)" }
            throw JobFailure("\(from): the \(scopeName) scope could not take the restored files (\(error)); rolled back to the previous files, \(again)\(left.isEmpty ? "" : "; could not undo: " + left.joined(separator: ", "))")
        }
        for left in swap.commit() { context.log("left in place: \(left)") }
        return JobOutcome(changed: true,
                          summary: "\(prefix)\(from): \(swap.replacedCount) replaced, \(swap.createdCount) created, \(swap.unchanged) unchanged; \(scopeName) took the restored files",
                          result: result(info, stats, extra: ["replaced": .number(Double(swap.replacedCount)), "created": .number(Double(swap.createdCount)),
                                                              "unchanged": .number(Double(swap.unchanged))]))
    }

    /// Unpack every part of a complete snapshot into `staging`: each part's hash checked, each
    /// entry policed (`SnapshotExtractor`); returns the statistics and the manifest's roots.
    /// Throws `HostileSnapshot` for a snapshot that breaks the rules; the caller removes staging.
    func extract(_ info: SnapshotView, transfer: SnapshotTransfer, into staging: String,
                 in context: JobContext) async throws -> (SnapshotExtractor.Stats, [String]) {
        let limits = self.limits
        let snapshot = info.id
        let progress = ProgressTicker(context: context, total: max(info.sourceBytes, 1), verb: "restored")
        let stop = CancelFlag()
        let rootsSeen = Locked<[String]>([])
        defer { releaseFreedMemory() }
        let stats = try await withTaskCancellationHandler {
            try await runBlocking {
                let manifest = try ManifestReader(source: RemoteParts(transfer: transfer, snapshot: snapshot, kind: "manifest", parts: info.manifest))
                let header = manifest.header!
                guard header.scope == info.scope else {
                    throw HostileSnapshot(message: "its manifest says scope '\(header.scope)', the catalog '\(info.scope)'")
                }
                let roots: [String]
                do { roots = try TreeWalk.normalise(header.roots) } catch {
                    throw HostileSnapshot(message: "its manifest's roots are not acceptable: \(error)")
                }
                let extractor = SnapshotExtractor(stagingRoot: staging, limits: limits,
                                                  source: RemoteParts(transfer: transfer, snapshot: snapshot, kind: "data", parts: info.data))
                extractor.catalogEntries = info.entries
                extractor.roots = Set(roots.map { String($0.dropFirst()) })
                rootsSeen.withLock { $0 = roots }
                return try extractor.extract(manifest: { try manifest.next() }, onProgress: { done in
                    try stop.check()
                    progress.tick(done)
                })
            }
        } onCancel: { stop.set() }
        return (stats, rootsSeen.value)
    }

    private func result(_ info: SnapshotView, _ stats: SnapshotExtractor.Stats, extra: [String: JSONValue]) -> JSONValue {
        var o: [String: JSONValue] = ["snapshot": .string(info.id), "scope": .string(info.scope), "entries": .number(Double(stats.entries)),
                                      "bytes": .number(Double(stats.bytes)), "setuidStripped": .array(stats.setuidStripped.prefix(50).map(JSONValue.string))]
        for (k, v) in extra { o[k] = v }
        return .object(o)
    }

    /// A new private directory: `restoreTo` (absent or empty) or one under the state directory.
    func makeStaging() throws -> String {
        if let restoreTo {
            try Self.makeRestoreTo(restoreTo)
            return restoreTo
        }
        do {
            try SafeFile.makeDirectory(settings.stateDir, mode: 0o700)
            try SafeFile.makeDirectory(settings.workDir, mode: 0o700)
        } catch { throw JobFailure("cannot prepare \(settings.workDir): \(error)") }
        var template = Array((settings.workDir + "/restore-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw JobFailure("cannot create a staging directory: \(String(cString: strerror(errno)))") }
        return String(cString: made)
    }
}

extension SnapshotRestore {
    /// `restoreTo`, made (or found empty) where only root can change anything: libarchive and the
    /// clean-up after a failure use the path, so no one else may rename, replace or plant
    /// anything on the way or inside. Every directory on the way is opened without following a
    /// link and must be root's and not writable by others (sticky, like /tmp, is fine: others
    /// cannot rename root's entries there); an existing `restoreTo` must be root's, not writable
    /// by others, and empty.
    static func makeRestoreTo(_ restoreTo: String) throws {
        func refuse(_ why: String) -> JobFailure {
            JobFailure("restoreTo \(restoreTo) refused: \(why); name a new directory below directories only root can write")
        }
        func rootOnly(_ fd: Int32, _ path: String, inside: Bool) throws {
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw refuse("cannot look at \(path): \(String(cString: strerror(errno)))") }
            guard st.st_uid == 0 || st.st_uid == geteuid() else { throw refuse("\(path) belongs to uid \(st.st_uid)") }
            let othersWrite = st.st_mode & 0o022 != 0
            guard !othersWrite || (!inside && st.st_mode & S_ISVTX != 0) else { throw refuse("\(path) is writable by other users") }
        }
        let components = restoreTo.split(separator: "/").map(String.init)
        var fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw refuse("cannot open /") }
        defer { close(fd) }
        var walked = ""
        for (i, component) in components.enumerated() {
            try rootOnly(fd, walked.isEmpty ? "/" : walked, inside: false)
            walked += "/" + component
            if i == components.count - 1, mkdirat(fd, component, 0o700) != 0, errno != EEXIST {
                throw JobFailure("cannot create \(restoreTo): \(String(cString: strerror(errno)))")
            }
            let next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else {
                let e = errno
                throw e == ELOOP || e == ENOTDIR ? refuse("\(walked) is a symbolic link or not a directory")
                    : JobFailure("restoreTo \(restoreTo): cannot open \(walked): \(String(cString: strerror(e)))")
            }
            close(fd)
            fd = next
        }
        try rootOnly(fd, restoreTo, inside: true)
        guard (try? TreeWalk.names(fd, restoreTo))?.isEmpty == true else { throw JobFailure("\(restoreTo) is not empty: restore into a new or empty directory") }
    }
}

extension TreeRemoval {
    /// Empty a directory the operator named (a failed restore into `restoreTo`), keeping it.
    static func removeContents(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        for child in (try? TreeWalk.names(fd, path)) ?? [] { remove(path + "/" + child) }
    }
}
