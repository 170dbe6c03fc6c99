import AgentKernel
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `PathWatched`: a value derived from what is at some paths is derived again exactly when
/// something there changes (inotify), and otherwise served from memory.
@Suite("PathWatched: derive a value again only when its paths change")
struct PathWatchedTests {
    final class Counter: @unchecked Sendable { var n = 0 }

    /// The program-lookup shape every probe uses: the first executable candidate.
    func lookup(_ watch: PathWatched<String?>, _ candidates: [String], _ counter: Counter, now: Double = 0) -> String? {
        watch.value(watching: { candidates }, now: now) {
            counter.n += 1
            return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
        }
    }

    @Test("unchanged paths are not looked at again; a program installed, replaced or removed in a watched directory is seen at the next look")
    func installsAndRemovalsAreSeen() throws {
        let tmp = try TempDir()
        let first = tmp.file("bin"), second = tmp.file("sbin")
        try FileManager.default.createDirectory(atPath: first, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: second, withIntermediateDirectories: true)
        let candidates = [first + "/sshd", second + "/sshd"]
        let watch = PathWatched<String?>(), counter = Counter()

        #expect(lookup(watch, candidates, counter) == nil)
        for _ in 0..<100 { #expect(lookup(watch, candidates, counter) == nil) }
        #expect(counter.n == 1)

        // Installed in the second directory: seen at once.
        try tmp.write("sbin/sshd", "#!/bin/sh\n")
        chmod(second + "/sshd", 0o755)
        #expect(lookup(watch, candidates, counter) == second + "/sshd")
        let afterInstall = counter.n
        for _ in 0..<10 { #expect(lookup(watch, candidates, counter) == second + "/sshd") }
        #expect(counter.n == afterInstall)

        // An earlier one on the search path wins once it appears (made elsewhere, renamed in).
        try tmp.write("staged", "#!/bin/sh\n")
        chmod(tmp.file("staged"), 0o755)
        #expect(rename(tmp.file("staged"), first + "/sshd") == 0)
        #expect(lookup(watch, candidates, counter) == first + "/sshd")

        // Made non-executable in place (chmod): seen.
        chmod(first + "/sshd", 0o644)
        #expect(lookup(watch, candidates, counter) == second + "/sshd")

        // Removed: seen.
        unlink(second + "/sshd")
        #expect(lookup(watch, candidates, counter) == nil)
    }

    @Test("a directory that does not exist yet is watched at its nearest existing ancestor, so its creation is seen")
    func missingDirectoriesAppear() throws {
        let tmp = try TempDir()
        let program = tmp.file("usr/local/lsws/bin/lshttpd")
        let watch = PathWatched<String?>(), counter = Counter()
        #expect(lookup(watch, [program], counter) == nil)
        #expect(lookup(watch, [program], counter) == nil)
        #expect(counter.n == 1)
        try FileManager.default.createDirectory(atPath: tmp.file("usr/local/lsws/bin"), withIntermediateDirectories: true)
        try tmp.write("usr/local/lsws/bin/lshttpd", "#!/bin/sh\n")
        chmod(program, 0o755)
        // The first look after the directories appeared derives again (and watches deeper).
        _ = lookup(watch, [program], counter)
        #expect(lookup(watch, [program], counter) == program)
    }

    @Test("a symlinked directory along the path retargeted (/opt/haproxy/current → 2.9) is seen")
    func symlinkedDirectoriesRetargeted() throws {
        let tmp = try TempDir()
        for v in ["2.8", "2.9"] {
            try tmp.write("opt/haproxy/\(v)/haproxy", "#!/bin/sh\n# \(v)\n")
            chmod(tmp.file("opt/haproxy/\(v)/haproxy"), 0o755)
        }
        #expect(symlink("2.8", tmp.file("opt/haproxy/current")) == 0)
        let path = tmp.file("opt/haproxy/current/haproxy")
        let watch = PathWatched<String>(), counter = Counter()
        func read() -> String {
            watch.value(watching: { [path] }, now: 0) {
                counter.n += 1
                return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            }
        }
        #expect(read().contains("2.8"))
        #expect(read().contains("2.8"))
        #expect(counter.n == 1)
        // Retargeted the way deployments do it: a new link renamed over the old one.
        #expect(symlink("2.9", tmp.file("opt/haproxy/current.new")) == 0)
        #expect(rename(tmp.file("opt/haproxy/current.new"), tmp.file("opt/haproxy/current")) == 0)
        #expect(read().contains("2.9"))
    }

    @Test("a file's content written in place, or the file a symlink names replaced, is seen")
    func contentAndSymlinkTargetsAreSeen() throws {
        let tmp = try TempDir()
        try tmp.write("lib/os-release", "ID=debian\n")
        try FileManager.default.createDirectory(atPath: tmp.file("etc"), withIntermediateDirectories: true)
        #expect(symlink("../lib/os-release", tmp.file("etc/os-release")) == 0)
        let path = tmp.file("etc/os-release")
        let watch = PathWatched<String>(), counter = Counter()
        func read() -> String {
            watch.value(watching: { [path] }, now: 0) {
                counter.n += 1
                return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            }
        }
        #expect(read() == "ID=debian\n")
        #expect(read() == "ID=debian\n")
        #expect(counter.n == 1)

        // In place, same size: the watched target's IN_MODIFY.
        let fd = open(tmp.file("lib/os-release"), O_WRONLY)
        #expect(pwrite(fd, "ID=rocky!\n", 10, 0) == 10)
        close(fd)
        #expect(read() == "ID=rocky!\n")

        // The target replaced by a rename in its own (unwatched) directory: the old target's
        // link count drops, which the watch on it reports.
        try tmp.write("lib/os-release.new", "ID=ubuntu\n")
        #expect(rename(tmp.file("lib/os-release.new"), tmp.file("lib/os-release")) == 0)
        #expect(read() == "ID=ubuntu\n")
    }

    @Test("the value is derived again after maxAgeSec whatever the watch says (mounts and /proc are not watchable)")
    func maxAgeBoundsWhatInotifyCannotSee() throws {
        let tmp = try TempDir()
        let watch = PathWatched<Int>(maxAgeSec: 60), counter = Counter()
        func look(_ now: Double) -> Int {
            watch.value(watching: { [tmp.file("x")] }, now: now) { counter.n += 1; return counter.n }
        }
        #expect(look(1000) == 1)
        #expect(look(1059) == 1)
        #expect(look(1060) == 2)
        #expect(watch.derivations == 2)
    }

    @Test("paths that are not absolute are not watched, and nothing is cached for a path it cannot watch")
    func unwatchableMeansAlwaysDerive() throws {
        let tmp = try TempDir()
        let watch = PathWatched<Int>(), counter = Counter()
        // A directory the watch is refused on (a regular file given as a parent is ENOTDIR,
        // which walks up; a loop of symlinks, ELOOP, cannot be watched at all).
        #expect(symlink(tmp.file("loop"), tmp.file("loop")) == 0)
        let path = tmp.file("loop") + "/x"
        for _ in 0..<3 { _ = watch.value(watching: { [path] }, now: 0) { counter.n += 1; return counter.n } }
        #expect(counter.n == 3)
    }
}
