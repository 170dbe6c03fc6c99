import AgentKernel
import BalctlProtocol
import Foundation
import Testing
import TestSupport
@testable import BackupPlugin

/// Hostile snapshots (a compromised member's upload, a store written by someone else): each is
/// refused or neutralised, and nothing appears outside the staging root. Restores run the real
/// handler (restoreTo = a staging directory inside a jail directory we inspect afterwards).
@Suite(.serialized)
struct HostileSnapshotTests {
    let settings = BackupSettings(stateDir: NSTemporaryDirectory() + "balctl-backup-state")

    /// Restore `archive` into jail/staging; returns the job error (nil when it succeeded).
    func restore(_ build: (TarBuilder) -> Void, jail: URL, claimedEntries: Int? = nil) async throws -> String? {
        let b = TarBuilder()
        build(b)
        let data = b.finish()
        return try await restorePlanted(data: data, manifest: b.manifest, into: jail.appendingPathComponent("staging"),
                                        settings: settings, claimedEntries: claimedEntries)
    }

    /// Everything in the jail other than the staging directory itself.
    func outside(_ jail: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: jail.path).filter { $0 != "staging" }
    }

    @Test(arguments: ["../../x", "a/../../x", "./x", "a//x"])
    func dotDotAndOddNamesAreRefused(_ name: String) async throws {
        // The jail sits in a directory of its own, so "../../x" from jail/staging would land in
        // it: a stray /tmp/x on the machine can neither fail this test nor hide an escape.
        let root = try tempDir("hostile")
        defer { try? FileManager.default.removeItem(at: root) }
        let jail = root.appendingPathComponent("jail")
        try FileManager.default.createDirectory(at: jail, withIntermediateDirectories: false)
        let error = try await restore({ $0.add(name, .file, content: Array("pwned".utf8)) }, jail: jail)
        #expect(error?.contains("snapshot refused") == true, "\(error ?? "restored")")
        #expect(try outside(jail) == [])
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path) == ["jail"])
    }

    @Test func absolutePathIsRefused() async throws {
        let jail = try tempDir("jail")
        defer { try? FileManager.default.removeItem(at: jail) }
        let target = "/etc/balctl-hostile-\(UUID().uuidString.prefix(8))"
        let error = try await restore({ $0.add(target, .file, content: Array("pwned".utf8)) }, jail: jail)
        #expect(error?.contains("is an absolute path") == true, "\(error ?? "restored")")
        #expect(!FileManager.default.fileExists(atPath: target))
    }

    @Test func writingThroughASymlinkIsRefused() async throws {
        let jail = try tempDir("jail")
        defer { try? FileManager.default.removeItem(at: jail) }
        let victim = jail.appendingPathComponent("victim")
        try FileManager.default.createDirectory(at: victim, withIntermediateDirectories: true)
        let error = try await restore({
            $0.add("l", .symlink(victim.path))
            $0.add("l/x", .file, content: Array("pwned".utf8))
        }, jail: jail)
        #expect(error?.contains("lies below the symlink 'l'") == true, "\(error ?? "restored")")
        #expect(try FileManager.default.contentsOfDirectory(atPath: victim.path) == [])
        // The root link of the issue's example, "l -> /", then "l/x".
        let error2 = try await restore({
            $0.add("m", .symlink("/"))
            $0.add("m/balctl-hostile-x", .file, content: Array("pwned".utf8))
        }, jail: try tempDir("jail"))
        #expect(error2?.contains("lies below the symlink") == true)
        #expect(!FileManager.default.fileExists(atPath: "/balctl-hostile-x"))
    }

    @Test func aRelativeLinkClimbingOutIsRefused() async throws {
        let jail = try tempDir("jail")
        defer { try? FileManager.default.removeItem(at: jail) }
        let error = try await restore({ $0.add("a/up", .symlink("../../../etc/shadow")) }, jail: jail)
        #expect(error?.contains("leaves the restore root") == true, "\(error ?? "restored")")
    }

    /// Hard links may only name a regular file the snapshot unpacked before them, and carry no
    /// data (tar would write it into the file they name, after its hash was checked).
    @Test func hardLinksOnlyToAFileUnpackedBeforeAndWithoutData() async throws {
        let cases: [(String, (TarBuilder) -> Void, String)] = [
            ("forward", { $0.add("h", .hardlink("f")); $0.add("f", .file, content: Array("x".utf8)) }, "not a file this snapshot unpacked before it"),
            ("to a directory", { $0.add("d/", .dir); $0.add("h", .hardlink("d")) }, "not a file this snapshot unpacked before it"),
            ("to a symlink", { $0.add("l", .symlink("f")); $0.add("h", .hardlink("l")) }, "not a file this snapshot unpacked before it"),
            ("to itself", { $0.add("h", .hardlink("h")) }, "not a file this snapshot unpacked before it"),
            ("to a link", { $0.add("f", .file, content: Array("x".utf8)); $0.add("h", .hardlink("f")); $0.add("h2", .hardlink("h")) },
             "not a file this snapshot unpacked before it"),
            ("dot-dot", { $0.add("f", .file, content: Array("x".utf8)); $0.add("d/", .dir); $0.add("d/h", .hardlink("d/../f")) }, "'..' component"),
            ("manifest disagrees", { $0.add("f", .file, content: Array("x".utf8)); $0.add("g", .file, content: Array("y".utf8))
                $0.add("h", .hardlink("f"), manifestType: "file") }, "does not match the manifest"),
        ]
        for (label, build, needle) in cases {
            let jail = try tempDir("jail")
            defer { try? FileManager.default.removeItem(at: jail) }
            let error = try await restore(build, jail: jail)
            #expect(error?.contains(needle) == true, "\(label): \(error ?? "restored")")
            #expect(try outside(jail) == [], "\(label)")
            #expect((try? FileManager.default.contentsOfDirectory(atPath: jail.appendingPathComponent("staging").path)) ?? [] == [], "\(label): staging emptied")
        }
        // A link with data (libarchive's writer will not make one: the tar is written by hand).
        // Unpacked, its bytes would overwrite the file it names after that file's hash passed.
        let jail0 = try tempDir("jail")
        defer { try? FileManager.default.removeItem(at: jail0) }
        let keep = Array("keep".utf8), evil = Array("evil".utf8)
        // The pax header makes it pax interchange, where a hard link's size is obeyed (libarchive
        // ignores it in plain ustar).
        let tar = Self.ustar([("f", "0", "", keep), ("PaxHeader/h", "x", "", Array("10 path=h\n".utf8)), ("h", "1", "f", evil)])
        var frame: [UInt8] = []
        let z = try ZstdStream(level: 1, workers: 0) { frame += $0 }
        try tar.withUnsafeBytes { try z.write($0) }
        try z.finish()
        let sha = SHA256Stream.hex(keep)
        let manifest = Array(try JSONEncoder().encode(SnapshotManifestHeader(scope: "paths", roots: ["/f", "/h"], createdAt: 0, hostname: "h"))) + [10]
            + Array(try JSONEncoder().encode(SnapshotManifestEntry(type: "file", path: "f", size: 4, mode: 0o644, uid: 0, gid: 0, mtime: 0, mtimeNsec: 0, sha256: sha))) + [10]
            + Array(try JSONEncoder().encode(SnapshotManifestEntry(type: "hardlink", path: "h", size: 4, mode: 0o644, uid: 0, gid: 0, mtime: 0, mtimeNsec: 0, sha256: sha, target: "f"))) + [10]
        let staging0 = jail0.appendingPathComponent("staging")
        let dataError = try await restorePlanted(data: frame, manifest: manifest, into: staging0, settings: settings)
        #expect(dataError?.contains("hard link 'h' carries 4 bytes of data") == true, "\(dataError ?? "restored")")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: staging0.path)) ?? [] == [])

        // A well-formed link comes back as a second name of the file.
        let jail = try tempDir("jail")
        defer { try? FileManager.default.removeItem(at: jail) }
        let error = try await restore({ $0.add("d/", .dir); $0.add("d/f", .file, content: Array("shared".utf8)); $0.add("d/h", .hardlink("d/f")) }, jail: jail)
        #expect(error == nil, "\(error ?? "")")
        var f = stat(), h = stat()
        let staging = jail.appendingPathComponent("staging")
        #expect(lstat(staging.appendingPathComponent("d/f").path, &f) == 0 && lstat(staging.appendingPathComponent("d/h").path, &h) == 0)
        #expect(f.st_ino == h.st_ino && f.st_nlink == 2)
    }

    @Test func hardLinkToAnOutsideFileIsRefused() async throws {
        let jail = try tempDir("jail")
        defer { try? FileManager.default.removeItem(at: jail) }
        let outsideFile = jail.appendingPathComponent("outside.txt")
        try Data("keep".utf8).write(to: outsideFile)
        let error = try await restore({
            $0.add("h", .hardlink(outsideFile.path))
            $0.add("h2", .hardlink("../outside.txt"))
        }, jail: jail)
        #expect(error?.contains("hard link") == true, "\(error ?? "restored")")
        #expect(try outside(jail) == ["outside.txt"])
        #expect(String(decoding: try Data(contentsOf: outsideFile), as: UTF8.self) == "keep")
        var st = stat()
        #expect(stat(outsideFile.path, &st) == 0 && st.st_nlink == 1)
    }

    @Test func deviceNodesAndFIFOsAreRefused() async throws {
        for kind in [TarBuilder.Kind.char, .fifo] {
            let jail = try tempDir("jail")
            defer { try? FileManager.default.removeItem(at: jail) }
            let error = try await restore({ $0.add("dev", kind) }, jail: jail)
            #expect(error?.contains("device node, FIFO or socket") == true, "\(error ?? "restored")")
            #expect(!FileManager.default.fileExists(atPath: jail.appendingPathComponent("staging/dev").path))
        }
    }

    @Test func aZstdBombIsStoppedEarly() async throws {
        let jail = try tempDir("jail")
        defer { try? FileManager.default.removeItem(at: jail) }
        let error = try await restore({ b in b.add("bomb", .file, zeros: 1 << 30) }, jail: jail)
        #expect(error?.contains("times its stored size") == true, "\(error ?? "restored")")
        // Nothing is left, and the staging directory never held more than the floor and a chunk.
        #expect((try? FileManager.default.contentsOfDirectory(atPath: jail.appendingPathComponent("staging").path)) == [])
    }

    /// 1,000,000 empty entries: refused before any download when the catalog says so, at the
    /// first entry past the catalog's count when the uploader lied about it.
    @Test func aMillionEmptyEntriesAreRefused() async throws {
        let b = TarBuilder()
        b.add("e", .dir)
        for i in 0..<1_000_000 { b.add("e/\(i)", .file) }
        let data = b.finish()
        for claimed in [1_000_001, 10] {
            let jail = try tempDir("jail")
            defer { try? FileManager.default.removeItem(at: jail) }
            let server = FakeSnapshotServer()
            let id = server.plant(scope: "paths", data: data, manifest: b.manifest, entries: claimed)
            let staging = jail.appendingPathComponent("staging")
            let error = await #expect(throws: JobFailure.self) {
                try await run(BackupRestoreHandler(settings: settings), .object(["snapshot": .string(id), "restoreTo": .string(staging.path)]), server, jobID: 9)
            }
            #expect(error?.message.contains(claimed == 10 ? "more entries than the 10" : "lists 1000001 entries, more than 500000") == true, "\(error?.message ?? "")")
            #expect((try? FileManager.default.contentsOfDirectory(atPath: staging.path).count) ?? 0 == 0)
        }
    }

    @Test func anArchiveThatDisagreesWithItsManifestIsRefused() async throws {
        let jail = try tempDir("jail")
        defer { try? FileManager.default.removeItem(at: jail) }
        let error = try await restore({ b in
            b.add("a", .file, content: Array("one".utf8))
            // The manifest claims a directory where the archive has a file.
            b.add("b", .file, content: Array("two".utf8), manifestType: "dir")
        }, jail: jail)
        #expect(error?.contains("does not match the manifest") == true, "\(error ?? "restored")")
    }

    @Test func entriesOutsideTheRootsOrBeforeTheirDirectoryAreRefused() async throws {
        let jail = try tempDir("jail")
        defer { try? FileManager.default.removeItem(at: jail) }
        // A snapshot "of /srv/site" that also carries root's SSH keys.
        let outside = try await restore({ b in
            b.roots = ["/srv/site"]
            b.add("srv/site", .dir, mode: 0o755)
            b.add("srv/site/index.html", .file, content: Array("hi".utf8))
            b.add("root/.ssh/authorized_keys", .file, content: Array("ssh-ed25519 AAAA attacker".utf8))
        }, jail: jail)
        #expect(outside?.contains("lies outside the snapshot's roots") == true, "\(outside ?? "restored")")
        // A directory entry after its children would give the live directory libarchive's defaults.
        let late = try await restore({ b in
            b.roots = ["/srv"]
            b.add("srv", .dir, mode: 0o755)
            b.add("srv/d/f", .file, content: Array("x".utf8))
            b.add("srv/d", .dir, mode: 0o700)
        }, jail: try tempDir("jail"))
        #expect(late?.contains("comes before its directory 'srv/d'") == true, "\(late ?? "restored")")
        // Roots that are not plain absolute paths.
        let slash = try await restore({ b in
            b.roots = ["/"]
            b.add("etc", .dir)
        }, jail: try tempDir("jail"))
        #expect(slash?.contains("roots are not acceptable") == true, "\(slash ?? "restored")")
    }

    /// Prefixes and byte mutations of a real snapshot: every one is refused or restored,
    /// none hangs or crashes, none writes outside the staging root.
    @Test func truncatedAndMutatedArchivesNeverEscapeOrHang() async throws {
        let b = TarBuilder()
        b.add("d", .dir, mode: 0o755)
        b.add("d/f", .file, content: Array(repeating: 65, count: 5000))
        b.add("d/l", .symlink("f"))
        let data = b.finish()
        var rng = SplitMix64(seed: 7)
        let jail = try tempDir("jail")
        defer { try? FileManager.default.removeItem(at: jail) }
        for round in 0..<120 {
            var bytes = data
            if round < 40 {
                bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count))))
            } else {
                for _ in 0..<(1 + Int(rng.next() % 4)) { bytes[Int(rng.next() % UInt64(bytes.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
            }
            let server = FakeSnapshotServer()
            let id = server.plant(scope: "paths", data: bytes, manifest: b.manifest)
            let staging = jail.appendingPathComponent("staging")
            _ = try? await run(BackupRestoreHandler(settings: settings), .object(["snapshot": .string(id), "restoreTo": .string(staging.path)]), server, jobID: 9)
            #expect(try outside(jail) == [])
            try? FileManager.default.removeItem(at: staging)
        }
    }

    /// A ustar stream written by hand: (name, typeflag, linkname, data) per entry.
    static func ustar(_ entries: [(String, Character, String, [UInt8])]) -> [UInt8] {
        func field(_ s: String, _ width: Int) -> [UInt8] { Array(s.utf8.prefix(width)) + [UInt8](repeating: 0, count: max(0, width - s.utf8.count)) }
        func octal(_ v: Int, _ width: Int) -> [UInt8] {
            let digits = String(v, radix: 8)
            return field(String(repeating: "0", count: width - 1 - digits.count) + digits, width)
        }
        var out: [UInt8] = []
        for (name, type, link, data) in entries {
            var h = field(name, 100) + octal(0o644, 8) + octal(0, 8) + octal(0, 8) + octal(data.count, 12) + octal(1_700_000_000, 12)
            h += [UInt8](repeating: 32, count: 8) + [UInt8(type.asciiValue!)] + field(link, 100) + field("ustar", 6) + Array("00".utf8)
            h += [UInt8](repeating: 0, count: 512 - h.count)
            let sum = h.reduce(0) { $0 + Int($1) }
            let digits = String(sum, radix: 8)
            let check = Array((String(repeating: "0", count: 6 - digits.count) + digits).utf8) + [0, 32]
            h.replaceSubrange(148..<156, with: check)
            out += h + data + [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
        }
        return out + [UInt8](repeating: 0, count: 1024)
    }
}
