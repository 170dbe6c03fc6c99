@testable import ControlPlane
import CurlClient
import Foundation
import ServiceLifecycle
import Testing

/// A renewed certificate is served without a restart: the files change under the running server
/// (certbot, or `--tls auto`'s own renewal) and the next handshakes get the new pair.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct ServedCertificateTests {
    func start(_ config: ServerConfig) async throws -> (ControlPlane, ServiceGroup, Task<Void, any Error>, Int) {
        let server = try ControlPlane(config: config)
        let (ports, sink) = AsyncStream.makeStream(of: Int.self)
        let group = try await server.serviceGroup { sink.yield($0) }
        let task = Task { try await group.run() }
        var it = ports.makeAsyncIterator()
        return (server, group, task, try #require(await it.next()))
    }

    /// A fresh session (a new handshake) trusting only `ca`.
    func healthz(_ port: Int, ca: String) async -> Int? {
        guard let s = try? CurlSession(options: .init(caFile: ca)) else { return nil }
        return (try? await s.request("GET", "https://127.0.0.1:\(port)/healthz"))?.status
    }

    @Test("new files under a running server are served at the next handshakes; a pair that does not load is not")
    func swappedFilesAreServed() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-cert-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let one = try LocalCA.create(in: dir + "/one"), two = try LocalCA.create(in: dir + "/two")
        try FileManager.default.createDirectory(atPath: dir + "/served", withIntermediateDirectories: true)
        let cert = dir + "/served/server.pem", key = dir + "/served/server-key.pem"
        try FileManager.default.copyItem(atPath: one.serverCert, toPath: cert)
        try FileManager.default.copyItem(atPath: one.serverKey, toPath: key)
        var config = ServerConfig(dataDir: dir + "/data")
        config.port = 0
        config.tlsCertFile = cert
        config.tlsKeyFile = key
        config.certificateCheckSec = 0.1
        let (server, group, task, port) = try await start(config)
        defer { task.cancel() }
        #expect(await healthz(port, ca: one.caCert) == 200)
        #expect(await healthz(port, ca: two.caCert) == nil)

        // Half a renewal (CA two's certificate, CA one's key): refused, the old pair stays.
        try Data(contentsOf: URL(fileURLWithPath: two.serverCert)).write(to: URL(fileURLWithPath: cert))
        try await Task.sleep(for: .milliseconds(400))
        #expect(await healthz(port, ca: one.caCert) == 200)
        #expect(throws: (any Error).self) { try server.servedCertificate?.reloadIfChanged() }

        // The whole renewal: the next handshakes get CA two's pair, no restart.
        try Data(contentsOf: URL(fileURLWithPath: two.serverKey)).write(to: URL(fileURLWithPath: key))
        var served = false
        for _ in 0..<50 where !served {
            try await Task.sleep(for: .milliseconds(100))
            served = await healthz(port, ca: two.caCert) == 200
        }
        #expect(served)
        #expect(await healthz(port, ca: one.caCert) == nil)
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    @Test("--tls auto renews its certificate near expiry while it runs, under the same CA")
    func autoRenewalWhileRunning() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-cert-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Issued 380 days ago: 17 days left, inside the 30-day margin.
        let old = try LocalCA.ensure(in: dir + "/tls", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"],
                                     now: Date().addingTimeInterval(-380 * 86_400))
        let before = try String(contentsOfFile: old.files.serverCert, encoding: .utf8)
        var config = ServerConfig(dataDir: dir + "/data")
        config.port = 0
        config.tlsCertFile = old.files.serverCert
        config.tlsKeyFile = old.files.serverKey
        config.autoTLS = AutoTLSSettings(directory: dir + "/tls", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"])
        config.certificateCheckSec = 0.1
        let (_, group, task, port) = try await start(config)
        defer { task.cancel() }
        var renewed = false
        for _ in 0..<50 where !renewed {
            try await Task.sleep(for: .milliseconds(100))
            renewed = (try? String(contentsOfFile: old.files.serverCert, encoding: .utf8)) != before
        }
        #expect(renewed)
        let now = try LocalCA.ensure(in: dir + "/tls", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"])
        #expect(now.action == "kept the server certificate")
        #expect(now.fingerprint == old.fingerprint)
        #expect(now.serverNotAfter > Date().addingTimeInterval(300 * 86_400))
        #expect(await healthz(port, ca: old.files.caCert) == 200)
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}
