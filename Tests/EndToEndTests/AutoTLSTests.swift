import BalctlProtocol
import Crypto
import CurlClient
import Foundation
import Testing

/// HTTPS out of the box: `balctl-server serve` with neither `--tls-cert` nor `--plain-http` makes
/// its own CA and certificate in the data directory, prints the CA's fingerprint, and install
/// commands carry the CA, so an agent set up from one pins it and heartbeats.
@Suite(.serialized)
struct AutoTLSTests {
    @Test("first start without certificate options serves HTTPS from its own CA; an agent set up from the install command heartbeats; a restart keeps the CA")
    func httpsWithoutBringingCertificates() async throws {
        let h = try Harness()
        let initProc = Process()
        initProc.executableURL = URL(fileURLWithPath: try Harness.binary("balctl-server"))
        initProc.arguments = ["init", "--data-dir", h.dataDir, "--json"]
        let pipe = Pipe()
        initProc.standardOutput = pipe
        try initProc.run()
        let token = try JSONDecoder().decode(TokenIssued.self, from: pipe.fileHandleForReading.readDataToEndOfFile()).token
        initProc.waitUntilExit()

        func start() async throws -> Process {
            let p = try h.run(try Harness.binary("balctl-server"),
                              ["serve", "--data-dir", h.dataDir, "--port", "\(h.port)", "--public-url", "https://127.0.0.1:\(h.port)"],
                              log: "server.log")
            let probe = try CurlSession(options: .init(caFile: h.dataDir + "/tls/ca.pem"))
            for _ in 0..<200 {
                if let r = try? await probe.request("GET", h.base + "/healthz"), r.status == 200 { return p }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw Harness.HarnessError("server did not come up over HTTPS:\n\(h.log("server.log"))")
        }
        var server = try await start()
        defer { if server.isRunning { server.terminate(); server.waitUntilExit() } }

        // The printed fingerprint is the CA's.
        let caPEM = try String(contentsOfFile: h.dataDir + "/tls/ca.pem", encoding: .utf8)
        let der = Data(base64Encoded: caPEM.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined())!
        let fingerprint = SHA256.hash(data: der).map { String(format: "%02X", $0) }.joined(separator: ":")
        #expect(h.log("server.log").contains("CA SHA-256 fingerprint: \(fingerprint)"), "\(h.log("server.log"))")
        #expect(h.log("server.log").contains("created a local CA and a server certificate"))
        let keyMode = try FileManager.default.attributesOfItem(atPath: h.dataDir + "/tls/ca-key.pem")[.posixPermissions] as? Int
        #expect(keyMode == 0o600)

        // The install command carries the CA: an agent given that file pins it and heartbeats.
        let api = try Harness.Operator(base: h.base, token: token, session: try CurlSession(options: .init(caFile: h.dataDir + "/tls/ca.pem")))
        let pool = try await api.pool("auto-tls")
        let e = try await api.member(pool: pool.id, hostname: "tls-1")
        let lines = try #require(e.installCommand.firstRange(of: "printf '%s\\n' ").map { e.installCommand[$0.upperBound...] })
            .prefix(while: { $0 != ">" })
            .split(separator: "'").map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        let fromInstall = lines.joined(separator: "\n") + "\n"
        #expect(fromInstall.trimmingCharacters(in: .whitespacesAndNewlines) == caPEM.trimmingCharacters(in: .whitespacesAndNewlines),
                "install command: \(e.installCommand)")
        let pinned = h.dir.appendingPathComponent("agent-ca.pem").path
        try fromInstall.write(toFile: pinned, atomically: true, encoding: .utf8)
        var env = h.agentEnv(secret: e.enrollmentSecret, hostname: "tls-1", stateDir: h.dir.appendingPathComponent("state").path)
        env["BALCTL_CA_FILE"] = pinned
        h.agents.append(try h.run(try Harness.binary("balctl-heartbeat"), [], env: env, log: "agent.log"))
        _ = try await api.waitForHeartbeat(e.member.id)

        // A restart keeps the CA and the certificate (nothing near expiry, no name missing). The
        // agent's parked wait does not hold up the shutdown.
        let stopping = Date()
        server.terminate()
        server.waitUntilExit()
        #expect(Date().timeIntervalSince(stopping) < 10, "shutdown took \(Date().timeIntervalSince(stopping)) s")
        server = try await start()
        #expect(h.log("server.log").contains("kept the server certificate"), "\(h.log("server.log"))")
        #expect(try String(contentsOfFile: h.dataDir + "/tls/ca.pem", encoding: .utf8) == caPEM)
    }
}
