import AgentKernel
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
