#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// One thing found under a backup root. `path` is relative to `/` ("etc/haproxy/haproxy.cfg").
struct WalkedEntry {
    enum Kind { case file, directory, symlink }
    var kind: Kind
    var path: String
    var info: stat
    /// Symlinks: the target as stored in the link.
    var target: String?
    /// Files: the directory descriptor it sits in and its name, to open it without following a
    /// link (valid only during the visit).
    var parentFD: Int32
    var name: String
}

/// Walks backup roots the way root must: every step is an `openat`/`fstatat` relative to a
/// descriptor of the directory above, with `O_NOFOLLOW`/`AT_SYMLINK_NOFOLLOW`, so a directory
/// swapped for a link during the walk is stored as a link, never followed into. Names are sorted,
/// so an unchanged tree produces the same archive bytes (a resumed upload skips the parts it
/// already sent). Sockets, FIFOs and device nodes are skipped and counted.
struct TreeWalk {
    static let maxDepth = 128
    let maxEntries: Int

    struct Skipped: Sendable { var path: String; var why: String }

    /// Check and normalise the roots: absolute, no `.`/`..`/empty components, not `/` itself,
    /// no root inside another (it would be stored twice).
    static func normalise(_ roots: [String]) throws -> [String] {
        var out: [String] = []
        for raw in roots {
            guard raw.hasPrefix("/") else { throw ParameterError("backup path '\(raw)' is not absolute") }
            let parts = raw.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
            guard !parts.isEmpty else { throw ParameterError("backup path '/' is refused: name the directories to back up") }
            guard !parts.contains(where: { $0 == "." || $0 == ".." }), !raw.utf8.contains(0) else {
                throw ParameterError("backup path '\(raw)' has '.' or '..' components")
            }
            out.append("/" + parts.joined(separator: "/"))
        }
        out = Array(Set(out)).sorted()
        for a in out {
            if let b = out.first(where: { $0 != a && a.hasPrefix($0 + "/") }) {
                throw ParameterError("backup path '\(a)' lies inside '\(b)': name it once")
            }
        }
        return out
    }

    /// Visit every entry under `roots` (roots first, then depth-first in name order). A root
    /// that does not exist is reported in `skipped`, not an error (a scope names optional files).
    func walk(_ roots: [String], skipped: inout [Skipped], visit: (WalkedEntry) throws -> Void) throws {
        var count = 0
        for root in roots {
            let slash = root.lastIndex(of: "/")!
            let dir = slash == root.startIndex ? "/" : String(root[..<slash])
            let name = String(root[root.index(after: slash)...])
            let parent = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard parent >= 0 else {
                skipped.append(Skipped(path: root, why: "its directory \(dir) cannot be opened: \(String(cString: strerror(errno)))"))
                continue
            }
            defer { close(parent) }
            try visitEntry(parent, name, String(root.dropFirst()), depth: 0, count: &count, skipped: &skipped, visit)
        }
    }

    private func visitEntry(_ parent: Int32, _ name: String, _ path: String, depth: Int, count: inout Int,
                            skipped: inout [Skipped], _ visit: (WalkedEntry) throws -> Void) throws {
        var st = stat()
        guard fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno != ENOENT { skipped.append(Skipped(path: "/" + path, why: String(cString: strerror(errno)))) }
            else if depth == 0 { skipped.append(Skipped(path: "/" + path, why: "does not exist")) }
            return
        }
        let kind: WalkedEntry.Kind
        var target: String? = nil
        switch st.st_mode & S_IFMT {
        case S_IFREG: kind = .file
        case S_IFDIR: kind = .directory
        case S_IFLNK:
            kind = .symlink
            guard let stored = Self.linkTarget(parent, name) else { skipped.append(Skipped(path: "/" + path, why: "unreadable link")); return }
            target = stored
        default:
            skipped.append(Skipped(path: "/" + path, why: "not a file, directory or link (socket, FIFO or device): not backed up"))
            return
        }
        count += 1
        guard count <= maxEntries else {
            throw JobFailure("more than \(maxEntries) entries under the backup roots: narrow the scope (BALCTL_BACKUP_MAX_ENTRIES raises the cap)")
        }
        try visit(WalkedEntry(kind: kind, path: path, info: st, target: target, parentFD: parent, name: name))
        guard kind == .directory else { return }
        guard depth < Self.maxDepth else { throw JobFailure("/\(path) is nested deeper than \(Self.maxDepth) directories") }
        let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { skipped.append(Skipped(path: "/" + path, why: "cannot open: \(String(cString: strerror(errno)))")); return }
        defer { close(fd) }
        for child in try Self.names(fd, "/" + path) {
            try visitEntry(fd, child, path + "/" + child, depth: depth + 1, count: &count, skipped: &skipped, visit)
        }
    }

    /// The target stored in the link `name` in the directory `dir`; nil when it cannot be read.
    static func linkTarget(_ dir: Int32, _ name: String) -> String? {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(dir, name, &buf, buf.count - 1)
        return n < 0 ? nil : String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The directory's entry names, sorted (byte order), without `.` and `..`.
    static func names(_ fd: Int32, _ path: String) throws -> [String] {
        let copy = dup(fd)
        guard copy >= 0, let d = fdopendir(copy) else {
            if copy >= 0 { close(copy) }
            throw JobFailure("cannot read directory \(path): \(String(cString: strerror(errno)))")
        }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }
}
