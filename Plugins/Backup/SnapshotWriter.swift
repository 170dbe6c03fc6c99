#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol
import CArchive
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Writes a snapshot: a pax tar stream compressed with zstd by libarchive, handed to a
/// `PartCutter` as it is produced (no temporary copy on disk), and the manifest beside it.
/// Runs on its own thread (blocking reads and uploads).
final class SnapshotWriter {
    struct Result {
        var entries = 0
        var sourceBytes: Int64 = 0
        var skipped: [TreeWalk.Skipped] = []
        var changedWhileRead: [String] = []
    }

    let data: PartCutter
    let manifest: PartCutter
    let compressionLevel: Int
    let threads: Int
    /// Called with the source bytes read so far (for progress).
    let onProgress: (Int64) throws -> Void
    private var sinkError: (any Error)?
    static let readChunk = 1 << 20
    /// Manifest parts are cut small: the manifest grows with the entry count (about 200 bytes
    /// an entry), so a whole-part buffer beside the data's would add megabytes per 10,000 files
    /// to the agent's memory, and readers take parts of any size.
    static let manifestPartBytes = 1 << 20

    init(data: PartCutter, manifest: PartCutter, compressionLevel: Int, threads: Int, onProgress: @escaping (Int64) throws -> Void) {
        self.data = data; self.manifest = manifest; self.compressionLevel = compressionLevel
        self.threads = threads; self.onProgress = onProgress
    }

    private static let writeCallback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafeRawPointer?, Int) -> Int = { _, client, buffer, length in
        let writer = Unmanaged<SnapshotWriter>.fromOpaque(client!).takeUnretainedValue()
        guard let buffer else { return length }
        do { try writer.data.append(UnsafeRawBufferPointer(start: buffer, count: length)) } catch {
            writer.sinkError = error
            return -1
        }
        return length
    }

    func write(header: SnapshotManifestHeader, roots: [String], walk: TreeWalk) throws -> Result {
        guard let a = archive_write_new() else { throw JobFailure("libarchive could not start") }
        defer { archive_write_free(a) }
        try check(a, archive_write_add_filter_zstd(a), "zstd")
        try check(a, archive_write_set_filter_option(a, "zstd", "compression-level", String(compressionLevel)), "zstd level")
        if threads >= 1 {
            // libzstd's workers compress while this thread reads and hashes (like `tar | zstd`).
            // The stream differs from single-threaded output but is the same for the same
            // setting, so a resumed attempt still reproduces its parts.
            _ = archive_write_set_filter_option(a, "zstd", "threads", String(threads))
        }
        try check(a, archive_write_set_format_pax(a), "pax format")
        try check(a, archive_write_set_bytes_in_last_block(a, 1), "last block")
        let me = Unmanaged.passUnretained(self).toOpaque()
        try check(a, archive_write_open2(a, me, nil, Self.writeCallback, nil, nil), "open")

        try manifest.append(Array(try JSONEncoder().encode(header)) + [10])
        var result = Result()
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.readChunk, alignment: 16)
        defer { buffer.deallocate() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var skipped: [TreeWalk.Skipped] = []
        var unreadable: [TreeWalk.Skipped] = []
        try walk.walk(roots, skipped: &skipped) { e in
            var fd: Int32 = -1
            if e.kind == .file {
                fd = openat(e.parentFD, e.name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
                guard fd >= 0 else { unreadable.append(.init(path: "/" + e.path, why: String(cString: strerror(errno)))); return }
                var now = stat()
                // The name was swapped for something else since the walk looked at it: skip it.
                guard fstat(fd, &now) == 0, now.st_ino == e.info.st_ino, now.st_dev == e.info.st_dev else {
                    close(fd)
                    unreadable.append(.init(path: "/" + e.path, why: "replaced while it was being read"))
                    return
                }
            }
            defer { if fd >= 0 { close(fd) } }
            let entry = archive_entry_new()!
            defer { archive_entry_free(entry) }
            archive_entry_set_pathname_utf8(entry, e.path)
            let mode = UInt32(e.info.st_mode) & 0o7777
            archive_entry_set_perm(entry, mode_t(mode))
            archive_entry_set_uid(entry, Int64(e.info.st_uid))
            archive_entry_set_gid(entry, Int64(e.info.st_gid))
            archive_entry_set_mtime(entry, e.info.st_mtim.tv_sec, e.info.st_mtim.tv_nsec)
            var m = SnapshotManifestEntry(type: "file", path: e.path, size: 0, mode: mode, uid: e.info.st_uid, gid: e.info.st_gid,
                                          mtime: Int64(e.info.st_mtim.tv_sec), mtimeNsec: Int64(e.info.st_mtim.tv_nsec))
            switch e.kind {
            case .directory:
                archive_entry_set_filetype(entry, BALCTL_AE_IFDIR)
                archive_entry_set_size(entry, 0)
                m.type = "dir"
                try writeHeader(a, entry)
            case .symlink:
                archive_entry_set_filetype(entry, BALCTL_AE_IFLNK)
                archive_entry_set_symlink_utf8(entry, e.target!)
                archive_entry_set_size(entry, 0)
                m.type = "symlink"; m.target = e.target
                try writeHeader(a, entry)
            case .file:
                let size = Int64(e.info.st_size)
                archive_entry_set_filetype(entry, BALCTL_AE_IFREG)
                archive_entry_set_size(entry, size)
                m.size = size
                try writeHeader(a, entry)
                let hash = SHA256Stream()
                var done: Int64 = 0
                var short = false
                while done < size {
                    let want = Int(min(Int64(Self.readChunk), size - done))
                    let n = read(fd, buffer, want)
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 {
                        // The file shrank while it was read: pad with zeros to the size the
                        // header promised, and say so (the manifest hash covers what was stored).
                        short = true
                        memset(buffer, 0, want)
                        try data(a, buffer, want, hash)
                        done += Int64(want)
                        continue
                    }
                    try data(a, buffer, n, hash)
                    done += Int64(n)
                    result.sourceBytes += Int64(n)
                    try onProgress(result.sourceBytes)
                }
                var after = stat()
                if short || (fstat(fd, &after) == 0 && (after.st_size != e.info.st_size || after.st_mtim.tv_sec != e.info.st_mtim.tv_sec
                                                         || after.st_mtim.tv_nsec != e.info.st_mtim.tv_nsec)) {
                    result.changedWhileRead.append("/" + e.path)
                }
                m.sha256 = hash.finishHex()
            }
            guard archive_write_finish_entry(a) == ARCHIVE_OK else { throw failure(a, "finishing /\(e.path)") }
            result.entries += 1
            try manifest.append(Array(try encoder.encode(m)) + [10])
        }
        guard archive_write_close(a) == ARCHIVE_OK else { throw failure(a, "closing the archive") }
        try data.flush()
        try manifest.flush()
        result.skipped = skipped + unreadable
        return result
    }

    private func writeHeader(_ a: OpaquePointer, _ entry: OpaquePointer) throws {
        guard archive_write_header(a, entry) == ARCHIVE_OK else {
            throw failure(a, "writing the header of \(String(cString: archive_entry_pathname(entry)))")
        }
    }

    private func data(_ a: OpaquePointer, _ buffer: UnsafeMutableRawPointer, _ count: Int, _ hash: SHA256Stream) throws {
        hash.update(UnsafeRawBufferPointer(start: buffer, count: count))
        var off = 0
        while off < count {
            let w = archive_write_data(a, buffer + off, count - off)
            guard w > 0 else { throw failure(a, "compressing") }
            off += w
        }
    }

    private func check(_ a: OpaquePointer, _ code: Int32, _ what: String) throws {
        guard code == ARCHIVE_OK else { throw failure(a, what) }
    }

    private func failure(_ a: OpaquePointer, _ what: String) -> any Error {
        if let sinkError { return sinkError }
        return JobFailure("snapshot archive: \(what): \(archive_error_string(a).map { String(cString: $0) } ?? "unknown error")")
    }
}
