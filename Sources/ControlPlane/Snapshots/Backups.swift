import BalctlPlugins
import BalctlProtocol
import Crypto
import Foundation
import NIOCore
import SQLEngine

/// Backup snapshots on the control plane: the catalog in the database, the bytes in a
/// `SnapshotStore`. Agents upload (begin, parts, commit) and read for restores; operators list,
/// show, delete and restore; the sweeper reaps uploads whose job ended without a commit.
///
/// Who may read a snapshot: the member that made it, or a member of the same account that holds
/// a running restore job naming it. Never another account (403).
public struct Backups: Sendable {
    public let store: Store
    public let objects: any SnapshotStore
    /// Set when the store cannot serve every replica (a local directory on PostgreSQL replicas).
    public let unavailableReason: String?

    /// Commands whose running job may upload a snapshot, and those whose running job may read
    /// the snapshot it names: from the plugins' declarations (`CommandInfo.snapshotUse`).
    public static let createCommands = commands(.creates)
    public static let restoreCommands = commands(.restores)

    static func commands(_ use: SnapshotUse) -> Set<String> {
        Set(AllPlugins.registry.catalogue.infos.filter { $0.snapshotUse == use }.map(\.id))
    }

    /// `'a', 'b'` for an SQL `IN (…)`: command IDs are catalogue names (letters, digits, `._`).
    static func sqlList(_ commands: Set<String>) -> String {
        commands.sorted().filter { $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" } }.map { "'\($0)'" }.joined(separator: ", ")
    }

    public init(store: Store, objects: any SnapshotStore, unavailableReason: String? = nil) {
        self.store = store; self.objects = objects; self.unavailableReason = unavailableReason
    }

    func requireAvailable() throws {
        if let unavailableReason { throw ControlPlaneError(.unavailable, unavailableReason) }
    }

    // MARK: rows

    struct Row: Sendable {
        var view: SnapshotView
        var storeMemberID: Int64
        var location: SnapshotLocation { SnapshotLocation(accountID: view.accountId, memberID: storeMemberID, snapshotID: view.id) }
    }

    static func row(_ r: SQLRow) -> Row {
        Row(view: SnapshotView(id: r["id"], memberId: (r["member_id"] as Int64?) ?? 0, memberHostname: r["member_hostname"],
                               accountId: r["account_id"], scope: r["scope"], state: r["state"], jobId: r["job_id"],
                               createdAt: r["created_at"], completedAt: r["completed_at"], bytes: r["bytes"],
                               sourceBytes: r["source_bytes"], entries: Int(r["entries"] as Int64), error: r["error"]),
            storeMemberID: r["store_member_id"])
    }

    static func fetch(_ db: any SQLConnection, _ id: String) throws -> Row? {
        guard SnapshotLocation.isValidSnapshotID(id) else { return nil }
        return try SQLRow.fetchOne(db, sql: "SELECT * FROM snapshots WHERE id = ?", arguments: [id]).map(row)
    }

    static func parts(_ db: any SQLConnection, _ id: String, _ kind: String) throws -> [SnapshotPart] {
        try SQLRow.fetchAll(db, sql: "SELECT idx, size, sha256 FROM snapshot_parts WHERE snapshot_id = ? AND kind = ? ORDER BY idx",
                            arguments: [id, kind]).map { SnapshotPart(index: Int($0["idx"] as Int64), size: $0["size"], sha256: $0["sha256"]) }
    }

    static func withParts(_ db: any SQLConnection, _ row: Row) throws -> SnapshotView {
        var v = row.view
        v.data = try parts(db, v.id, "data")
        v.manifest = try parts(db, v.id, "manifest")
        return v
    }

    static func usedBytes(_ db: any SQLConnection, account: Int64) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(bytes), 0) FROM snapshots WHERE account_id = ?", arguments: [account]) ?? 0
    }

    static func quota(_ db: any SQLConnection, account: Int64) throws -> Int64? {
        try SQLRow.fetchOne(db, sql: "SELECT quota_bytes FROM backup_quotas WHERE account_id = ?", arguments: [account])
            .flatMap { $0["quota_bytes"] as Int64? }
    }

    static func quotaRefusal(used: Int64, adding: Int64, quota: Int64) -> ControlPlaneError {
        ControlPlaneError(.insufficientStorage, "backup quota exceeded: the account stores \(Render.bytes(UInt64(used))) of its \(Render.bytes(UInt64(quota))) quota and this needs \(Render.bytes(UInt64(max(adding, 0)))) more; delete snapshots, tighten retention or raise the quota (balctl backups quota)")
    }

    // MARK: agent side

    /// The running attempt of a snapshot-creating job (`backup.create`, `ols.backup`) gets its
    /// snapshot (made on the first call).
    func begin(_ req: SnapshotBeginRequest, member: AgentIdentity) async throws -> SnapshotBeginReply {
        try requireAvailable()
        guard !req.scope.isEmpty, req.scope.count <= 64 else { throw ControlPlaneError.badRequest("scope must be 1–64 characters") }
        return try await store.db.write { db in
            guard let job = try SQLRow.fetchOne(db, sql: """
                SELECT j.account_id, j.state, j.attempt, j.command, m.hostname FROM jobs j JOIN members m ON m.id = j.member_id
                WHERE j.id = ? AND j.member_id = ?
                """, arguments: [req.jobId, member.memberID]) else {
                throw ControlPlaneError.notFound("no job \(req.jobId) for this member")
            }
            guard Self.createCommands.contains(job["command"] as String) else {
                throw ControlPlaneError.forbidden("job \(req.jobId) is not a job that creates snapshots (\(Self.createCommands.sorted().joined(separator: ", ")))")
            }
            guard (job["state"] as String) == "running", (job["attempt"] as Int64) == Int64(req.attempt) else {
                throw ControlPlaneError.conflict("attempt \(req.attempt) of job \(req.jobId) is not the running attempt")
            }
            if let existing = try SQLRow.fetchOne(db, sql: "SELECT * FROM snapshots WHERE job_id = ?", arguments: [req.jobId]).map(Self.row) {
                guard existing.view.state == "uploading" else {
                    throw ControlPlaneError.conflict("snapshot \(existing.view.id) of job \(req.jobId) is \(existing.view.state)")
                }
                return SnapshotBeginReply(snapshotId: existing.view.id, data: try Self.parts(db, existing.view.id, "data"),
                                          manifest: try Self.parts(db, existing.view.id, "manifest"))
            }
            let account: Int64 = job["account_id"]
            if let quota = try Self.quota(db, account: account) {
                let used = try Self.usedBytes(db, account: account)
                guard used < quota else { throw Self.quotaRefusal(used: used, adding: 1, quota: quota) }
            }
            let id = Secrets.randomHex(bytes: 16)
            try db.execute(sql: """
                INSERT INTO snapshots(id, account_id, member_id, store_member_id, member_hostname, scope, state, job_id, created_at)
                VALUES (?, ?, ?, ?, ?, ?, 'uploading', ?, ?)
                """, arguments: [id, account, member.memberID, member.memberID, job["hostname"] as String, req.scope, req.jobId, now()])
            return SnapshotBeginReply(snapshotId: id, data: [], manifest: [])
        }
    }

    /// One part given whole (tests, tools): as `putPart(…chunks:)` with a single chunk.
    func putPart(_ id: String, kind: String, index: Int, bytes: [UInt8], sha256 claimed: String?, member: AgentIdentity) async throws -> SnapshotPart {
        var pending: ByteBuffer? = bytes.isEmpty ? nil : ByteBuffer(bytes: bytes)
        return try await putPart(id, kind: kind, index: index, sha256: claimed, member: member, chunks: {
            defer { pending = nil }
            return pending
        })
    }

    /// One part, stored as it arrives and hashed on the way: with a hash header (a part sent
    /// whole) the hash is checked before the part is catalogued; without one (a part streamed
    /// while the agent compresses it) the answer carries the size and hash the control plane
    /// computed, which the agent compares with its own, and the commit compares them again.
    /// The quota is checked before (room left) and after (the real size), then catalogued.
    func putPart(_ id: String, kind: String, index: Int, sha256 claimed: String?, member: AgentIdentity,
                 chunks: () async throws -> ByteBuffer?) async throws -> SnapshotPart {
        try requireAvailable()
        guard kind == "data" || kind == "manifest" else { throw ControlPlaneError.notFound("no such part kind '\(kind)'") }
        guard (0..<SnapshotWire.maxParts).contains(index) else { throw ControlPlaneError.badRequest("part index must be 0–\(SnapshotWire.maxParts - 1)") }
        if let claimed, claimed.utf8.count != 64 || !claimed.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0 | 0x20) }) {
            throw ControlPlaneError.badRequest("the \(SnapshotWire.hashHeader) header must be 64 hex digits")
        }
        let version = SnapshotObject.newVersion()
        let object = SnapshotObject.part(kind: kind, index: index, version: version)
        let (row, room) = try await store.db.read { db -> (Row, (used: Int64, left: Int64, quota: Int64)?) in
            guard let row = try Self.fetch(db, id), row.view.memberId == member.memberID else {
                throw ControlPlaneError.notFound("no snapshot \(id) of this member")
            }
            guard row.view.state == "uploading" else { throw ControlPlaneError.conflict("snapshot \(id) is \(row.view.state), not uploading") }
            guard let quota = try Self.quota(db, account: row.view.accountId) else { return (row, nil) }
            let used = try Self.usedBytes(db, account: row.view.accountId)
            let previous = try Int64.fetchOne(db, sql: "SELECT size FROM snapshot_parts WHERE snapshot_id = ? AND kind = ? AND idx = ?",
                                              arguments: [id, kind, index]) ?? 0
            // The size is known only once the part is in: refuse now when not a byte fits, and
            // stop the upload as soon as it passes the room left (red team S1: a member with 10
            // bytes left wrote 64 MiB to the store's disk before the refusal).
            guard used - previous < quota else { throw Self.quotaRefusal(used: used, adding: 1, quota: quota) }
            return (row, (used, quota - (used - previous), quota))
        }
        var hasher = SHA256()
        var received = 0
        let size: Int64
        do {
            // Under a new name: whatever happens next, no bytes the catalog points at are touched.
            size = try await objects.put(object, at: row.location, streaming: {
                let next: ByteBuffer?
                do { next = try await chunks() } catch let e as ControlPlaneError { throw e } catch {
                    // The agent's connection broke mid-part (it sends the part again): the
                    // client's doing, not an internal error.
                    throw ControlPlaneError.badRequest("the part's body broke off after \(received) bytes: \(error)")
                }
                guard let chunk = next else { return nil }
                received += chunk.readableBytes
                guard received <= SnapshotWire.maxPartBytes else {
                    throw ControlPlaneError(.payloadTooLarge, "a part is at most \(SnapshotWire.maxPartBytes) bytes")
                }
                if let room, Int64(received) > room.left {
                    throw Self.quotaRefusal(used: room.used, adding: Int64(received), quota: room.quota)
                }
                chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                return chunk
            })
        } catch let e as SnapshotStoreError {
            throw ControlPlaneError(.unavailable, "the snapshot store cannot take the part: \(e)")
        }
        let sha = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        guard size > 0, claimed == nil || claimed!.lowercased() == sha else {
            try? await objects.delete(object, at: row.location)
            if size == 0 { throw ControlPlaneError.badRequest("an empty part") }
            throw ControlPlaneError.badRequest("part \(index) does not match its \(SnapshotWire.hashHeader) (\(claimed!.prefix(16))…): damaged in transit, not stored")
        }
        let part = SnapshotPart(index: index, size: size, sha256: sha)
        // Checked again where it counts: the read above lets parallel uploads all see the same
        // usage (an agent sending parts concurrently stored past the quota), and the snapshot may
        // have been committed, reaped or deleted meanwhile — then this upload's object goes.
        let replaced: SnapshotObject?
        do {
            replaced = try await store.db.write { db -> SnapshotObject? in
                guard let now = try Self.fetch(db, id), now.view.memberId == member.memberID, now.view.state == "uploading" else {
                    throw ControlPlaneError.conflict("snapshot \(id) is no longer uploading")
                }
                let old = try SQLRow.fetchOne(db, sql: "SELECT size, version FROM snapshot_parts WHERE snapshot_id = ? AND kind = ? AND idx = ?",
                                              arguments: [id, kind, index])
                let previous: Int64 = old?["size"] ?? 0
                if let quota = try Self.quota(db, account: row.view.accountId) {
                    let used = try Self.usedBytes(db, account: row.view.accountId)
                    guard used - previous + part.size <= quota else { throw Self.quotaRefusal(used: used, adding: part.size - previous, quota: quota) }
                }
                try db.execute(sql: "DELETE FROM snapshot_parts WHERE snapshot_id = ? AND kind = ? AND idx = ?", arguments: [id, kind, index])
                try db.execute(sql: "INSERT INTO snapshot_parts(snapshot_id, kind, idx, size, sha256, version) VALUES (?, ?, ?, ?, ?, ?)",
                               arguments: [id, kind, index, part.size, part.sha256, version])
                try db.execute(sql: "UPDATE snapshots SET bytes = (SELECT COALESCE(SUM(size), 0) FROM snapshot_parts WHERE snapshot_id = ?) WHERE id = ?",
                               arguments: [id, id])
                return old.map { Self.object(kind: kind, index: index, version: $0["version"]) } ?? nil
            }
        } catch {
            try? await objects.delete(object, at: row.location)
            throw error
        }
        // The upload it replaced (a retry of the same part): no catalog entry points at it now.
        if let replaced, replaced != object { try? await objects.delete(replaced, at: row.location) }
        return part
    }

    /// The stored object of a catalogued part; nil for a version the catalog should never hold.
    static func object(kind: String, index: Int, version: String) -> SnapshotObject? {
        guard version.isEmpty || SnapshotObject.isValidVersion(version) else { return nil }
        return .part(kind: kind, index: index, version: version)
    }

    /// The agent's complete list must be exactly what is stored (parts past it, from an earlier
    /// attempt, are dropped); then the snapshot is complete and the member's retention runs.
    func commit(_ id: String, _ req: SnapshotCommitRequest, member: AgentIdentity) async throws -> SnapshotView {
        try requireAvailable()
        guard !req.data.isEmpty, !req.manifest.isEmpty else { throw ControlPlaneError.badRequest("a snapshot has at least one data and one manifest part") }
        guard req.entries >= 0, req.sourceBytes >= 0 else { throw ControlPlaneError.badRequest("entries and sourceBytes must not be negative") }
        // Parts past the list (an earlier attempt made more) leave the catalog here, and their
        // objects the store once it is committed.
        let (row, unlisted) = try await store.db.write { db -> (Row, [SnapshotObject]) in
            var unlisted: [SnapshotObject] = []
            guard let row = try Self.fetch(db, id), row.view.memberId == member.memberID, row.view.jobId == req.jobId else {
                throw ControlPlaneError.notFound("no snapshot \(id) of job \(req.jobId) for this member")
            }
            guard row.view.state == "uploading" else { throw ControlPlaneError.conflict("snapshot \(id) is \(row.view.state)") }
            guard let job = try SQLRow.fetchOne(db, sql: "SELECT state, attempt FROM jobs WHERE id = ?", arguments: [req.jobId]),
                  (job["state"] as String) == "running", (job["attempt"] as Int64) == Int64(req.attempt) else {
                throw ControlPlaneError.conflict("attempt \(req.attempt) of job \(req.jobId) is not the running attempt")
            }
            for (kind, listed) in [("data", req.data), ("manifest", req.manifest)] {
                let stored = try Self.parts(db, id, kind)
                guard listed.map(\.index) == Array(0..<listed.count) else {
                    throw ControlPlaneError.badRequest("\(kind) parts must be numbered 0…\(listed.count - 1) in order")
                }
                for part in listed {
                    guard part.index < stored.count, stored[part.index] == part else {
                        throw ControlPlaneError.conflict("\(kind) part \(part.index) is not stored as listed (size \(part.size), \(part.sha256.prefix(12))…): upload it first")
                    }
                }
                for r in try SQLRow.fetchAll(db, sql: "SELECT idx, version FROM snapshot_parts WHERE snapshot_id = ? AND kind = ? AND idx >= ?",
                                             arguments: [id, kind, listed.count]) {
                    if let o = Self.object(kind: kind, index: Int(r["idx"] as Int64), version: r["version"]) { unlisted.append(o) }
                }
                try db.execute(sql: "DELETE FROM snapshot_parts WHERE snapshot_id = ? AND kind = ? AND idx >= ?", arguments: [id, kind, listed.count])
            }
            try db.execute(sql: """
                UPDATE snapshots SET state = 'complete', completed_at = ?, entries = ?, source_bytes = ?,
                    bytes = (SELECT COALESCE(SUM(size), 0) FROM snapshot_parts WHERE snapshot_id = ?) WHERE id = ?
                """, arguments: [now(), req.entries, req.sourceBytes, id, id])
            return (try Self.fetch(db, id)!, unlisted)
        }
        for o in unlisted { try? await objects.delete(o, at: row.location) }
        await applyRetention(member: row.view.memberId)
        return try await store.db.read { try Self.withParts($0, row) }
    }

    /// For a restore: the catalog entry with its parts, when this member may read it.
    func agentView(_ id: String, member: AgentIdentity) async throws -> Row {
        try requireAvailable()
        return try await store.db.read { db in
            guard let row = try Self.fetch(db, id) else { throw ControlPlaneError.notFound("no snapshot \(id)") }
            guard let account = try Int64.fetchOne(db, sql: "SELECT account_id FROM members WHERE id = ?", arguments: [member.memberID]),
                  account == row.view.accountId else {
                throw ControlPlaneError.forbidden("snapshot \(id) belongs to another account: restores never cross accounts")
            }
            if row.view.memberId != member.memberID {
                let jobs = try SQLRow.fetchAll(db, sql: """
                    SELECT params FROM jobs WHERE member_id = ? AND state = 'running' AND command IN (\(Self.sqlList(Self.restoreCommands)))
                    """, arguments: [member.memberID])
                let named = jobs.contains { r in
                    guard let text: String = r["params"], case .object(let o)? = try? JSONTree.parse(text) else { return false }
                    return o["snapshot"] == .string(id)
                }
                guard named else {
                    throw ControlPlaneError.forbidden("snapshot \(id) is another member's; this member may read it only while it runs a restore job naming it")
                }
            }
            guard row.view.state == "complete" else { throw ControlPlaneError.conflict("snapshot \(id) is \(row.view.state), not complete") }
            return row
        }
    }

    func agentInfo(_ id: String, member: AgentIdentity) async throws -> SnapshotView {
        let row = try await agentView(id, member: member)
        return try await store.db.read { try Self.withParts($0, row) }
    }

    func agentPart(_ id: String, kind: String, index: Int, member: AgentIdentity) async throws -> [UInt8] {
        guard kind == "data" || kind == "manifest" else { throw ControlPlaneError.notFound("no such part kind '\(kind)'") }
        let row = try await agentView(id, member: member)
        let version = try await store.db.read { db in
            try String.fetchOne(db, sql: "SELECT version FROM snapshot_parts WHERE snapshot_id = ? AND kind = ? AND idx = ?",
                                arguments: [id, kind, index])
        }
        guard let version, let object = Self.object(kind: kind, index: index, version: version) else {
            throw ControlPlaneError.notFound("snapshot \(id) has no \(kind) part \(index)")
        }
        do { return try await objects.get(object, at: row.location) } catch {
            if error.kind == .notFound { throw ControlPlaneError.notFound("\(object) of snapshot \(id) is missing from the store") }
            throw ControlPlaneError(.unavailable, "the snapshot store cannot serve \(object): \(error)")
        }
    }

    // MARK: operators

    public func list(member: Int64, by op: Operator) async throws -> [SnapshotView] {
        try await store.db.read { db in
            _ = try Store.member(db, member, op)
            return try SQLRow.fetchAll(db, sql: "SELECT * FROM snapshots WHERE member_id = ? AND account_id = ? ORDER BY created_at DESC",
                                       arguments: [member, op.accountID]).map { Self.row($0).view }
        }
    }

    public func show(_ id: String, by op: Operator) async throws -> SnapshotView {
        try await store.db.read { db in try Self.withParts(db, try Self.owned(db, id, op)) }
    }

    static func owned(_ db: any SQLConnection, _ id: String, _ op: Operator) throws -> Row {
        guard let row = try fetch(db, id), row.view.accountId == op.accountID else { throw ControlPlaneError.notFound("no snapshot \(id)") }
        return row
    }

    public func delete(_ id: String, by op: Operator) async throws {
        let row = try await store.db.write { db -> Row in
            let row = try Self.owned(db, id, op)
            if row.view.state == "uploading", let job = row.view.jobId,
               let state = try String.fetchOne(db, sql: "SELECT state FROM jobs WHERE id = ?", arguments: [job]),
               state == "pending" || state == "running" {
                throw ControlPlaneError.conflict("snapshot \(id) is still being uploaded by job \(job); cancel the job first")
            }
            if try Self.namedByRestore(db, id) {
                throw ControlPlaneError.conflict("snapshot \(id) is named by a pending or running restore job; cancel it first")
            }
            try db.execute(sql: "DELETE FROM snapshots WHERE id = ?", arguments: [id])
            try Store.audit(db, op.accountID, "backup.delete", "snapshot:\(id)", "\(row.view.scope) of \(row.view.memberHostname)")
            return row
        }
        try? await objects.deleteAll(at: row.location)
    }

    /// Queue a restore of the snapshot onto its member or `to` another member of the account.
    public func restore(_ id: String, _ req: SnapshotRestoreRequest, server: ControlPlane, by op: Operator) async throws -> JobView {
        try requireAvailable()
        let row = try await store.db.read { db in try Self.owned(db, id, op) }
        guard row.view.state == "complete" else { throw ControlPlaneError.conflict("snapshot \(id) is \(row.view.state), not complete") }
        guard let target = req.to ?? (row.view.memberId == 0 ? nil : row.view.memberId) else {
            throw ControlPlaneError.badRequest("the member snapshot \(id) came from is gone: name the member to restore onto (to)")
        }
        let command = req.provision == true ? "standby.provision_from_backup" : "backup.restore"
        return try await store.enqueue(member: target, EnqueueJobRequest(command: command, params: .object(["snapshot": .string(id)]),
                                                                          checkMode: req.checkMode),
                                       catalogue: server.catalogue, policy: server.config.queue, by: op)
    }

    public func policy(member: Int64, by op: Operator) async throws -> BackupPolicyView {
        try await store.db.read { db in
            _ = try Store.member(db, member, op)
            guard let r = try SQLRow.fetchOne(db, sql: "SELECT keep_last, keep_days FROM backup_policies WHERE member_id = ?", arguments: [member]) else {
                return BackupPolicyView()
            }
            return BackupPolicyView(keepLast: (r["keep_last"] as Int64?).map(Int.init), keepDays: (r["keep_days"] as Int64?).map(Int.init))
        }
    }

    public func setPolicy(member: Int64, _ p: BackupPolicyView, by op: Operator) async throws -> BackupPolicyView {
        if let n = p.keepLast, !(1...10_000).contains(n) { throw ControlPlaneError.badRequest("keepLast must be 1–10000") }
        if let d = p.keepDays, !(1...36_500).contains(d) { throw ControlPlaneError.badRequest("keepDays must be 1–36500") }
        try await store.db.write { db in
            _ = try Store.member(db, member, op)
            try db.execute(sql: "DELETE FROM backup_policies WHERE member_id = ?", arguments: [member])
            try db.execute(sql: "INSERT INTO backup_policies(member_id, keep_last, keep_days) VALUES (?, ?, ?)",
                           arguments: [member, p.keepLast.map { Int64($0) }, p.keepDays.map { Int64($0) }])
            try Store.audit(db, op.accountID, "backup.policy", "member:\(member)", "keepLast \(p.keepLast.map { String($0) } ?? "-") keepDays \(p.keepDays.map { String($0) } ?? "-")")
        }
        await applyRetention(member: member)
        return p
    }

    public func quota(account: Int64?, by op: Operator) async throws -> BackupQuotaView {
        let account = account ?? op.accountID
        guard account == op.accountID || op.isAdmin else { throw ControlPlaneError.notFound("no account \(account)") }
        return try await store.db.read { db in
            BackupQuotaView(quotaBytes: try Self.quota(db, account: account), usedBytes: try Self.usedBytes(db, account: account))
        }
    }

    /// Only an admin sets quotas (an account does not raise its own).
    public func setQuota(account: Int64, _ req: SetBackupQuotaRequest, by op: Operator) async throws -> BackupQuotaView {
        guard op.isAdmin else { throw ControlPlaneError.forbidden("only an admin account sets backup quotas") }
        if let q = req.quotaBytes, q < 0 { throw ControlPlaneError.badRequest("quotaBytes must not be negative") }
        try await store.db.write { db in
            guard try Int64.fetchOne(db, sql: "SELECT id FROM accounts WHERE id = ?", arguments: [account]) != nil else {
                throw ControlPlaneError.notFound("no account \(account)")
            }
            try db.execute(sql: "DELETE FROM backup_quotas WHERE account_id = ?", arguments: [account])
            try db.execute(sql: "INSERT INTO backup_quotas(account_id, quota_bytes) VALUES (?, ?)", arguments: [account, req.quotaBytes])
            try Store.audit(db, op.accountID, "backup.quota", "account:\(account)", req.quotaBytes.map { "\($0) bytes" } ?? "unlimited")
        }
        return try await quota(account: account, by: op)
    }

    // MARK: housekeeping

    /// Keep a complete snapshot when it is among the member's last `keepLast` or younger than
    /// `keepDays`; with no rule set, keep everything. The newest snapshot is always kept.
    func applyRetention(member: Int64, at t: Double = now()) async {
        guard let doomed = try? await store.db.write({ db -> [Row] in
            guard let p = try SQLRow.fetchOne(db, sql: "SELECT keep_last, keep_days FROM backup_policies WHERE member_id = ?", arguments: [member]) else { return [] }
            let keepLast = p["keep_last"] as Int64?, keepDays = p["keep_days"] as Int64?
            guard keepLast != nil || keepDays != nil else { return [] }
            let rows = try SQLRow.fetchAll(db, sql: "SELECT * FROM snapshots WHERE member_id = ? AND state = 'complete' ORDER BY created_at DESC, id",
                                           arguments: [member]).map(Self.row)
            // A snapshot a pending or running restore names stays until that restore is done.
            let restoring = try Self.restoring(db)
            var doomed: [Row] = []
            for (i, r) in rows.enumerated() where i > 0 && !restoring.contains(r.view.id) {
                let byCount = keepLast.map { Int64(i) < $0 } ?? false
                let byAge = keepDays.map { t - r.view.createdAt < Double($0) * 86_400 } ?? false
                if !byCount && !byAge { doomed.append(r) }
            }
            for r in doomed {
                try db.execute(sql: "DELETE FROM snapshots WHERE id = ?", arguments: [r.view.id])
                try Store.audit(db, nil, "backup.retention", "snapshot:\(r.view.id)", "removed by the retention policy of member \(member)")
            }
            return doomed
        }) else { return }
        for r in doomed { try? await objects.deleteAll(at: r.location) }
    }

    /// Snapshots named by pending or running restore jobs (any account: IDs are unique).
    static func restoring(_ db: any SQLConnection) throws -> Set<String> {
        Set(try SQLRow.fetchAll(db, sql: """
            SELECT params FROM jobs WHERE state IN ('pending', 'running') AND command IN (\(Self.sqlList(Self.restoreCommands)))
            """).compactMap { r -> String? in
                guard let text: String = r["params"], case .object(let o)? = try? JSONTree.parse(text), case .string(let s)? = o["snapshot"] else { return nil }
                return s
            })
    }

    static func namedByRestore(_ db: any SQLConnection, _ id: String) throws -> Bool { try restoring(db).contains(id) }

    /// Uploads whose job ended (or vanished) without a commit: marked failed, bytes removed.
    public func reapAbandoned() async throws -> Int {
        let rows = try await store.db.write { db -> [Row] in
            let rows = try SQLRow.fetchAll(db, sql: """
                SELECT s.*, j.state AS job_state, j.error AS job_error FROM snapshots s LEFT JOIN jobs j ON j.id = s.job_id
                WHERE s.state = 'uploading' AND (j.id IS NULL OR j.state NOT IN ('pending', 'running'))
                """)
            var out: [Row] = []
            for r in rows {
                let why = (r["job_error"] as String?).map { "the backup job ended without a commit: \($0)" }
                    ?? "the backup job ended (\((r["job_state"] as String?) ?? "deleted")) without a commit"
                try db.execute(sql: "UPDATE snapshots SET state = 'failed', error = ?, bytes = 0 WHERE id = ?", arguments: [why, r["id"] as String])
                try db.execute(sql: "DELETE FROM snapshot_parts WHERE snapshot_id = ?", arguments: [r["id"] as String])
                out.append(Self.row(r))
            }
            return out
        }
        for r in rows { try? await objects.deleteAll(at: r.location) }
        return rows.count
    }
}
