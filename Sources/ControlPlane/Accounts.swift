import BalctlProtocol
import SQLEngine

/// The operator behind an API request.
public struct Operator: Sendable {
    public var accountID: Int64
    public var name: String
    public var isAdmin: Bool
}

/// Accounts, API tokens and the audit log. Every pool, member and job belongs to one account;
/// queries are always scoped by it, so an account never sees another's data.
extension Store {
    static func accountView(_ row: SQLRow) -> AccountView {
        AccountView(id: row["id"], name: row["name"], isAdmin: row["is_admin"], createdAt: row["created_at"])
    }

    /// On first start: an `admin` account and its token (printed once by the caller).
    public func bootstrapAdminIfNeeded() throws -> TokenIssued? {
        try db.transactionBlocking(.write) { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM accounts") == 0 else { return nil }
            return try Self.insertAccount(db, name: "admin", isAdmin: true, by: nil)
        }
    }

    static func insertAccount(_ db: any SQLConnection, name: String, isAdmin: Bool, by: Operator?) throws -> TokenIssued {
        let t = now()
        let id = try db.insertReturningID(sql: "INSERT INTO accounts(name, is_admin, created_at) VALUES (?, ?, ?)",
                       arguments: [name, isAdmin, t])
        let token = Secrets.newAPIToken()
        try db.execute(sql: "INSERT INTO api_tokens(account_id, token_hash, label, created_at) VALUES (?, ?, ?, ?)",
                       arguments: [id, Secrets.sha256Hex(token), "initial", t])
        try audit(db, by?.accountID ?? id, "account.create", "account:\(id)", name)
        return TokenIssued(account: AccountView(id: id, name: name, isAdmin: isAdmin, createdAt: t), token: token)
    }

    public func createAccount(_ req: CreateAccountRequest, by op: Operator) async throws -> TokenIssued {
        guard op.isAdmin else { throw ControlPlaneError.forbidden("only an admin account can create accounts") }
        try Validation.name(req.name, what: "account name")
        return try await db.write { db in
            if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM accounts WHERE name = ?", arguments: [req.name]) ?? 0 > 0 {
                throw ControlPlaneError.conflict("an account named '\(req.name)' exists")
            }
            return try Self.insertAccount(db, name: req.name, isAdmin: req.isAdmin ?? false, by: op)
        }
    }

    public func listAccounts(by op: Operator) async throws -> [AccountView] {
        try await db.read { db in
            let rows = op.isAdmin
                ? try SQLRow.fetchAll(db, sql: "SELECT * FROM accounts ORDER BY id")
                : try SQLRow.fetchAll(db, sql: "SELECT * FROM accounts WHERE id = ?", arguments: [op.accountID])
            return rows.map(Self.accountView)
        }
    }

    /// Another token for the calling account.
    public func createToken(_ req: CreateTokenRequest, by op: Operator) async throws -> TokenIssued {
        let label = req.label ?? "token"
        try Validation.name(label, what: "token label")
        return try await db.write { db in
            let token = Secrets.newAPIToken()
            try db.execute(sql: "INSERT INTO api_tokens(account_id, token_hash, label, created_at) VALUES (?, ?, ?, ?)",
                           arguments: [op.accountID, Secrets.sha256Hex(token), label, now()])
            try Self.audit(db, op.accountID, "token.create", "account:\(op.accountID)", label)
            let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM accounts WHERE id = ?", arguments: [op.accountID])!
            return TokenIssued(account: Self.accountView(row), token: token)
        }
    }

    public func authenticateOperator(token: String) async throws -> Operator? {
        guard token.hasPrefix("bct_"), token.utf8.count == 44 else { return nil }
        let hash = Secrets.sha256Hex(token)
        return try await db.read { db in
            try SQLRow.fetchOne(db, sql: """
                SELECT a.id, a.name, a.is_admin FROM api_tokens t JOIN accounts a ON a.id = t.account_id
                WHERE t.token_hash = ?
                """, arguments: [hash]).map { Operator(accountID: $0["id"], name: $0["name"], isAdmin: $0["is_admin"]) }
        }
    }

    static func audit(_ db: any SQLConnection, _ accountID: Int64?, _ action: String, _ target: String, _ detail: String?) throws {
        try db.execute(sql: "INSERT INTO audit_log(account_id, at, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                       arguments: [accountID, now(), action, target, detail])
    }

    public struct AuditEntry: Codable, Sendable {
        public var at: Double
        public var action: String
        public var target: String
        public var detail: String?
    }

    public func auditLog(by op: Operator, limit: Int) async throws -> [AuditEntry] {
        try await db.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT * FROM audit_log WHERE account_id = ? ORDER BY id DESC LIMIT ?",
                             arguments: [op.accountID, limit]).map {
                AuditEntry(at: $0["at"], action: $0["action"], target: $0["target"], detail: $0["detail"])
            }
        }
    }
}

/// Input checks shared by the operator routes.
enum Validation {
    static func name(_ s: String, what: String) throws {
        guard !s.isEmpty, s.count <= 64 else { throw ControlPlaneError.badRequest("\(what) must be 1–64 characters") }
        guard s.unicodeScalars.allSatisfy({ !$0.properties.isWhitespace || $0 == " " }),
              !s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw ControlPlaneError.badRequest("\(what) must not contain control characters")
        }
    }

    /// RFC 1123 host name (what `hostname` reports), up to 253 characters.
    static func hostname(_ s: String) throws {
        let labels = s.split(separator: ".", omittingEmptySubsequences: false)
        let ok = !s.isEmpty && s.utf8.count <= 253 && labels.allSatisfy { l in
            !l.isEmpty && l.count <= 63 && l.first != "-" && l.last != "-"
                && l.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
        guard ok else { throw ControlPlaneError.badRequest("'\(s)' is not a valid host name") }
    }

    static func allowedIPs(_ ips: [String]) throws -> [String] {
        guard !ips.isEmpty else { throw ControlPlaneError.badRequest("at least one allowed source IPv4 is required") }
        guard ips.count <= 32 else { throw ControlPlaneError.badRequest("at most 32 allowed source IPs") }
        return try ips.map { raw in
            let s = raw.trimmingCharacters(in: .whitespaces)
            guard let ip = IPv4(s) else { throw ControlPlaneError.badRequest("'\(raw)' is not an IPv4 address") }
            return ip.description
        }
    }
}

extension Store {
    /// The first admin account, for the server's own tools (demo, init) that act without a token.
    public func adminOperator() async throws -> Operator? {
        try await db.read { db in
            try SQLRow.fetchOne(db, sql: "SELECT id, name FROM accounts WHERE is_admin = 1 ORDER BY id LIMIT 1")
                .map { Operator(accountID: $0["id"], name: $0["name"], isAdmin: true) }
        }
    }
}
