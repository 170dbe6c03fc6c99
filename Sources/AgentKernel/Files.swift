#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Small POSIX file helpers for plugins that edit configuration files as bytes (so an edit and
/// its undo round-trip byte-identical even with odd encodings).
public enum Files {
    /// The whole file as bytes; nil when it cannot be read. `tooLarge` when it exceeds `limit`
    /// (we never edit a file we could only read in part).
    public static func readBytes(_ path: String, limit: Int = 16 << 20, noFollow: Bool = false) throws(FileError) -> [UInt8] {
        // noFollow: a link at `path` is refused (ELOOP), and so is anything but a regular file.
        let fd = open(path, O_RDONLY | O_CLOEXEC | (noFollow ? O_NOFOLLOW | O_NONBLOCK : 0))
        guard fd >= 0 else { throw FileError(path: path, errno: errno) }
        defer { close(fd) }
        if noFollow {
            var st = stat()
            guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw FileError(path: path, message: "not a regular file") }
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, 65536) }
            if n > 0 {
                bytes.append(contentsOf: buffer[0..<n])
                if bytes.count > limit { throw FileError(path: path, message: "larger than \(limit) bytes") }
            } else if n < 0 && errno == EINTR {
                continue
            } else if n < 0 {
                throw FileError(path: path, errno: errno)
            } else {
                return bytes
            }
        }
    }

    public struct Info: Equatable, Sendable {
        public var isRegular: Bool
        public var isDirectory: Bool
        public var isSocket: Bool
        public var mode: mode_t
        public var uid: uid_t
        public var gid: gid_t
        public var size: Int
        public var inode: UInt64
        /// Modification time, Unix seconds with nanoseconds.
        public var mtime: Double
    }

    public static func info(_ path: String) -> Info? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        let type = st.st_mode & S_IFMT
        return Info(isRegular: type == S_IFREG, isDirectory: type == S_IFDIR, isSocket: type == S_IFSOCK,
                    mode: st.st_mode & 0o7777, uid: st.st_uid, gid: st.st_gid, size: Int(st.st_size),
                    inode: UInt64(st.st_ino),
                    mtime: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Where a program is looked for, in order: `program` itself when it holds a "/", else each
    /// directory of `path` (a PATH value) and then the sbin directories, where a service started
    /// with a short PATH still finds what root's shell would.
    public static func programCandidates(_ program: String, path: String?) -> [String] {
        if program.contains("/") { return [program] }
        let dirs = (path ?? "").split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin"]
        return dirs.filter { !$0.isEmpty }.map { $0 + "/" + program }
    }

    public static func isExecutable(_ path: String) -> Bool {
        guard let i = info(path), i.isRegular else { return false }
        return access(path, X_OK) == 0
    }

    /// Names in a directory (no "." or "..").
    public static func list(_ dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var out: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out
    }

    /// `mkdir -p`; the directories it creates get `mode`.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(FileError) {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, mode) != 0 && errno != EEXIST { throw FileError(path: current, errno: errno) }
        }
    }

    /// Replace `path` with `bytes` atomically, keeping its mode and owner (the agent runs as
    /// root; the file may belong to another user, and haproxy may read it after dropping
    /// privileges). Through SafeFile: a unique O_EXCL|O_NOFOLLOW temp, owner and mode set on the
    /// descriptor; a symlink at `path` is refused.
    public static func replace(_ path: String, with bytes: [UInt8], like original: Info?) throws(FileError) {
        do {
            try SafeFile.write(path, bytes, mode: original?.mode ?? 0o644, owner: owner(like: original))
        } catch {
            throw FileError(path: path, message: error.message, code: error.code)
        }
    }

    /// The owner to give a file written like `original`: only root can give a file away.
    public static func owner(like original: Info?) -> SafeFile.Owner? {
        guard let o = original, geteuid() == 0 else { return nil }
        return SafeFile.Owner(uid: o.uid, gid: o.gid)
    }

    public static func dirname(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    public static func basename(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}

public struct FileError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var message: String
    public var code: Int32 = 0
    public init(path: String, message: String, code: Int32 = 0) {
        self.path = path; self.message = code == 0 ? message : message + ": " + String(cString: strerror(code)); self.code = code
    }
    public init(path: String, errno code: Int32) {
        self.path = path; self.code = code; self.message = String(cString: strerror(code))
    }
    public var description: String { "\(path): \(message)" }
}

/// Text helpers for programs' output and small files (plugins share them).
extension String {
    /// Without trailing newlines/carriage returns/spaces.
    public var trimmingTrailingWhitespace: String {
        var s = Substring(self)
        while let l = s.last, l == "\n" || l == "\r" || l == "\r\n" || l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }

    public var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f == "\n" || f == "\r" || f == "\r\n" || f == " " || f == "\t" { s = s.dropFirst() }
        return String(s).trimmingTrailingWhitespace
    }

    /// The last `n` lines, for error messages built from a program's output.
    public func lastLines(_ n: Int) -> String {
        split(separator: "\n", omittingEmptySubsequences: true).suffix(n).joined(separator: "\n")
    }
}
