import AgentKernel
import BalctlProtocol
import CArchive
import CurlClient
import Foundation
import TestSupport
@testable import BackupPlugin

struct TestError: Error, CustomStringConvertible { var description: String; init(_ d: String) { description = d } }

/// A JobContext like the runner builds, with every plugin scope given and the fake channel.
func makeContext(_ channel: any ControlPlaneChannel, scopes: [any BackupScope] = BackupPlugin().backupScopes,
                 jobID: Int64 = 1, attempt: Int = 1, checkMode: Bool = false, command: String = "backup.create") -> (JobContext, OutputTail) {
    let out = OutputTail(limit: 256 * 1024)
    let ctx = JobContext(jobID: jobID, attempt: attempt, command: command, checkMode: checkMode, timeoutSec: 600,
                         output: out, processes: ProcessRunner(), host: HostProbe(),
                         backupScopes: Dictionary(uniqueKeysWithValues: scopes.map { ($0.name, $0) }), controlPlane: channel,
                         progress: { _, _ in })
    return (ctx, out)
}

func run<H: CommandHandler>(_ handler: H, _ params: JSONValue, _ channel: any ControlPlaneChannel, jobID: Int64 = 1,
                            attempt: Int = 1, checkMode: Bool = false) async throws -> (JobOutcome, String) {
    let (ctx, out) = makeContext(channel, jobID: jobID, attempt: attempt, checkMode: checkMode, command: H.id)
    let outcome = try await handler.run(try H.decodeParameters(params), in: ctx)
    return (outcome, out.text)
}

/// Builds tar + zstd streams entry by entry with libarchive, for archives balctl would never
/// write (hostile ones), and the manifest lines that go with them.
final class TarBuilder {
    private var a: OpaquePointer
    fileprivate var bytes: [UInt8] = []
    private var lines: [UInt8] = []
    /// The header's roots; nil: the top-level names of the entries added.
    var roots: [String]?
    private var topLevel: [String] = []
    /// Header line + entry lines (complete once `finish` ran).
    var manifest: [UInt8] {
        let roots = self.roots ?? topLevel.map { "/" + $0 }
        return Array(try! JSONEncoder().encode(SnapshotManifestHeader(scope: "paths", roots: roots, createdAt: 0, hostname: "h"))) + [10] + lines
    }

    init() {
        a = archive_write_new()
        archive_write_add_filter_zstd(a)
        archive_write_set_format_pax(a)
        archive_write_set_bytes_in_last_block(a, 1)
        archive_write_open2(a, Unmanaged.passUnretained(self).toOpaque(), nil, { _, client, buffer, length in
            let me = Unmanaged<TarBuilder>.fromOpaque(client!).takeUnretainedValue()
            me.bytes.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: length))
            return length
        }, nil, nil)
    }

    enum Kind { case file, dir, symlink(String), hardlink(String), hardlinkWithData(String), char, fifo }
    /// Files added so far: a hard link's manifest line repeats its target's size and hash.
    private var files: [String: (size: Int64, sha256: String)] = [:]

    /// Add an entry; `content` nil with `size` writes `size` zero bytes (a bomb).
    func add(_ path: String, _ kind: Kind, mode: UInt32 = 0o644, content: [UInt8] = [], zeros: Int64 = 0, manifestType: String? = nil) {
        let e = archive_entry_new()!
        defer { archive_entry_free(e) }
        archive_entry_set_pathname_utf8(e, path)
        archive_entry_set_perm(e, mode_t(mode))
        archive_entry_set_mtime(e, 1_700_000_000, 0)
        var type = "file"
        var size = Int64(content.count) + zeros
        switch kind {
        case .file: archive_entry_set_filetype(e, BALCTL_AE_IFREG)
        case .dir: archive_entry_set_filetype(e, BALCTL_AE_IFDIR); type = "dir"; size = 0
        case .symlink(let t): archive_entry_set_filetype(e, BALCTL_AE_IFLNK); archive_entry_set_symlink(e, t); type = "symlink"; size = 0
        case .hardlink(let t): archive_entry_set_filetype(e, BALCTL_AE_IFREG); archive_entry_set_hardlink(e, t); size = 0; type = "hardlink"
        case .hardlinkWithData(let t): archive_entry_set_filetype(e, BALCTL_AE_IFREG); archive_entry_set_hardlink(e, t); type = "hardlink"
        case .char: archive_entry_set_filetype(e, BALCTL_AE_IFCHR); archive_entry_set_rdev(e, dev_t((1 << 8) | 3)); type = "other"; size = 0
        case .fifo: archive_entry_set_filetype(e, BALCTL_AE_IFIFO); type = "other"; size = 0
        }
        archive_entry_set_size(e, size)
        archive_write_header(a, e)
        let hash = SHA256Stream()
        if !content.isEmpty {
            archive_write_data(a, content, content.count)
            hash.update(content)
        }
        if zeros > 0 {
            let chunk = [UInt8](repeating: 0, count: 1 << 20)
            var left = zeros
            while left > 0 {
                let n = Int(min(left, Int64(chunk.count)))
                archive_write_data(a, chunk, n)
                hash.update(Array(chunk[0..<n]))
                left -= Int64(n)
            }
        }
        var linkTarget: String? = nil
        switch kind { case .hardlink(let t), .hardlinkWithData(let t): linkTarget = t; default: break }
        let digest = hash.finishHex()
        if type == "file" { files[path] = (size, digest) }
        let linked = linkTarget.flatMap { files[$0] }
        let m = SnapshotManifestEntry(type: manifestType ?? type, path: path.hasSuffix("/") ? String(path.dropLast()) : path,
                                      size: linkTarget == nil ? size : (linked?.size ?? 0),
                                      mode: mode, uid: 0, gid: 0, mtime: 1_700_000_000, mtimeNsec: 0,
                                      sha256: type == "file" ? digest : linked?.sha256, target: linkTarget)
        lines += Array(try! JSONEncoder().encode(m)) + [10]
        let top = String(path.split(separator: "/", omittingEmptySubsequences: true).first ?? "")
        if !top.isEmpty, !topLevel.contains(top) { topLevel.append(top) }
    }

    func finish() -> [UInt8] {
        archive_write_close(a)
        archive_write_free(a)
        return bytes
    }
}

/// Plant a hand-made snapshot on a fresh fake control plane and restore it into `staging`
/// (`restoreTo`); the job's error message, nil when it succeeded.
func restorePlanted(data: [UInt8], manifest: [UInt8], into staging: URL, settings: BackupSettings,
                    claimedEntries: Int? = nil) async throws -> String? {
    let server = FakeSnapshotServer()
    let id = server.plant(scope: "paths", data: data, manifest: manifest, entries: claimedEntries)
    do {
        _ = try await run(BackupRestoreHandler(settings: settings),
                          .object(["snapshot": .string(id), "restoreTo": .string(staging.path)]), server, jobID: 9)
        return nil
    } catch let e as JobFailure { return e.message }
}

func tempDir(_ name: String = "backup") throws -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-\(name)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
}
