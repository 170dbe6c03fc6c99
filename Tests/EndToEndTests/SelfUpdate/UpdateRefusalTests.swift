import BalctlProtocol
import ControlPlane
import Foundation
import Testing

/// Every refusal of `balctl-heartbeat --update` leaves the installed binary byte-identical, leaves
/// no scratch file beside it, and says which check failed (issue 13). The bundles are served over
/// HTTPS by a plain file server, as any mirror could serve them: only the signature is trusted.
@Suite(.serialized) struct UpdateRefusalTests {
    /// One kit (keys, bundles, file server) for the suite.
    static let kit: UpdateKit = {
        let kit = try! UpdateKit()
        try! kit.startFileServer()
        return kit
    }()
    static let next = "99.0.0"
    static let good: URL = try! kit.bundle("good", version: next)

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var check: String
        var bundle: @Sendable () throws -> URL
        var env: [String: String] = [:]
        var seedHighest: String? = nil
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "no signature", check: "no-signature") { try kit.rezip(good, as: "nosig", ["drop": ["manifest.sig"]]) },
        Case(name: "bad signature", check: "bad-signature") {
            try kit.rezip(good, as: "badsig", ["replace": ["manifest.sig": Data(repeating: 7, count: 64).base64EncodedString() + "\n"]])
        },
        Case(name: "signed by another key", check: "bad-signature") { try kit.bundle("otherkey", version: next, key: kit.otherKeyFile) },
        Case(name: "tampered manifest", check: "bad-signature") {
            let manifest = try String(contentsOf: good.appendingPathComponent("manifest.json"), encoding: .utf8)
            return try kit.rezip(good, as: "tampered-manifest", ["replace": ["manifest.json": manifest.replacingOccurrences(of: next, with: "99.0.1")]])
        },
        Case(name: "tampered file", check: "hash") {
            let readme = try String(contentsOf: URL(fileURLWithPath: UpdateKit.bundleFiles[4]), encoding: .utf8)
            return try kit.rezip(good, as: "tampered-file", ["replace": ["README.md": String(readme.reversed())]])
        },
        Case(name: "wrong size", check: "size") { try kit.rezip(good, as: "wrong-size", ["append": ["INSTALL_VM.txt": "x"]]) },
        Case(name: "older version", check: "older-version") { try kit.bundle("older", version: "0.0.9") },
        Case(name: "older than the highest version installed here", check: "older-version",
             bundle: { try kit.bundle("below-highest", version: "50.0.0") }, seedHighest: "60.0.0"),
        Case(name: "expired manifest", check: "expired") {
            try kit.bundle("expired", version: next, validDays: 1, now: Date().addingTimeInterval(-3 * 86_400))
        },
        Case(name: "agent below the bundle's minimum", check: "minimum-version") {
            try kit.bundle("minimum", version: next, minAgentVersion: "98.0.0")
        },
        Case(name: "oversized download", check: "download-size", bundle: { good }, env: ["BALCTL_UPDATE_MAX_BYTES": "65536"]),
        Case(name: "entry the manifest does not list", check: "unexpected-entry") {
            try kit.rezip(good, as: "extra", ["add": ["evil.sh": "#!/bin/sh\nid\n"]])
        },
        Case(name: "escaping entry", check: "unexpected-entry") {
            try kit.rezip(good, as: "escape", ["add": ["../../balctl-heartbeat": "#!/bin/sh\nexit 0\n"]])
        },
        Case(name: "absolute entry", check: "unexpected-entry") {
            try kit.rezip(good, as: "absolute", ["add": ["/tmp/balctl-owned": "x"]])
        },
        Case(name: "symlink entry", check: "unexpected-entry") {
            try kit.rezip(good, as: "symlink", ["drop": ["README.md"], "symlinks": ["README.md": "/etc/shadow"]])
        },
        Case(name: "not a zip", check: "archive") {
            let out = kit.dir.appendingPathComponent("bundles/garbage")
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            try Data("this is not a zip archive at all".utf8).write(to: out.appendingPathComponent("agent.zip"))
            return out
        },
        Case(name: "plaintext URL", check: "plaintext-url", bundle: { good }, env: ["BALCTL_UPDATE_URL": "http://127.0.0.1:1/agent.zip"]),
        Case(name: "no pinned key", check: "no-public-key", bundle: { good }, env: ["BALCTL_UPDATE_PUBKEY": ""]),
    ]

    @Test(arguments: cases)
    func refusedLeavesTheBinaryUntouched(_ c: Case) throws {
        let kit = Self.kit
        let host = try kit.install(c.name.replacingOccurrences(of: " ", with: "-"))
        if let h = c.seedHighest {
            try FileManager.default.createDirectory(atPath: host.state + "/update", withIntermediateDirectories: true)
            try Data("\(h)\n".utf8).write(to: URL(fileURLWithPath: host.state + "/update/highest-version"))
        }
        let bundle = try c.bundle()
        let before = try Data(contentsOf: URL(fileURLWithPath: host.binary))
        let binDir = (host.binary as NSString).deletingLastPathComponent
        var env = kit.env(state: host.state, url: kit.url(bundle))
        env.merge(c.env) { $1 }
        let r = try kit.run(host.binary, ["--update"], env: env, check: false)
        #expect(r.status == 3, "\(c.name): \(r.output)")
        #expect(r.output.contains("update refused (\(c.check))"), "\(c.name): \(r.output)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: host.binary)) == before, "\(c.name): the installed binary changed")
        #expect(UpdateKit.entries(binDir) == ["balctl-heartbeat"], "\(c.name): left \(UpdateKit.entries(binDir))")
        #expect(!FileManager.default.fileExists(atPath: host.state + "/update/pending.json"))
        // Nothing was written outside the state and bin directories (the escaping entries).
        #expect(!FileManager.default.fileExists(atPath: "/tmp/balctl-owned"))
        #expect(!FileManager.default.fileExists(atPath: kit.dir.appendingPathComponent("hosts/balctl-heartbeat").path))
    }

    /// The version guard has one override, on the host itself.
    @Test func downgradeNeedsTheHostsConsent() throws {
        let kit = Self.kit
        let older = try kit.bundle("downgrade", version: "0.0.8")
        let host = try kit.install("downgrade")
        var env = kit.env(state: host.state, url: kit.url(older))
        env["BALCTL_ALLOW_AGENT_DOWNGRADE"] = "1"
        env["BALCTL_UPDATE_ROLLBACK_SEC"] = "2"
        // Installed; the trial then finds no control plane at the API base and rolls back: the
        // swap and the rollback both ran, and the original binary is back.
        let before = try Data(contentsOf: URL(fileURLWithPath: host.binary))
        let r = try kit.run(host.binary, ["--update"], env: env, check: false)
        #expect(r.status == 4, "\(r.output)")
        #expect(r.output.contains("swap:"), "\(r.output)")
        #expect(r.output.contains("rolled back from 0.0.8 to \(BalctlVersion.current)"), "\(r.output)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: host.binary)) == before)
        #expect(try Data(contentsOf: URL(fileURLWithPath: host.binary + ".prev")) == before)
    }

    /// Check mode: everything verified, nothing installed.
    @Test func sameVersionIsUnchanged() throws {
        let kit = Self.kit
        let same = try kit.bundle("same", version: BalctlVersion.current)
        let host = try kit.install("same")
        let r = try kit.run(host.binary, ["--update"], env: kit.env(state: host.state, url: kit.url(same)))
        #expect(r.output.contains("unchanged: already at \(BalctlVersion.current)"), "\(r.output)")
        #expect(UpdateKit.entries((host.binary as NSString).deletingLastPathComponent) == ["balctl-heartbeat"])
    }
}
