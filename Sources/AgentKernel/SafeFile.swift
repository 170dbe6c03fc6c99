#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one way the agent (root) writes a file. A fixed temp name (`path + ".tmp"`) opened without
/// `O_EXCL|O_NOFOLLOW` lets any user who can write to the directory plant a symlink there and have
/// root overwrite, chmod and chown the file it points to (issue 20 item 11). So:
///
/// - the temp file gets a random name and is created with `O_CREAT|O_EXCL|O_NOFOLLOW` relative to
///   a descriptor of the target's directory (a planted name or link makes the open fail; nothing
///   is followed);
/// - owner and mode are set with `fchown`/`fchmod` on that descriptor, before the rename (never by
///   path: a path can be swapped for a link between two calls);
/// - `write`, `fsync` and `close` are checked, the rename is `renameat` in the same directory, and
///   the directory is fsynced after it so the new name survives a crash;
/// - a target that is a symlink (or anything but a regular file) is refused, not followed and not
///   replaced: root never writes where a link points, and a link an operator made on purpose is
///   not silently turned into a file.
public enum SafeFile {
    public struct Owner: Sendable, Equatable {
        public var uid: uid_t
        public var gid: gid_t
        public init(uid: uid_t, gid: gid_t) { self.uid = uid; self.gid = gid }
    }

    /// Replace `path` with `bytes` atomically: readers see the old or the new content, never a
    /// mix. `owner` nil keeps the writer's own uid/gid.
    public static func write(_ path: String, _ bytes: [UInt8], mode: mode_t, owner: Owner? = nil) throws(SafeFileError) {
        let (dir, name) = split(path)
        try refuseNonRegularTarget(path)
        let dirFD = try openDirectory(dir)
        defer { close(dirFD) }
        let tmp = try createFilled(in: dirFD, dir: dir, prefix: "." + name + ".balctl-tmp-", bytes, mode: mode, owner: owner)
        guard renameat(dirFD, tmp, dirFD, name) == 0 else {
            let e = errno
            unlinkat(dirFD, tmp, 0)
            throw SafeFileError(path: path, "cannot rename the temp file into place", errno: e)
        }
        try syncDirectory(dirFD, dir)
    }

    /// Create a new file with a unique name in `directory` (`prefix` + random hex), holding
    /// `bytes`; returns its path. For scratch files another program reads (a candidate config).
    public static func writeUnique(in directory: String, prefix: String, _ bytes: [UInt8], mode: mode_t,
                                   owner: Owner? = nil) throws(SafeFileError) -> String {
        let dirFD = try openDirectory(directory)
        defer { close(dirFD) }
        let name = try createFilled(in: dirFD, dir: directory, prefix: prefix, bytes, mode: mode, owner: owner)
        try syncDirectory(dirFD, directory)
        return (directory == "/" ? "" : directory) + "/" + name
    }

    /// Create `path`, which must not exist yet (no link, no file), with `mode` from the first
    /// byte: for private keys, which must never exist with a wider mode, not even for a moment.
    public static func createNew(_ path: String, _ bytes: [UInt8], mode: mode_t) throws(SafeFileError) {
        let (dir, name) = split(path)
        let dirFD = try openDirectory(dir)
        defer { close(dirFD) }
        let fd = openat(dirFD, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SafeFileError(path: path, "cannot create", errno: errno) }
        do { try fill(fd, path, bytes, mode: mode, owner: nil) } catch {
            unlinkat(dirFD, name, 0)
            throw error
        }
        try syncDirectory(dirFD, dir)
    }

    /// `mkdir` that ends with exactly `mode` (whatever the umask) and refuses a symlink or a
    /// non-directory in the way. An existing directory gets `mode` too.
    public static func makeDirectory(_ path: String, mode: mode_t) throws(SafeFileError) {
        if mkdir(path, mode) != 0 && errno != EEXIST { throw SafeFileError(path: path, "cannot create the directory", errno: errno) }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw SafeFileError(path: path, "is not a directory (or is a symbolic link)", errno: errno) }
        defer { close(fd) }
        guard fchmod(fd, mode) == 0 else { throw SafeFileError(path: path, "cannot set the mode", errno: errno) }
    }

    // MARK: steps

    static func split(_ path: String) -> (dir: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let dir = slash == path.startIndex ? "/" : String(path[..<slash])
        return (dir, String(path[path.index(after: slash)...]))
    }

    static func refuseNonRegularTarget(_ path: String) throws(SafeFileError) {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { return }
            throw SafeFileError(path: path, "cannot inspect", errno: errno)
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return
        case S_IFLNK: throw SafeFileError(path: path, "is a symbolic link; refusing to write through or over it")
        default: throw SafeFileError(path: path, "is not a regular file; refusing to replace it")
        }
    }

    static func openDirectory(_ dir: String) throws(SafeFileError) -> Int32 {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SafeFileError(path: dir, "cannot open the directory", errno: errno) }
        return fd
    }

    /// A new file named `prefix` + 16 random hex digits, created exclusively, filled, owned and
    /// synced; returns its name.
    static func createFilled(in dirFD: Int32, dir: String, prefix: String, _ bytes: [UInt8],
                             mode: mode_t, owner: Owner?) throws(SafeFileError) -> String {
        for _ in 0..<16 {
            let name = prefix + hex(UInt64.random(in: .min ... .max))
            let fd = openat(dirFD, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            if fd < 0 {
                if errno == EEXIST || errno == ELOOP { continue }  // someone else's name: pick another
                throw SafeFileError(path: dir + "/" + name, "cannot create a temp file", errno: errno)
            }
            do { try fill(fd, dir + "/" + name, bytes, mode: mode, owner: owner) } catch {
                unlinkat(dirFD, name, 0)
                throw error
            }
            return name
        }
        throw SafeFileError(path: dir, "cannot find a free temp name")
    }

    /// Write everything, set owner then mode (fchown clears set-id bits, so mode comes last),
    /// fsync and close `fd`, checking each step. Closes `fd` in every case.
    static func fill(_ fd: Int32, _ path: String, _ bytes: [UInt8], mode: mode_t, owner: Owner?) throws(SafeFileError) {
        var closed = false
        defer { if !closed { close(fd) } }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { writeSome(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw SafeFileError(path: path, "cannot write", errno: n < 0 ? errno : EIO) }
            offset += n
        }
        if let owner, fchown(fd, owner.uid, owner.gid) != 0 {
            throw SafeFileError(path: path, "cannot set the owner", errno: errno)
        }
        guard fchmod(fd, mode) == 0 else { throw SafeFileError(path: path, "cannot set the mode", errno: errno) }
        guard fsync(fd) == 0 else { throw SafeFileError(path: path, "cannot sync", errno: errno) }
        closed = true
        guard close(fd) == 0 else { throw SafeFileError(path: path, "cannot close", errno: errno) }
    }

    static func syncDirectory(_ fd: Int32, _ dir: String) throws(SafeFileError) {
        // EINVAL: a file system that cannot sync a directory; the rename still happened.
        if fsync(fd) != 0 && errno != EINVAL { throw SafeFileError(path: dir, "cannot sync the directory", errno: errno) }
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

/// write(2), out of reach of `SafeFile.write`'s name.
private func writeSome(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buffer, count) }

/// Why a file could not be written safely; says which path and which step.
public struct SafeFileError: Error, CustomStringConvertible, Sendable, Equatable {
    public var path: String
    public var message: String
    public var code: Int32

    public init(path: String, _ message: String, errno code: Int32 = 0) {
        self.path = path; self.message = message; self.code = code
    }

    public var description: String {
        "\(path): \(message)" + (code != 0 ? ": \(String(cString: strerror(code)))" : "")
    }
}
