#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import Dispatch
import BalctlProtocol
import CArchive
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Writes a snapshot: a pax tar stream made by libarchive and compressed with zstd
/// (`ZstdStream`), handed to a `PartCutter` as it is produced (no temporary copy on disk), and
/// the manifest beside it. Runs on its own thread (blocking reads and uploads).
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
    private var compressor: ZstdStream?
    static let readChunk = 1 << 20
    /// libarchive hands the tar stream over in blocks of this size (its default is 10 KiB).
    static let archiveBlockBytes = 64 << 10
    /// Files from this size on are hashed on the hasher's thread.
    static let offloadHashBytes: Int64 = 1 << 20
    /// Hard-linked inodes remembered so that their later names are stored as links (each costs
    /// its path and hash). Past this many, or this many bytes of paths, further names are stored
    /// as copies, so a tree of millions of links (or of 4 KiB paths) cannot grow the agent's
    /// memory without bound.
    static let maxLinkedInodes = 50_000
    static let maxLinkedPathBytes = 8 << 20
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
        // No compressor: the archive is being freed after a failure (nothing more is wanted).
        guard let compressor = writer.compressor else { return -1 }
        do { try compressor.write(UnsafeRawBufferPointer(start: buffer, count: length)) } catch {
            writer.sinkError = error
            return -1
        }
        return length
    }

    func write(header: SnapshotManifestHeader, roots: [String], walk: TreeWalk) throws -> Result {
        try withUTF8Locale { try writeArchive(header: header, roots: roots, walk: walk) }
    }

    private func writeArchive(header: SnapshotManifestHeader, roots: [String], walk: TreeWalk) throws -> Result {
        guard let a = archive_write_new() else { throw JobFailure("libarchive could not start") }
        defer { archive_write_free(a) }
        // zstd is driven here, not through libarchive's filter, to give it a worker thread with
        // small jobs (see ZstdStream); the archive itself is plain tar.
        let cutter = self.data
        compressor = try ZstdStream(level: compressionLevel, workers: threads) { try cutter.append($0) }
        defer { compressor = nil }
        try check(a, archive_write_set_format_pax(a), "pax format")
        try check(a, archive_write_set_bytes_per_block(a, Int32(Self.archiveBlockBytes)), "block size")
        try check(a, archive_write_set_bytes_in_last_block(a, 1), "last block")
        let me = Unmanaged.passUnretained(self).toOpaque()
        try check(a, archive_write_open2(a, me, nil, Self.writeCallback, nil, nil), "open")

        try manifest.append(Array(try JSONEncoder().encode(header)) + [10])
        var result = Result()
        let hasher = ContentHasher(chunkBytes: Self.readChunk)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var skipped: [TreeWalk.Skipped] = []
        var unreadable: [TreeWalk.Skipped] = []
        /// The first name stored of each hard-linked inode (by device and inode), with its size
        /// and content hash: a later name of the same inode is stored as a link to it.
        struct Stored { var path: String; var size: Int64; var sha256: String? }
        var linked: [InodeKey: Stored] = [:]
        var linkedPathBytes = 0
        try walk.walk(roots, skipped: &skipped) { e in
            let key = InodeKey(e.info)
            if e.kind == .file, e.info.st_nlink > 1, let first = linked[key] {
                try writeLink(a, e, to: first.path, size: first.size, sha256: first.sha256, encoder: encoder)
                result.entries += 1
                return
            }
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
                // A large file's bytes are hashed on the hasher's thread while this one
                // compresses them (two read buffers in turn); a small file's here, as a hand-over
                // would cost more than its hash.
                let file = hasher.begin(offload: size >= Self.offloadHashBytes)
                var done: Int64 = 0
                var short = false
                while done < size {
                    let want = Int(min(Int64(Self.readChunk), size - done))
                    let buffer = file.nextBuffer()
                    var n = 0
                    repeat { n = read(fd, buffer, want) } while n < 0 && errno == EINTR
                    if n <= 0 {
                        // The file shrank while it was read: pad with zeros to the size the
                        // header promised, and say so (the manifest hash covers what was stored).
                        short = true
                        memset(buffer, 0, want)
                        n = want
                    } else {
                        result.sourceBytes += Int64(n)
                    }
                    file.hash(buffer, n)
                    try data(a, buffer, n)
                    done += Int64(n)
                    if !short { try onProgress(result.sourceBytes) }
                }
                var after = stat()
                if short || (fstat(fd, &after) == 0 && (after.st_size != e.info.st_size || after.st_mtim.tv_sec != e.info.st_mtim.tv_sec
                                                         || after.st_mtim.tv_nsec != e.info.st_mtim.tv_nsec)) {
                    result.changedWhileRead.append("/" + e.path)
                }
                m.sha256 = file.finish()
                if e.info.st_nlink > 1 && linked.count < Self.maxLinkedInodes
                    && linkedPathBytes + e.path.utf8.count <= Self.maxLinkedPathBytes {
                    linked[key] = Stored(path: e.path, size: size, sha256: m.sha256)
                    linkedPathBytes += e.path.utf8.count
                }
            }
            guard archive_write_finish_entry(a) == ARCHIVE_OK else { throw failure(a, "finishing /\(e.path)") }
            result.entries += 1
            try manifest.append(Array(try encoder.encode(m)) + [10])
        }
        guard archive_write_close(a) == ARCHIVE_OK else { throw failure(a, "closing the archive") }
        try compressor!.finish()
        try data.flush()
        try manifest.flush()
        result.skipped = skipped + unreadable
        return result
    }

    /// A later name of a hard-linked file: a pax link entry (no data; the inode's mode, owner
    /// and times are the first name's), and a manifest line of type `hardlink` naming the first
    /// name and carrying its size and hash.
    private func writeLink(_ a: OpaquePointer, _ e: WalkedEntry, to first: String, size: Int64, sha256: String?,
                           encoder: JSONEncoder) throws {
        let entry = archive_entry_new()!
        defer { archive_entry_free(entry) }
        archive_entry_set_pathname_utf8(entry, e.path)
        archive_entry_set_hardlink_utf8(entry, first)
        archive_entry_set_filetype(entry, BALCTL_AE_IFREG)
        let mode = UInt32(e.info.st_mode) & 0o7777
        archive_entry_set_perm(entry, mode_t(mode))
        archive_entry_set_uid(entry, Int64(e.info.st_uid))
        archive_entry_set_gid(entry, Int64(e.info.st_gid))
        archive_entry_set_mtime(entry, e.info.st_mtim.tv_sec, e.info.st_mtim.tv_nsec)
        archive_entry_set_size(entry, 0)
        try writeHeader(a, entry)
        guard archive_write_finish_entry(a) == ARCHIVE_OK else { throw failure(a, "finishing /\(e.path)") }
        let m = SnapshotManifestEntry(type: "hardlink", path: e.path, size: size, mode: mode, uid: e.info.st_uid, gid: e.info.st_gid,
                                      mtime: Int64(e.info.st_mtim.tv_sec), mtimeNsec: Int64(e.info.st_mtim.tv_nsec),
                                      sha256: sha256, target: first)
        try manifest.append(Array(try encoder.encode(m)) + [10])
    }

    private func writeHeader(_ a: OpaquePointer, _ entry: OpaquePointer) throws {
        guard archive_write_header(a, entry) == ARCHIVE_OK else {
            throw failure(a, "writing the header of \(String(cString: archive_entry_pathname(entry)))")
        }
    }

    private func data(_ a: OpaquePointer, _ buffer: UnsafeMutableRawPointer, _ count: Int) throws {
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

/// The manifest's SHA-256 of each file's content, computed on a thread of its own for large files
/// while the writer's thread reads and compresses the same bytes (on two cores the hash is ~0.7 s
/// per GiB the writer no longer spends). Two read buffers take turns: the writer fills one while
/// the other is still being hashed, and waits only when the hasher is a whole buffer behind. Both
/// threads only read a buffer once it is filled. One file at a time.
final class ContentHasher: @unchecked Sendable {
    private let buffers: [UnsafeMutableRawPointer]
    /// Per buffer: 1 when the hasher is done with it.
    private let free = [DispatchSemaphore(value: 1), DispatchSemaphore(value: 1)]
    private let queue = DispatchQueue(label: "balctl.backup.hash")
    private var hash = SHA256Stream()
    private var offload = false
    private var turn = 0

    init(chunkBytes: Int) {
        buffers = (0..<2).map { _ in UnsafeMutableRawPointer.allocate(byteCount: chunkBytes, alignment: 64) }
    }

    deinit {
        queue.sync {}
        for b in buffers { b.deallocate() }
    }

    /// Start a file's hash. (The previous file's `finish` drained the queue: only a file that
    /// failed midway can leave work on it.)
    func begin(offload: Bool) -> ContentHasher {
        if self.offload { queue.sync {} }
        hash = SHA256Stream()
        self.offload = offload
        turn = 0
        return self
    }

    /// The buffer to read the next chunk into (waits until the hasher is done with it).
    func nextBuffer() -> UnsafeMutableRawPointer {
        guard offload else { return buffers[0] }
        turn ^= 1
        free[turn].wait()
        return buffers[turn]
    }

    /// Hash `count` bytes of the buffer `nextBuffer` gave.
    func hash(_ buffer: UnsafeMutableRawPointer, _ count: Int) {
        guard offload else {
            hash.update(UnsafeRawBufferPointer(start: buffer, count: count))
            return
        }
        let t = turn, hash = self.hash, chunk = UnsafeRawBufferPointer(start: buffer, count: count)
        nonisolated(unsafe) let work = (hash, chunk)
        queue.async { [free] in
            work.0.update(work.1)
            free[t].signal()
        }
    }

    /// The file's digest, once every chunk is hashed.
    func finish() -> String {
        if offload { queue.sync {} }  // a small file's hash is already whole: no hand-over per file
        return hash.finishHex()
    }
}

/// A file's identity on this host: the same pair means the same inode (a hard link).
struct InodeKey: Hashable {
    var device: UInt64
    var inode: UInt64
    init(_ st: stat) { device = UInt64(st.st_dev); inode = UInt64(st.st_ino) }
}
