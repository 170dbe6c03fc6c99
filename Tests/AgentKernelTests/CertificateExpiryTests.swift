@testable import AgentKernel
import BalctlProtocol
import Foundation
import Testing
import TestSupport

/// Certificates' expiry as the probes report it for `tls_expiry` thresholds.
struct CertificateExpiryTests {
    static let pem = TestCertificate.pem
    static let notAfter = TestCertificate.notAfter

    @Test("notAfter of a PEM certificate, also with its key after it (haproxy's combined .pem)")
    func reads() {
        #expect(CertificateExpiry.notAfter(pem: Array(Self.pem.utf8)) == Self.notAfter)
        let combined = Self.pem + "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"
        #expect(CertificateExpiry.notAfter(pem: Array(combined.utf8)) == Self.notAfter)
    }

    @Test("garbage, truncations and mutations of a certificate give nil or a date, never a crash")
    func hostileBytes() {
        #expect(CertificateExpiry.notAfter(pem: []) == nil)
        #expect(CertificateExpiry.notAfter(pem: Array("not a certificate".utf8)) == nil)
        let bytes = Array(Self.pem.utf8)
        for cut in stride(from: 0, to: bytes.count, by: 7) {
            #expect(CertificateExpiry.notAfter(pem: Array(bytes.prefix(cut))) == nil)
        }
        var rng = SplitMix64(seed: 7)
        for _ in 0..<500 {
            var m = bytes
            for _ in 0..<3 { m[Int(rng.next() % UInt64(m.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            _ = CertificateExpiry.notAfter(pem: m)  // any answer but a crash or a hang
        }
    }

    @Test("files and crt directories: keys and OCSP companions skipped, FIFOs not opened, results cached until refresh")
    func scansPaths() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-certs-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/crt", withIntermediateDirectories: true)
        try Self.pem.write(toFile: dir + "/crt/shop.pem", atomically: true, encoding: .utf8)
        try "key".write(toFile: dir + "/crt/shop.pem.key", atomically: true, encoding: .utf8)
        try "ocsp".write(toFile: dir + "/crt/shop.pem.ocsp", atomically: true, encoding: .utf8)
        try "junk".write(toFile: dir + "/bad.pem", atomically: true, encoding: .utf8)
        #expect(mkfifo(dir + "/fifo.pem", 0o600) == 0)
        let watch = CertificateExpiry(refreshSec: 300)
        let paths = [dir + "/crt", dir + "/bad.pem", dir + "/fifo.pem", dir + "/missing.pem"]
        let report = watch.report(paths, now: 0)
        #expect(report == .array([
            .object(["path": .string(dir + "/crt/shop.pem"), "notAfter": .number(Self.notAfter)]),
            .object(["path": .string(dir + "/bad.pem"), "error": .string("no PEM certificate could be read")]),
            .object(["path": .string(dir + "/fifo.pem"), "error": .string("not a regular file")]),
            .object(["path": .string(dir + "/missing.pem"), "error": .string("not a regular file")]),
        ]))
        // Cached: a new file is seen only after refreshSec (expiry moves in days) or new paths.
        try FileManager.default.removeItem(atPath: dir + "/crt/shop.pem")
        #expect(watch.report(paths, now: 299) == report)
        #expect(watch.report(paths, now: 301) != report)
    }
}
