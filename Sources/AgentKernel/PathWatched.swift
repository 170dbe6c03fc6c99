#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// A value derived from what is at some paths (is sshd installed, which unit name the service
/// has, where haproxy is), derived again only when something at those paths may have changed.
///
/// Why: a probe asks these questions on every heartbeat, and the answers change only when a
/// package is installed or removed. Asked through `stat`/`access`, they were about 25 system
/// calls and a tenth of the agent's CPU per heartbeat; here a look is one `read` of an inotify
/// descriptor that finds nothing (EAGAIN).
///
/// What is watched: each path itself (a symlinked path at its target, whose replacement drops
/// its link count and so is seen too), and every existing directory above it, so that a file or
/// directory created, deleted, renamed, written or chmod'ed there is seen, and so are a missing
/// directory appearing and a symlinked directory along the way retargeted. What inotify cannot see — a mount over a path, /proc — is
/// covered by deriving the value again at least every `maxAgeSec`, and whenever inotify is not
/// to be had (no descriptor left, a watch refused) the value is derived on every look, as before.
///
/// The watch is armed before the value is derived, so a change made while deriving is seen at the
/// next look rather than lost.
public final class PathWatched<Value: Sendable>: Sendable {
    private struct State {
        var fd: Int32 = -1
        var value: Value?
        var derivedAt = 0.0
        var derivations = 0
    }
    private let state = Mutex(State())
    public let maxAgeSec: Double
    static var mask: UInt32 {
        UInt32(IN_ATTRIB | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MODIFY | IN_MOVE_SELF
               | IN_MOVED_FROM | IN_MOVED_TO)
    }

    public init(maxAgeSec: Double = 60) { self.maxAgeSec = maxAgeSec }

    deinit { state.withLock { if $0.fd >= 0 { close($0.fd) } } }

    /// The value: the one derived last while nothing at `paths` has changed since, else
    /// `derive()` again (with `paths()` watched from just before).
    public func value(watching paths: () -> [String], now: Double = monotonicNow(), derive: () -> Value) -> Value {
        state.withLock { s in
            if let value = s.value, s.fd >= 0, now - s.derivedAt < maxAgeSec, !Self.drain(s.fd) { return value }
            if s.fd >= 0 { close(s.fd) }
            s.fd = Self.arm(paths())
            let value = derive()
            s.value = value
            s.derivedAt = now
            s.derivations += 1
            return value
        }
    }

    /// Forget the value: the next look derives it again (its inputs changed in a way no watched
    /// path shows, such as which paths to watch).
    public func invalidate() { state.withLock { $0.value = nil } }

    /// How often the value was derived (for tests).
    public var derivations: Int { state.withLock { $0.derivations } }

    /// True when events arrived (they are consumed) or the descriptor cannot be read.
    static func drain(_ fd: Int32) -> Bool {
        var any = false
        // Room for several events: one with a 255-byte name needs 272 bytes, and a buffer too
        // small for the next event is refused (EINVAL, read as "changed"). Bounded: each read
        // consumes what it returns, and the queue holds at most max_queued_events.
        return withUnsafeTemporaryAllocation(byteCount: 4096, alignment: 8) { buffer in
            for _ in 0..<1024 {
                let n = read(fd, buffer.baseAddress, buffer.count)
                if n > 0 { any = true; continue }
                if n < 0 && errno == EINTR { continue }
                return n < 0 && errno == EAGAIN ? any : true
            }
            return true
        }
    }

    /// A fresh inotify descriptor watching `paths` and every existing directory above them; -1
    /// when one cannot be had or a path cannot be watched (then nothing is cached).
    static func arm(_ paths: [String]) -> Int32 {
        let fd = inotify_init1(Int32(O_NONBLOCK | O_CLOEXEC))
        guard fd >= 0 else { return -1 }
        var watched = Set<String>()
        for path in paths where path.hasPrefix("/") {
            // The path itself, when it is there (following a symlink to what it names).
            if inotify_add_watch(fd, path, mask) < 0 && errno != ENOENT && errno != ENOTDIR && errno != EACCES {
                close(fd); return -1
            }
            // Every directory above it, to the root: a directory along the way that is renamed,
            // replaced, or a symlink retargeted (`/opt/haproxy/current`) changes what the path
            // names, and shows only in the directory that holds it. Missing ones are skipped:
            // their creation shows in the nearest existing one.
            var dir = parent(path)
            while !watched.contains(dir) {
                if inotify_add_watch(fd, dir, mask | UInt32(IN_ONLYDIR)) >= 0 {
                    watched.insert(dir)
                } else if errno != ENOENT && errno != ENOTDIR {
                    close(fd); return -1
                }
                if dir == "/" { break }
                dir = parent(dir)
            }
        }
        return fd
    }

    static func parent(_ path: String) -> String {
        var p = Substring(path)
        while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return "/" }
        return slash == p.startIndex ? "/" : String(p[..<slash])
    }
}
