import AgentKernel
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TestSupport

/// The byte scanners behind the heartbeat's host facts (`ProcText`): the same values as the
/// `split`-based parsing they replaced, on this host's real files and on fixtures, and a work
/// bound that holds on every prefix and on thousands of mutations.
@Suite("ProcText: /proc scanned as bytes")
struct ProcTextTests {
    // MARK: the parsing it replaced, kept here as the reference

    enum Reference {
        static func uptime(_ t: String) -> Double { Double(t.split(separator: " ").first ?? "") ?? 0 }
        static func load(_ t: String) -> [Double] { t.split(separator: " ").prefix(3).map { Double($0) ?? 0 } }
        static func cpu(_ t: String) -> (busy: UInt64, total: UInt64)? {
            guard let line = t.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
            let values = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
            guard values.count >= 4 else { return nil }
            let total = values.reduce(0, +)
            return (total - values[3] - (values.count > 4 ? values[4] : 0), total)
        }
        static func memory(_ t: String) -> (UInt64, UInt64) {
            var total: UInt64 = 0, available: UInt64 = 0
            for line in t.split(separator: "\n") {
                let parts = line.split(separator: " ", omittingEmptySubsequences: true)
                guard parts.count >= 2, let kb = UInt64(parts[1]) else { continue }
                if parts[0] == "MemTotal:" { total = kb * 1024 }
                if parts[0] == "MemAvailable:" { available = kb * 1024 }
            }
            return (total, available)
        }
        static func mounts(_ t: String, keep: Set<String>) -> [String] {
            var seen = Set<String>(), out: [String] = []
            for line in t.split(separator: "\n") {
                let f = line.split(separator: " ")
                guard f.count >= 3, keep.contains(String(f[2])) else { continue }
                let mount = String(f[1]).replacingOccurrences(of: "\\040", with: " ")
                if seen.insert(mount).inserted { out.append(mount) }
            }
            return out
        }
    }

    static let keep: Set<String> = ["ext4", "xfs", "btrfs", "vfat", "overlay", "tmpfs", "proc"]

    static func real(_ path: String) -> [UInt8] { (try? Array(Data(contentsOf: URL(fileURLWithPath: path)))) ?? [] }

    static let fixtures: [String: [UInt8]] = [
        "uptime": Array("12345.67 45678.90\n".utf8),
        "loadavg": Array("0.52 1.58 2.59 1/123 4567\n".utf8),
        "stat": Array("cpu  250 50 100 1300 300 0 0 0 0 0\ncpu0 1 0 0 0 0 0 0 0\nintr 1 2 3\nctxt 99\n".utf8),
        "meminfo": Array("MemTotal:       16384000 kB\nMemFree:         1000000 kB\nMemAvailable:    8192000 kB\nBuffers:          100000 kB\n".utf8),
        "mounts": Array("""
            /dev/sda1 / ext4 rw,relatime 0 0
            tmpfs /run tmpfs rw 0 0
            /dev/sda1 / ext4 rw,relatime 0 0
            /dev/sdb1 /srv/with\\040space xfs rw 0 0
            /dev/sdc1 /a\\134b\\011c\\012d btrfs rw 0 0
            /dev/sdd1 /bad\\9xx\\04 vfat rw 0 0

            """.utf8),
    ]

    /// This host's real files, and the fixtures: the corpus of every test below.
    static func corpus() -> [(name: String, bytes: [UInt8])] {
        var out: [(String, [UInt8])] = []
        for name in ["uptime", "loadavg", "stat", "meminfo", "mounts"] {
            out.append((name, real("/proc/" + name)))
            out.append((name, fixtures[name]!))
        }
        return out
    }

    @Test("the same values as the split-based parsing, on this host's /proc and on fixtures")
    func sameAsBefore() {
        for (name, bytes) in Self.corpus() {
            let text = String(decoding: bytes, as: UTF8.self)
            var work = 0
            switch name {
            case "uptime":
                #expect(ProcText.uptime(bytes, work: &work) == Reference.uptime(text))
                #expect(ProcText.uptime(bytes, work: &work) > 0)
            case "loadavg":
                #expect(ProcText.loadAverages(bytes, work: &work) == Reference.load(text))
                #expect(ProcText.loadAverages(bytes, work: &work).count == 3)
            case "stat":
                let mine = ProcText.cpuTimes(bytes, work: &work), theirs = Reference.cpu(text)
                #expect(mine != nil && mine?.busy == theirs?.busy && mine?.total == theirs?.total)
            case "meminfo":
                let mine = ProcText.memory(bytes, work: &work), theirs = Reference.memory(text)
                #expect(mine.total == theirs.0 && mine.available == theirs.1 && mine.total > 0)
            default:
                let mine = ProcText.mounts(bytes, keep: { Self.keep.contains($0) }, work: &work)
                let theirs = Reference.mounts(text, keep: Self.keep)
                // The old code decoded only \040; the others now read as the kernel meant them.
                if !text.contains("\\134") { #expect(mine.map(\.mount) == theirs) }
                #expect(!mine.isEmpty)
            }
        }
    }

    @Test("mounts: the kernel's octal escapes decoded, malformed ones left as they are, duplicates and other types left out")
    func mountEscapes() {
        var work = 0
        let found = ProcText.mounts(Self.fixtures["mounts"]!, keep: { ["ext4", "xfs", "btrfs", "vfat"].contains($0) }, work: &work)
        #expect(found.map(\.mount) == ["/", "/srv/with space", "/a\\b\tc\nd", "/bad\\9xx\\04"])
        #expect(found.map(\.fsType) == ["ext4", "xfs", "btrfs", "vfat"])
    }

    @Test("odd files: empty, no cpu line, too few values, overflowing numbers, no newline at the end")
    func oddFiles() {
        var work = 0
        #expect(ProcText.uptime([], work: &work) == 0 && ProcText.loadAverages([], work: &work).isEmpty)
        #expect(ProcText.uptime(Array("nan 1\n".utf8), work: &work) == 0)
        #expect(ProcText.uptime(Array("1e999 1\n".utf8), work: &work) == 0)
        #expect(ProcText.loadAverages(Array("0.5 x".utf8), work: &work) == [0.5, 0])
        #expect(ProcText.cpuTimes(Array("intr 1 2 3\ncpu  1 2 3 4\n".utf8), work: &work) == nil)
        #expect(ProcText.cpuTimes(Array("cpu0 1 2 3 4\n".utf8), work: &work) == nil)
        #expect(ProcText.cpuTimes(Array("cpu  1 2 3\n".utf8), work: &work) == nil)
        #expect(ProcText.cpuTimes(Array("cpu  18446744073709551615 1 0 0\n".utf8), work: &work) == nil)
        #expect(ProcText.cpuTimes(Array("cpu  99999999999999999999 1 2 3 4".utf8), work: &work).map { [$0.busy, $0.total] } == [6, 10])
        let overflowing = ProcText.memory(Array("MemTotal: 18446744073709551615 kB\nMemAvailable: 2 kB".utf8), work: &work)
        #expect(overflowing.total == 0 && overflowing.available == 2048)
        let empty = ProcText.memory(Array("MemTotal:\nMemAvailable: x kB\n\n\n".utf8), work: &work)
        #expect(empty.total == 0 && empty.available == 0)
    }

    @Test("every prefix and 2,000 seeded mutations of each file: no crash, finite values, work within the bound")
    func prefixesAndMutations() {
        var rng = SplitMix64(seed: 0x18_0F_17)
        var checked = 0
        func scanAll(_ b: [UInt8]) {
            var works = [0, 0, 0, 0, 0]
            let up = ProcText.uptime(b, work: &works[0])
            let load = ProcText.loadAverages(b, work: &works[1])
            _ = ProcText.cpuTimes(b, work: &works[2])
            _ = ProcText.memory(b, work: &works[3])
            let mounts = ProcText.mounts(b, keep: { _ in true }, work: &works[4])
            #expect(up.isFinite && load.allSatisfy(\.isFinite) && load.count <= 3)
            #expect(mounts.count <= b.count)
            for w in works where w > ProcText.workBound(b.count) {
                Issue.record("work \(w) over the bound \(ProcText.workBound(b.count)) for \(b.count) bytes")
            }
            checked += 1
        }
        for (_, bytes) in Self.corpus() {
            let b = Array(bytes.prefix(4096))
            for n in 0...b.count { scanAll(Array(b.prefix(n))) }
            for _ in 0..<2_000 {
                var m = b
                let alphabet = Array(" \t\n\\0123456789.:-ecpuMemTotal".utf8)
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    switch rng.next() % 4 {
                    case 0 where !m.isEmpty: m[Int(rng.next() % UInt64(m.count))] = UInt8(truncatingIfNeeded: rng.next())
                    case 1: m.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: Int(rng.next() % UInt64(m.count + 1)))
                    case 2 where !m.isEmpty: m.remove(at: Int(rng.next() % UInt64(m.count)))
                    default: m = Array(m.prefix(Int(rng.next() % UInt64(m.count + 1))))
                    }
                }
                scanAll(m)
            }
        }
        #expect(checked > 20_000)
    }
}

/// The kernel's mount table is read again only when `poll` says it changed: a mount and an
/// unmount are still seen on the next call.
@Suite("HostProbe: the watched mount table")
struct MountWatchTests {
    static func run(_ args: [String]) -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/mount")
        p.arguments = args
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }

    /// Bind mounts need root with CAP_SYS_ADMIN, and a /tmp on a disk file system (a bind mount
    /// carries its type: tmpfs is not reported); elsewhere there is nothing to exercise.
    static let canBindMount: Bool = {
        // The file system type of the mount /tmp lives on: the longest mount point that is a prefix.
        let table = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        var best = (mount: "", type: "")
        for line in table.split(separator: "\n") {
            let f = line.split(separator: " ").map(String.init)
            guard f.count >= 3 else { continue }
            let prefix: String = f[1].hasSuffix("/") ? f[1] : f[1] + "/"
            if "/tmp/".hasPrefix(prefix) && f[1].count >= best.mount.count { best = (f[1], f[2]) }
        }
        guard ["ext4", "xfs", "btrfs"].contains(best.type) else { return false }
        guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: "/bin/mount") else { return false }
        let dir = NSTemporaryDirectory() + "balctl-canmount-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        guard run(["--bind", dir, dir]) else { return false }
        _ = run(["-u", dir]) || Self.umount(dir)
        return true
    }()

    static func umount(_ path: String) -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/umount")
        p.arguments = [path]
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }

    @Test("the watched table equals a fresh read, call after call")
    func sameAsFreshRead() {
        let watched = HostProbe(mountsPath: "/proc/self/mounts")
        for _ in 0..<3 {
            let fresh = HostProbe(mountsPath: "/proc/./self/mounts")  // not watched: read every time
            #expect(watched.disks().map(\.mount) == fresh.disks().map(\.mount))
            #expect(!watched.disks().isEmpty)
        }
    }

    @Test("a bind mount appears on the next call and goes with its unmount", .enabled(if: canBindMount))
    func mountAndUnmount() throws {
        let tmp = try TempDir()  // under /tmp
        try FileManager.default.createDirectory(atPath: tmp.file("src"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: tmp.file("dst"), withIntermediateDirectories: true)
        let probe = HostProbe(mountsPath: "/proc/self/mounts")
        let target = tmp.file("dst")
        #expect(!probe.disks().map(\.mount).contains(target))
        #expect(!probe.disks().map(\.mount).contains(target))
        try #require(Self.run(["--bind", tmp.file("src"), target]))
        let mounted = probe.disks()
        _ = Self.umount(target)
        #expect(mounted.map(\.mount).contains(target))
        #expect(!probe.disks().map(\.mount).contains(target))
    }
}

/// With `procRoot` /proc the probe keeps uptime, loadavg, stat and meminfo open and reads them
/// again from the start: every read must show the current state, as a fresh open does.
@Suite("HostProbe: /proc files kept open")
struct KeptOpenProcTests {
    @Test("uptime grows between reads, and memory, load and CPU agree with a probe that opens the files by path")
    func currentOnEveryRead() async throws {
        let kept = HostProbe()
        let byPath = HostProbe(procRoot: "/proc/.")  // not "/proc": read by path every time
        let first = kept.uptimeSec()
        #expect(kept.cpuPercent() == nil)
        try await Task.sleep(for: .milliseconds(1_100))
        let second = kept.uptimeSec(), fresh = byPath.uptimeSec()
        #expect(second >= first + 1 && abs(second - fresh) < 0.5)
        #expect(kept.cpuPercent() != nil)  // a second read of /proc/stat, with more jiffies
        #expect(kept.memory().totalBytes == byPath.memory().totalBytes && kept.memory().totalBytes > 0)
        #expect(kept.loadAverages().count == 3 && byPath.loadAverages().count == 3)
    }
}

/// cpuCount reads /sys/devices/system/cpu/online from a descriptor kept open (issue 18).
@Suite("HostProbe: CPUs online")
struct CPUOnlineTests {
    @Test("CPU lists: ranges and singles counted; anything else is not a list")
    func lists() {
        var work = 0
        let cases: [(String, Int?)] = [
            ("0-1\n", 2), ("0\n", 1), ("0-3,5,7-8\n", 7), ("0,2,4", 3), ("0-63\n", 64),
            ("", nil), ("\n", nil), ("3-1\n", nil), ("0-\n", nil), ("0,\n", nil), ("a\n", nil), ("0 1\n", nil),
            ("-1\n", nil), ("0-1x\n", nil), ("1234567890\n", nil),
        ]
        for (text, expected) in cases {
            #expect(ProcText.cpuListCount(Array(text.utf8), work: &work) == expected, "\(text.debugDescription)")
        }
    }

    @Test("the kept-open count is sysconf's, read after read; a probe of fixtures uses sysconf")
    func agreesWithSysconf() {
        let expected = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let probe = HostProbe()
        #expect(expected > 0)
        for _ in 0..<3 { #expect(probe.cpuCount() == expected) }
        #expect(HostProbe(procRoot: "/proc/.").cpuCount() == expected)
    }
}
