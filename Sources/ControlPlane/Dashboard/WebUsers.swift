import BalctlProtocol
import Crypto
import Foundation
import HummingbirdBcrypt
import NIOPosix
import SQLEngine
import Synchronization

/// A signed-in browser: who, which account it acts as, and its CSRF token.
public struct WebSession: Sendable {
    public var userID: Int64
    public var username: String
    public var op: Operator
    public var csrf: String
    public var tokenHash: String
}

/// Password hashing for web users. bcrypt is slow by design (cost 12 ≈ 0.25 s): it runs on NIO's
/// blocking thread pool, never on an event loop or the Swift task pool (two cores: one sign-in
/// would otherwise stall half the server).
public final class PasswordHasher: Sendable {
    public let cost: UInt8
    /// A hash of a random password at `cost`: an unknown username still costs one bcrypt, so the
    /// answer's timing does not tell which usernames exist. Made on first use (a server that
    /// nobody signs in to never pays for it).
    private let decoy = Mutex<String?>(nil)

    public init(cost: Int) {
        self.cost = UInt8(min(31, max(4, cost)))
    }

    private func decoyHash() -> String {
        decoy.withLock { d in
            if let d { return d }
            let h = Bcrypt.hash(Secrets.randomHex(bytes: 16), cost: cost)
            d = h
            return h
        }
    }

    /// `BALCTL_BCRYPT_COST` (default 12, at least 4: tests set 4 to stay fast).
    public static func fromEnvironment() -> PasswordHasher {
        let raw = ProcessInfo.processInfo.environment["BALCTL_BCRYPT_COST"].flatMap { Int($0) } ?? 12
        return PasswordHasher(cost: raw)
    }

    public func hash(_ password: String) async throws -> String {
        let cost = self.cost
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    public func verify(_ password: String, hash: String?) async throws -> Bool {
        let ok = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash ?? self.decoyHash()) }
        return ok && hash != nil
    }
}

/// Session lifetimes: sliding (`idleSec` since the last request) within a hard cap (`maxSec`).
public struct WebSessionPolicy: Sendable {
    public var idleSec: Double = 12 * 3600
    public var maxSec: Double = 7 * 86400
    /// `last_seen` is written at most this often (not one write per page view).
    public var touchEverySec: Double = 60
    public init() {}
}

/// Dashboard users and sessions (issue 19). A user belongs to one account and acts exactly as
/// that account's API tokens do: the same `Operator`, the same scoped queries.
extension Store {
    static func validatePassword(_ p: String) throws {
        guard p.count >= 12 else { throw ControlPlaneError.badRequest("the password must be at least 12 characters") }
        guard p.utf8.count <= 72 else {
            // bcrypt reads 72 bytes; a longer password would silently match its own prefix.
            throw ControlPlaneError.badRequest("the password must be at most 72 bytes")
        }
    }

    public func createWebUser(_ req: CreateWebUserRequest, hasher: PasswordHasher, by op: Operator) async throws -> WebUserView {
        try Validation.name(req.username, what: "username")
        try Self.validatePassword(req.password)
        let account = req.account ?? op.accountID
        if account != op.accountID, !op.isAdmin {
            throw ControlPlaneError.forbidden("only an admin token can create users in another account")
        }
        let hash = try await hasher.hash(req.password)
        return try await db.write { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM accounts WHERE id = ?", arguments: [account]) == 1 else {
                throw ControlPlaneError.notFound("no account \(account)")
            }
            if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM users WHERE username = ?", arguments: [req.username]) ?? 0 > 0 {
                throw ControlPlaneError.conflict("a user named '\(req.username)' exists")
            }
            let t = now()
            let id = try db.insertReturningID(sql: "INSERT INTO users(account_id, username, password_hash, created_at) VALUES (?, ?, ?, ?)",
                                              arguments: [account, req.username, hash, t])
            try Self.audit(db, op.accountID, "user.create", "user:\(id)", "\(req.username) in account \(account)")
            return WebUserView(id: id, accountId: account, username: req.username, createdAt: t)
        }
    }

    /// The calling account's users (an admin sees every account's).
    public func listWebUsers(by op: Operator) async throws -> [WebUserView] {
        try await db.read { db in
            let rows = op.isAdmin
                ? try SQLRow.fetchAll(db, sql: "SELECT id, account_id, username, created_at FROM users ORDER BY id")
                : try SQLRow.fetchAll(db, sql: "SELECT id, account_id, username, created_at FROM users WHERE account_id = ? ORDER BY id",
                                      arguments: [op.accountID])
            return rows.map { WebUserView(id: $0["id"], accountId: $0["account_id"], username: $0["username"], createdAt: $0["created_at"]) }
        }
    }

    /// Remove a user and end its sessions (404 for another account's user, unless admin).
    public func removeWebUser(_ username: String, by op: Operator) async throws {
        try await db.write { db in
            guard let row = try SQLRow.fetchOne(db, sql: "SELECT id, account_id FROM users WHERE username = ?", arguments: [username]),
                  op.isAdmin || (row["account_id"] as Int64) == op.accountID else {
                throw ControlPlaneError.notFound("no user '\(username.prefix(64))'")
            }
            let id: Int64 = row["id"]
            try db.execute(sql: "DELETE FROM web_sessions WHERE user_id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM users WHERE id = ?", arguments: [id])
            try Self.audit(db, op.accountID, "user.remove", "user:\(id)", username)
        }
    }

    /// On the first start, a web user `admin` in the admin account with a random password,
    /// returned once for the server to print (nothing of it is written in clear).
    public func bootstrapAdminWebUserIfNeeded(hasher: PasswordHasher) async throws -> String? {
        guard try await db.read({ try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM users") }) == 0,
              let admin = try await adminOperator() else { return nil }
        let password = Secrets.randomHex(bytes: 12)
        let hash = try await hasher.hash(password)
        return try await db.write { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM users") == 0 else { return nil }
            _ = try db.insertReturningID(sql: "INSERT INTO users(account_id, username, password_hash, created_at) VALUES (?, ?, ?, ?)",
                                         arguments: [admin.accountID, "admin", hash, now()])
            try Self.audit(db, admin.accountID, "user.create", "user:admin", "first start")
            return password
        }
    }

    /// Check a username and password (one bcrypt whatever the outcome). Nil when refused.
    func checkWebPassword(username: String, password: String, hasher: PasswordHasher) async throws -> (userID: Int64, name: String)? {
        let row = try await db.read { db in
            try SQLRow.fetchOne(db, sql: "SELECT id, username, password_hash FROM users WHERE username = ?", arguments: [username])
        }
        let ok = try await hasher.verify(password, hash: row.map { $0["password_hash"] as String })
        guard ok, let row else { return nil }
        return (row["id"], row["username"])
    }

    /// A new session (a new random token at every sign-in: a token planted before sign-in is
    /// never promoted). Returns the cookie value; only its hash is stored.
    func createWebSession(userID: Int64, policy: WebSessionPolicy) async throws -> (token: String, csrf: String) {
        let token = Secrets.randomHex(bytes: 32)
        let csrf = Secrets.randomHex(bytes: 32)
        let t = now()
        try await db.write { db in
            // Expired sessions go when anyone signs in: the table stays small without a sweeper.
            try db.execute(sql: "DELETE FROM web_sessions WHERE expires_at < ?", arguments: [t])
            try db.execute(sql: "INSERT INTO web_sessions(token_hash, user_id, csrf, created_at, expires_at, last_seen) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [Secrets.sha256Hex(token), userID, csrf, t, min(t + policy.idleSec, t + policy.maxSec), t])
        }
        return (token, csrf)
    }

    /// The live session of a cookie value, its expiry slid forward (at most every `touchEverySec`).
    func webSession(token: String, policy: WebSessionPolicy) async throws -> WebSession? {
        guard token.utf8.count == 64, token.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { return nil }
        let hash = Secrets.sha256Hex(token)
        let t = now()
        guard let row = try await db.read({ db in
            try SQLRow.fetchOne(db, sql: """
                SELECT s.user_id, s.csrf, s.created_at, s.expires_at, s.last_seen, u.username, a.id AS account_id, a.name, a.is_admin
                FROM web_sessions s JOIN users u ON u.id = s.user_id JOIN accounts a ON a.id = u.account_id
                WHERE s.token_hash = ?
                """, arguments: [hash])
        }) else { return nil }
        let expires: Double = row["expires_at"]
        guard expires > t else { return nil }
        let lastSeen: Double = row["last_seen"]
        if t - lastSeen >= policy.touchEverySec {
            let created: Double = row["created_at"]
            let newExpiry = min(t + policy.idleSec, created + policy.maxSec)
            try await db.write { db in
                try db.execute(sql: "UPDATE web_sessions SET last_seen = ?, expires_at = ? WHERE token_hash = ?",
                               arguments: [t, newExpiry, hash])
            }
        }
        return WebSession(userID: row["user_id"], username: row["username"],
                          op: Operator(accountID: row["account_id"], name: row["name"], isAdmin: row["is_admin"]),
                          csrf: row["csrf"], tokenHash: hash)
    }

    func endWebSession(tokenHash: String) async throws {
        try await db.write { try $0.execute(sql: "DELETE FROM web_sessions WHERE token_hash = ?", arguments: [tokenHash]) }
    }

    /// Sign out everywhere: every session of the user.
    func endAllWebSessions(userID: Int64) async throws -> Int {
        try await db.write { db in
            let n = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM web_sessions WHERE user_id = ?", arguments: [userID]) ?? 0
            try db.execute(sql: "DELETE FROM web_sessions WHERE user_id = ?", arguments: [userID])
            return n
        }
    }
}

/// Equal strings in time that depends on their length only (CSRF tokens).
func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    guard x.count == y.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<x.count { diff |= x[i] ^ y[i] }
    return diff == 0
}
