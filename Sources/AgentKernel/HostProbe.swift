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

    /// File systems worth reporting; pseudo and memory file systems are left out.
    static let diskFileSystems: Set<String> = [
        "ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "f2fs", "jfs", "reiserfs", "vfat", "exfat",
        "ntfs", "ntfs3",
    ]

    public init(procRoot: String = "/proc", osReleasePath: String = "/etc/os-release",
                mountsPath: String? = nil) {
        self.procRoot = procRoot
        self.osReleasePath = osReleasePath
        self.mountsPath = mountsPath ?? procRoot + "/mounts"
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
        let text = readTextFile(procRoot + "/uptime") ?? ""
        return Double(text.split(separator: " ").first ?? "") ?? 0
    }

    public func loadAverages() -> [Double] {
        let parts = (readTextFile(procRoot + "/loadavg") ?? "").split(separator: " ")
        return parts.prefix(3).map { Double($0) ?? 0 }
    }

    /// Busy share of all CPUs since the previous call (nil the first time).
    public func cpuPercent() -> Double? {
        guard let text = readTextFile(procRoot + "/stat", limit: 4096),
              let line = text.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        let values = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard values.count >= 4 else { return nil }
        let total = values.reduce(0, +)
        let idle = values[3] + (values.count > 4 ? values[4] : 0)  // idle + iowait
        let busy = total - idle
        return lastCPU.withLock { last in
            defer { last = (busy, total) }
            guard let prev = last, total > prev.total else { return nil }
            let b = Double(busy &- prev.busy), t = Double(total - prev.total)
            return max(0, min(100, (b / t * 1000).rounded() / 10))
        }
    }

    public func cpuCount() -> Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    public func memory() -> MemoryInfo {
        var total: UInt64 = 0, available: UInt64 = 0
        for line in (readTextFile(procRoot + "/meminfo") ?? "").split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2, let kb = UInt64(parts[1]) else { continue }
            if parts[0] == "MemTotal:" { total = kb * 1024 }
            if parts[0] == "MemAvailable:" { available = kb * 1024 }
        }
        return MemoryInfo(totalBytes: total, availableBytes: available)
    }

    public func disks() -> [DiskInfo] {
        var seen = Set<String>()
        var out: [DiskInfo] = []
        for line in (readTextFile(mountsPath) ?? "").split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count >= 3, Self.diskFileSystems.contains(String(f[2])) else { continue }
            // /proc/mounts escapes spaces as \040.
            let mount = String(f[1]).replacingAll("\\040", with: " ")
            guard seen.insert(mount).inserted else { continue }
            var st = statvfs()
            guard statvfs(mount, &st) == 0 else { continue }
            let frsize = UInt64(st.f_frsize)
            out.append(DiskInfo(mount: mount, fsType: String(f[2]),
                                totalBytes: UInt64(st.f_blocks) * frsize,
                                availableBytes: UInt64(st.f_bavail) * frsize))
        }
        return out
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
