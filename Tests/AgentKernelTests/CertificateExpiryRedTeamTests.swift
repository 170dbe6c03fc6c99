@testable import AgentKernel
import BalctlProtocol
import Foundation
import Testing

/// Red team (monitoring) R4: `CertificateExpiry` reads, as root, the files a `crt` line names
/// and every file of a `crt` directory, on the heartbeat's probe. A link in such a directory (or
/// a file swapped between the checks) must not block the probe, read a device or take the
/// kernel's log: before, `stat` said "regular" for `/proc/kmsg`, and a plain open + read took
/// the kernel messages (syslog's) and then blocked forever, and so did the heartbeat.
@Suite(.serialized)
struct CertificateExpiryRedTeamTests {
    func tempDir() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-crt-rt-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Runs `scan` on a thread of its own and fails (instead of hanging the suite) past `seconds`.
    func scanWithin(_ seconds: Double, _ paths: [String]) -> JSONValue? {
        let done = DispatchSemaphore(value: 0)
        let box = Box()
        Thread.detachNewThread {
            box.value = CertificateExpiry.scan(paths)
            done.signal()
        }
        return done.wait(timeout: .now() + seconds) == .success ? box.value : nil
    }

    final class Box: @unchecked Sendable { var value: JSONValue? }

    func errors(_ v: JSONValue?) -> [String: String] {
        guard case .array(let entries)? = v else { return [:] }
        var out: [String: String] = [:]
        for e in entries { if let p = e["path"]?.stringValue { out[p] = e["error"]?.stringValue ?? "ok" } }
        return out
    }

    @Test("links to /proc/kmsg, FIFOs, devices, empty, huge and directory entries are refused without blocking")
    func hostileFiles() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fm = FileManager.default
        #expect(mkfifo(dir + "/fifo.pem", 0o600) == 0)
        try fm.createSymbolicLink(atPath: dir + "/fifo-link.pem", withDestinationPath: dir + "/fifo.pem")
        if fm.fileExists(atPath: "/proc/kmsg") { try fm.createSymbolicLink(atPath: dir + "/kmsg.pem", withDestinationPath: "/proc/kmsg") }
        try fm.createSymbolicLink(atPath: dir + "/status.pem", withDestinationPath: "/proc/self/status")
        try fm.createSymbolicLink(atPath: dir + "/zero.pem", withDestinationPath: "/dev/zero")
        try fm.createSymbolicLink(atPath: dir + "/tty.pem", withDestinationPath: "/dev/tty")
        try fm.createSymbolicLink(atPath: dir + "/loop.pem", withDestinationPath: dir + "/loop.pem")
        try fm.createSymbolicLink(atPath: dir + "/dangling.pem", withDestinationPath: dir + "/nothing")
        fm.createFile(atPath: dir + "/empty.pem", contents: Data())
        let huge = open(dir + "/huge.pem", O_CREAT | O_WRONLY, 0o600)
        #expect(ftruncate(huge, 1 << 30) == 0)  // sparse 1 GiB
        close(huge)
        try fm.createDirectory(atPath: dir + "/sub.pem/deeper", withIntermediateDirectories: true)
        fm.createFile(atPath: dir + "/good.pem", contents: Data(CertificateExpiryTests.pem.utf8))

        let started = ContinuousClock.now
        // The directory (as `crt DIR`) and the same files named one by one (as `crt FILE`).
        let named = ["fifo.pem", "fifo-link.pem", "kmsg.pem", "status.pem", "zero.pem", "tty.pem", "huge.pem", "empty.pem"]
            .map { dir + "/" + $0 }
        let result = try #require(scanWithin(10, [dir] + named + [dir + "/sub.pem"]), "the scan blocked")
        #expect(ContinuousClock.now - started < .seconds(5))
        let e = errors(result)
        #expect(e[dir + "/good.pem"] == "ok")
        for name in named { #expect(e[name] != nil && e[name] != "ok", "\(name): \(e[name] ?? "missing")") }
        #expect(e[dir + "/sub.pem"] == nil)  // a directory of directories gives nothing
        #expect(e[dir + "/sub.pem/deeper"] == nil)
    }

    @Test("a crt directory of 100,000 files: at most 256 entries, in bounded time")
    func bigDirectory() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for i in 0..<100_000 {
            let fd = open(dir + "/c\(i).pem", O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
            if fd >= 0 { close(fd) }
        }
        let started = ContinuousClock.now
        let result = try #require(scanWithin(60, [dir]))
        let took = ContinuousClock.now - started
        guard case .array(let entries) = result else { Issue.record("not an array"); return }
        #expect(entries.count == CertificateExpiry.maxCertificates)
        #expect(took < .seconds(20), "\(took)")
    }

    @Test("readCertificateFile reads a real certificate, through a link (certbot's live/ files are links)")
    func readsThroughLinks() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/archive.pem", contents: Data(CertificateExpiryTests.pem.utf8))
        try FileManager.default.createSymbolicLink(atPath: dir + "/live.pem", withDestinationPath: dir + "/archive.pem")
        guard case .success(let bytes) = CertificateExpiry.readCertificateFile(dir + "/live.pem") else {
            Issue.record("refused"); return
        }
        #expect(CertificateExpiry.notAfter(pem: bytes) == CertificateExpiryTests.notAfter)
    }
}
