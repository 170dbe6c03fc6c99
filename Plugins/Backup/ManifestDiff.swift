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

    static func compare(manifest: ManifestReader, liveRoot: String) throws -> ManifestDiff {
        var diff = ManifestDiff()
        let base = liveRoot == "/" ? "" : liveRoot
        while let e = try manifest.next() {
            let path = base + "/" + e.path
            var st = stat()
            guard lstat(path, &st) == 0 else { diff.added.append("/" + e.path); continue }
            if let why = difference(e, st, path) { diff.changed.append("/\(e.path) (\(why))") } else { diff.unchanged += 1 }
        }
        return diff
    }

    static func difference(_ e: SnapshotManifestEntry, _ st: stat, _ path: String) -> String? {
        let type: String
        switch st.st_mode & S_IFMT {
        case S_IFREG: type = "file"
        case S_IFDIR: type = "dir"
        case S_IFLNK: type = "symlink"
        default: type = "other"
        }
        guard type == e.type else { return "is a \(type), the snapshot has a \(e.type)" }
        if UInt32(st.st_mode) & 0o7777 != e.mode { return "mode \(String(UInt32(st.st_mode) & 0o7777, radix: 8)) → \(String(e.mode, radix: 8))" }
        if st.st_uid != e.uid || st.st_gid != e.gid { return "owner \(st.st_uid):\(st.st_gid) → \(e.uid):\(e.gid)" }
        switch type {
        case "symlink":
            var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(path, &buf, buf.count - 1)
            let target = n < 0 ? "" : String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return target == e.target ? nil : "link target"
        case "file":
            if Int64(st.st_size) != e.size { return "size \(st.st_size) → \(e.size)" }
            let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            guard fd >= 0 else { return "unreadable" }
            defer { close(fd) }
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
