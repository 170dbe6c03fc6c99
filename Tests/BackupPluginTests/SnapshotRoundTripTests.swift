import AgentKernel
import BalctlProtocol
import Foundation
import Testing
import TestSupport
@testable import BackupPlugin

/// backup.create and backup.restore through the plugin's own code against an in-memory control
/// plane: round trip, resume, tamper, check mode. (The real server, store and agent process are
/// in EndToEndTests/BackupEndToEndTests.)
@Suite(.serialized)
struct SnapshotRoundTripTests {
    let settings: BackupSettings = {
        var s = BackupSettings(stateDir: NSTemporaryDirectory() + "balctl-backup-state", partBytes: 1 << 20)
        s.retryWindowSec = 1
        return s
    }()

    func makeTree(_ root: URL) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: root.appendingPathComponent("sub/empty"), withIntermediateDirectories: true)
        try Data("secret".utf8).write(to: root.appendingPathComponent("private.key"))
        chmod(root.appendingPathComponent("private.key").path, 0o600)
        var rng = SplitMix64(seed: 1)
        try Data((0..<3_000_000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }).write(to: root.appendingPathComponent("sub/random.bin"))
        try Data("#!/bin/sh\n".utf8).write(to: root.appendingPathComponent("sub/tool"))
        // chown first: it clears setuid bits.
        chown(root.appendingPathComponent("sub/tool").path, 1000, 1000)
        chmod(root.appendingPathComponent("sub/tool").path, 0o4755)
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("link").path, withDestinationPath: "sub/tool")
        for i in 0..<200 { try Data("file \(i)\n".utf8).write(to: root.appendingPathComponent("sub/f\(i).txt")) }
    }

    /// A temp dir with the tree in it, a fake control plane, and a snapshot of the tree on it.
    func snapshotOfTree(partMiB: Int? = nil) async throws -> (dir: URL, tree: URL, server: FakeSnapshotServer, id: String) {
        let dir = try tempDir()
        let tree = dir.appendingPathComponent("tree")
        try makeTree(tree)
        let server = FakeSnapshotServer()
        var params: [String: JSONValue] = ["scope": .string("paths"), "paths": .array([.string(tree.path)])]
        if let partMiB { params["partMiB"] = .number(Double(partMiB)) }
        let (o, _) = try await run(BackupCreateHandler(settings: settings), .object(params), server)
        let id = try #require(o.result?["snapshot"]?.stringValue)
        return (dir, tree, server, id)
    }

    @Test func treeRoundTripsAndAResumeSkipsStoredParts() async throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tree = dir.appendingPathComponent("tree")
        try makeTree(tree)
        let server = FakeSnapshotServer()
        // Attempt 1 loses its connection for good from the third part upload on.
        server.failUploadNumber = 3
        let params: JSONValue = .object(["scope": .string("paths"), "paths": .array([.string(tree.path)]), "partMiB": .number(1)])
        await #expect(throws: (any Error).self) { try await run(BackupCreateHandler(settings: settings), params, server, attempt: 1) }
        // Tries of the third part: the first and its retries within the window.
        #expect(server.uploads.filter { $0 == "data/2" }.count >= 3)
        let sentBefore = server.uploads.count
        server.failUploadNumber = nil
        let (outcome, _) = try await run(BackupCreateHandler(settings: settings), params, server, attempt: 2)
        guard case .object(let r)? = outcome.result, case .string(let id)? = r["snapshot"],
              case .number(let skipped)? = r["partsSkipped"], case .number(let uploaded)? = r["partsUploaded"] else {
            Issue.record("no result: \(String(describing: outcome.result))"); return
        }
        // The two parts stored before the cut were not sent again.
        #expect(skipped == 2)
        #expect(server.uploads.count == sentBefore + Int(uploaded))
        #expect(server.uploads.filter { $0 == "data/0" }.count == 1)

        let target = dir.appendingPathComponent("restored")
        let (restored, _) = try await run(BackupRestoreHandler(settings: settings),
                                          .object(["snapshot": .string(id), "restoreTo": .string(target.path), "keepSetuid": .bool(true)]),
                                          server, jobID: 2)
        #expect(restored.changed)
        try expectSameTree(tree, target.appendingPathComponent(String(tree.path.dropFirst())))
    }

    @Test func aBrokenConnectionIsRetriedWithinTheAttempt() async throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tree = dir.appendingPathComponent("tree")
        try makeTree(tree)
        let server = FakeSnapshotServer()
        server.failUploadNumber = 2
        server.failUploads = 2
        var patient = settings
        patient.retryWindowSec = 30
        let (outcome, _) = try await run(BackupCreateHandler(settings: patient),
                                         .object(["scope": .string("paths"), "paths": .array([.string(tree.path)]), "partMiB": .number(1)]), server)
        #expect(outcome.changed)
        #expect(server.uploads.filter { $0 == "data/1" }.count == 3)
        #expect(server.uploads.filter { $0 == "data/0" }.count == 1)
    }

    @Test func aControlPlaneThatWantsTheHashHeaderGetsEveryDataPartWhole() async throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tree = dir.appendingPathComponent("tree")
        try makeTree(tree)
        let server = FakeSnapshotServer()
        server.requireHashHeader = true
        let (outcome, _) = try await run(BackupCreateHandler(settings: settings),
                                         .object(["scope": .string("paths"), "paths": .array([.string(tree.path)]), "partMiB": .number(1)]), server)
        let id = try #require(outcome.result?["snapshot"]?.stringValue)
        let dataParts = try #require(server.snapshots[id]?.committed["data"]).count
        #expect(dataParts >= 2)
        // Each data part: the streamed try (refused for want of the header), then the whole part.
        for i in 0..<dataParts { #expect(server.uploads.filter { $0 == "data/\(i)" }.count == 2, "data/\(i)") }
        #expect(server.uploads.filter { $0.hasPrefix("manifest/") }.allSatisfy { m in server.uploads.filter { $0 == m }.count == 1 })
        let target = dir.appendingPathComponent("restored")
        _ = try await run(BackupRestoreHandler(settings: settings),
                          .object(["snapshot": .string(id), "restoreTo": .string(target.path), "keepSetuid": .bool(true)]), server, jobID: 2)
        try expectSameTree(tree, target.appendingPathComponent(String(tree.path.dropFirst())))
    }

    @Test func setuidIsStrippedUnlessAskedFor() async throws {
        let (dir, tree, server, id) = try await snapshotOfTree()
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("restored")
        let (_, out) = try await run(BackupRestoreHandler(settings: settings), .object(["snapshot": .string(id), "restoreTo": .string(target.path)]), server, jobID: 2)
        let tool = target.path + tree.path + "/sub/tool"
        var st = stat()
        #expect(lstat(tool, &st) == 0)
        #expect(st.st_mode & 0o7777 == 0o755)
        #expect(out.contains("setuid/setgid bits stripped: \(tree.path)/sub/tool"))
    }

    @Test func aTamperedPartIsDetectedAndNothingIsRestored() async throws {
        let (dir, tree, server, id) = try await snapshotOfTree(partMiB: 1)
        defer { try? FileManager.default.removeItem(at: dir) }
        // One byte flipped in the last data part, as if changed in the store.
        let last = server.snapshots[id]!.parts["data"]!.keys.max()!
        server.snapshots[id]!.parts["data"]![last]![100] ^= 0x01
        let target = dir.appendingPathComponent("restored")
        let error = await #expect(throws: JobFailure.self) {
            try await run(BackupRestoreHandler(settings: settings), .object(["snapshot": .string(id), "restoreTo": .string(target.path)]), server, jobID: 2)
        }
        #expect(error?.message.contains("does not match its SHA-256") == true)
        #expect((try? FileManager.default.contentsOfDirectory(atPath: target.path)) == [])
    }

    @Test func checkModeReportsTheDifferenceAndChangesNothing() async throws {
        let (dir, tree, server, id) = try await snapshotOfTree()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("changed".utf8).write(to: tree.appendingPathComponent("private.key"))
        try FileManager.default.removeItem(at: tree.appendingPathComponent("sub/f7.txt"))
        let (check, _) = try await run(BackupRestoreHandler(settings: settings), .object(["snapshot": .string(id)]), server, jobID: 2, checkMode: true)
        #expect(check.changed)
        #expect(check.summary.contains("would create 1 and replace 1"))
        #expect(String(decoding: try Data(contentsOf: tree.appendingPathComponent("private.key")), as: UTF8.self) == "changed")
        // In place: the live files come back, the untouched ones are reported unchanged, and the
        // directories above the snapshot's root keep their mode, owner and times (/tmp stays 1777).
        chmod(dir.path, 0o751)
        var tmpBefore = stat(), dirBefore = stat()
        stat("/tmp", &tmpBefore); stat(dir.path, &dirBefore)
        let (restored, _) = try await run(BackupRestoreHandler(settings: settings), .object(["snapshot": .string(id), "keepSetuid": .bool(true)]), server, jobID: 3)
        #expect(restored.summary.contains("1 replaced, 1 created"))
        #expect(String(decoding: try Data(contentsOf: tree.appendingPathComponent("private.key")), as: UTF8.self) == "secret")
        var tmpAfter = stat(), dirAfter = stat()
        stat("/tmp", &tmpAfter); stat(dir.path, &dirAfter)
        #expect(tmpAfter.st_mode == tmpBefore.st_mode && tmpAfter.st_mode & 0o7777 == 0o1777)
        #expect(dirAfter.st_mode & 0o7777 == 0o751 && dirAfter.st_mtim.tv_sec == dirBefore.st_mtim.tv_sec)
        // No keep-copies or temp files are left beside the restored files.
        #expect(try FileManager.default.contentsOfDirectory(atPath: tree.path).filter { $0.hasPrefix(".") } == [])
        let (again, _) = try await run(BackupRestoreHandler(settings: settings), .object(["snapshot": .string(id), "keepSetuid": .bool(true)]), server, jobID: 4)
        #expect(!again.changed)
    }

    func inode(_ url: URL) -> (ino: UInt64, links: UInt64) {
        var st = stat()
        guard lstat(url.path, &st) == 0 else { return (0, 0) }
        return (UInt64(st.st_ino), UInt64(st.st_nlink))
    }

    @Test func hardLinksAreStoredOnceAndComeBackAsLinks() async throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tree = dir.appendingPathComponent("tree")
        let fm = FileManager.default
        try fm.createDirectory(at: tree.appendingPathComponent("a"), withIntermediateDirectories: true)
        try fm.createDirectory(at: tree.appendingPathComponent("b"), withIntermediateDirectories: true)
        var rng = SplitMix64(seed: 7)
        let content = Data((0..<2_000_000).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        let first = tree.appendingPathComponent("a/f")
        try content.write(to: first)
        chmod(first.path, 0o640)
        for name in ["a/h", "b/g"] { try fm.linkItem(at: first, to: tree.appendingPathComponent(name)) }
        try Data("alone".utf8).write(to: tree.appendingPathComponent("b/alone"))
        #expect(inode(first).links == 3)

        let server = FakeSnapshotServer()
        let (made, _) = try await run(BackupCreateHandler(settings: settings),
                                      .object(["scope": .string("paths"), "paths": .array([.string(tree.path)])]), server)
        let id = try #require(made.result?["snapshot"]?.stringValue)
        // The 2 MB of random bytes are stored once, not three times.
        let stored = server.snapshots[id]!.parts["data"]!.values.reduce(0) { $0 + $1.count }
        #expect(stored > 2_000_000 && stored < 2_500_000, "\(stored) bytes stored")
        let manifest = server.snapshots[id]!.parts["manifest"]!.sorted { $0.key < $1.key }.flatMap(\.value)
        let entries = manifest.split(separator: 10).dropFirst().map { try! JSONDecoder().decode(SnapshotManifestEntry.self, from: Data($0)) }
        let rel = String(tree.path.dropFirst())
        let links = entries.filter { $0.type == "hardlink" }
        #expect(links.map(\.path).sorted() == ["\(rel)/a/h", "\(rel)/b/g"])
        let firstEntry = try #require(entries.first { $0.path == "\(rel)/a/f" })
        for link in links {
            #expect(link.target == firstEntry.path && link.size == 2_000_000 && link.sha256 == firstEntry.sha256 && link.mode == 0o640)
        }

        // restoreTo: the three names are one inode again, with the content and mode.
        let target = dir.appendingPathComponent("restored")
        _ = try await run(BackupRestoreHandler(settings: settings), .object(["snapshot": .string(id), "restoreTo": .string(target.path)]),
                          server, jobID: 2)
        let r = target.appendingPathComponent(rel)
        let restored = inode(r.appendingPathComponent("a/f"))
        #expect(restored.links == 3)
        for name in ["a/h", "b/g"] { #expect(inode(r.appendingPathComponent(name)).ino == restored.ino, "\(name)") }
        #expect(try Data(contentsOf: r.appendingPathComponent("b/g")) == content)
        #expect(inode(r.appendingPathComponent("b/alone")).links == 1)

        // Over the live tree: b/g broken off into a file of its own with other bytes, a/h gone.
        // Check mode names the difference; the restore makes the three names one inode again.
        try fm.removeItem(at: tree.appendingPathComponent("b/g"))
        try Data("other".utf8).write(to: tree.appendingPathComponent("b/g"))
        try fm.removeItem(at: tree.appendingPathComponent("a/h"))
        let (check, _) = try await run(BackupRestoreHandler(settings: settings), .object(["snapshot": .string(id)]), server, jobID: 3, checkMode: true)
        #expect(check.summary.contains("would create 1 and replace 1"), "\(check.summary)")
        let (live, _) = try await run(BackupRestoreHandler(settings: settings), .object(["snapshot": .string(id)]), server, jobID: 4)
        #expect(live.summary.contains("1 replaced, 1 created"), "\(live.summary)")
        let liveFirst = inode(first)
        #expect(liveFirst.links == 3)
        for name in ["a/h", "b/g"] { #expect(inode(tree.appendingPathComponent(name)).ino == liveFirst.ino, "\(name)") }
        #expect(try Data(contentsOf: tree.appendingPathComponent("b/g")) == content)
        #expect(try fm.contentsOfDirectory(atPath: tree.appendingPathComponent("b").path).filter { $0.hasPrefix(".") } == [])
        let (again, _) = try await run(BackupRestoreHandler(settings: settings), .object(["snapshot": .string(id)]), server, jobID: 5)
        #expect(!again.changed, "\(again.summary)")
    }
}
