#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A directory opened from `/` one component at a time with `O_NOFOLLOW`, so no symbolic link on
/// its path is followed unless root made it (a root-owned link in a directory only root can
/// write): a user who can write one of the directories on the way (an application's admin user
/// owning its `conf/`) cannot redirect root's writes, reads or removals elsewhere by planting a
/// link, not even between a check and the write. Everything below goes through the descriptor.
public final class PinnedDirectory {
    public let fd: Int32
    public let path: String

    private init(fd: Int32, path: String) { self.fd = fd; self.path = path }
    deinit { close(fd) }

    /// Open `path` (absolute). With `create`, missing trailing components are made with that
    /// mode and owner (set on their descriptors); their paths are returned, outermost first.
    public static func open(_ path: String, create: (mode: mode_t, owner: SafeFile.Owner?)? = nil) throws(SafeFileError) -> (PinnedDirectory, created: [String]) {
        guard path.hasPrefix("/") else { throw SafeFileError(path: path, "is not an absolute path") }
        var fd = posixOpen("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SafeFileError(path: "/", "cannot open", errno: errno) }
        var current = ""
        var created: [String] = []
        for part in path.split(separator: "/") where part != "." {
            guard part != ".." else { close(fd); throw SafeFileError(path: path, "has a '..' component") }
            let name = String(part)
            current += "/" + name
            var next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0 && (errno == ELOOP || errno == ENOTDIR) && Self.isRootsOwnLink(in: fd, name) {
                // A link root made, in a directory only root can change (`/usr/local/lsws ->
                // /opt/lsws`): the administrator's layout, not a planted one.
                next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            }
            if next < 0 && errno == ENOENT, let create {
                if mkdirat(fd, name, 0o700) != 0 && errno != EEXIST {
                    let e = errno; close(fd); throw SafeFileError(path: current, "cannot create the directory", errno: e)
                }
                next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if next >= 0 {
                    if let owner = create.owner { _ = fchown(next, owner.uid, owner.gid) }
                    _ = fchmod(next, create.mode)
                    created.append(current)
                }
            }
            guard next >= 0 else {
                let e = errno
                close(fd)
                throw SafeFileError(path: current, e == ELOOP || e == ENOTDIR
                                    ? "is a symbolic link or not a directory; refusing to follow it" : "cannot open the directory", errno: e == ELOOP || e == ENOTDIR ? 0 : e)
            }
            close(fd)
            fd = next
        }
        return (PinnedDirectory(fd: fd, path: path), created)
    }

    /// `name` in `dir` is a symbolic link owned by root, and `dir` is owned by root and writable
    /// by no one else: nobody but root can have put it there.
    static func isRootsOwnLink(in dir: Int32, _ name: String) -> Bool {
        var link = stat(), parent = stat()
        guard fstatat(dir, name, &link, AT_SYMLINK_NOFOLLOW) == 0, (link.st_mode & S_IFMT) == S_IFLNK, link.st_uid == 0,
              fstat(dir, &parent) == 0, parent.st_uid == 0, parent.st_mode & 0o022 == 0 else { return false }
        return true
    }

    public struct Entry: Sendable {
        public var bytes: [UInt8]
        public var mode: mode_t
        public var owner: SafeFile.Owner
    }

    /// A regular file's bytes, mode and owner; nil when it does not exist. A link or anything
    /// but a regular file is refused (never read through).
    public func read(_ name: String, limit: Int = 16 << 20) throws(SafeFileError) -> Entry? {
        let file = openat(fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard file >= 0 else {
            if errno == ENOENT { return nil }
            throw SafeFileError(path: path + "/" + name, errno == ELOOP ? "is a symbolic link; refusing to read through it" : "cannot open", errno: errno == ELOOP ? 0 : errno)
        }
        defer { close(file) }
        var st = stat()
        guard fstat(file, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw SafeFileError(path: path + "/" + name, "is not a regular file") }
        guard Int(st.st_size) <= limit else { throw SafeFileError(path: path + "/" + name, "is larger than \(limit) bytes") }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { posixRead(file, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            done += n
        }
        bytes.removeSubrange(done...)
        return Entry(bytes: bytes, mode: st.st_mode & 0o7777, owner: SafeFile.Owner(uid: st.st_uid, gid: st.st_gid))
    }

    /// Replace (or create) `name` atomically: a unique temp file beside it, renamed over it. A
    /// link or non-regular file at `name` is refused.
    public func write(_ name: String, _ bytes: [UInt8], mode: mode_t, owner: SafeFile.Owner?) throws(SafeFileError) {
        try refuseNonRegular(name)
        let tmp = try SafeFile.createFilled(in: fd, dir: path, prefix: "." + name + ".balctl-tmp-", bytes, mode: mode, owner: owner)
        guard renameat(fd, tmp, fd, name) == 0 else {
            let e = errno
            unlinkat(fd, tmp, 0)
            throw SafeFileError(path: path + "/" + name, "cannot rename the temp file into place", errno: e)
        }
        try SafeFile.syncDirectory(fd, path)
    }

    /// Remove the regular file `name` (a link or anything else is refused); true when it existed.
    @discardableResult
    public func remove(_ name: String) throws(SafeFileError) -> Bool {
        var st = stat()
        guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return false }
            throw SafeFileError(path: path + "/" + name, "cannot inspect", errno: errno)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw SafeFileError(path: path + "/" + name, "is not a regular file; refusing to remove it") }
        guard unlinkat(fd, name, 0) == 0 else { throw SafeFileError(path: path + "/" + name, "cannot remove", errno: errno) }
        return true
    }

    /// Remove the empty directory `name` (no error when it is gone or not empty).
    public func removeEmptyDirectory(_ name: String) { unlinkat(fd, name, AT_REMOVEDIR) }

    private func refuseNonRegular(_ name: String) throws(SafeFileError) {
        var st = stat()
        guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return }
            throw SafeFileError(path: path + "/" + name, "cannot inspect", errno: errno)
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return
        case S_IFLNK: throw SafeFileError(path: path + "/" + name, "is a symbolic link; refusing to write through or over it")
        default: throw SafeFileError(path: path + "/" + name, "is not a regular file; refusing to replace it")
        }
    }
}

/// open(2) and read(2), out of reach of `PinnedDirectory`'s own `open` and `read`.
private func posixOpen(_ path: String, _ flags: Int32) -> Int32 { open(path, flags) }
private func posixRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int { read(fd, buffer, count) }
