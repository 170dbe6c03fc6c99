import BalctlProtocol
@testable import ControlPlane
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TestSupport

/// `/account`: a signed-in user changes their own password; the other sessions end.
@Suite("Dashboard account page", .timeLimit(.minutes(2)))
struct DashboardAccountTests {
    typealias P = DashboardPageTests

    @Test func changePasswordEndsOtherSessions() async throws {
        let env = try await P.Env()
        try await env.user("alice")
        try await env.server.application().test(.router) { c in
            let (cookie, csrf) = try await P.signIn(c, "alice")
            let (otherCookie, _) = try await P.signIn(c, "alice")
            let page = try await c.execute(uri: "/account", method: .get, headers: [.cookie: cookie])
            #expect(page.status == .ok)
            P.checkPage(page, "/account")
            #expect(String(buffer: page.body).contains("id=\"change-password\""))
            func change(_ fields: [(String, String)]) async throws -> TestResponse {
                try await c.execute(uri: "/account/password", method: .post, headers: P.formHeaders + [.cookie: cookie],
                                    body: P.form([("csrf", csrf)] + fields))
            }
            // Refusals: wrong current (401), new ones differ, too short — each said beside its field.
            let wrong = try await change([("current", "not-the-password"), ("new", "brand new password"), ("repeat", "brand new password")])
            #expect(wrong.status == .unauthorized && String(buffer: wrong.body).contains("id=\"current-error\""))
            let differ = try await change([("current", "password-alice-123"), ("new", "brand new password"), ("repeat", "brand new passwort")])
            #expect(differ.status == .badRequest && String(buffer: differ.body).contains("id=\"repeat-error\""))
            let short = try await change([("current", "password-alice-123"), ("new", "short"), ("repeat", "short")])
            #expect(short.status == .badRequest && String(buffer: short.body).contains("id=\"new-error\""))
            // Without the CSRF token: 403, nothing changed.
            let noCSRF = try await c.execute(uri: "/account/password", method: .post, headers: P.formHeaders + [.cookie: cookie],
                                             body: P.form([("current", "password-alice-123"), ("new", "brand new password"), ("repeat", "brand new password")]))
            #expect(noCSRF.status == .forbidden)
            // The other session still works before the change…
            #expect(try await c.execute(uri: "/pools", method: .get, headers: [.cookie: otherCookie]).status == .ok)
            let ok = try await change([("current", "password-alice-123"), ("new", "brand new password"), ("repeat", "brand new password")])
            #expect(ok.status == .ok)
            #expect(String(buffer: ok.body).contains("1 other session ended"))
            // …and not after; this one does.
            #expect(try await c.execute(uri: "/pools", method: .get, headers: [.cookie: otherCookie]).status == .seeOther)
            #expect(try await c.execute(uri: "/pools", method: .get, headers: [.cookie: cookie]).status == .ok)
            // The new password signs in, the old one not.
            let old = try await c.execute(uri: "/signin", method: .post, headers: P.formHeaders,
                                          body: P.form([("username", "alice"), ("password", "password-alice-123")]))
            #expect(old.status == .unauthorized)
            let new = try await c.execute(uri: "/signin", method: .post, headers: P.formHeaders,
                                          body: P.form([("username", "alice"), ("password", "brand new password")]))
            #expect(new.status == .seeOther)
        }
    }

    @Test func wrongCurrentPasswordIsThrottled() async throws {
        let env = try await P.Env()
        try await env.user("bob")
        try await env.server.application().test(.router) { c in
            let (cookie, csrf) = try await P.signIn(c, "bob")
            var last: HTTPResponse.Status = .ok
            for _ in 0..<6 {
                last = try await c.execute(uri: "/account/password", method: .post, headers: P.formHeaders + [.cookie: cookie],
                                           body: P.form([("csrf", csrf), ("current", "guess-guess-guess"), ("new", "brand new password"),
                                                         ("repeat", "brand new password")])).status
            }
            #expect(last == .tooManyRequests)
        }
    }
}
