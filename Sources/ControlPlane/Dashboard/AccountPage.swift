import BalctlProtocol
import Foundation
import HTTPTypes
import Hummingbird
import SQLEngine

/// `/account`: the signed-in user changes their own password (current + new twice). A change
/// ends the user's other sessions (whoever else holds a cookie is out); this one stays.
struct AccountPage {
    let routes: DashboardRoutes
    var server: ControlPlane { routes.server }
    var ui: DashboardState { server.dashboard }

    func register(_ authed: RouterGroup<BalctlRequestContext>) {
        authed.get("account") { _, c in try await render(c, errors: [:], notice: nil) }
        authed.post("account/password") { _, c in
            let s = try c.requireWebSession()
            let f = c.webForm
            let key = "user:" + s.username.lowercased()
            if let wait = await ui.limiter.retryAfter([key]) {
                return try await render(c, errors: ["currentError": "Too many wrong passwords. Try again in \(Int((wait / 60).rounded(.up))) min."],
                                        status: .tooManyRequests)
            }
            let new = f["new"] ?? ""
            guard new == (f["repeat"] ?? "") else {
                return try await render(c, errors: ["repeatError": "The two new passwords differ."], status: .badRequest)
            }
            do {
                try Store.validatePassword(new)
            } catch let e as ControlPlaneError {
                return try await render(c, errors: ["newError": e.message], status: .badRequest)
            }
            // A wrong current password counts against the username like a failed sign-in: a
            // stolen session cannot be used to guess the password at bcrypt speed unthrottled.
            // Checked and counted in one step before the bcrypt, taken back on success (red team
            // D1b: checked before and counted after, 20 parallel posts got 20 guesses).
            let attempt = now()
            if let wait = await ui.limiter.begin([key], at: attempt) {
                return try await render(c, errors: ["currentError": "Too many wrong passwords. Try again in \(Int((wait / 60).rounded(.up))) min."],
                                        status: .tooManyRequests)
            }
            let ended: Int
            do {
                ended = try await server.store.changeWebPassword(session: s, current: f["current"] ?? "", new: new, hasher: ui.hasher)
            } catch let e as ControlPlaneError where e.kind == .unauthorized {
                return try await render(c, errors: ["currentError": e.message], status: .unauthorized)
            }
            await ui.limiter.succeeded([key], at: attempt)
            return try await render(c, errors: [:], notice: "Password changed. \(ended) other session\(ended == 1 ? "" : "s") ended.")
        }
    }

    private func render(_ c: BalctlRequestContext, errors: [String: String], notice: String? = nil,
                        status: HTTPResponse.Status = .ok) async throws -> Response {
        let s = try c.requireWebSession()
        var v: [String: Any] = ["username": s.username, "account": s.op.name, "csrf": s.csrf, "notice": notice as Any]
        for (k, m) in errors { v[k] = m }
        var response = try await routes.layout(s, "Account", ui.render("account", v))
        response.status = status
        return response
    }
}

extension Store {
    /// Check `current` (one bcrypt), store the hash of `new`, end every other session of the user.
    /// Returns how many sessions ended. Unauthorized when `current` is wrong.
    func changeWebPassword(session s: WebSession, current: String, new: String, hasher: PasswordHasher) async throws -> Int {
        try Self.validatePassword(new)
        let old = try await db.read { db in
            try String.fetchOne(db, sql: "SELECT password_hash FROM users WHERE id = ?", arguments: [s.userID])
        }
        guard try await hasher.verify(current, hash: old), old != nil else {
            throw ControlPlaneError.unauthorized("The current password is wrong.")
        }
        let hash = try await hasher.hash(new)
        return try await db.write { db in
            // Compare-and-set on the old hash: two changes racing cannot both win.
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM users WHERE id = ? AND password_hash = ?",
                                   arguments: [s.userID, old!]) == 1 else {
                throw ControlPlaneError.conflict("The password was changed meanwhile: reload and try again.")
            }
            try db.execute(sql: "UPDATE users SET password_hash = ? WHERE id = ?", arguments: [hash, s.userID])
            let n = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM web_sessions WHERE user_id = ? AND token_hash <> ?",
                                     arguments: [s.userID, s.tokenHash]) ?? 0
            try db.execute(sql: "DELETE FROM web_sessions WHERE user_id = ? AND token_hash <> ?", arguments: [s.userID, s.tokenHash])
            try Self.audit(db, s.op.accountID, "user.password", "user:\(s.userID)", "\(s.username); \(n) other sessions ended")
            return n
        }
    }
}
