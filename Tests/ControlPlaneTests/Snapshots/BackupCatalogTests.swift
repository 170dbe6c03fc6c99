import BalctlProtocol
@testable import ControlPlane
import Crypto
import Foundation
import NIOCore
import SQLEngine
import Testing
import TestSupport

/// The snapshot catalog on both engines: the agent's begin/part/commit protocol, quota,
/// retention, the reaper and who may read what. (Routes and real agents: BackupEndToEndTests.)
@Suite("Backups: snapshot catalog", .storeEngines)
struct BackupCatalogTests {
    static let commands = ["host.echo", "backup.create", "backup.restore", "standby.provision_from_backup"]

    struct Rig {
        let f: Fixture
        let backups: Backups
        let member: MemberEnrollment
        var agent: AgentIdentity { AgentIdentity(memberID: member.member.id, hostname: member.member.hostname) }

        /// `wrap` puts a test double in front of the filesystem store (e.g. one that holds a PUT).
        init(wrap: (FilesystemSnapshotStore) -> any SnapshotStore = { $0 }) async throws {
            f = try await Fixture()
            backups = Backups(store: f.store, objects: wrap(try FilesystemSnapshotStore(root: f.dir.appendingPathComponent("snapshots").path)))
            member = try await f.member().enrollment
            try await f.beat(member, commands: BackupCatalogTests.commands)
        }

        /// A running backup.create job of `member` (claimed by a heartbeat).
        func runningBackup(_ e: MemberEnrollment? = nil, maxAttempts: Int? = nil) async throws -> ClaimedJob {
            let e = e ?? member
            let job = try await f.enqueue(e.member.id, "backup.create", .object(["scope": .string("paths"), "paths": .array([.string("/srv")])]),
                                          maxAttempts: maxAttempts)
            let claimed = try await f.beat(e, commands: BackupCatalogTests.commands).jobs
            return try #require(claimed.first { $0.id == job.id })
        }

        func part(_ bytes: [UInt8], _ index: Int = 0) -> SnapshotPart {
            SnapshotPart(index: index, size: Int64(bytes.count), sha256: SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined())
        }

        /// begin, one data and one manifest part, commit.
        func snapshot(_ data: [UInt8] = Array("data".utf8)) async throws -> String {
            let job = try await runningBackup()
            let begun = try await backups.begin(SnapshotBeginRequest(jobId: job.id, attempt: job.attempt, scope: "paths"), member: agent)
            let d = try await backups.putPart(begun.snapshotId, kind: "data", index: 0, bytes: data, sha256: part(data).sha256, member: agent)
            let m = try await backups.putPart(begun.snapshotId, kind: "manifest", index: 0, bytes: [123, 125, 10], sha256: part([123, 125, 10]).sha256, member: agent)
            _ = try await backups.commit(begun.snapshotId, SnapshotCommitRequest(jobId: job.id, attempt: job.attempt, data: [d], manifest: [m], entries: 1, sourceBytes: 4), member: agent)
            return begun.snapshotId
        }
    }

    @Test("a part streamed in chunks without a hash header is stored and answered with its size and hash; a wrong header, an empty part or one past the limit leaves nothing in the store")
    func streamedParts() async throws {
        let r = try await Rig()
        let job = try await r.runningBackup()
        let begun = try await r.backups.begin(SnapshotBeginRequest(jobId: job.id, attempt: job.attempt, scope: "paths"), member: r.agent)
        let account = try #require(try await r.f.store.db.read { try Int64.fetchOne($0, sql: "SELECT account_id FROM snapshots WHERE id = ?", arguments: [begun.snapshotId]) })
        let dir = r.f.dir.appendingPathComponent("snapshots/\(account)/\(r.member.member.id)/\(begun.snapshotId)").path
        func stored() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() }
        /// `total` bytes in chunks of 3 MiB and odd sizes (crossing the store's 2 MiB batches).
        func chunks(_ total: Int) -> () async throws -> ByteBuffer? {
            var sent = 0
            var sizes = [1, 65_536, 3 << 20, 12_345].makeIterator()
            return {
                guard sent < total else { return nil }
                let n = min(total - sent, sizes.next() ?? (3 << 20))
                defer { sent += n }
                return ByteBuffer(bytes: (sent..<(sent + n)).map { UInt8(truncatingIfNeeded: $0 &* 7) })
            }
        }
        let total = 7 << 20 + 99
        let expected = r.part((0..<total).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let next = chunks(total)
        let p0 = try await r.backups.putPart(begun.snapshotId, kind: "data", index: 0, sha256: nil, member: r.agent, chunks: { try await next() })
        #expect(p0 == expected)
        #expect(stored().count == 1)
        let object = try #require(stored().first)
        let onDisk = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/" + object)))
        #expect(onDisk.count == total && r.part(onDisk) == expected)

        // Refused: nothing catalogued, no file left behind.
        let wrong = chunks(1000)
        let bad = await cpError { _ = try await r.backups.putPart(begun.snapshotId, kind: "data", index: 1, sha256: String(repeating: "a", count: 64), member: r.agent, chunks: { try await wrong() }) }
        #expect(bad?.kind == .badRequest && bad?.message.contains("does not match") == true)
        let empty = await cpError { _ = try await r.backups.putPart(begun.snapshotId, kind: "data", index: 1, sha256: nil, member: r.agent, chunks: { nil }) }
        #expect(empty?.kind == .badRequest)
        let notHex = await cpError { _ = try await r.backups.putPart(begun.snapshotId, kind: "data", index: 1, sha256: "../x", member: r.agent, chunks: { nil }) }
        #expect(notHex?.kind == .badRequest)
        let tooBig = chunks(SnapshotWire.maxPartBytes + 1)
        let big = await cpError { _ = try await r.backups.putPart(begun.snapshotId, kind: "data", index: 1, sha256: nil, member: r.agent, chunks: { try await tooBig() }) }
        #expect(big?.kind == .payloadTooLarge)
        #expect(stored() == [object])
        let again = try await r.backups.begin(SnapshotBeginRequest(jobId: job.id, attempt: job.attempt, scope: "paths"), member: r.agent)
        #expect(again.data == [p0])
    }

    @Test("which commands may upload or read snapshots comes from the plugins' declarations")
    func snapshotCommandsFromTheCatalogue() {
        #expect(Backups.createCommands == ["backup.create", "ols.backup"])
        #expect(Backups.restoreCommands == ["backup.restore", "ols.vhost_restore", "standby.provision_from_backup"])
        #expect(Backups.sqlList(Backups.restoreCommands) == "'backup.restore', 'ols.vhost_restore', 'standby.provision_from_backup'")
    }

    @Test("begin, parts and commit; the same job resumes its snapshot; a wrong hash or a commit of parts not stored is refused")
    func uploadProtocol() async throws {
        let r = try await Rig()
        let job = try await r.runningBackup()
        let begun = try await r.backups.begin(SnapshotBeginRequest(jobId: job.id, attempt: job.attempt, scope: "paths"), member: r.agent)
        #expect(begun.data.isEmpty && begun.manifest.isEmpty)
        let bytes = Array(repeating: UInt8(7), count: 1000)
        let bad = await cpError { _ = try await r.backups.putPart(begun.snapshotId, kind: "data", index: 0, bytes: bytes, sha256: String(repeating: "0", count: 64), member: r.agent) }
        #expect(bad?.kind == .badRequest && bad?.message.contains("does not match") == true)
        let p0 = try await r.backups.putPart(begun.snapshotId, kind: "data", index: 0, bytes: bytes, sha256: r.part(bytes).sha256, member: r.agent)
        // A retried begin (the next attempt) gets the same snapshot and what it holds.
        let again = try await r.backups.begin(SnapshotBeginRequest(jobId: job.id, attempt: job.attempt, scope: "paths"), member: r.agent)
        #expect(again.snapshotId == begun.snapshotId && again.data == [p0])
        let unstored = await cpError {
            _ = try await r.backups.commit(begun.snapshotId, SnapshotCommitRequest(jobId: job.id, attempt: job.attempt, data: [p0], manifest: [r.part([1], 0)], entries: 1, sourceBytes: 1), member: r.agent)
        }
        #expect(unstored?.kind == .conflict)
        let m0 = try await r.backups.putPart(begun.snapshotId, kind: "manifest", index: 0, bytes: [1], sha256: r.part([1]).sha256, member: r.agent)
        let view = try await r.backups.commit(begun.snapshotId, SnapshotCommitRequest(jobId: job.id, attempt: job.attempt, data: [p0], manifest: [m0], entries: 1, sourceBytes: 1000), member: r.agent)
        #expect(view.state == "complete" && view.bytes == 1001 && view.entries == 1 && view.sourceBytes == 1000)
        let listed = try await r.backups.list(member: r.member.member.id, by: r.f.admin)
        #expect(listed.map(\.id) == [begun.snapshotId])
        let committed = await cpError { _ = try await r.backups.begin(SnapshotBeginRequest(jobId: job.id, attempt: job.attempt, scope: "paths"), member: r.agent) }
        #expect(committed?.kind == .conflict)
        let quota = try await r.backups.quota(account: nil, by: r.f.admin)
        #expect(quota.usedBytes == 1001 && quota.quotaBytes == nil)
    }

    @Test("another member reads a snapshot only with a running restore job naming it; another account never (403), and cannot name it in a job")
    func whoReadsWhat() async throws {
        let r = try await Rig()
        let id = try await r.snapshot()
        let other = try await r.f.member(hostname: "web-2").enrollment
        try await r.f.beat(other, commands: Self.commands)
        let otherAgent = AgentIdentity(memberID: other.member.id, hostname: other.member.hostname)
        let before = await cpError { _ = try await r.backups.agentInfo(id, member: otherAgent) }
        #expect(before?.kind == .forbidden)
        _ = try await r.f.enqueue(other.member.id, "backup.restore", .object(["snapshot": .string(id)]))
        _ = try await r.f.beat(other, commands: Self.commands)
        let info = try await r.backups.agentInfo(id, member: otherAgent)
        #expect(info.data.count == 1 && info.manifest.count == 1)
        #expect(try await r.backups.agentPart(id, kind: "data", index: 0, member: otherAgent) == Array("data".utf8))

        let tenant = try await r.f.otherOperator()
        let theirs = try await r.f.member(pool: "t", hostname: "t-1", by: tenant).enrollment
        try await r.f.beat(theirs, commands: Self.commands)
        let named = await cpError { _ = try await r.f.enqueue(theirs.member.id, "backup.restore", .object(["snapshot": .string(id)]), by: tenant) }
        #expect(named?.kind == .forbidden && named?.message.contains("restores never cross accounts") == true)
        let read = await cpError { _ = try await r.backups.agentInfo(id, member: AgentIdentity(memberID: theirs.member.id, hostname: "t-1")) }
        #expect(read?.kind == .forbidden)
        let shown = await cpError { _ = try await r.backups.show(id, by: tenant) }
        #expect(shown?.kind == .notFound)
        let deleted = await cpError { try await r.backups.delete(id, by: tenant) }
        #expect(deleted?.kind == .notFound)
    }

    @Test("retention keeps the last N (and the young); the quota refuses a part past it with 507; the reaper fails abandoned uploads")
    func retentionQuotaReaper() async throws {
        let r = try await Rig()
        let first = try await r.snapshot()
        _ = try await r.backups.setPolicy(member: r.member.member.id, BackupPolicyView(keepLast: 2), by: r.f.admin)
        let second = try await r.snapshot()
        let third = try await r.snapshot()
        #expect(try await r.backups.list(member: r.member.member.id, by: r.f.admin).map(\.id) == [third, second])
        let gone = await cpError { _ = try await r.backups.show(first, by: r.f.admin) }
        #expect(gone?.kind == .notFound)
        // keepDays keeps young snapshots beyond keepLast.
        _ = try await r.backups.setPolicy(member: r.member.member.id, BackupPolicyView(keepLast: 1, keepDays: 1), by: r.f.admin)
        #expect(try await r.backups.list(member: r.member.member.id, by: r.f.admin).count == 2)

        let used = try await r.backups.quota(account: nil, by: r.f.admin).usedBytes
        _ = try await r.backups.setQuota(account: r.f.admin.accountID, SetBackupQuotaRequest(quotaBytes: used + 5), by: r.f.admin)
        let tenant = try await r.f.otherOperator()
        let notAdmin = await cpError { _ = try await r.backups.setQuota(account: tenant.accountID, SetBackupQuotaRequest(quotaBytes: 1), by: tenant) }
        #expect(notAdmin?.kind == .forbidden)
        let job = try await r.runningBackup(maxAttempts: 1)
        let begun = try await r.backups.begin(SnapshotBeginRequest(jobId: job.id, attempt: job.attempt, scope: "paths"), member: r.agent)
        let big = Array(repeating: UInt8(1), count: 100)
        let refused = await cpError { _ = try await r.backups.putPart(begun.snapshotId, kind: "data", index: 0, bytes: big, sha256: r.part(big).sha256, member: r.agent) }
        #expect(refused?.kind == .insufficientStorage && refused?.message.contains("backup quota exceeded") == true, "\(String(describing: refused))")
        // The job fails; the sweeper's reaper marks the upload failed.
        _ = try await r.f.store.recordCompletion(r.f.completion(job, .failed, error: refused?.message), member: r.member.member.id)
        #expect(try await r.backups.reapAbandoned() == 1)
        let failed = try await r.backups.show(begun.snapshotId, by: r.f.admin)
        #expect(failed.state == "failed" && failed.bytes == 0 && failed.error?.contains("backup quota exceeded") == true)
        #expect(try await r.backups.reapAbandoned() == 0)
    }
}
