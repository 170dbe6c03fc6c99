import AgentKernel
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// The embedded default: `<root>/<account>/<member>/<snapshot>/<object>`, root normally
/// `<data-dir>/snapshots` (mode 0700 like the data directory). Objects are written through a
/// unique temp file and renamed into place (SafeFile), so a crash never leaves half a part under
/// the final name; reads refuse a symbolic link.
public struct FilesystemSnapshotStore: SnapshotStore {
    public let root: String

    public init(root: String) throws(SnapshotStoreError) {
        self.root = root
        do { try SafeFile.makeDirectory(root, mode: 0o700) } catch {
            throw SnapshotStoreError(.unavailable, "snapshot store \(root): \(error)")
        }
    }

    public var description: String { "filesystem \(root)" }

    func directory(_ l: SnapshotLocation) -> [String] {
        [root + "/\(l.accountID)", root + "/\(l.accountID)/\(l.memberID)", root + "/\(l.accountID)/\(l.memberID)/\(l.snapshotID)"]
    }

    public func put(_ object: SnapshotObject, at location: SnapshotLocation, bytes: [UInt8]) async throws(SnapshotStoreError) {
        let dirs = directory(location)
        try await runBlocking { () throws(SnapshotStoreError) in
            do {
                for d in dirs { try SafeFile.makeDirectory(d, mode: 0o700) }
                try SafeFile.write(dirs[2] + "/" + object.name, bytes, mode: 0o600)
            } catch {
                throw SnapshotStoreError(.unavailable, "snapshot store: cannot write \(location)\(object): \(error)")
            }
        }
    }

    /// Written as it arrives, in batches of `streamBatchBytes` on a thread of their own, under
    /// the object's own (versioned, never reused) name created exclusively: nothing the catalog
    /// points at is touched, and a failed upload removes its file. fsync of the file and the
    /// directory before it returns.
    public func put(_ object: SnapshotObject, at location: SnapshotLocation, streaming chunks: () async throws -> ByteBuffer?) async throws -> Int64 {
        let dirs = directory(location)
        let name = object.name
        let (dirFD, fd) = try await runBlocking { () throws(SnapshotStoreError) -> (Int32, Int32) in
            do { for d in dirs { try SafeFile.makeDirectory(d, mode: 0o700) } } catch {
                throw SnapshotStoreError(.unavailable, "snapshot store: cannot make \(dirs[2]): \(error)")
            }
            let dirFD = open(dirs[2], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard dirFD >= 0 else { throw SnapshotStoreError(.unavailable, "snapshot store: cannot open \(dirs[2]): \(String(cString: strerror(errno)))") }
            let fd = openat(dirFD, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                let e = errno
                close(dirFD)
                throw SnapshotStoreError(.unavailable, "snapshot store: cannot create \(location)\(object): \(String(cString: strerror(e)))")
            }
            return (dirFD, fd)
        }
        do {
            var size: Int64 = 0
            var batch: [ByteBuffer] = []
            var batched = 0
            while true {
                let chunk = try await chunks()
                if let chunk {
                    batched += chunk.readableBytes
                    batch.append(chunk)
                }
                if batched >= Self.streamBatchBytes || (chunk == nil && batched > 0) {
                    let full = batch
                    try await runBlocking { () throws(SnapshotStoreError) in try Self.writeAll(fd, full, "\(location)\(object)") }
                    size += Int64(batched)
                    batch.removeAll(keepingCapacity: true)
                    batched = 0
                }
                if chunk == nil { break }
            }
            try await runBlocking { () throws(SnapshotStoreError) in
                guard fsync(fd) == 0, fsync(dirFD) == 0 else {
                    throw SnapshotStoreError(.unavailable, "snapshot store: cannot sync \(location)\(object): \(String(cString: strerror(errno)))")
                }
                close(fd); close(dirFD)
            }
            return size
        } catch {
            await runBlocking { unlinkat(dirFD, name, 0); close(fd); close(dirFD) }
            throw error
        }
    }

    /// A part's upload is written in batches this large (one thread hand-off each).
    static let streamBatchBytes = 2 << 20

    private static func writeAll(_ fd: Int32, _ buffers: [ByteBuffer], _ what: String) throws(SnapshotStoreError) {
        for buffer in buffers {
            let failed: Int32 = buffer.withUnsafeReadableBytes { raw in
                var done = 0
                while done < raw.count {
                    let n = write(fd, raw.baseAddress! + done, raw.count - done)
                    if n < 0 { if errno == EINTR { continue }; return errno }
                    done += n
                }
                return 0
            }
            if failed != 0 { throw SnapshotStoreError(.unavailable, "snapshot store: cannot write \(what): \(String(cString: strerror(failed)))") }
        }
    }

    public func get(_ object: SnapshotObject, at location: SnapshotLocation) async throws(SnapshotStoreError) -> [UInt8] {
        let path = directory(location)[2] + "/" + object.name
        return try await runBlocking { () throws(SnapshotStoreError) -> [UInt8] in
            let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else {
                if errno == ENOENT { throw SnapshotStoreError(.notFound, "snapshot object \(location)\(object) is missing from the store") }
                throw SnapshotStoreError(.unavailable, "snapshot store: cannot open \(path): \(String(cString: strerror(errno)))")
            }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
                throw SnapshotStoreError(.unavailable, "snapshot store: \(path) is not a regular file")
            }
            var out = [UInt8](repeating: 0, count: Int(st.st_size))
            var done = 0
            while done < out.count {
                let n = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw SnapshotStoreError(.unavailable, "snapshot store: short read of \(path)") }
                done += n
            }
            return out
        }
    }

    public func delete(_ object: SnapshotObject, at location: SnapshotLocation) async throws(SnapshotStoreError) {
        let path = directory(location)[2] + "/" + object.name
        try await runBlocking { () throws(SnapshotStoreError) in
            // unlink removes a name, never what a link points at.
            if unlink(path) != 0 && errno != ENOENT && errno != ENOTDIR {
                throw SnapshotStoreError(.unavailable, "snapshot store: cannot remove \(path): \(String(cString: strerror(errno)))")
            }
        }
    }

    public func deleteAll(at location: SnapshotLocation) async throws(SnapshotStoreError) {
        let dir = directory(location)[2]
        try await runBlocking { () throws(SnapshotStoreError) in
            // Only names this store writes live here: remove the regular files, then the directory.
            guard let d = opendir(dir) else {
                if errno == ENOENT { return }
                throw SnapshotStoreError(.unavailable, "snapshot store: cannot open \(dir): \(String(cString: strerror(errno)))")
            }
            let fd = dirfd(d)
            var names: [String] = []
            while let e = readdir(d) {
                let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                if name != "." && name != ".." { names.append(name) }
            }
            for name in names where unlinkat(fd, name, 0) != 0 && errno != ENOENT {
                let e = errno
                closedir(d)
                throw SnapshotStoreError(.unavailable, "snapshot store: cannot remove \(dir)/\(name): \(String(cString: strerror(e)))")
            }
            closedir(d)
            if rmdir(dir) != 0 && errno != ENOENT {
                throw SnapshotStoreError(.unavailable, "snapshot store: cannot remove \(dir): \(String(cString: strerror(errno)))")
            }
        }
    }
}
