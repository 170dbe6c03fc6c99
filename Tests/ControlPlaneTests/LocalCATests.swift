@testable import ControlPlane
import Foundation
import Testing
import X509

/// `--tls auto`'s CA: made once, kept, and the server certificate renewed under the same CA
/// (agents pin the CA, so it must never change by itself).
@Suite struct LocalCATests {
    func tempDir() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-ca-\(UUID().uuidString.prefix(8))").path
        return d + "/tls"
    }

    func serverCert(_ a: LocalCA.Auto) throws -> Certificate {
        try Certificate(pemEncoded: try String(contentsOfFile: a.files.serverCert, encoding: .utf8))
    }

    @Test("made once, kept while valid, renewed within 30 days of expiry under the same CA, reissued for a new name")
    func keptRenewedAndReissued() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
        let first = try LocalCA.ensure(in: dir, dnsNames: ["balctl.example.com", "localhost"], ipAddresses: ["127.0.0.1"])
        #expect(first.action == "created a local CA and a server certificate")
        let ca = try String(contentsOfFile: first.files.caCert, encoding: .utf8)
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/ca-key.pem")[.posixPermissions] as? Int
        #expect(mode == 0o600)

        let again = try LocalCA.ensure(in: dir, dnsNames: ["balctl.example.com", "localhost"], ipAddresses: ["127.0.0.1"])
        #expect(again.action == "kept the server certificate")
        #expect(again.fingerprint == first.fingerprint)
        #expect(try serverCert(again).serialNumber == (try serverCert(first)).serialNumber)

        // 380 days on: 17 left of 397, under the 30-day margin.
        let later = Date().addingTimeInterval(380 * 86_400)
        let renewed = try LocalCA.ensure(in: dir, dnsNames: ["balctl.example.com", "localhost"], ipAddresses: ["127.0.0.1"], now: later)
        #expect(renewed.action.hasPrefix("renewed the server certificate"), "\(renewed.action)")
        #expect(renewed.fingerprint == first.fingerprint)
        #expect(try String(contentsOfFile: renewed.files.caCert, encoding: .utf8) == ca)
        let caCert = try Certificate(pemEncoded: ca)
        let newCert = try serverCert(renewed)
        #expect(caCert.publicKey.isValidSignature(newCert.signature, for: newCert))
        #expect(newCert.notValidAfter > later.addingTimeInterval(300 * 86_400))

        let moved = try LocalCA.ensure(in: dir, dnsNames: ["new.example.com", "localhost"], ipAddresses: ["127.0.0.1", "10.0.0.5"], now: later)
        #expect(moved.action.contains("lacks"), "\(moved.action)")
        #expect(moved.fingerprint == first.fingerprint)
    }

    @Test("a CA key that is not the CA's, or a server certificate from another CA, is never used")
    func mismatchesAreCaught() throws {
        let dir = try tempDir(), other = try tempDir()
        defer {
            try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent)
            try? FileManager.default.removeItem(atPath: (other as NSString).deletingLastPathComponent)
        }
        _ = try LocalCA.ensure(in: dir, dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"])
        let foreign = try LocalCA.ensure(in: other, dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"])
        // Another CA's server certificate and key dropped in: reissued under this CA.
        try FileManager.default.removeItem(atPath: dir + "/server.pem")
        try FileManager.default.copyItem(atPath: foreign.files.serverCert, toPath: dir + "/server.pem")
        let fixed = try LocalCA.ensure(in: dir, dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"])
        #expect(fixed.action.contains("not signed by this CA"), "\(fixed.action)")
        // The other CA's key in place of ours: refused with the reason.
        try FileManager.default.removeItem(atPath: dir + "/ca-key.pem")
        try FileManager.default.copyItem(atPath: other + "/ca-key.pem", toPath: dir + "/ca-key.pem")
        #expect(throws: (any Error).self) { try LocalCA.ensure(in: dir, dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"]) }
        do { _ = try LocalCA.ensure(in: dir, dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"]) } catch {
            #expect("\(error)".contains("ca-key.pem is not the key of ca.pem"), "\(error)")
        }
    }
}
