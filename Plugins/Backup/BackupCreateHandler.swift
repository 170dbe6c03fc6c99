#if canImport(Glibc)
import Glibc
#endif
import AgentKernel
import BalctlProtocol

/// `backup.create`: snapshot a scope's files into the control plane's store, streaming (tar +
/// zstd through libarchive, cut into parts uploaded while they are made). A retried attempt of
/// the same job resumes the same snapshot: parts the control plane already has are not re-sent.
public struct BackupCreateHandler: CommandHandler {
    public struct Parameters: CommandParameters {
        /// A scope some plugin contributes: haproxy, firewall, paths, …
        public var scope: String
        /// The `paths` scope's list of absolute paths.
        public var paths: [String]?
        public var partMiB: Int?
        public var zstdLevel: Int?

        public func validate() throws {
            guard !scope.isEmpty, scope.count <= 64, scope.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                throw ParameterError("scope must be a scope name such as haproxy, firewall or paths")
            }
            if let paths {
                guard paths.count <= 256 else { throw ParameterError("paths: at most 256") }
                _ = try TreeWalk.normalise(paths)
            }
            if let partMiB, !(1...64).contains(partMiB) { throw ParameterError("partMiB must be 1–64") }
            if let zstdLevel, !(1...19).contains(zstdLevel) { throw ParameterError("zstdLevel must be 1–19") }
        }
    }

    public let settings: BackupSettings
    public init(settings: BackupSettings) { self.settings = settings }

    public static let id = "backup.create"
    public static let snapshotUse: SnapshotUse? = .creates
    public static let exampleParameters: JSONValue = .object(["scope": .string("paths"), "paths": .array([.string("/srv/www")])])
    public static let summary = "Snapshot a scope's files (haproxy, firewall, paths …) into the control plane's backup store"
    public static let parameterHelp = "scope: string (required); paths: [absolute path] (the paths scope); partMiB: 1–64 (default 16); zstdLevel: 1–19 (default 1)"
    public static let requiresRoot = true
    public static let lock: String? = "backup"
    /// Long work (a whole upgrade, dump or transfer): an hour unless the job says otherwise.
    public static let defaultTimeoutSec: Int? = 3600
    public static let supportsCheckMode = true

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        let scope = try BackupScopes.find(p.scope, in: context)
        let roots = try TreeWalk.normalise(try await scope.capture(paths: p.paths ?? [], in: context))
        guard !roots.isEmpty else {
            // A scope that makes its files when it runs (a dump) made none in check mode; what it
            // would make is in the output.
            if context.checkMode { return .unchanged("check mode: scope \(p.scope) makes its files when the job runs (see the output)") }
            throw JobFailure("scope \(p.scope) has nothing to back up on this host")
        }
        let walk = TreeWalk(maxEntries: settings.maxEntries)
        // A first pass that only counts, for progress and for check mode.
        let counted = try await runBlocking { () throws -> (Int, Int64, [TreeWalk.Skipped]) in
            var skipped: [TreeWalk.Skipped] = []
            var entries = 0, bytes: Int64 = 0
            try walk.walk(roots, skipped: &skipped) { e in
                entries += 1
                if e.kind == .file { bytes += Int64(e.info.st_size) }
            }
            return (entries, bytes, skipped)
        }
        for s in counted.2.prefix(50) { context.log("skipped \(s.path): \(s.why)") }
        if context.checkMode {
            return JobOutcome(changed: true, summary: "check mode: would back up \(counted.0) entries, \(size(counted.1)) from \(roots.joined(separator: ", "))",
                              result: .object(["entries": .number(Double(counted.0)), "sourceBytes": .number(Double(counted.1)),
                                               "roots": .array(roots.map(JSONValue.string))]))
        }
        guard let channel = context.controlPlane else { throw JobFailure("backup.create needs the agent's control-plane session") }
        let transfer = SnapshotTransfer(channel: channel, retryWindowSec: settings.retryWindowSec)
        let header = SnapshotManifestHeader(scope: p.scope, roots: roots, createdAt: unixNow(), hostname: HostProbe.systemHostname())
        let partBytes = (p.partMiB.map { $0 << 20 }) ?? settings.partBytes
        let level = p.zstdLevel ?? settings.zstdLevel
        let threads = settings.zstdThreads
        let job = (context.jobID, context.attempt)
        let total = max(counted.1, 1)
        let progress = ProgressTicker(context: context, total: total, verb: "read")
        let stop = CancelFlag()
        let (snapshotID, written, totals) = try await withTaskCancellationHandler {
            try await runBlocking { () throws -> (String, SnapshotWriter.Result, PartPipeline.Totals) in
                let begun = try transfer.begin(SnapshotBeginRequest(jobId: job.0, attempt: job.1, scope: p.scope))
                // Data parts stream as they are compressed; manifest parts go whole, on the
                // channel's other connection (see PartPipeline).
                let data = PartPipeline(transfer: transfer, snapshotID: begun.snapshotId, kind: "data", streaming: true, existing: begun.data)
                let manifest = PartPipeline(transfer: transfer, snapshotID: begun.snapshotId, kind: "manifest", streaming: false,
                                            existing: begun.manifest)
                let writer = SnapshotWriter(
                    data: PartCutter(partBytes: partBytes, pipeline: data),
                    manifest: PartCutter(partBytes: min(partBytes, SnapshotWriter.manifestPartBytes), pipeline: manifest),
                    compressionLevel: level, threads: threads,
                    onProgress: { done in
                        try stop.check()
                        progress.tick(done)
                    })
                let written: SnapshotWriter.Result
                do { written = try writer.write(header: header, roots: roots, walk: walk) } catch {
                    for p in [data, manifest] { p.abandonOpenParts(); _ = try? p.finish() }
                    throw error
                }
                // Both finished before either failure is thrown: no upload outlives the job.
                let finished = (Result { try data.finish() }, Result { try manifest.finish() })
                var totals = try finished.0.get()
                totals.merge(try finished.1.get())
                try transfer.commit(snapshot: begun.snapshotId, SnapshotCommitRequest(
                    jobId: job.0, attempt: job.1,
                    data: (totals.parts["data"] ?? []).sorted { $0.index < $1.index },
                    manifest: (totals.parts["manifest"] ?? []).sorted { $0.index < $1.index },
                    entries: written.entries, sourceBytes: written.sourceBytes))
                return (begun.snapshotId, written, totals)
            }
        } onCancel: { stop.set() }
        releaseFreedMemory()
        for path in written.changedWhileRead.prefix(50) { context.log("changed while it was read (stored as read): \(path)") }
        for s in written.skipped.prefix(50) where !counted.2.contains(where: { $0.path == s.path }) { context.log("skipped \(s.path): \(s.why)") }
        let dataParts = totals.parts["data"] ?? []
        var stored: Int64 = 0
        for part in dataParts { stored += part.size }
        let resumed = totals.skipped > 0 ? "; \(totals.skipped) parts were already stored (resumed)" : ""
        let summary = "snapshot \(snapshotID): \(written.entries) entries, \(size(written.sourceBytes)) → \(size(stored)) in \(dataParts.count) parts" + resumed
        var result: [String: JSONValue] = [:]
        result["snapshot"] = .string(snapshotID)
        result["scope"] = .string(p.scope)
        result["entries"] = .number(Double(written.entries))
        result["sourceBytes"] = .number(Double(written.sourceBytes))
        result["storedBytes"] = .number(Double(stored))
        result["parts"] = .number(Double(dataParts.count))
        result["partsUploaded"] = .number(Double(totals.uploaded))
        result["partsSkipped"] = .number(Double(totals.skipped))
        result["skipped"] = .array(written.skipped.prefix(50).map { JSONValue.string($0.path + ": " + $0.why) })
        return JobOutcome(changed: true, summary: summary, result: .object(result))
    }
}

/// Looks a scope up by name, with the list of what exists when it is not there.
enum BackupScopes {
    static func find(_ name: String, in context: JobContext) throws -> any BackupScope {
        guard let scope = context.backupScopes[name] else {
            throw JobFailure("no backup scope '\(name)' on this agent (it has: \(context.backupScopes.keys.sorted().joined(separator: ", ")))")
        }
        return scope
    }
}

/// A stop request from the job's task, seen by the blocking thread doing the work.
final class CancelFlag: Sendable {
    private let flag = Locked(false)
    func set() { flag.withLock { $0 = true } }
    func check() throws { if flag.value { throw CancellationError() } }
}

/// Progress from a blocking thread: at most one report a second, "N MiB of M MiB read (P %)".
final class ProgressTicker: Sendable {
    let context: JobContext
    let total: Int64
    let verb: String
    private let last = Locked(0.0)

    init(context: JobContext, total: Int64, verb: String) { self.context = context; self.total = total; self.verb = verb }

    func tick(_ done: Int64) {
        let now = unixNow()
        let due = last.withLock { t -> Bool in
            guard now - t >= 1 else { return false }
            t = now
            return true
        }
        guard due else { return }
        let percent = min(100, Double(done) * 100 / Double(max(total, 1)))
        let message = "\(size(done)) of \(size(total)) \(verb)"
        let context = self.context
        Task { await context.progress(message, percent: percent) }
    }
}

func size(_ n: Int64) -> String { Render.bytes(UInt64(max(n, 0))) }

/// Give the part buffers' freed pages back to the system once a transfer is over: glibc keeps
/// large freed blocks in its heap after its mmap threshold has grown, and an agent that made one
/// snapshot would otherwise sit at its peak for good.
func releaseFreedMemory() {
    #if canImport(Glibc)
    _ = glibcMallocTrim(0)
    #endif
}

#if canImport(Glibc)
/// glibc's `malloc_trim` (in <malloc.h>, which the Glibc module does not import).
@_silgen_name("malloc_trim") private func glibcMallocTrim(_ pad: Int) -> Int32
#endif
