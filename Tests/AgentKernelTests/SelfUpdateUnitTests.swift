@testable import AgentKernel
import BalctlProtocol
import Foundation
import Testing
import TestSupport

/// The self-update building blocks on their own (issue 13): Ed25519 through libcrypto against
/// RFC 8032's test vectors, and the zip reader under prefixes and mutations of a real bundle.
struct SelfUpdateUnitTests {
    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = hex.makeIterator()
        while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16)!) }
        return out
    }

    // RFC 8032 §7.1, TEST 1 (empty message) and TEST 2 (one byte).
    static let pub1 = bytes("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    static let sig1 = bytes("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    static let pub2 = bytes("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
    static let sig2 = bytes("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")

    @Test func ed25519MatchesRFC8032() {
        #expect(Ed25519.verify(signature: Self.sig1, message: [], publicKey: Self.pub1))
        #expect(Ed25519.verify(signature: Self.sig2, message: [0x72], publicKey: Self.pub2))
        // Wrong message, wrong key, flipped bit, truncated: all refused.
        #expect(!Ed25519.verify(signature: Self.sig2, message: [0x73], publicKey: Self.pub2))
        #expect(!Ed25519.verify(signature: Self.sig1, message: [], publicKey: Self.pub2))
        var flipped = Self.sig1; flipped[10] ^= 1
        #expect(!Ed25519.verify(signature: flipped, message: [], publicKey: Self.pub1))
        #expect(!Ed25519.verify(signature: Array(Self.sig1.dropLast()), message: [], publicKey: Self.pub1))
        #expect(!Ed25519.verify(signature: Self.sig1, message: [], publicKey: Array(Self.pub1.dropLast())))
    }

    @Test func sha256MatchesKnownDigests() {
        #expect(SHA256Stream.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256Stream.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    /// A small bundle-shaped zip made by Python's zipfile (deflated and stored entries).
    static func sampleZip(_ dir: URL) throws -> [UInt8] {
        let path = dir.appendingPathComponent("sample.zip").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = ["-c", """
            import sys, zipfile
            with zipfile.ZipFile(sys.argv[1], "w") as z:
                z.writestr("balctl-heartbeat", b"\\x7fELF" + bytes(range(256)) * 40, zipfile.ZIP_DEFLATED)
                z.writestr("README.md", "hello " * 50, zipfile.ZIP_STORED)
                z.writestr("manifest.json", '{"format":1}', zipfile.ZIP_DEFLATED)
                z.writestr("manifest.sig", "c2ln", zipfile.ZIP_STORED)
            """, path]
        try p.run()
        p.waitUntilExit()
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Every prefix and a few thousand mutations of a valid zip: the reader ends (error or result)
    /// each time, and whatever it accepts has only plain names.
    @Test func zipReaderSurvivesPrefixesAndMutations() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-zipfuzz-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let zip = try Self.sampleZip(dir)
        let clean = try BundleArchive.scan(try write(zip, dir, "clean.zip"))
        #expect(clean.files.keys.sorted() == ["README.md", "balctl-heartbeat"])
        #expect(clean.manifest == Array(#"{"format":1}"#.utf8))

        var accepted = 0, refused = 0
        func probe(_ candidate: [UInt8]) throws {
            let path = try write(candidate, dir, "case.zip")
            do {
                let scan = try BundleArchive.scan(path)
                #expect(scan.files.keys.allSatisfy(AgentBundle.isFlatName))
                accepted += 1
            } catch {
                refused += 1
            }
        }
        for n in stride(from: 0, to: zip.count, by: max(1, zip.count / 400)) { try probe(Array(zip.prefix(n))) }
        var rng = SplitMix64(seed: 13)
        for _ in 0..<1500 {
            var m = zip
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                let i = Int.random(in: 0..<m.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: m[i] = UInt8.random(in: 0...255, using: &rng)
                case 1: m[i] ^= 1 << UInt8.random(in: 0...7, using: &rng)
                default: m[i] = [0x00, 0xFF, 0x2F, 0x2E][Int.random(in: 0..<4, using: &rng)]  // NUL, 0xFF, '/', '.'
                }
            }
            try probe(m)
        }
        #expect(refused > 0 && accepted > 0, "accepted \(accepted), refused \(refused)")
    }

    func write(_ bytes: [UInt8], _ dir: URL, _ name: String) throws -> String {
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    @Test func utcStampRoundTrips() {
        #expect(UTCStamp.parse("1970-01-01T00:00:00Z") == 0)
        #expect(UTCStamp.parse("2026-11-27T17:32:29Z") == 1_795_800_749)
        #expect(UTCStamp.format(1_795_800_749) == "2026-11-27T17:32:29Z")
        #expect(UTCStamp.parse("2000-02-29T23:59:59Z").map(UTCStamp.format) == "2000-02-29T23:59:59Z")
        for bad in ["", "2026-11-27", "2026-13-01T00:00:00Z", "2026-11-27T24:00:00Z", "2026-11-27 17:32:29Z",
                    "2026-11-27T17:32:29+00:00", "２026-11-27T17:32:29Z"] {
            #expect(UTCStamp.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func manifestValidationRefusesUnsafeShapes() throws {
        let file = AgentBundleManifest.File(name: "balctl-heartbeat", size: 1, sha256: String(repeating: "a", count: 64), mode: "755")
        func manifest(_ files: [AgentBundleManifest.File], version: String = "1.2.3", notAfter: String = "2030-01-01T00:00:00Z") -> AgentBundleManifest {
            AgentBundleManifest(version: version, minAgentVersion: nil, notAfter: notAfter, created: "2026-01-01T00:00:00Z", files: files)
        }
        try manifest([file]).validate()
        var dotdot = file; dotdot.name = "../balctl-heartbeat"
        var slash = file; slash.name = "bin/x"
        var hidden = file; hidden.name = ".profile"
        var upper = file; upper.sha256 = String(repeating: "A", count: 64)
        var mode = file; mode.mode = "4755"
        let sig = AgentBundleManifest.File(name: "manifest.sig", size: 1, sha256: file.sha256, mode: "644")
        for (bad, why) in [([file, dotdot], "dotdot"), ([slash, file], "slash"), ([file, hidden], "hidden"), ([upper], "hash case"),
                           ([mode], "setuid"), ([file, file], "twice"), ([file, sig], "signature listed"),
                           ([AgentBundleManifest.File(name: "README.md", size: 1, sha256: file.sha256, mode: "644")], "no binary")] {
            #expect(throws: AgentBundleManifest.Invalid.self, "\(why)") { try manifest(bad).validate() }
        }
        #expect(throws: AgentBundleManifest.Invalid.self) { try manifest([file], version: "1.2.x").validate() }
        #expect(throws: AgentBundleManifest.Invalid.self) { try manifest([file], notAfter: "soon").validate() }
    }
}
