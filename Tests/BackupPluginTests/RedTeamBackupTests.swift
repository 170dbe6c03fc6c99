import AgentKernel
import BalctlProtocol
import Foundation
import Testing
import TestSupport
@testable import BackupPlugin

/// Red-team findings against the backup plugin (root side). Every test asserts the SAFE
/// behaviour; see the report for which ones failed before the fixes beside them.
@Suite(.serialized)
struct RedTeamBackupTests {
    let settings = BackupSettings(stateDir: NSTemporaryDirectory() + "balctl-backup-state")
    /// A uid that is not root: "the unprivileged user" who owns a directory.
    static let mallory: uid_t = 4321

    func plantedSnapshot(_ server: FakeSnapshotServer, _ build: (TarBuilder) -> Void) -> String {
        let b = TarBuilder()
        build(b)
        let data = b.finish()
        return server.plant(scope: "paths", data: data, manifest: b.manifest)
    }

    func restore(_ id: String, _ server: FakeSnapshotServer, restoreTo: String, checkMode: Bool = false) async -> String? {
        do {
            _ = try await run(BackupRestoreHandler(settings: settings),
                              .object(["snapshot": .string(id), "restoreTo": .string(restoreTo)]), server, jobID: 9, checkMode: checkMode)
            return nil
        } catch let e as JobFailure { return e.message } catch { return "\(error)" }
    }

    // MARK: restoreTo in a place an unprivileged user controls

    /// `restoreTo` naming an existing, empty directory owned by another user: root would unpack
    /// into a directory whose owner can rename and plant symlinks in it while libarchive writes by
    /// path (its SECURE_SYMLINKS check and the open that follows are not atomic), and the failure
    /// clean-up re-opens it by path. Safe: refused before anything is written.
    @Test func restoreToOwnedByAnotherUserIsRefused() async throws {
        let jail = try tempDir("rt-jail")
        defer { try? FileManager.default.removeItem(at: jail) }
        let staging = jail.appendingPathComponent("staging")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: false)
        chown(staging.path, Self.mallory, Self.mallory)
        let server = FakeSnapshotServer()
        let id = plantedSnapshot(server) { $0.add("f", .file, content: Array("x".utf8)) }
        let error = await restore(id, server, restoreTo: staging.path)
        #expect(error?.contains("restoreTo") == true, "\(error ?? "restored into a directory another user owns")")
        #expect(try FileManager.default.contentsOfDirectory(atPath: staging.path) == [])
    }

    /// `restoreTo` below a directory an unprivileged user may write (here: owned by them): they
    /// can swap the (root-made) restoreTo for a symlink between root's checks and its writes.
    @Test func restoreToBelowAUserWritableDirectoryIsRefused() async throws {
        let jail = try tempDir("rt-jail")
        defer { try? FileManager.default.removeItem(at: jail) }
        let home = jail.appendingPathComponent("home-mallory")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: false)
        chown(home.path, Self.mallory, Self.mallory)
        let server = FakeSnapshotServer()
        let id = plantedSnapshot(server) { $0.add("f", .file, content: Array("x".utf8)) }
        let error = await restore(id, server, restoreTo: home.appendingPathComponent("restore").path)
        #expect(error?.contains("restoreTo") == true, "\(error ?? "restored below a directory another user owns")")
        #expect(try FileManager.default.contentsOfDirectory(atPath: home.path) == [])
        // World-writable without the sticky bit: the same.
        let open = jail.appendingPathComponent("open")
        try FileManager.default.createDirectory(at: open, withIntermediateDirectories: false)
        chmod(open.path, 0o777)
        let error2 = await restore(id, server, restoreTo: open.appendingPathComponent("restore").path)
        #expect(error2?.contains("restoreTo") == true, "\(error2 ?? "restored below a world-writable directory")")
    }

    /// A symlink on the way to `restoreTo` (only its last component was checked): refused.
    @Test func restoreToThroughASymlinkedParentIsRefused() async throws {
        let jail = try tempDir("rt-jail")
        defer { try? FileManager.default.removeItem(at: jail) }
        let victim = jail.appendingPathComponent("victim")
        try FileManager.default.createDirectory(at: victim, withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: jail.appendingPathComponent("link").path, withDestinationPath: victim.path)
        let server = FakeSnapshotServer()
        let id = plantedSnapshot(server) { $0.add("f", .file, content: Array("x".utf8)) }
        let error = await restore(id, server, restoreTo: jail.appendingPathComponent("link/restore").path)
        #expect(error?.contains("restoreTo") == true, "\(error ?? "restored through a symlinked parent")")
        #expect(try FileManager.default.contentsOfDirectory(atPath: victim.path) == [])
    }

    /// The real race: the owner of restoreTo flips `d` between a directory and a symlink to a
    /// victim directory while root unpacks `d/…`. Any file landing in the victim is a root write
    /// outside the restore root. Safe: never (once fixed, the restore is refused up front).
    @Test(.timeLimit(.minutes(2))) func racingTheOwnerOfRestoreToNeverWritesOutside() async throws {
        let jail = try tempDir("rt-jail")
        defer { try? FileManager.default.removeItem(at: jail) }
        let victim = jail.appendingPathComponent("victim")
        try FileManager.default.createDirectory(at: victim, withIntermediateDirectories: false)
        let staging = jail.appendingPathComponent("staging")
        let server = FakeSnapshotServer()
        let id = plantedSnapshot(server) { b in
            b.add("d/", .dir, mode: 0o755)
            for i in 0..<400 { b.add("d/f\(i)", .file, content: Array("pwned \(i)\n".utf8)) }
        }
        let stop = Locked(false)
        let d = staging.appendingPathComponent("d").path, dx = staging.appendingPathComponent("dx").path
        let attacker = Thread {
            // What the directory's owner can do: rename inside it, make symlinks in it.
            while !stop.value {
                if rename(d, dx) == 0 {
                    symlink(victim.path, d)
                    for _ in 0..<50 { if stop.value { break } }
                    unlink(d)
                    rename(dx, d)
                }
            }
        }
        let deadline = Date().addingTimeInterval(30)
        attacker.start()
        defer { stop.withLock { $0 = true } }
        var escaped: [String] = []
        var attempts = 0
        while Date() < deadline && escaped.isEmpty {
            attempts += 1
            try? FileManager.default.removeItem(at: staging)
            try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: false)
            chown(staging.path, Self.mallory, Self.mallory)
            let error = await restore(id, server, restoreTo: staging.path)
            escaped = try FileManager.default.contentsOfDirectory(atPath: victim.path)
            // Refused before anything is unpacked: there is nothing to race.
            if error?.contains("restoreTo \(staging.path) refused") == true { break }
        }
        stop.withLock { $0 = true }
        #expect(escaped == [], "after \(attempts) restores, root wrote \(escaped.count) files outside restoreTo: \(escaped.prefix(5))")
    }

    // MARK: check mode reads live files named by a hostile manifest

    /// Check mode compares the manifest with the live files without the extractor's checks: a
    /// `..` name (or a live symlink on the way) makes root lstat and hash any file and report
    /// whether it matches. Safe: the manifest's names are policed like the archive's.
    @Test func checkModeRefusesDotDotNamesInTheManifest() async throws {
        let jail = try tempDir("rt-jail")
        defer { try? FileManager.default.removeItem(at: jail) }
        let secret = Array("root:$6$secret:19000:0:99999:7:::\n".utf8)
        try Data(secret).write(to: jail.appendingPathComponent("shadow"))
        let live = jail.appendingPathComponent("live")
        try FileManager.default.createDirectory(at: live, withIntermediateDirectories: false)
        let server = FakeSnapshotServer()
        let b = TarBuilder()
        b.add("../shadow", .file, content: secret)  // the guess being confirmed
        let id = server.plant(scope: "paths", data: b.finish(), manifest: b.manifest)
        let error = await restore(id, server, restoreTo: live.path, checkMode: true)
        #expect(error?.contains("snapshot refused") == true, "\(error ?? "check mode compared a file outside the restore root")")
    }

    @Test func checkModeDoesNotFollowALiveSymlinkOnTheWay() async throws {
        let jail = try tempDir("rt-jail")
        defer { try? FileManager.default.removeItem(at: jail) }
        let secret = Array("secret\n".utf8)
        let elsewhere = jail.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: false)
        try Data(secret).write(to: elsewhere.appendingPathComponent("key"))
        let live = jail.appendingPathComponent("live")
        try FileManager.default.createDirectory(at: live, withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: live.appendingPathComponent("l").path, withDestinationPath: elsewhere.path)
        let server = FakeSnapshotServer()
        let b = TarBuilder()
        b.add("l/key", .file, content: secret)
        let id = server.plant(scope: "paths", data: b.finish(), manifest: b.manifest)
        do {
            let (o, _) = try await run(BackupRestoreHandler(settings: settings),
                                       .object(["snapshot": .string(id), "restoreTo": .string(live.path)]), server, jobID: 9, checkMode: true)
            // Reported as a change (the restore would refuse the link), never as "unchanged".
            #expect(o.changed, "check mode followed the live symlink l -> \(elsewhere.path): \(o.summary)")
        } catch {
            #expect(Bool(true))
        }
    }
}
