import AgentKernel
import BalctlProtocol
import CArchive
import Foundation
import Testing
import TestSupport
@testable import BackupPlugin

/// Red-team pass on hard links in snapshots (650658f): hostile link entries at the extractor,
/// and an unprivileged user racing the live swap.
@Suite(.serialized)
struct RedTeamHardLinkTests {
    let settings = BackupSettings(stateDir: NSTemporaryDirectory() + "balctl-backup-state")

    func restore(_ build: (TarBuilder) -> Void, jail: URL) async throws -> String? {
        let b = TarBuilder()
        build(b)
        let data = b.finish()
        return try await restorePlanted(data: data, manifest: b.manifest, into: jail.appendingPathComponent("staging"), settings: settings)
    }

    /// Like TarBuilder but every name set with the UTF-8 setters. Entries: (path, kind, content);
    /// every entry is one of the header's roots (so no parent directory entry is required).
    enum K { case file, symlink(String), hardlink(String) }
    func restoreUTF8(_ entries: [(String, K, String)], jail: URL) async throws -> String? {
        final class Sink { var bytes: [UInt8] = [] }
        let sink = Sink()
        // libarchive's pax writer dereferences NULL on a non-ASCII link in the C locale (see
        // backupOfANonASCIIHardLink): build under C.UTF-8 on this thread, as the agent does.
        var lines: [UInt8] = []
        var files: [[UInt8]: (Int64, String)] = [:]
        var tops: [String] = []
        let bytes = try withUTF8Locale { () throws -> [UInt8] in
            let a = archive_write_new()!
            archive_write_add_filter_zstd(a)
            archive_write_set_format_pax(a)
            archive_write_set_bytes_in_last_block(a, 1)
            archive_write_open2(a, Unmanaged.passUnretained(sink).toOpaque(), nil, { _, client, buffer, length in
                Unmanaged<Sink>.fromOpaque(client!).takeUnretainedValue().bytes.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: length))
                return length
            }, nil, nil)
            for (path, kind, content) in entries {
                let e = archive_entry_new()!
                archive_entry_set_pathname_utf8(e, path)
                archive_entry_set_perm(e, 0o644)
                archive_entry_set_mtime(e, 1_700_000_000, 0)
                let data = Array(content.utf8)
                var m = SnapshotManifestEntry(type: "file", path: path, size: Int64(data.count), mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000, mtimeNsec: 0)
                switch kind {
                case .file:
                    archive_entry_set_filetype(e, BALCTL_AE_IFREG); archive_entry_set_size(e, Int64(data.count))
                    m.sha256 = SHA256Stream.hex(data)
                    files[Array(path.utf8)] = (Int64(data.count), m.sha256!)
                case .symlink(let t):
                    archive_entry_set_filetype(e, BALCTL_AE_IFLNK); archive_entry_set_symlink_utf8(e, t); archive_entry_set_size(e, 0)
                    m.type = "symlink"; m.size = 0; m.target = t
                case .hardlink(let t):
                    archive_entry_set_filetype(e, BALCTL_AE_IFREG); archive_entry_set_hardlink_utf8(e, t); archive_entry_set_size(e, 0)
                    // The manifest repeats the file the extractor will match (canonically equal).
                    let f = files.first { String(decoding: $0.key, as: UTF8.self) == t }?.value ?? (0, "")
                    m.type = "hardlink"; m.size = f.0; m.sha256 = f.1; m.target = t
                }
                archive_write_header(a, e)
                if !data.isEmpty { archive_write_data(a, data, data.count) }
                archive_entry_free(e)
                lines += Array(try JSONEncoder().encode(m)) + [10]
                let top = path
                if !tops.contains(top) { tops.append(top) }
            }
            archive_write_close(a)
            archive_write_free(a)
            return sink.bytes
            return sink.bytes
        }
        let manifest = Array(try JSONEncoder().encode(SnapshotManifestHeader(scope: "paths", roots: tops.map { "/" + $0 }, createdAt: 0, hostname: "h"))) + [10] + lines
        return try await restorePlanted(data: bytes, manifest: manifest, into: jail.appendingPathComponent("staging"), settings: settings)
    }

    /// The extractor's `files` and `seen` are Swift String collections, which compare by Unicode
    /// canonical equivalence, while the file system compares bytes. A link target spelled NFD
    /// ("e\u{301}/victim") is taken as the NFC file "é/victim" the snapshot unpacked, but
    /// libarchive links the NFD path, which runs through a symlink the snapshot made (its NFD
    /// name is not a duplicate of any entry: "é" is only an implicit directory).
    @Test func unicodeSpellingOfTheTargetThroughASymlink() async throws {
        let jail = try tempDir("rt-hl")
        defer { try? FileManager.default.removeItem(at: jail) }
        let victimDir = jail.appendingPathComponent("victim")
        try FileManager.default.createDirectory(at: victimDir, withIntermediateDirectories: true)
        let victim = victimDir.appendingPathComponent("secret")
        try Data("root only".utf8).write(to: victim)
        let nfc = "\u{e9}", nfd = "e\u{301}"
        let error = try await restoreUTF8([("\(nfc)/secret", K.file, "decoy"), (nfd, K.symlink(victimDir.path), ""),
                                           ("z", K.hardlink("\(nfd)/secret"), "")], jail: jail)
        var st = stat()
        #expect(stat(victim.path, &st) == 0 && st.st_nlink == 1, "the victim got another name: \(error ?? "restored")")
        #expect(error != nil, "a link through a symlink was restored")
        print("unicode through symlink:", error ?? "restored")
    }

    /// The same spelling trick aimed at a directory libarchive made implicitly: "never a directory".
    @Test func unicodeSpellingOfTheTargetNamesAnImplicitDirectory() async throws {
        let jail = try tempDir("rt-hl")
        defer { try? FileManager.default.removeItem(at: jail) }
        let nfc = "\u{e9}", nfd = "e\u{301}"
        let error = try await restoreUTF8([(nfc, K.file, "decoy"), ("\(nfd)/x", K.file, "x"), ("z", K.hardlink(nfd), "")], jail: jail)
        #expect(error != nil)
        print("unicode implicit dir:", error ?? "restored")
    }

    /// A link entry whose own name is a directory libarchive already made on the way to an
    /// earlier entry: NO_OVERWRITE must not let it "succeed" without creating the link, or the
    /// staged tree disagrees with the manifest.
    @Test func linkNamedLikeAnImplicitDirectory() async throws {
        let jail = try tempDir("rt-hl")
        defer { try? FileManager.default.removeItem(at: jail) }
        let error = try await restore({
            $0.add("f", .file, content: Array("x".utf8))
            $0.add("d/g", .file, content: Array("y".utf8))
            $0.add("d", .hardlink("f"))
        }, jail: jail)
        print("link over implicit dir:", error ?? "restored")
        if error == nil {
            var st = stat()
            let d = jail.appendingPathComponent("staging/d").path
            #expect(lstat(d, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG, "the manifest's hard link 'd' was restored as a directory")
        }
    }

    /// Live swap: the first name of a linked group lands in a directory an unprivileged user
    /// (uid 4242) owns; a later name lands in a root-only directory. The swap records the first
    /// name's live inode with a fstatat by NAME after its rename; the user keeps renaming a
    /// file of her own over that name. If her rename falls between root's rename and fstatat,
    /// root links HER file as the root-only later name (she can then write it at will).
    @Test func racerSwapsTheFirstNameBeforeItsInodeIsRecorded() async throws {
        let base = try tempDir("rt-hl-swap")
        defer { try? FileManager.default.removeItem(at: base) }
        chmod(base.path, 0o755)
        let live = base.appendingPathComponent("live").path
        let alice = live + "/alice", conf = live + "/conf"
        let stop = base.path + "/stop"
        try FileManager.default.createDirectory(atPath: alice, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: conf, withIntermediateDirectories: true)
        chmod(live, 0o755); chmod(conf, 0o755); chmod(alice, 0o755)
        chown(alice, 4242, 4242)
        // Alice's own file, which she will try to get linked as the root-only conf/b.
        let mine = alice + "/F"
        try Data("alice's content\n".utf8).write(to: URL(fileURLWithPath: mine))
        chown(mine, 4242, 4242)
        var mineSt = stat()
        #expect(stat(mine, &mineSt) == 0)

        // The staged tree (as the extractor leaves it): a and b one root-owned inode.
        let staging = base.path + "/staging"
        let stagedLive = staging + live
        try FileManager.default.createDirectory(atPath: stagedLive + "/alice", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: stagedLive + "/conf", withIntermediateDirectories: true)
        try Data("root content\n".utf8).write(to: URL(fileURLWithPath: stagedLive + "/alice/a"))
        chmod(stagedLive + "/alice/a", 0o644)
        // The snapshot has alice's directory as hers (else the swap would chown it to root).
        chown(stagedLive + "/alice", 4242, 4242); chmod(stagedLive + "/alice", 0o755); chmod(stagedLive + "/conf", 0o755)
        #expect(link(stagedLive + "/alice/a", stagedLive + "/conf/b") == 0)
        let rel = String(live.dropFirst())

        // The racer: a tight loop of link + rename (t stays a name of F when a already is F) as uid 4242, bounded, stops on the stop file.
        let racer = Process()
        racer.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        racer.arguments = ["--reuid=4242", "--regid=4242", "--clear-groups", "perl", "-e",
                           #"chdir $ARGV[0] or die; my $i = 0; while ($i < 500000000) { if ($i % 4096 == 0) { last if -e $ARGV[1] } link("F", "t"); rename("t", "a"); $i++ }"#,
                           alice, stop]
        racer.standardOutput = FileHandle.nullDevice
        racer.standardError = FileHandle.nullDevice
        try racer.run()
        let pid = racer.processIdentifier
        defer {
            FileManager.default.createFile(atPath: stop, contents: Data())
            var waited = 0
            while racer.isRunning && waited < 500 { usleep(10_000); waited += 1 }
            if racer.isRunning { kill(pid, SIGKILL) }
            racer.waitUntilExit()
        }

        var won = 0, refused = 0, applied = 0
        let deadline = Date().addingTimeInterval(25)
        var iterations = 0
        while Date() < deadline && won == 0 {
            iterations += 1
            // conf starts empty each time.
            for n in (try? FileManager.default.contentsOfDirectory(atPath: conf)) ?? [] { unlink(conf + "/" + n) }
            let swap = RestoreSwap(stagingRoot: staging, snapshotDirectories: [rel + "/alice", rel + "/conf"], jobID: Int64(iterations))
            do {
                try swap.apply()
                applied += 1
                var b = stat()
                if lstat(conf + "/b", &b) == 0 && (b.st_uid == 4242 || b.st_ino == mineSt.st_ino) { won += 1 }
                _ = swap.commit()
            } catch {
                if refused < 1 { print("refused:", error) }
                refused += 1
                _ = swap.rollBack()
            }
        }
        var b = stat()
        let bOwner = lstat(conf + "/b", &b) == 0 ? "\(b.st_uid) ino \(b.st_ino) (alice's F is ino \(mineSt.st_ino))" : "missing"
        var aSt = stat(); _ = lstat(alice + "/a", &aSt)
        let cpu = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: " ").dropFirst(13).prefix(2).joined(separator: "+") ?? "?"
        print("racer running: \(racer.isRunning) cpu ticks \(cpu); alice's a: uid \(aSt.st_uid) ino \(aSt.st_ino)")
        print("race: \(iterations) swaps, \(applied) applied, \(refused) refused, \(won) gave root-only conf/b alice's inode; conf/b now \(bOwner)")
        #expect(won == 0, "root linked uid 4242's own file as the root-only later name conf/b")
    }
}

extension RedTeamHardLinkTests {
    /// A backup of a tree where a user hard-linked a file under non-ASCII names: the writer's
    /// pax link entry must be written (not crash the root agent).
    @Test(arguments: [("plain", "b"), ("nonASCII", "\u{fc}ber")])
    func backupOfANonASCIIHardLink(_ label: String, _ second: String) async throws {
        let dir = try tempDir("rt-hl-w")
        defer { try? FileManager.default.removeItem(at: dir) }
        let tree = dir.appendingPathComponent("tree")
        try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
        let first = tree.appendingPathComponent("\u{e9}t\u{e9}")
        try Data("shared".utf8).write(to: first)
        #expect(link(first.path, tree.appendingPathComponent(second).path) == 0)
        let server = FakeSnapshotServer()
        let (made, _) = try await run(BackupCreateHandler(settings: settings),
                                      .object(["scope": .string("paths"), "paths": .array([.string(tree.path)])]), server)
        let id = try #require(made.result?["snapshot"]?.stringValue)
        let target = dir.appendingPathComponent("restored")
        _ = try await run(BackupRestoreHandler(settings: settings), .object(["snapshot": .string(id), "restoreTo": .string(target.path)]),
                          server, jobID: 2)
        var a = stat(), b = stat()
        let r = target.appendingPathComponent(String(tree.path.dropFirst()))
        #expect(lstat(r.appendingPathComponent(second).path, &b) == 0 && lstat(r.appendingPathComponent("\u{e9}t\u{e9}").path, &a) == 0 && a.st_ino == b.st_ino, "\(label)")
    }
}
