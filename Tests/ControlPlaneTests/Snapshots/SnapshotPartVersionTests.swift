import BalctlProtocol
@testable import ControlPlane
import Crypto
import Foundation
import SQLEngine
import Testing
import TestSupport

/// Each upload of a part is stored under a name of its own; the catalog says which is the part
/// (issue 14's red-team leftover: a late PUT racing the commit overwrote committed bytes, and
/// the snapshot failed its hash check at restore time — a backup lost after it was reported
/// complete).
@Suite("Backups: part versions", .storeEngines)
struct SnapshotPartVersionTests {
    typealias Rig = BackupCatalogTests.Rig

    /// Holds the first PUT of `holdSize` bytes at the door until `open()`.
    final class HeldPutStore: SnapshotStore, Sendable {
        let inner: any SnapshotStore
        let holdSize: Int
        let reached: AsyncStream<Void>
        let reachedSignal: AsyncStream<Void>.Continuation
        let door: AsyncStream<Void>
        let doorSignal: AsyncStream<Void>.Continuation
        init(_ inner: any SnapshotStore, holdSize: Int) {
            self.inner = inner; self.holdSize = holdSize
            (reached, reachedSignal) = AsyncStream.makeStream(of: Void.self)
            (door, doorSignal) = AsyncStream.makeStream(of: Void.self)
        }
        var description: String { inner.description }
        func put(_ object: SnapshotObject, at location: SnapshotLocation, bytes: [UInt8]) async throws(SnapshotStoreError) {
            if bytes.count == holdSize {
                reachedSignal.yield()
                var it = door.makeAsyncIterator()
                _ = await it.next()
            }
            try await inner.put(object, at: location, bytes: bytes)
        }
        func get(_ object: SnapshotObject, at location: SnapshotLocation) async throws(SnapshotStoreError) -> [UInt8] {
            try await inner.get(object, at: location)
        }
        func delete(_ object: SnapshotObject, at location: SnapshotLocation) async throws(SnapshotStoreError) {
            try await inner.delete(object, at: location)
        }
        func deleteAll(at location: SnapshotLocation) async throws(SnapshotStoreError) { try await inner.deleteAll(at: location) }
        func waitReached() async { var it = reached.makeAsyncIterator(); _ = await it.next() }
        func open() { doorSignal.yield() }
    }

    static func files(_ r: Rig, _ id: String) throws -> [String] {
        let dir = r.f.dir.appendingPathComponent("snapshots/\(r.f.admin.accountID)/\(r.member.member.id)/\(id)").path
        return try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
    }

    @Test("a part PUT that loses the race with the commit cannot change the committed snapshot, and its bytes are removed")
    func latePutCannotOverwrite() async throws {
        let late = Array("late bytes from a stale attempt".utf8)
        var held: HeldPutStore?
        let r = try await Rig { fs in let h = HeldPutStore(fs, holdSize: late.count); held = h; return h }
        let door = try #require(held)
        let job = try await r.runningBackup()
        let begun = try await r.backups.begin(SnapshotBeginRequest(jobId: job.id, attempt: job.attempt, scope: "paths"), member: r.agent)
        let id = begun.snapshotId
        let good = Array("the committed data part".utf8)
        let d = try await r.backups.putPart(id, kind: "data", index: 0, bytes: good, sha256: r.part(good).sha256, member: r.agent)
        let m = try await r.backups.putPart(id, kind: "manifest", index: 0, bytes: [123, 125], sha256: r.part([123, 125]).sha256, member: r.agent)

        // The late PUT passes the "still uploading" check, then waits at the store's door…
        let backups = r.backups, agent = r.agent
        let latePut = Task { try await backups.putPart(id, kind: "data", index: 0, bytes: late, sha256: r.part(late).sha256, member: agent) }
        await door.waitReached()
        // …while the snapshot is committed with the good part.
        let done = try await r.backups.commit(id, SnapshotCommitRequest(jobId: job.id, attempt: job.attempt, data: [d], manifest: [m],
                                                                        entries: 1, sourceBytes: Int64(good.count)), member: r.agent)
        #expect(done.state == "complete")
        door.open()
        let refused = await cpError { _ = try await latePut.value }
        #expect(refused?.kind == .conflict, "\(String(describing: refused))")

        // The snapshot still reads back what was committed, and only its two parts are stored.
        #expect(try await r.backups.agentPart(id, kind: "data", index: 0, member: r.agent) == good)
        let names = try Self.files(r, id)
        #expect(names.count == 2 && names.allSatisfy { $0.hasPrefix("data-000000.") || $0.hasPrefix("manifest-000000.") }, "\(names)")
    }

    @Test("a retried part replaces the earlier upload (its object removed); parts past the committed list leave the store at commit")
    func retriesAndUnlistedParts() async throws {
        let r = try await Rig()
        let job = try await r.runningBackup()
        let id = try await r.backups.begin(SnapshotBeginRequest(jobId: job.id, attempt: job.attempt, scope: "paths"), member: r.agent).snapshotId
        let first = Array("first try".utf8), second = Array("second try!".utf8), extra = Array("an extra part".utf8)
        _ = try await r.backups.putPart(id, kind: "data", index: 0, bytes: first, sha256: r.part(first).sha256, member: r.agent)
        let d = try await r.backups.putPart(id, kind: "data", index: 0, bytes: second, sha256: r.part(second).sha256, member: r.agent)
        _ = try await r.backups.putPart(id, kind: "data", index: 1, bytes: extra, sha256: r.part(extra, 1).sha256, member: r.agent)
        let m = try await r.backups.putPart(id, kind: "manifest", index: 0, bytes: [1], sha256: r.part([1]).sha256, member: r.agent)
        #expect(try Self.files(r, id).filter { $0.hasPrefix("data-000000.") }.count == 1, "the first try's object was removed")
        _ = try await r.backups.commit(id, SnapshotCommitRequest(jobId: job.id, attempt: job.attempt, data: [d], manifest: [m],
                                                                 entries: 1, sourceBytes: 11), member: r.agent)
        let names = try Self.files(r, id)
        #expect(!names.contains { $0.hasPrefix("data-000001") }, "the unlisted part's object left with its catalog row: \(names)")
        #expect(try await r.backups.agentPart(id, kind: "data", index: 0, member: r.agent) == second)
        let missing = await cpError { _ = try await r.backups.agentPart(id, kind: "data", index: 1, member: r.agent) }
        #expect(missing?.kind == .notFound)
    }

    @Test("a part stored before versions existed (catalog version '', bare object name) still reads back")
    func legacyBareNames() async throws {
        let r = try await Rig()
        let id = try await r.snapshot(Array("legacy".utf8))
        let dir = r.f.dir.appendingPathComponent("snapshots/\(r.f.admin.accountID)/\(r.member.member.id)/\(id)")
        let versioned = try #require(try Self.files(r, id).first { $0.hasPrefix("data-000000.") })
        try FileManager.default.moveItem(at: dir.appendingPathComponent(versioned), to: dir.appendingPathComponent("data-000000"))
        try await r.f.store.db.write { db in
            try db.execute(sql: "UPDATE snapshot_parts SET version = '' WHERE snapshot_id = ? AND kind = 'data'", arguments: [id])
        }
        #expect(try await r.backups.agentPart(id, kind: "data", index: 0, member: r.agent) == Array("legacy".utf8))
    }

    @Test("object names: bare for '', name.version otherwise; versions are lowercase hex")
    func names() {
        #expect(SnapshotObject.part(kind: "data", index: 3, version: "").name == "data-000003")
        #expect(SnapshotObject.part(kind: "manifest", index: 12, version: "0a1b").name == "manifest-000012.0a1b")
        let v = SnapshotObject.newVersion()
        #expect(v.count == 16 && SnapshotObject.isValidVersion(v))
        #expect(v != SnapshotObject.newVersion())
        for bad in ["", "../x", "ABCD", "0a/1b", String(repeating: "a", count: 33)] { #expect(!SnapshotObject.isValidVersion(bad), "\(bad)") }
        #expect(Backups.object(kind: "data", index: 0, version: "../../etc") == nil)
    }
}
