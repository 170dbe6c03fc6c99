import BalctlProtocol
import Foundation
import SQLEngine

/// Pools and members.
extension Store {
    // MARK: pools

    static func poolView(_ row: SQLRow) -> PoolView {
        PoolView(id: row["id"], name: row["name"],
                 template: PoolTemplate(rawValue: row["template"]) ?? .generic,
                 createdAt: row["created_at"], memberCount: row["member_count"] ?? 0)
    }

    static let poolSelect = """
        SELECT p.*, (SELECT COUNT(*) FROM members m WHERE m.pool_id = p.id) AS member_count FROM pools p
        """

    public func createPool(_ req: CreatePoolRequest, by op: Operator) async throws -> PoolView {
        try Validation.name(req.name, what: "pool name")
        return try await db.write { db in
            if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM pools WHERE account_id = ? AND name = ?",
                                arguments: [op.accountID, req.name]) ?? 0 > 0 {
                throw ControlPlaneError.conflict("a pool named '\(req.name)' exists")
            }
            let id = try db.insertReturningID(sql: "INSERT INTO pools(account_id, name, template, created_at) VALUES (?, ?, ?, ?)",
                           arguments: [op.accountID, req.name, req.template.rawValue, now()])
            try Self.audit(db, op.accountID, "pool.create", "pool:\(id)", "\(req.name) (\(req.template.rawValue))")
            return try Self.pool(db, id, op)
        }
    }

    static func pool(_ db: any SQLConnection, _ id: Int64, _ op: Operator) throws -> PoolView {
        guard let row = try SQLRow.fetchOne(db, sql: poolSelect + " WHERE p.id = ? AND p.account_id = ?",
                                         arguments: [id, op.accountID]) else {
            throw ControlPlaneError.notFound("no pool \(id)")
        }
        return poolView(row)
    }

    public func pool(_ id: Int64, by op: Operator) async throws -> PoolView {
        try await db.read { try Self.pool($0, id, op) }
    }

    public func listPools(by op: Operator) async throws -> [PoolView] {
        try await db.read { db in
            try SQLRow.fetchAll(db, sql: Self.poolSelect + " WHERE p.account_id = ? ORDER BY p.id",
                             arguments: [op.accountID]).map(Self.poolView)
        }
    }

    public func renamePool(_ id: Int64, _ req: RenamePoolRequest, by op: Operator) async throws -> PoolView {
        try Validation.name(req.name, what: "pool name")
        return try await db.write { db in
            let old = try Self.pool(db, id, op)
            if old.name == req.name { return old }
            if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM pools WHERE account_id = ? AND name = ?",
                                arguments: [op.accountID, req.name]) ?? 0 > 0 {
                throw ControlPlaneError.conflict("a pool named '\(req.name)' exists")
            }
            try db.execute(sql: "UPDATE pools SET name = ? WHERE id = ?", arguments: [req.name, id])
            try Self.audit(db, op.accountID, "pool.rename", "pool:\(id)", "\(old.name) → \(req.name)")
            return try Self.pool(db, id, op)
        }
    }

    /// Deletes the pool with its members, their jobs and heartbeats (foreign-key cascades).
    public func deletePool(_ id: Int64, by op: Operator) async throws {
        // After the commit: agents must not keep authenticating with what changed.
        defer { authCache.invalidateAll() }
        try await db.write { db in
            let pool = try Self.pool(db, id, op)
            try db.execute(sql: "DELETE FROM pools WHERE id = ?", arguments: [id])
            try Self.audit(db, op.accountID, "pool.delete", "pool:\(id)", pool.name)
        }
    }

    // MARK: members

    static let memberSelect = """
        SELECT m.*, h.received_at AS hb_at, h.source_ip AS hb_ip, h.agent_version AS hb_version,
               h.report AS hb_report
        FROM members m LEFT JOIN heartbeat_latest h ON h.member_id = m.id
        """

    static func memberView(_ row: SQLRow) -> MemberView {
        var summary: HeartbeatSummary? = nil
        if let at: Double = row["hb_at"], let text: String = row["hb_report"] {
            summary = heartbeatSummary(at: at, report: text, version: row["hb_version"], sourceIP: row["hb_ip"])
        }
        let ips: String = row["allowed_ips"]
        return MemberView(
            id: row["id"], poolId: row["pool_id"], hostname: row["hostname"],
            allowedIPs: ips.split(separator: ",").map(String.init),
            family: LinuxFamily(rawValue: row["family"]) ?? .debian, role: row["role"],
            createdAt: row["created_at"], secretRotatedAt: row["secret_rotated_at"], heartbeat: summary)
    }

    static func heartbeatSummary(at: Double, report text: String, version: String, sourceIP: String) -> HeartbeatSummary {
        let report: HostReport
        do {
            // The card needs the stacks' names, not the stacks: their values (a HAProxy table can
            // be 500 KB) are checked but not built, for every card of every overview render.
            report = try JSONTree.decode(HostReport.self, from: try JSONTree.parse(Array(text.utf8), hollowing: ["stacks"]))
        } catch {
            // The ingest checks only the fields it acts on; an agent that sends an incomplete
            // report is still alive, and its heartbeat age must show.
            let reason = (error as? DecodingError)?.balctlReason ?? "\(error)"
            return HeartbeatSummary(
                receivedAt: at, ageSec: max(0, now() - at), agentVersion: version, sourceIP: sourceIP,
                osFamily: "?", osPretty: "(report not readable: \(reason))", uptimeSec: 0, load1: 0,
                cpuPercent: nil, memoryUsedPercent: 0, publicIPv4: nil, stacks: [], commands: [])
        }
        let mem = report.memory
        let used = mem.totalBytes == 0 ? 0
            : Double(mem.totalBytes - min(mem.availableBytes, mem.totalBytes)) / Double(mem.totalBytes) * 100
        return HeartbeatSummary(
            receivedAt: at, ageSec: max(0, now() - at), agentVersion: version,
            sourceIP: sourceIP, osFamily: report.os.family, osPretty: report.os.prettyName,
            uptimeSec: report.uptimeSec, load1: report.load.first ?? 0, cpuPercent: report.cpuPercent,
            memoryUsedPercent: (used * 10).rounded() / 10, publicIPv4: report.publicIPv4,
            stacks: report.stacks.keys.sorted(), commands: report.commands)
    }

    static func member(_ db: any SQLConnection, _ id: Int64, _ op: Operator) throws -> MemberView {
        guard let row = try SQLRow.fetchOne(db, sql: memberSelect + " WHERE m.id = ? AND m.account_id = ?",
                                         arguments: [id, op.accountID]) else {
            throw ControlPlaneError.notFound("no member \(id)")
        }
        return memberView(row)
    }

    public func member(_ id: Int64, by op: Operator) async throws -> MemberView {
        try await db.read { try Self.member($0, id, op) }
    }

    public func listMembers(pool: Int64?, by op: Operator) async throws -> [MemberView] {
        try await db.read { db in
            if let pool {
                _ = try Self.pool(db, pool, op)
                return try SQLRow.fetchAll(db, sql: Self.memberSelect + " WHERE m.pool_id = ? AND m.account_id = ? ORDER BY m.id",
                                        arguments: [pool, op.accountID]).map(Self.memberView)
            }
            return try SQLRow.fetchAll(db, sql: Self.memberSelect + " WHERE m.account_id = ? ORDER BY m.id",
                                    arguments: [op.accountID]).map(Self.memberView)
        }
    }

    /// Add a member. The enrollment secret is returned here once and stored only as SHA-256.
    public func addMember(pool poolID: Int64, _ req: CreateMemberRequest, install: InstallContext,
                          by op: Operator) async throws -> MemberEnrollment {
        try Validation.hostname(req.hostname)
        let ips = try Validation.allowedIPs(req.allowedIPs)
        return try await db.write { db in
            let pool = try Self.pool(db, poolID, op)
            let role = req.role ?? (pool.template == .haproxy ? "haproxy-balancer" : "generic-linux")
            guard ["haproxy-balancer", "generic-linux"].contains(role) else {
                throw ControlPlaneError.badRequest("role must be haproxy-balancer or generic-linux")
            }
            if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM members WHERE pool_id = ? AND lower(hostname) = lower(?)",
                                arguments: [poolID, req.hostname]) ?? 0 > 0 {
                throw ControlPlaneError.conflict("pool \(poolID) already has a member named '\(req.hostname)'")
            }
            let secret = Secrets.newEnrollmentSecret()
            let t = now()
            let id = try db.insertReturningID(sql: """
                INSERT INTO members(pool_id, account_id, hostname, allowed_ips, family, role, secret_hash,
                                    created_at, secret_rotated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [poolID, op.accountID, req.hostname, ips.joined(separator: ","),
                                 req.family.rawValue, role, Secrets.sha256Hex(secret), t, t])
            try Self.audit(db, op.accountID, "member.add", "member:\(id)", "\(req.hostname) in pool \(poolID)")
            let member = try Self.member(db, id, op)
            return MemberEnrollment(
                member: member, enrollmentSecret: secret,
                installCommand: InstallCommand.make(family: req.family, secret: secret,
                                                    hostname: req.hostname, context: install))
        }
    }

    public func updateMember(_ id: Int64, _ req: UpdateMemberRequest, by op: Operator) async throws -> MemberView {
        // After the commit: agents must not keep authenticating with what changed.
        defer { authCache.invalidateAll() }
        if let h = req.hostname { try Validation.hostname(h) }
        let ips = try req.allowedIPs.map(Validation.allowedIPs)
        return try await db.write { db in
            let old = try Self.member(db, id, op)
            if let h = req.hostname {
                try db.execute(sql: "UPDATE members SET hostname = ? WHERE id = ?", arguments: [h, id])
            }
            if let ips {
                try db.execute(sql: "UPDATE members SET allowed_ips = ? WHERE id = ?",
                               arguments: [ips.joined(separator: ","), id])
            }
            try Self.audit(db, op.accountID, "member.update", "member:\(id)",
                           "hostname \(old.hostname) → \(req.hostname ?? old.hostname); ips \(ips?.joined(separator: ",") ?? "unchanged")")
            return try Self.member(db, id, op)
        }
    }

    /// A new secret; the old one stops working at once.
    public func rotateSecret(_ id: Int64, install: InstallContext, by op: Operator) async throws -> MemberEnrollment {
        // After the commit: agents must not keep authenticating with what changed.
        defer { authCache.invalidateAll() }
        return try await db.write { db in
            let member = try Self.member(db, id, op)
            let secret = Secrets.newEnrollmentSecret()
            try db.execute(sql: "UPDATE members SET secret_hash = ?, secret_rotated_at = ? WHERE id = ?",
                           arguments: [Secrets.sha256Hex(secret), now(), id])
            try Self.audit(db, op.accountID, "member.rotate_secret", "member:\(id)", member.hostname)
            return MemberEnrollment(
                member: try Self.member(db, id, op), enrollmentSecret: secret,
                installCommand: InstallCommand.make(family: member.family, secret: secret,
                                                    hostname: member.hostname, context: install))
        }
    }

    public func removeMember(_ id: Int64, by op: Operator) async throws {
        // After the commit: agents must not keep authenticating with what changed.
        defer { authCache.invalidateAll() }
        try await db.write { db in
            let member = try Self.member(db, id, op)
            try db.execute(sql: "DELETE FROM members WHERE id = ?", arguments: [id])
            try Self.audit(db, op.accountID, "member.remove", "member:\(id)", member.hostname)
        }
    }

    /// The newest `limit` samples, newest first, stopping before the one that would take the
    /// reports past `maxBytes` (issue 20 item 7: one request must not re-encode hundreds of MB).
    public func heartbeatHistory(member id: Int64, limit: Int, maxBytes: Int = HeartbeatPolicy().historyResponseMaxBytes,
                                 by op: Operator) async throws -> [HeartbeatRecord] {
        try await db.read { db in
            _ = try Self.member(db, id, op)
            let rows = try SQLRow.fetchCursor(db, sql: """
                SELECT received_at, source_ip, bytes, report FROM heartbeat_history WHERE member_id = ?
                ORDER BY id DESC LIMIT ?
                """, arguments: [id, limit])
            var records: [HeartbeatRecord] = []
            var budget = maxBytes
            while let row = try rows.next() {
                let bytes: Int = row["bytes"]
                guard bytes <= budget else { break }
                budget -= bytes
                let text: String = row["report"]
                guard let report = try? JSONTree.decode(HostReport.self, from: text) else { continue }
                records.append(HeartbeatRecord(receivedAt: row["received_at"], sourceIP: row["source_ip"], report: report))
            }
            return records
        }
    }

    /// The latest full report of a member (for `balctl members show`).
    public func latestReport(member id: Int64, by op: Operator) async throws -> HeartbeatRecord? {
        try await db.read { db in
            _ = try Self.member(db, id, op)
            guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM heartbeat_latest WHERE member_id = ?",
                                             arguments: [id]) else { return nil }
            let text: String = row["report"]
            guard let report = try? JSONTree.decode(HostReport.self, from: text) else { return nil }
            return HeartbeatRecord(receivedAt: row["received_at"], sourceIP: row["source_ip"], report: report)
        }
    }
}

/// The one-shot install command shown when a member is added, run as root on the VM: ensures
/// curl and unzip with the family's package manager, downloads agent.zip from the control plane
/// over HTTPS only (trusting just the private CA, written out by the command itself, when the
/// server uses one), and runs the bundle's installer, which enrols the agent, pins the update key
/// and starts the service. Everything runs in a subshell that stops at the first failure and
/// leaves the operator's shell where it was.
public enum InstallCommand {
    public static func make(family: LinuxFamily, secret: String, hostname: String, context: InstallContext) -> String {
        let base = context.publicURL.hasSuffix("/") ? String(context.publicURL.dropLast()) : context.publicURL
        let install: String
        switch family {
        case .debian: install = "apt-get update -qq && apt-get install -y -qq curl unzip"
        case .rhel: install = "(dnf install -y -q curl unzip || yum install -y -q curl unzip)"
        }
        var parts = [
            "set -e",
            "if ! command -v curl >/dev/null 2>&1 || ! command -v unzip >/dev/null 2>&1; then \(install); fi",
            "d=$(mktemp -d)", "cd \"$d\"",
        ]
        var caArgs = "", enrolCA = ""
        if let pem = context.caPEM {
            // One printf argument per PEM line: no newline and no quote inside the command.
            let lines = pem.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map { "'\($0)'" }.joined(separator: " ")
            parts.append("printf '%s\\n' \(lines) > ca.pem")
            caArgs = " --cacert ca.pem"
            enrolCA = " --ca-file \"$d/ca.pem\""
        }
        parts.append("curl -fsS --proto =https\(caArgs) -o agent.zip '\(base)\(AgentBundle.zipPath)'")
        // The zip's installer runs as root before any signature can be checked on the host: it
        // must be the very file the control plane checked against its signed manifest.
        if let sum = context.zipSHA256 { parts.append("echo '\(sum)  agent.zip' | sha256sum -c --quiet -") }
        parts.append("unzip -q agent.zip")
        // Host names, secrets and the origin are validated (no quotes or spaces); the key is
        // base64. The secret goes by environment: a command line is readable by every user.
        parts.append("BALCTL_ENROLLMENT_SECRET=\(secret) sh balctl-agent.sh --enrol --hostname \(hostname) --api-base '\(base)'\(enrolCA)"
                     + (context.updatePublicKey.map { " --update-pubkey '\($0)'" } ?? ""))
        parts.append("cd / && rm -rf \"$d\"")
        return "( " + parts.joined(separator: "; ") + " )"
    }
}

extension Store {
    /// For callers with no agent bundle or private CA (benchmarks, tests): the origin only.
    public func addMember(pool poolID: Int64, _ req: CreateMemberRequest, publicURL: String,
                          by op: Operator) async throws -> MemberEnrollment {
        try await addMember(pool: poolID, req, install: InstallContext(publicURL: publicURL), by: op)
    }

    public func rotateSecret(_ id: Int64, publicURL: String, by op: Operator) async throws -> MemberEnrollment {
        try await rotateSecret(id, install: InstallContext(publicURL: publicURL), by: op)
    }
}
