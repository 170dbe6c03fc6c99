import AgentKernel
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `FileCache`: a parsed file is reused while its stamp (device, inode, size, mtime and ctime
/// with nanoseconds) is unchanged and settled, and parsed again on any change.
@Suite("FileCache: parse a file again only when it changed")
struct FileCacheTests {
    /// Sets the file's mtime (and atime) `secondsAgo` in the past, as an old, settled file.
    func age(_ path: String, secondsAgo: Int, nsec: Int = 0) {
        var times = [timespec(tv_sec: time(nil) - secondsAgo, tv_nsec: nsec), timespec(tv_sec: time(nil) - secondsAgo, tv_nsec: nsec)]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
    }

    final class Counter: @unchecked Sendable { var parses = 0 }

    /// `now` far enough ahead that the file's ctime (set by the test's own writes) has settled.
    func read(_ cache: FileCache<String>, _ path: String, _ counter: Counter, settled: Bool = true) -> String? {
        cache.value(path, now: Int64(time(nil)) + (settled ? 10 : 0)) { bytes in
            counter.parses += 1
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    @Test("an unchanged file is parsed once; a write of another size, a rename over it, or a same-size write in place is seen")
    func changesAreSeen() throws {
        let tmp = try TempDir()
        let path = tmp.file("haproxy.cfg")
        try tmp.write("haproxy.cfg", "global\n  stats socket /run/a.sock\n")
        age(path, secondsAgo: 3600)
        let cache = FileCache<String>(), counter = Counter()
        for _ in 0..<5 { #expect(read(cache, path, counter) == "global\n  stats socket /run/a.sock\n") }
        #expect(counter.parses == 1)
        guard case .current(let v) = cache.lookup(path) else { Issue.record("not current"); return }
        #expect(v.hasPrefix("global"))

        // Another size.
        try tmp.write("haproxy.cfg", "global\n  stats socket /run/longer.sock\n")
        age(path, secondsAgo: 3600)
        #expect(read(cache, path, counter) == "global\n  stats socket /run/longer.sock\n")
        #expect(counter.parses == 2)

        // Same size, same mtime, written in place: only the ctime (which nobody can set) tells.
        // (20 ms later: file times come from a clock that ticks every few ms; within one tick
        // the settle rule is what protects, and this test passes a settled `now`.)
        usleep(20_000)
        let fd = open(path, O_WRONLY)
        #expect(fd >= 0)
        let bytes = Array("GLOBAL".utf8)
        #expect(pwrite(fd, bytes, bytes.count, 0) == bytes.count)
        close(fd)
        age(path, secondsAgo: 3600)  // the mtime back to exactly what it was
        if case .current = cache.lookup(path) { Issue.record("a changed file looked current") }
        #expect(read(cache, path, counter)?.hasPrefix("GLOBAL") == true)
        #expect(counter.parses == 3)

        // Same size and times, another file renamed over it: a new inode.
        try tmp.write("new.cfg", "GLOBAL\n  stats socket /run/LONGER.sock\n")
        age(tmp.file("new.cfg"), secondsAgo: 3600)
        #expect(rename(tmp.file("new.cfg"), path) == 0)
        #expect(read(cache, path, counter) == "GLOBAL\n  stats socket /run/LONGER.sock\n")
        #expect(counter.parses == 4)
        #expect(read(cache, path, counter) != nil && counter.parses == 4)
    }

    @Test("a file changed within the settle time is read every time (a same-size write in the same clock tick cannot hide)")
    func racyFilesAreNotCached() throws {
        let tmp = try TempDir()
        let path = tmp.file("conf")
        try tmp.write("conf", "one")
        let cache = FileCache<String>(), counter = Counter()
        #expect(read(cache, path, counter, settled: false) == "one")
        #expect(read(cache, path, counter, settled: false) == "one")
        #expect(counter.parses == 2)
        if case .current = cache.lookup(path) { Issue.record("a fresh file was cached") }
        // Once settled it is kept.
        #expect(read(cache, path, counter) == "one")
        #expect(read(cache, path, counter) == "one")
        #expect(counter.parses == 3)
    }

    @Test("a missing file, a directory, and a file removed after caching: nil, not the stale value")
    func missing() throws {
        let tmp = try TempDir()
        let cache = FileCache<String>(), counter = Counter()
        #expect(read(cache, tmp.file("nope"), counter) == nil)
        #expect(read(cache, tmp.path, counter) == nil)
        if case .missing = cache.lookup(tmp.file("nope")) {} else { Issue.record("missing not reported") }
        try tmp.write("f", "x")
        age(tmp.file("f"), secondsAgo: 60)
        #expect(read(cache, tmp.file("f"), counter) == "x")
        unlink(tmp.file("f"))
        #expect(read(cache, tmp.file("f"), counter) == nil)
        #expect(counter.parses == 1)
    }

    @Test("FileStamp keeps nanoseconds: mtimes 1 ns apart differ")
    func nanoseconds() throws {
        let tmp = try TempDir()
        try tmp.write("f", "x")
        age(tmp.file("f"), secondsAgo: 100, nsec: 1)
        let a = FileStamp.of(tmp.file("f"))
        age(tmp.file("f"), secondsAgo: 100, nsec: 2)
        let b = FileStamp.of(tmp.file("f"))
        #expect(a != nil && b != nil && a != b)
        #expect(a?.mtimeNsec == 1 && b?.mtimeNsec == 2)
    }
}
