#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import BalctlProtocol
import Synchronization

/// Read a small text file (under /proc or /etc) without Foundation.
public func readTextFile(_ path: String, limit: Int = 1 << 20) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 8192)
    while bytes.count < limit {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, 8192) }
        if n > 0 { bytes.append(contentsOf: buffer[0..<n]) }
        else if n < 0 && errno == EINTR { continue }
        else { break }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Host facts from /proc, /etc/os-release and statvfs: what every heartbeat reports.
/// The paths are parameters so tests can point the probe at fixture files.
public final class HostProbe: Sendable {
    public let procRoot: String
    public let osReleasePath: String
    public let mountsPath: String
    private let lastCPU = Mutex<(busy: UInt64, total: UInt64)?>(nil)
    /// The kernel's mount table, watched instead of read on every beat (see `mounts()`); fd -1
    /// for a mounts file that is not the kernel's (tests' fixtures), which is read every time.
    private let mountWatch: Mutex<MountWatch>
    private struct MountWatch: ~Copyable {
        let fd: Int32
        var mounts: [(mount: String, fsType: String)]? = nil
        deinit { if fd >= 0 { close(fd) } }
    }

    /// /proc/uptime, loadavg, stat and meminfo, opened once and read again from offset 0 on every
    /// beat (a /proc file shows its current state at each read from the start): no open, path
    /// walk and close per file per beat. -1 when `procRoot` is not /proc (tests' fixtures, read
    /// by path every time) or the open failed.
    private let uptimeFD: Int32, loadavgFD: Int32, statFD: Int32, meminfoFD: Int32
    /// /sys/devices/system/cpu/online, kept open likewise (a sysfs file also shows its current
    /// state when read again from offset 0): what sysconf(_SC_NPROCESSORS_ONLN) opens, reads
    /// and closes on every call.
    private let onlineFD: Int32

    /// File systems worth reporting; pseudo and memory file systems are left out.
    static let diskFileSystems: Set<String> = [
        "ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "f2fs", "jfs", "reiserfs", "vfat", "exfat",
        "ntfs", "ntfs3",
    ]

    public init(procRoot: String = "/proc", osReleasePath: String = "/etc/os-release",
                mountsPath: String? = nil) {
        self.procRoot = procRoot
        self.osReleasePath = osReleasePath
        let path = mountsPath ?? procRoot + "/mounts"
        self.mountsPath = path
        let watched = path == "/proc/mounts" || path == "/proc/self/mounts"
        mountWatch = Mutex(MountWatch(fd: watched ? open(path, O_RDONLY | O_CLOEXEC) : -1))
        func keep(_ name: String) -> Int32 { procRoot == "/proc" ? open("/proc/" + name, O_RDONLY | O_CLOEXEC) : -1 }
        (uptimeFD, loadavgFD, statFD, meminfoFD) = (keep("uptime"), keep("loadavg"), keep("stat"), keep("meminfo"))
        onlineFD = procRoot == "/proc" ? open("/sys/devices/system/cpu/online", O_RDONLY | O_CLOEXEC) : -1
    }

    deinit {
        for fd in [uptimeFD, loadavgFD, statFD, meminfoFD, onlineFD] where fd >= 0 { close(fd) }
    }

    private func read(_ fd: Int32, _ name: String, limit: Int) -> [UInt8]? {
        fd >= 0 ? readAll(fd, limit: limit, shortReadEnds: true) : readSmallFile(procRoot + "/" + name, limit: limit)
    }

    public func osInfo() -> OSInfo {
        var fields: [String: String] = [:]
        for line in (readTextFile(osReleasePath) ?? "").split(separator: "\n") {
            guard let eq = line.firstIndex(of: "="), !line.hasPrefix("#") else { continue }
            var value = String(line[line.index(after: eq)...])
            if value.count >= 2, let q = value.first, q == "\"" || q == "'", value.last == q {
                value = String(value.dropFirst().dropLast())
            }
            fields[String(line[..<eq])] = value
        }
        let id = fields["ID"] ?? "unknown"
        let like = (fields["ID_LIKE"] ?? "").split(separator: " ").map(String.init)
        let all = [id] + like
        let family: String
        if all.contains(where: { ["debian", "ubuntu"].contains($0) }) { family = "debian" }
        else if all.contains(where: { ["rhel", "fedora", "centos"].contains($0) }) { family = "rhel" }
        else { family = "other" }
        var u = utsname()
        uname(&u)
        let kernel = withUnsafeBytes(of: u.release) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return OSInfo(family: family, id: id, versionID: fields["VERSION_ID"] ?? "",
                      prettyName: fields["PRETTY_NAME"] ?? id, kernel: kernel)
    }

    public func uptimeSec() -> Double {
        guard let bytes = read(uptimeFD, "uptime", limit: 256) else { return 0 }
        var work = 0
        return ProcText.uptime(bytes, work: &work)
    }

    public func loadAverages() -> [Double] {
        guard let bytes = read(loadavgFD, "loadavg", limit: 256) else { return [] }
        var work = 0
        return ProcText.loadAverages(bytes, work: &work)
    }

    /// Busy share of all CPUs since the previous call (nil the first time).
    public func cpuPercent() -> Double? {
        // The first line is all we read; on a host with many CPUs the file is much longer.
        var work = 0
        guard let bytes = read(statFD, "stat", limit: 4096),
              let (busy, total) = ProcText.cpuTimes(bytes, work: &work) else { return nil }
        return lastCPU.withLock { last in
            defer { last = (busy, total) }
            guard let prev = last, total > prev.total else { return nil }
            let b = Double(busy &- prev.busy), t = Double(total - prev.total)
            return max(0, min(100, (b / t * 1000).rounded() / 10))
        }
    }

    /// CPUs online: from the kept-open sysfs list, or sysconf when that is not to be had.
    public func cpuCount() -> Int {
        var work = 0
        if onlineFD >= 0, let n = ProcText.cpuListCount(readAll(onlineFD, limit: 4096, shortReadEnds: true), work: &work) {
            return n
        }
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    public func memory() -> MemoryInfo {
        var work = 0
        let (total, available) = ProcText.memory(read(meminfoFD, "meminfo", limit: 64 << 10) ?? [], work: &work)
        return MemoryInfo(totalBytes: total, availableBytes: available)
    }

    public func disks() -> [DiskInfo] {
        var out: [DiskInfo] = []
        for (mount, fsType) in mounts() {
            var st = statvfs()
            guard statvfs(mount, &st) == 0 else { continue }
            let frsize = UInt64(st.f_frsize)
            out.append(DiskInfo(mount: mount, fsType: fsType,
                                totalBytes: UInt64(st.f_blocks) * frsize,
                                availableBytes: UInt64(st.f_bavail) * frsize))
        }
        return out
    }

    /// The disk file systems' mount points. The kernel's mount table is read again only when it
    /// changed: an open /proc/self/mounts polls with POLLPRI once the table changed since the last
    /// poll (proc(5)); the event is taken by `poll`, so a change after it is seen by the next
    /// one, and a change between the poll and the read is read now and again next time. Reading
    /// and formatting the table was a tenth of the agent's heartbeat CPU (issue 18).
    func mounts() -> [(mount: String, fsType: String)] {
        let parse = { (bytes: [UInt8]) -> [(mount: String, fsType: String)] in
            var work = 0
            return ProcText.mounts(bytes, keep: { Self.diskFileSystems.contains($0) }, work: &work)
        }
        return mountWatch.withLock { w in
            guard w.fd >= 0 else { return parse(readSmallFile(mountsPath) ?? []) }
            var p = pollfd(fd: w.fd, events: Int16(POLLPRI), revents: 0)
            let changed = poll(&p, 1, 0) != 0  // an error counts as a change: read
            if changed || w.mounts == nil { w.mounts = parse(readAll(w.fd, limit: 1 << 20)) }
            return w.mounts ?? []
        }
    }

    /// The OS host name.
    public static func systemHostname() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, 255) == 0 else { return "localhost" }
        return String(cString: buf)
    }
}

extension String {
    /// Every occurrence of `target` replaced (FoundationEssentials has no such method).
    public func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty, self.contains(target) else { return self }
        var result = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: target) {
            result += rest[..<r.lowerBound]
            result += replacement
            rest = rest[r.upperBound...]
        }
        return result + rest
    }
}
