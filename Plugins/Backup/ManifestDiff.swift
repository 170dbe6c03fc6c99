#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// Check mode of a restore: the manifest against the live files, without downloading any data.
struct ManifestDiff {
    var added: [String] = []
    var changed: [String] = []
    var unchanged = 0
    var isEmpty: Bool { added.isEmpty && changed.isEmpty }
    static let listed = 200

    var summary: String {
        isEmpty ? "every file already matches; nothing would change"
            : "would create \(added.count) and replace \(changed.count) entries (\(unchanged) unchanged)"
    }

    var json: JSONValue {
        .object(["wouldCreate": .array(added.prefix(Self.listed).map(JSONValue.string)),
                 "wouldReplace": .array(changed.prefix(Self.listed).map(JSONValue.string)),
                 "created": .number(Double(added.count)), "replaced": .number(Double(changed.count)),
                 "unchanged": .number(Double(unchanged))])
    }

    /// Names are policed like the archive's (a hostile manifest may not name `../x`), and the
    /// live files are reached one directory at a time without following a link, as the restore
    /// itself does: a link on the way is reported as a change, never read through.
    /// `only` (relative, no leading slash) limits the comparison to one subtree.
    static func compare(manifest: ManifestReader, liveRoot: String, only: String? = nil) throws -> ManifestDiff {
        var diff = ManifestDiff()
        let base = try? RestoreSwap.openNoFollow(liveRoot)
        defer { if let base { close(base) } }
        var cached: (path: String, fd: Int32?)? = nil
        defer { if let fd = cached?.fd { close(fd) } }
        while let e = try manifest.next() {
            let name = try SnapshotExtractor.checkedName(e.path, isDirectory: e.type == "dir")
            guard RestoreSwap.within(only, name, orAbove: false) else { continue }
            var components = name.split(separator: "/").map(String.init)
            let last = components.removeLast()
            let parentPath = components.joined(separator: "/")
            if cached?.path != parentPath {
                if let fd = cached?.fd { close(fd) }
                cached = (parentPath, base.flatMap { openParent($0, components) })
            }
            guard let dir = cached?.fd else {
                // Missing on the way (created by the restore), or a link or file there (replaced).
                if base.map({ parentBlocked($0, components) }) == true { diff.changed.append("/\(name) (a parent is a link or not a directory)") }
                else { diff.added.append("/" + name) }
                continue
            }
            var st = stat()
            guard fstatat(dir, last, &st, AT_SYMLINK_NOFOLLOW) == 0 else { diff.added.append("/" + name); continue }
            if let why = difference(e, st, dir, last) { diff.changed.append("/\(name) (\(why))") } else { diff.unchanged += 1 }
        }
        return diff
    }

    /// The directory `components` below `base`, no link followed; nil when it cannot be reached so.
    static func openParent(_ base: Int32, _ components: [String]) -> Int32? {
        var fd = dup(base)
        guard fd >= 0 else { return nil }
        for c in components {
            let next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            close(fd)
            guard next >= 0 else { return nil }
            fd = next
        }
        return fd
    }

    /// Whether something other than a directory (a link, a file) stands on the way.
    static func parentBlocked(_ base: Int32, _ components: [String]) -> Bool {
        guard let fd = openParent(base, []) else { return false }
        var dir = fd
        defer { close(dir) }
        for c in components {
            var st = stat()
            guard fstatat(dir, c, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return false }
            guard st.st_mode & S_IFMT == S_IFDIR else { return true }
            let next = openat(dir, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else { return true }
            close(dir)
            dir = next
        }
        return false
    }

    static func difference(_ e: SnapshotManifestEntry, _ st: stat, _ dir: Int32, _ name: String) -> String? {
        let type: String
        switch st.st_mode & S_IFMT {
        case S_IFREG: type = "file"
        case S_IFDIR: type = "dir"
        case S_IFLNK: type = "symlink"
        default: type = "other"
        }
        // A hard link is a file whose content is its first name's (the manifest repeats the size
        // and hash); whether the live names share an inode is not compared.
        let expectedType = e.type == "hardlink" ? "file" : e.type
        guard type == expectedType else { return "is a \(type), the snapshot has a \(expectedType)" }
        if UInt32(st.st_mode) & 0o7777 != e.mode { return "mode \(String(UInt32(st.st_mode) & 0o7777, radix: 8)) → \(String(e.mode, radix: 8))" }
        if st.st_uid != e.uid || st.st_gid != e.gid { return "owner \(st.st_uid):\(st.st_gid) → \(e.uid):\(e.gid)" }
        switch type {
        case "symlink":
            return TreeWalk.linkTarget(dir, name) == e.target ? nil : "link target"
        case "file":
            if Int64(st.st_size) != e.size { return "size \(st.st_size) → \(e.size)" }
            let fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            guard fd >= 0 else { return "unreadable" }
            defer { close(fd) }
            var now = stat()
            guard fstat(fd, &now) == 0, now.st_mode & S_IFMT == S_IFREG else { return "replaced while compared" }
            let hash = SHA256Stream()
            var buf = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = RestoreSwap.readFull(fd, &buf)
                if n <= 0 { break }
                buf.withUnsafeBytes { hash.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
            return hash.finishHex() == e.sha256 ? nil : "content"
        default:
            return nil
        }
    }
}
