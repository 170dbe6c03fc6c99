#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// What identifies one version of a file's content without reading it: device, inode, size,
/// and modification and change times with their nanoseconds (as integers: a Double of Unix
/// seconds keeps only about a quarter of a microsecond).
public struct FileStamp: Equatable, Sendable {
    public var device: UInt64
    public var inode: UInt64
    public var size: Int64
    public var mtimeSec: Int64
    public var mtimeNsec: Int64
    public var ctimeSec: Int64
    public var ctimeNsec: Int64

    init(_ st: stat) {
        device = UInt64(st.st_dev); inode = UInt64(st.st_ino); size = Int64(st.st_size)
        mtimeSec = Int64(st.st_mtim.tv_sec); mtimeNsec = Int64(st.st_mtim.tv_nsec)
        ctimeSec = Int64(st.st_ctim.tv_sec); ctimeNsec = Int64(st.st_ctim.tv_nsec)
    }

    /// The stamp of a regular file at `path` (following links); nil for anything else.
    public static func of(_ path: String) -> FileStamp? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return FileStamp(st)
    }

    /// The later of the two times, in Unix seconds.
    var latestChangeSec: Int64 { max(mtimeSec, ctimeSec) }
}

/// A value derived from a file (a parsed config), parsed again only when the file's `FileStamp`
/// changes: one `stat` per use instead of a read and a parse.
///
/// Why the stamp is enough, and where it is not: a rename over the file (how editors, package
/// managers and our own `SafeFile` write) gives a new inode; an edit in place changes the size or
/// the times. The one change a stamp can miss is two writes of the same size within one tick of
/// the kernel's file-time clock (its timestamps come from a coarse clock, a few ms), when the
/// first write is the one we read. So a stamp is trusted only once it is `settleSec` old (the
/// "racy timestamp" rule git uses for its index): a file changed in the last two seconds is read
/// again on every use until it is older, and a later write in the same tick cannot hide behind a
/// cached value. A clock set backwards by more than that, or a file whose times are set by hand
/// (`touch -d`) to an old value with the same size and inode, can still be missed: ctime (which
/// no one can set) is in the stamp for that reason, so only root changing the clock can.
public final class FileCache<Value: Sendable>: Sendable {
    public static var settleSec: Int64 { 2 }
    private struct Entry { var path: String; var stamp: FileStamp; var value: Value }
    private let entry = Mutex<Entry?>(nil)
    /// The largest file read; a larger one is treated as unreadable.
    public let limit: Int

    public init(limit: Int = 16 << 20) { self.limit = limit }

    /// What a `stat` alone can say: the file is missing (or not a regular file), the cached value
    /// is still the file's, or the file must be read (`value`).
    public enum Lookup { case missing, current(Value), stale }

    public func lookup(_ path: String) -> Lookup {
        guard let now = FileStamp.of(path) else { return .missing }
        return entry.withLock { e in
            guard let e, e.path == path, e.stamp == now else { return .stale }
            return .current(e.value)
        }
    }

    /// The value for the file at `path` as it is now: the cached one when its stamp has not
    /// changed, else `parse` of its bytes (cached if the file has settled). nil when the file is
    /// missing, not a regular file, or cannot be read.
    public func value(_ path: String, now: Int64 = Int64(unixNow()), parse: ([UInt8]) -> Value) -> Value? {
        guard let before = FileStamp.of(path) else { return nil }
        if let hit = entry.withLock({ e -> Value? in
            guard let e, e.path == path, e.stamp == before else { return nil }
            return e.value
        }) { return hit }
        guard let bytes = try? Files.readBytes(path, limit: limit) else { return nil }
        let value = parse(bytes)
        // Cached only when the file did not change while it was read and is old enough that a
        // write later in the same clock tick is ruled out (see above).
        if FileStamp.of(path) == before, now - before.latestChangeSec >= Self.settleSec {
            entry.withLock { $0 = Entry(path: path, stamp: before, value: value) }
        } else {
            entry.withLock { $0 = nil }
        }
        return value
    }
}
