import BalctlProtocol
@testable import ControlPlane
import Crypto
import Foundation
import SQLEngine
import Testing
import TestSupport

/// Red-team findings against the snapshot catalog (control plane). Each test asserts the SAFE
/// behaviour; the report says which failed before the fix beside them.
@Suite("Backups: red team", .storeEngines)
struct RedTeamBackupCatalogTests {
    typealias Rig = BackupCatalogTests.Rig

    /// A member's agent (its bearer secret is all it takes) sends its parts concurrently: each
    /// quota check reads the usage before any of the others is catalogued, so together they
    /// store far past the account's quota. Safe: what is stored never exceeds the quota.
    @Test("concurrent part uploads cannot store past the account's quota")
    func quotaCannotBeRacedPast() async throws {
        let r = try await Rig()
        _ = try await r.backups.setQuota(account: r.f.admin.accountID, SetBackupQuotaRequest(quotaBytes: 10_000), by: r.f.admin)
        let job = try await r.runningBackup()
        let begun = try await r.backups.begin(SnapshotBeginRequest(jobId: job.id, attempt: job.attempt, scope: "paths"), member: r.agent)
        let bytes = Array(repeating: UInt8(9), count: 4_000)
        let sha = r.part(bytes).sha256
        let backups = r.backups, agent = r.agent, id = begun.snapshotId
        let stored = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<16 {
                group.addTask { (try? await backups.putPart(id, kind: "data", index: i, bytes: bytes, sha256: sha, member: agent)) != nil }
            }
            var n = 0
            for await ok in group where ok { n += 1 }
            return n
        }
        let used = try await r.backups.quota(account: nil, by: r.f.admin).usedBytes
        #expect(used <= 10_000, "\(stored) parts of 4000 bytes were accepted: \(used) bytes stored against a 10000-byte quota")
        #expect(stored <= 2)
    }

    /// Retention runs after every commit and removes old complete snapshots, also the one an
    /// operator is restoring right now (the restore then fails half-way with "missing from the
    /// store"). Safe: a snapshot named by a pending or running restore job is kept.
    @Test("retention keeps a snapshot that a pending or running restore job names")
    func retentionSparesASnapshotBeingRestored() async throws {
        let r = try await Rig()
        let old = try await r.snapshot()
        let restore = try await r.f.enqueue(r.member.member.id, "backup.restore", .object(["snapshot": .string(old)]))
        _ = try await r.backups.setPolicy(member: r.member.member.id, BackupPolicyView(keepLast: 1), by: r.f.admin)
        // The policy alone already applies retention: only one snapshot, the newest, nothing doomed.
        _ = try await r.snapshot()
        // The restore job (still pending: the backup jobs were claimed first) must still find it.
        let info = try await r.backups.show(old, by: r.f.admin)
        #expect(info.state == "complete")
        _ = restore
    }

    /// Held: a member cannot put parts into, or commit, another member's snapshot; a part index
    /// out of range is refused.
    @Test("another member's snapshot cannot be written or committed; odd part indexes are refused")
    func otherMembersSnapshotIsNotWritable() async throws {
        let r = try await Rig()
        let job = try await r.runningBackup()
        let begun = try await r.backups.begin(SnapshotBeginRequest(jobId: job.id, attempt: job.attempt, scope: "paths"), member: r.agent)
        let other = try await r.f.member(hostname: "web-2").enrollment
        let otherAgent = AgentIdentity(memberID: other.member.id, hostname: other.member.hostname)
        let bytes: [UInt8] = [1, 2, 3]
        let put = await cpError { _ = try await r.backups.putPart(begun.snapshotId, kind: "data", index: 0, bytes: bytes, sha256: r.part(bytes).sha256, member: otherAgent) }
        #expect(put?.kind == .notFound)
        let p = try await r.backups.putPart(begun.snapshotId, kind: "data", index: 0, bytes: bytes, sha256: r.part(bytes).sha256, member: r.agent)
        let commit = await cpError {
            _ = try await r.backups.commit(begun.snapshotId, SnapshotCommitRequest(jobId: job.id, attempt: job.attempt, data: [p], manifest: [p], entries: 1, sourceBytes: 3), member: otherAgent)
        }
        #expect(commit?.kind == .notFound)
        for index in [-1, SnapshotWire.maxParts] {
            let odd = await cpError { _ = try await r.backups.putPart(begun.snapshotId, kind: "data", index: index, bytes: bytes, sha256: r.part(bytes).sha256, member: r.agent) }
            #expect(odd?.kind == .badRequest)
        }
        let kind = await cpError { _ = try await r.backups.putPart(begun.snapshotId, kind: "../x", index: 0, bytes: bytes, sha256: r.part(bytes).sha256, member: r.agent) }
        #expect(kind?.kind == .notFound)
    }
}
