import AgentKernel
import BalctlProtocol
import Foundation
import Testing

@Suite("HostProbe on fixture files")
struct HostProbeTests {
    /// A fake /proc and os-release in a temp dir.
    func fixture(osRelease: String? = nil) throws -> (TempDir, HostProbe) {
        let tmp = try TempDir()
        try tmp.write("proc/uptime", "12345.67 45678.90\n")
        try tmp.write("proc/loadavg", "0.52 1.58 2.59 1/123 4567\n")
        try tmp.write("proc/meminfo", """
            MemTotal:       16384000 kB
            MemFree:         1000000 kB
            MemAvailable:    8192000 kB
            Buffers:          100000 kB

            """)
        if let osRelease { try tmp.write("os-release", osRelease) }
        return (tmp, HostProbe(procRoot: tmp.file("proc"), osReleasePath: tmp.file("os-release")))
    }

    @Test("uptime, load averages and memory come from the files under procRoot")
    func procFiles() throws {
        let (tmp, probe) = try fixture()
        #expect(probe.uptimeSec() == 12345.67)
        #expect(probe.loadAverages() == [0.52, 1.58, 2.59])
        #expect(probe.memory() == MemoryInfo(totalBytes: 16_384_000 * 1024, availableBytes: 8_192_000 * 1024))
        _ = tmp
    }

    @Test("missing files give zeros and empty values, not a crash")
    func missingFiles() throws {
        let tmp = try TempDir()
        let probe = HostProbe(procRoot: tmp.file("nope"), osReleasePath: tmp.file("nope/os-release"))
        #expect(probe.uptimeSec() == 0)
        #expect(probe.loadAverages().isEmpty)
        #expect(probe.memory() == MemoryInfo(totalBytes: 0, availableBytes: 0))
        #expect(probe.cpuPercent() == nil)
        #expect(probe.disks().isEmpty)
        let os = probe.osInfo()
        #expect(os.id == "unknown" && os.family == "other" && os.prettyName == "unknown")
    }

    @Test("cpuPercent: nil on the first read, then the busy share between two reads (iowait counts as idle)")
    func cpuPercent() throws {
        let (tmp, probe) = try fixture()
        // user nice system idle iowait irq softirq steal
        try tmp.write("proc/stat", "cpu  100 0 100 700 100 0 0 0\ncpu0 50 0 50 350 50 0 0 0\nintr 1\n")
        #expect(probe.cpuPercent() == nil)
        // Δtotal = 1000, Δidle = (1300+300) - (700+100) = 800, so 20 % busy.
        try tmp.write("proc/stat", "cpu  250 50 100 1300 300 0 0 0\ncpu0 1 0 0 0 0 0 0 0\n")
        #expect(probe.cpuPercent() == 20.0)
        // No time passed: no share to report.
        #expect(probe.cpuPercent() == nil)
        // Fully busy interval: 300 more jiffies, none idle.
        try tmp.write("proc/stat", "cpu  450 50 200 1300 300 0 0 0\n")
        #expect(probe.cpuPercent() == 100.0)
        // Rounded to one decimal: 1 busy of 3 jiffies.
        try tmp.write("proc/stat", "cpu  451 50 200 1302 300 0 0 0\n")
        #expect(probe.cpuPercent() == 33.3)
    }

    @Test("cpuPercent refuses a stat file without a cpu line")
    func cpuGarbage() throws {
        let (tmp, probe) = try fixture()
        try tmp.write("proc/stat", "intr 1 2 3\n")
        #expect(probe.cpuPercent() == nil)
    }

    @Test("OS family from ID and ID_LIKE", arguments: [
        ("ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
         "debian", "debian", "12", "Debian GNU/Linux 12 (bookworm)"),
        ("NAME=\"Ubuntu\"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\nPRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\n",
         "debian", "ubuntu", "24.04", "Ubuntu 24.04.1 LTS"),
        ("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\nPRETTY_NAME=\"Rocky Linux 9.4 (Blue Onyx)\"\n",
         "rhel", "rocky", "9.4", "Rocky Linux 9.4 (Blue Onyx)"),
        ("ID=almalinux\nID_LIKE='rhel centos fedora'\nVERSION_ID=9.5\n",
         "rhel", "almalinux", "9.5", "almalinux"),
        ("ID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME=\"Alpine Linux v3.20\"\n",
         "other", "alpine", "3.20.3", "Alpine Linux v3.20"),
        ("# ID=debian\nID=arch\n", "other", "arch", "", "arch"),
    ] as [(String, String, String, String, String)])
    func osFamily(_ text: String, _ family: String, _ id: String, _ version: String, _ pretty: String) throws {
        let (tmp, probe) = try fixture(osRelease: text)
        let os = probe.osInfo()
        #expect(os.family == family)
        #expect(os.id == id)
        #expect(os.versionID == version)
        #expect(os.prettyName == pretty)
        _ = tmp
    }

    @Test("the kernel release is the running kernel's")
    func kernel() throws {
        let (tmp, probe) = try fixture(osRelease: "ID=debian\n")
        let release = try String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(probe.osInfo().kernel == release)
        _ = tmp
    }

    @Test("disks: real file systems from the mounts file, pseudo ones and duplicates left out, \\040 unescaped")
    func disks() throws {
        let tmp = try TempDir()
        try FileManager.default.createDirectory(atPath: tmp.file("with space"), withIntermediateDirectories: true)
        try tmp.write("mounts", """
            /dev/sda1 \(tmp.path) ext4 rw,relatime 0 0
            tmpfs /run tmpfs rw 0 0
            proc /proc proc rw 0 0
            /dev/sda1 \(tmp.path) ext4 rw,relatime 0 0
            /dev/sdb1 \(tmp.path)/with\\040space xfs rw 0 0
            /dev/sdc1 \(tmp.path)/does-not-exist ext4 rw 0 0

            """)
        let probe = HostProbe(procRoot: tmp.file("proc"), osReleasePath: tmp.file("os-release"),
                              mountsPath: tmp.file("mounts"))
        let disks = probe.disks()
        #expect(disks.map(\.mount) == [tmp.path, tmp.path + "/with space"])
        #expect(disks.map(\.fsType) == ["ext4", "xfs"])
        #expect(disks.allSatisfy { $0.totalBytes > 0 && $0.availableBytes <= $0.totalBytes })
    }

    @Test("the real host: cpu count and host name are sane")
    func realHost() {
        let probe = HostProbe()
        #expect(probe.cpuCount() >= 1)
        #expect(probe.cpuCount() == ProcessInfo.processInfo.activeProcessorCount)
        let kernelHostname = (try? String(contentsOfFile: "/proc/sys/kernel/hostname", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(HostProbe.systemHostname() == kernelHostname)
    }
}
