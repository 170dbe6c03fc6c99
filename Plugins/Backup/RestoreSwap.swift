#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel

/// Puts a verified staging tree in place over the live files, keeping what it replaces until
/// the scope has taken the new files (then `commit`) or failed (then `rollBack`).
///
/// Root never follows a link it did not make: every live directory is opened from `/` one
/// component at a time with `O_NOFOLLOW`; a symlinked directory on the way refuses the restore.
/// A file or link is first written under a unique name beside its target (`O_EXCL|O_NOFOLLOW`,
/// owner, mode and times set on the descriptor), the live one is hard-linked to a keep-name,
/// then the new one is renamed over it: the live path is never missing, not even for a moment.
/// Files the snapshot does not have are left alone (a restore puts back, it does not prune).
final class RestoreSwap: @unchecked Sendable {
    enum Action {
        /// `aside` holds the previous entry (a hard link, or the renamed directory).
        case replaced(dir: String, name: String, aside: String)
        case created(dir: String, name: String, isDirectory: Bool)
        case attributes(dir: String, name: String, mode: mode_t, uid: uid_t, gid: gid_t, times: [timespec])
    }

    let stagingRoot: String
    /// Directories the snapshot holds (relative, no leading slash). The staging tree also has
    /// their ancestors (`etc` above `etc/haproxy`), made by the extractor: those are only walked
    /// through (or created 0755 when missing live), their live mode, owner and times untouched —
    /// a restore of /tmp/x must not turn /tmp into 0755.
    let snapshotDirectories: Set<String>
    let tag: String
    /// Apply only this subtree (relative, no leading slash): one virtual host's root out of a
    /// whole-stack snapshot. Its ancestors are walked through, never changed.
    var only: String?
    private(set) var journal: [Action] = []
    /// Where each hard-linked staged inode (a file the snapshot stored under several names) is
    /// live now: its later names become links to that file, so they share one inode again.
    private var linkedInodes: [InodeKey: (dir: String, name: String, live: InodeKey)] = [:]
    private(set) var unchanged = 0
    private(set) var replacedCount = 0
    private(set) var createdCount = 0

    init(stagingRoot: String, snapshotDirectories: Set<String>, jobID: Int64) {
        self.stagingRoot = stagingRoot
        self.snapshotDirectories = snapshotDirectories
        self.tag = ".balctl-prev-\(jobID)-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Open a live directory by absolute path without following any link on the way.
    static func openNoFollow(_ path: String) throws -> Int32 {
        var fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw JobFailure("cannot open /: \(String(cString: strerror(errno)))") }
        var walked = ""
        for component in path.split(separator: "/") {
            walked += "/" + component
            let next = openat(fd, String(component), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let e = errno
            close(fd)
            guard next >= 0 else {
                throw JobFailure(e == ELOOP || e == ENOTDIR
                    ? "\(walked) is a symbolic link or not a directory; root does not follow links it did not make: restore refused"
                    : "cannot open \(walked): \(String(cString: strerror(e)))")
            }
            fd = next
        }
        return fd
    }

    /// Apply the whole staging tree; on a throw, what was done so far is in the journal.
    func apply() throws {
        let staged = open(stagingRoot, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard staged >= 0 else { throw JobFailure("cannot open the staging directory: \(String(cString: strerror(errno)))") }
        defer { close(staged) }
        let live = try Self.openNoFollow("/")
        defer { close(live) }
        try applyDirectory(staged: staged, live: live, livePath: "")
    }

    private func applyDirectory(staged: Int32, live: Int32, livePath: String) throws {
        for name in try TreeWalk.names(staged, stagingRoot + livePath) {
            let path = livePath + "/" + name
            guard Self.within(only, String(path.dropFirst()), orAbove: true) else { continue }
            var s = stat()
            guard fstatat(staged, name, &s, AT_SYMLINK_NOFOLLOW) == 0 else { throw JobFailure("staging \(path): \(String(cString: strerror(errno)))") }
            var l = stat()
            let exists = fstatat(live, name, &l, AT_SYMLINK_NOFOLLOW) == 0
            if !exists && errno != ENOENT { throw JobFailure("cannot look at \(path): \(String(cString: strerror(errno)))") }
            let lType = l.st_mode & S_IFMT
            if (s.st_mode & S_IFMT) == S_IFDIR {
                let inSnapshot = snapshotDirectories.contains(String(path.dropFirst())) && Self.within(only, String(path.dropFirst()), orAbove: false)
                if exists && lType == S_IFDIR {
                    if inSnapshot {
                        journal.append(.attributes(dir: livePath, name: name, mode: l.st_mode & 0o7777, uid: l.st_uid, gid: l.st_gid,
                                                   times: [l.st_atim, l.st_mtim]))
                    }
                } else {
                    if exists { try moveAside(live, livePath, name) }
                    guard mkdirat(live, name, inSnapshot ? 0o700 : 0o755) == 0 else { throw JobFailure("cannot create \(path): \(String(cString: strerror(errno)))") }
                    journal.append(.created(dir: livePath, name: name, isDirectory: true))
                    createdCount += 1
                }
                let sd = openat(staged, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                let ld = openat(live, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                defer { if sd >= 0 { close(sd) }; if ld >= 0 { close(ld) } }
                guard sd >= 0, ld >= 0 else { throw JobFailure("cannot open \(path) without following a link") }
                try applyDirectory(staged: sd, live: ld, livePath: path)
                if inSnapshot { try Self.setAttributes(ld, s, path) }
                continue
            }
            let group = (s.st_mode & S_IFMT) == S_IFREG && s.st_nlink > 1 ? InodeKey(s) : nil
            let tmp: String
            // The inode a group's first name is live as: taken from a descriptor root opened or
            // wrote, never by looking the name up again (a user who can write the directory
            // could rename her own file there in between, and root would link it elsewhere).
            var written: InodeKey? = nil
            if let group, let first = linkedInodes[group] {
                if exists && lType == S_IFREG && InodeKey(l) == first.live {
                    unchanged += 1
                    continue
                }
                tmp = try Self.link(to: first, beside: live, name: name, path: path)
            } else {
                var compared: InodeKey? = nil
                if exists, try Self.same(staged: staged, live: live, name: name, s, l, compared: &compared) {
                    unchanged += 1
                    if let group, let compared { linkedInodes[group] = (livePath, name, compared) }
                    continue
                }
                (tmp, written) = try Self.copy(from: staged, to: live, name: name, s, path: path)
            }
            if exists {
                if lType == S_IFDIR {
                    try moveAside(live, livePath, name)
                } else {
                    let aside = "." + name + tag
                    guard linkat(live, name, live, aside, 0) == 0 else {
                        let e = errno
                        unlinkat(live, tmp, 0)
                        throw JobFailure("cannot keep the previous \(path): \(String(cString: strerror(e)))")
                    }
                    journal.append(.replaced(dir: livePath, name: name, aside: aside))
                }
                replacedCount += 1
            } else {
                journal.append(.created(dir: livePath, name: name, isDirectory: false))
                createdCount += 1
            }
            guard renameat(live, tmp, live, name) == 0 else {
                let e = errno
                unlinkat(live, tmp, 0)
                throw JobFailure("cannot put \(path) in place: \(String(cString: strerror(e)))")
            }
            if let group, let written, linkedInodes[group] == nil { linkedInodes[group] = (livePath, name, written) }
        }
        fsync(live)
    }

    /// A new name, beside `name` in `live`, for the live file a hard-linked group's first name
    /// became; returns it. The file is opened without following a link and linked by its
    /// descriptor (`AT_EMPTY_PATH`), so what gets linked is the inode just checked, even if its
    /// name is swapped meanwhile.
    static func link(to first: (dir: String, name: String, live: InodeKey), beside live: Int32, name: String, path: String) throws -> String {
        let dir = try openNoFollow(first.dir)
        defer { close(dir) }
        let fd = openat(dir, first.name, linuxOPath | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw JobFailure("cannot open \(first.dir)/\(first.name) to link \(path) to it: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, InodeKey(st) == first.live else {
            throw JobFailure("\(first.dir)/\(first.name) changed during the restore: \(path) cannot be linked to it")
        }
        let tmp = "." + name + ".balctl-new-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        guard linkat(fd, "", live, tmp, linuxATEmptyPath) == 0 else {
            throw JobFailure("cannot link \(path) to \(first.dir)/\(first.name): \(String(cString: strerror(errno)))")
        }
        return tmp
    }

    /// Whether `path` is `only` or inside it (or, with `orAbove`, one of its ancestors); always
    /// true without a restriction.
    static func within(_ only: String?, _ path: String, orAbove: Bool) -> Bool {
        guard let only else { return true }
        return path == only || path.hasPrefix(only + "/") || (orAbove && only.hasPrefix(path + "/"))
    }

    private func moveAside(_ live: Int32, _ livePath: String, _ name: String) throws {
        let aside = "." + name + tag
        guard renameat(live, name, live, aside) == 0 else {
            throw JobFailure("cannot move \(livePath)/\(name) aside: \(String(cString: strerror(errno)))")
        }
        journal.append(.replaced(dir: livePath, name: name, aside: aside))
    }

    /// Same type, mode, owner and content (files compared byte for byte, links by target).
    /// `compared`: the inode of the live file whose content was compared (from its descriptor).
    static func same(staged: Int32, live: Int32, name: String, _ s: stat, _ l: stat) throws -> Bool {
        var compared: InodeKey? = nil
        return try same(staged: staged, live: live, name: name, s, l, compared: &compared)
    }

    static func same(staged: Int32, live: Int32, name: String, _ s: stat, _ l: stat, compared: inout InodeKey?) throws -> Bool {
        guard s.st_mode == l.st_mode, s.st_uid == l.st_uid, s.st_gid == l.st_gid, s.st_size == l.st_size else { return false }
        if (s.st_mode & S_IFMT) == S_IFLNK { return TreeWalk.linkTarget(staged, name) == TreeWalk.linkTarget(live, name) }
        let a = openat(staged, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        let b = openat(live, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        defer { if a >= 0 { close(a) }; if b >= 0 { close(b) } }
        guard a >= 0, b >= 0 else { return false }
        var opened = stat()
        guard fstat(b, &opened) == 0, (opened.st_mode & S_IFMT) == S_IFREG else { return false }
        compared = InodeKey(opened)
        var x = [UInt8](repeating: 0, count: 1 << 16), y = x
        while true {
            let n = readFull(a, &x), m = readFull(b, &y)
            guard n == m else { return false }
            if n <= 0 { return n == 0 }
            if x[0..<n] != y[0..<m] { return false }
        }
    }

    static func readFull(_ fd: Int32, _ buf: inout [UInt8]) -> Int {
        var done = 0
        while done < buf.count {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return -1 }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Write the staged file or link under a unique name in `live`; returns that name and, for a
    /// file, the inode written (from the descriptor).
    static func copy(from staged: Int32, to live: Int32, name: String, _ s: stat, path: String) throws -> (String, InodeKey?) {
        let tmp = "." + name + ".balctl-new-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        if (s.st_mode & S_IFMT) == S_IFLNK {
            guard let target = TreeWalk.linkTarget(staged, name) else { throw JobFailure("staging \(path): unreadable link") }
            guard symlinkat(target, live, tmp) == 0 else { throw JobFailure("cannot create the link for \(path): \(String(cString: strerror(errno)))") }
            _ = fchownat(live, tmp, s.st_uid, s.st_gid, AT_SYMLINK_NOFOLLOW)
            var times = [s.st_atim, s.st_mtim]
            _ = utimensat(live, tmp, &times, AT_SYMLINK_NOFOLLOW)
            return (tmp, nil)
        }
        let src = openat(staged, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard src >= 0 else { throw JobFailure("staging \(path): \(String(cString: strerror(errno)))") }
        defer { close(src) }
        let dst = openat(live, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard dst >= 0 else { throw JobFailure("cannot create a file beside \(path): \(String(cString: strerror(errno)))") }
        do {
            var buf = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = readFull(src, &buf)
                guard n >= 0 else { throw JobFailure("staging \(path): read error") }
                if n == 0 { break }
                var off = 0
                while off < n {
                    let w = buf.withUnsafeBytes { write(dst, $0.baseAddress! + off, n - off) }
                    if w < 0 && errno == EINTR { continue }
                    guard w > 0 else { throw JobFailure("writing \(path): \(String(cString: strerror(errno)))") }
                    off += w
                }
            }
            try setAttributes(dst, s, path)
            guard fsync(dst) == 0 else { throw JobFailure("writing \(path): \(String(cString: strerror(errno)))") }
            var made = stat()
            guard fstat(dst, &made) == 0 else { throw JobFailure("writing \(path): \(String(cString: strerror(errno)))") }
            close(dst)
            return (tmp, InodeKey(made))
        } catch {
            close(dst)
            unlinkat(live, tmp, 0)
            throw error
        }
    }

    /// Owner, then mode (chown clears setuid bits), then times, all on the descriptor.
    static func setAttributes(_ fd: Int32, _ s: stat, _ path: String) throws {
        if geteuid() == 0 { guard fchown(fd, s.st_uid, s.st_gid) == 0 else { throw JobFailure("cannot set the owner of \(path)") } }
        guard fchmod(fd, s.st_mode & 0o7777) == 0 else { throw JobFailure("cannot set the mode of \(path)") }
        var times = [s.st_atim, s.st_mtim]
        _ = futimens(fd, &times)
    }

    /// Undo the journal, newest first. Returns what could not be undone (for the job output).
    func rollBack() -> [String] {
        var problems: [String] = []
        for action in journal.reversed() {
            switch action {
            case .replaced(let dir, let name, let aside):
                guard let fd = try? Self.openNoFollow(dir) else { problems.append("\(dir)/\(name): its directory cannot be opened"); continue }
                var st = stat()
                if fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
                    // A directory the restore created where the previous entry was: it goes first.
                    _ = unlinkat(fd, name, AT_REMOVEDIR)
                }
                if renameat(fd, aside, fd, name) != 0 { problems.append("\(dir)/\(name): \(String(cString: strerror(errno)))") }
                close(fd)
            case .created(let dir, let name, let isDirectory):
                guard let fd = try? Self.openNoFollow(dir) else { continue }
                if unlinkat(fd, name, isDirectory ? AT_REMOVEDIR : 0) != 0 && errno != ENOENT {
                    problems.append("\(dir)/\(name) (created by the restore): \(String(cString: strerror(errno)))")
                }
                close(fd)
            case .attributes(let dir, let name, let mode, let uid, let gid, let times):
                guard let fd = try? Self.openNoFollow(dir + "/" + name) else { continue }
                if geteuid() == 0 { _ = fchown(fd, uid, gid) }
                _ = fchmod(fd, mode)
                var t = times
                _ = futimens(fd, &t)
                close(fd)
            }
        }
        journal = []
        return problems
    }

    /// The restore took: drop the kept previous files (a previous directory is left, named in
    /// the output, for the operator to remove).
    func commit() -> [String] {
        var left: [String] = []
        for case .replaced(let dir, let name, let aside) in journal {
            guard let fd = try? Self.openNoFollow(dir) else { continue }
            if unlinkat(fd, aside, 0) != 0 { left.append("\(dir)/\(aside) (the previous \(name))") }
            close(fd)
        }
        journal = []
        return left
    }
}

/// O_PATH and AT_EMPTY_PATH: Linux's values (x86-64 and arm64; the Glibc module leaves these
/// GNU extensions out).
let linuxOPath: Int32 = 0o10000000
let linuxATEmptyPath: Int32 = 0x1000
