import BalctlProtocol
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The web dashboard (issue 19): server-rendered pages over the same Store operations, scoped by
/// the same `Operator`, as the API. Sessions by cookie; every POST carries the session's CSRF token.
struct DashboardRoutes {
    let server: ControlPlane
    var store: Store { server.store }
    var ui: DashboardState { server.dashboard }
    static let cookieName = "balctl_session"

    func register(_ router: Router<BalctlRequestContext>) {
        let pages = router.group().add(middleware: DashboardPageMiddleware(ui: ui))
        pages.get("static/:name") { _, c in
            guard let name = c.parameters.get("name"), let asset = DashboardAssets.byName[name] else {
                throw ControlPlaneError.notFound("no such file")
            }
            var h: HTTPFields = [.contentType: asset.contentType, .cacheControl: "public, max-age=31536000, immutable"]
            DashboardHeaders.apply(&h, html: false)
            return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(string: asset.body)))
        }
        pages.get("signin") { r, c in
            if try await session(r) != nil { throw DashboardRedirect(location: safeNext(r.uri.queryParameters.get("next"))) }
            return page("Sign in", "signin", ["next": safeNext(r.uri.queryParameters.get("next")), "username": ""], nil)
        }
        pages.post("signin") { r, c in try await signIn(r, c) }

        let authed = pages.group().add(middleware: DashboardSessionMiddleware(store: store, policy: ui.sessions))
        authed.get("/") { _, _ in Response(status: .seeOther, headers: [.location: "/pools"]) }
        AccountPage(routes: self).register(authed)
        authed.post("signout") { r, c -> Response in
            let s = try c.requireWebSession()
            try await store.endWebSession(tokenHash: s.tokenHash)
            throw DashboardRedirect(location: "/signin", cookie: clearCookie(r))
        }
        authed.post("signout-everywhere") { r, c -> Response in
            let s = try c.requireWebSession()
            _ = try await store.endAllWebSessions(userID: s.userID)
            throw DashboardRedirect(location: "/signin", cookie: clearCookie(r))
        }
        authed.get("pools") { _, c in
            let s = try c.requireWebSession()
            let pools = try await store.listPools(by: s.op)
            return try await layout(s, "Pools", ui.render("pools", ["pools": pools.map {
                ["id": $0.id, "name": $0.name, "template": $0.template.rawValue, "memberCount": $0.memberCount,
                 "created": WebTime.fields($0.createdAt) as Any]
            }]))
        }
        authed.get("pools/:pool") { _, c in
            let s = try c.requireWebSession()
            let view = try await OverviewPage.build(server: server, pool: pathID(c, "pool"), by: s.op)
            return try await layout(s, view.poolName, view.html, pool: view.poolID)
        }
        authed.get("pools/:pool/events") { r, c in
            let s = try c.requireWebSession()
            let pool = try pathID(c, "pool")
            _ = try await store.pool(pool, by: s.op)  // 404 before the stream starts
            return DashboardEvents(server: server, pool: pool, op: s.op, session: s).response()
        }
        authed.get("pools/:pool/cut") { _, c in try await confirmCut(c, error: nil) }
        authed.post("pools/:pool/cut") { _, c in
            let s = try c.requireWebSession()
            let pool = try pathID(c, "pool")
            do {
                _ = try await server.failover.cut(pool: pool, by: s.op)
            } catch let e as ControlPlaneError where e.kind == .conflict {
                return try await confirmCut(c, error: e.message, status: .conflict)
            }
            throw DashboardRedirect(location: "/pools/\(pool)")
        }
        authed.get("pools/:pool/members/:member/make-active") { _, c in try await confirmMakeActive(c, error: nil) }
        authed.post("pools/:pool/members/:member/make-active") { _, c in
            let s = try c.requireWebSession()
            let (pool, member) = try await poolMember(c, s)
            do {
                _ = try await server.failover.makeActive(member: member.id, force: c.webForm["force"] == "1", by: s.op)
            } catch let e as ControlPlaneError where e.kind == .conflict {
                return try await confirmMakeActive(c, error: e.message, status: .conflict)
            }
            throw DashboardRedirect(location: "/pools/\(pool.id)")
        }
        authed.get("pools/:pool/failover") { _, c in try await failoverPage(c, form: nil, error: nil) }
        authed.post("pools/:pool/failover") { _, c in
            let s = try c.requireWebSession()
            let pool = try pathID(c, "pool")
            let f = c.webForm
            var req = UpdateFailoverSettingsRequest()
            req.hostname = f["hostname"]?.trimmingCharacters(in: .whitespaces)
            req.providerId = f["providerId"].flatMap { Int64($0) }
            req.autoFailover = f["autoFailover"] == "1"
            req.proxied = f["proxied"] == "1"
            req.dynamicDNS = f["dynamicDNS"] == "1"
            req.allowPrivateIPs = f["allowPrivateIPs"] == "1"
            req.alertEmails = (f["alertEmails"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            req.webhookURL = (f["webhookURL"] ?? "").trimmingCharacters(in: .whitespaces)
            // Empty: keep the secret set before (it is never shown back).
            if let secret = f["webhookSecret"], !secret.isEmpty { req.webhookSecret = secret }
            do {
                guard let ttl = Int(f["ttl"] ?? ""), let delay = Int(f["delaySec"] ?? ""), let spacing = Int(f["minSpacingSec"] ?? "") else {
                    throw ControlPlaneError.badRequest("TTL, delay and spacing must be whole numbers of seconds")
                }
                req.ttl = ttl
                req.delaySec = delay
                req.minSpacingSec = spacing
                _ = try await store.updateFailoverSettings(pool: pool, req, box: server.secrets,
                                                           allowLoopbackHTTP: server.config.allowLoopbackHTTP, by: s.op)
            } catch let e as ControlPlaneError where e.kind == .badRequest || e.kind == .conflict {
                return try await failoverPage(c, form: f, error: e.message, status: .badRequest)
            }
            throw DashboardRedirect(location: "/pools/\(pool)/failover")
        }
        authed.get("pools/:pool/members/:member") { _, c -> Response in
            let s = try c.requireWebSession()
            let (pool, member) = try await poolMember(c, s)
            throw DashboardRedirect(location: "/pools/\(pool.id)/members/\(member.id)/control")
        }
        authed.get("pools/:pool/members/:member/:tab") { request, c in
            let s = try c.requireWebSession()
            let (pool, member) = try await poolMember(c, s)
            let tab = c.parameters.get("tab") ?? ""
            let page = MemberPage(server: server, session: s, pool: pool, member: member)
            // `?command=` preselects the job form's command (the stack tabs' "Run…" links); an
            // unknown one just selects nothing.
            let values: [String: Any] = request.uri.queryParameters.get("command").map { ["command": String($0.prefix(128))] } ?? [:]
            return try await layout(s, "\(member.hostname) · \(tab)", try await page.render(tab: tab, values: values), pool: pool.id)
        }
        authed.post("pools/:pool/members/:member/:tab") { _, c in
            let s = try c.requireWebSession()
            let (pool, member) = try await poolMember(c, s)
            let page = MemberPage(server: server, session: s, pool: pool, member: member)
            let (tab, status, html) = try await page.post(action: c.parameters.get("tab") ?? "", form: c.webForm)
            if status == .seeOther { throw DashboardRedirect(location: "/pools/\(pool.id)/members/\(member.id)/\(tab)") }
            var response = try await layout(s, "\(member.hostname) · \(tab)", html, pool: pool.id)
            response.status = status
            return response
        }
        authed.get("fleet-map") { _, c in
            let s = try c.requireWebSession()
            let points = try await store.memberLocations(by: s.op).map { p -> [String: Any] in
                ["id": p.member, "poolID": p.pool, "hostname": p.hostname, "lat": p.lat, "lon": p.lon,
                 "x": String(format: "%.2f", p.lon + 180), "y": String(format: "%.2f", 90 - p.lat)]
            }
            return try await layout(s, "Fleet map", ui.render("fleetMap", ["points": points,
                                                                          "world": DashboardAssets.url("world.svg", DashboardAssets.world)]))
        }
    }

    // MARK: sign-in

    private func signIn(_ r: Request, _ c: BalctlRequestContext) async throws -> Response {
        let body = try await r.body.collect(upTo: 16 * 1024)
        let form = FormBody.parse(String(buffer: body))
        let username = form["username"] ?? ""
        let next = safeNext(form["next"])
        let ip = ClientIP.resolve(peer: ClientIP.peerIPv4(c.peer), cfConnectingIP: r.headers[.cfConnectingIP],
                                  forwardedFor: r.headers[.xForwardedFor], trustedProxies: server.config.trustedProxies,
                                  cloudflareProxies: server.config.cloudflareProxies)
        let keys = SignInLimiter.keys(username: username, peer: c.peer, clientIP: ip)
        // Checked and counted in one step before the bcrypt (red team D1: parallel guesses).
        let attempt = now()
        if let wait = await ui.limiter.begin(keys, at: attempt) {
            let minutes = Int((wait / 60).rounded(.up))
            var response = page("Sign in", "signin", ["next": next, "username": username,
                                                      "error": "Too many failed sign-ins. Try again in \(minutes) minute\(minutes == 1 ? "" : "s")."], nil)
            response.status = .tooManyRequests
            response.headers[.retryAfter] = String(Int(wait.rounded(.up)))
            return response
        }
        guard let user = try await store.checkWebPassword(username: username, password: form["password"] ?? "", hasher: ui.hasher) else {
            var response = page("Sign in", "signin", ["next": next, "username": username, "error": "Wrong username or password."], nil)
            response.status = .unauthorized
            return response
        }
        await ui.limiter.succeeded(keys, at: attempt)
        // A new token at every sign-in (session fixation: a cookie set before sign-in is never kept).
        let (token, _) = try await store.createWebSession(userID: user.userID, policy: ui.sessions)
        throw DashboardRedirect(location: next, cookie: sessionCookie(token, r))
    }

    private func secure(_ r: Request) -> Bool { server.servedCertificate != nil || server.config.publicURL.hasPrefix("https:") }

    private func sessionCookie(_ token: String, _ r: Request) -> String {
        "\(Self.cookieName)=\(token); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(Int(ui.sessions.maxSec))\(secure(r) ? "; Secure" : "")"
    }

    private func clearCookie(_ r: Request) -> String {
        "\(Self.cookieName)=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0\(secure(r) ? "; Secure" : "")"
    }

    private func session(_ r: Request) async throws -> WebSession? {
        guard let token = r.cookies[Self.cookieName]?.value else { return nil }
        return try await store.webSession(token: token, policy: ui.sessions)
    }

    // MARK: pages

    func page(_ title: String, _ template: String, _ object: [String: Any], _ session: [String: Any]?) -> Response {
        let body = ui.render(template, object)
        return htmlResponse(ui.render("layout", layoutObject(title, body, session)))
    }

    private func layoutObject(_ title: String, _ body: String, _ session: [String: Any]?) -> [String: Any] {
        ["title": title, "body": body, "session": session as Any, "version": BalctlVersion.current,
         "css": DashboardAssets.url("app.css", DashboardAssets.css), "js": DashboardAssets.url("app.js", DashboardAssets.js)]
    }

    func layout(_ s: WebSession, _ title: String, _ body: String, pool current: Int64? = nil) async throws -> Response {
        let pools = try await store.listPools(by: s.op).map { ["id": $0.id, "name": $0.name, "current": $0.id == current] as [String: Any] }
        return htmlResponse(ui.render("layout", layoutObject(title, body, ["username": s.username, "csrf": s.csrf, "pools": pools])))
    }

    private func poolMember(_ c: BalctlRequestContext, _ s: WebSession) async throws -> (PoolView, MemberView) {
        let pool = try await store.pool(pathID(c, "pool"), by: s.op)
        let member = try await store.member(pathID(c, "member"), by: s.op)
        guard member.poolId == pool.id else { throw ControlPlaneError.notFound("no member \(member.id) in pool \(pool.id)") }
        return (pool, member)
    }

    private func confirmMakeActive(_ c: BalctlRequestContext, error: String?, status: HTTPResponse.Status = .ok) async throws -> Response {
        let s = try c.requireWebSession()
        let (pool, member) = try await poolMember(c, s)
        let st = try await server.failover.status(pool: pool.id, by: s.op)
        let m = st.members.first { $0.memberId == member.id }
        let old = st.members.first { $0.memberId == st.settings.activeMemberId }
        var response = try await layout(s, "Make \(member.hostname) active", ui.render("confirm", [
            "hostname": member.hostname, "record": st.settings.hostname ?? "(no failover hostname set)",
            "oldIP": st.settings.activeIP ?? "(none)", "newIP": m?.publicIPv4 ?? member.heartbeat?.publicIPv4 ?? "(no public IPv4 reported)",
            "oldActive": old?.hostname ?? "(none)", "error": error as Any, "formID": "confirm-make-active",
            "action": "/pools/\(pool.id)/members/\(member.id)/make-active", "csrf": s.csrf, "poolID": pool.id,
            "offerForce": !(m?.ok ?? false), "button": "Make active",
            "confirmText": "Point \(st.settings.hostname ?? "the record") at \(member.hostname)?",
        ]), pool: pool.id)
        response.status = status
        return response
    }

    private func confirmCut(_ c: BalctlRequestContext, error: String?, status: HTTPResponse.Status = .ok) async throws -> Response {
        let s = try c.requireWebSession()
        let pool = try pathID(c, "pool")
        let st = try await server.failover.status(pool: pool, by: s.op)
        let next = st.members.first { $0.memberId == st.nextStandbyId }
        let old = st.members.first { $0.memberId == st.settings.activeMemberId }
        var response = try await layout(s, "Cut DNS to standby", ui.render("confirm", [
            "hostname": next?.hostname ?? "(no ready standby)", "record": st.settings.hostname ?? "(no failover hostname set)",
            "oldIP": st.settings.activeIP ?? "(none)", "newIP": next?.publicIPv4 ?? "(none)", "oldActive": old?.hostname ?? "(none)",
            "error": (error ?? (next == nil ? "No standby is ready now: a cut would be refused." : nil)) as Any,
            "formID": "confirm-cut", "action": "/pools/\(pool)/cut", "csrf": s.csrf, "poolID": pool, "offerForce": false,
            "button": "Cut DNS to standby", "confirmText": "Cut \(st.settings.hostname ?? "the record") over to the standby?",
        ]), pool: pool)
        response.status = status
        return response
    }

    private func failoverPage(_ c: BalctlRequestContext, form: [String: String]?, error: String?,
                              status: HTTPResponse.Status = .ok) async throws -> Response {
        let s = try c.requireWebSession()
        let pool = try await store.pool(pathID(c, "pool"), by: s.op)
        let settings = try await store.failoverSettings(pool: pool.id, by: s.op)
        let providers = try await store.listDNSProviders(by: s.op)
        let events = try await store.failoverEvents(pool: pool.id, limit: 50, by: s.op)
        let chosen = form?["providerId"].flatMap { Int64($0) } ?? settings.providerId
        let values: [String: Any] = [
            "hostname": form?["hostname"] ?? settings.hostname ?? "", "ttl": form?["ttl"] ?? String(settings.ttl),
            "delaySec": form?["delaySec"] ?? String(settings.delaySec),
            "autoFailover": form.map { $0["autoFailover"] == "1" } ?? settings.autoFailover,
            "minSpacingSec": form?["minSpacingSec"] ?? String(settings.minSpacingSec),
            "proxied": form.map { $0["proxied"] == "1" } ?? settings.proxied,
            "dynamicDNS": form.map { $0["dynamicDNS"] == "1" } ?? settings.dynamicDNS,
            "allowPrivateIPs": form.map { $0["allowPrivateIPs"] == "1" } ?? settings.allowPrivateIPs,
            "alertEmails": form?["alertEmails"] ?? settings.alertEmails.joined(separator: ", "),
            "webhookURL": form?["webhookURL"] ?? settings.webhookURL ?? "",
        ]
        var response = try await layout(s, "\(pool.name) · failover", ui.render("failover", [
            "pool": ["id": pool.id, "name": pool.name], "tabFailover": true, "csrf": s.csrf, "error": error as Any,
            "warnings": settings.warnings, "form": values, "webhookSecretSet": settings.webhookSecretSet,
            "providers": providers.map { ["id": $0.id, "name": $0.name, "kind": $0.kind.rawValue, "selected": $0.id == chosen] as [String: Any] },
            "events": events.map { e -> [String: Any] in
                ["id": e.id, "at": WebTime.fields(e.at) as Any, "kind": e.kind, "fromIP": e.fromIP ?? "", "toIP": e.toIP ?? "",
                 "reason": e.reason ?? "", "error": e.error ?? ""]
            },
        ]), pool: pool.id)
        response.status = status
        return response
    }
}

func htmlResponse(_ html: String, status: HTTPResponse.Status = .ok) -> Response {
    var h: HTTPFields = [.contentType: "text/html; charset=utf-8"]
    DashboardHeaders.apply(&h, html: true)
    return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: html)))
}

extension BalctlRequestContext {
    func requireWebSession() throws -> WebSession {
        guard let s = webSession else { throw ControlPlaneError.unauthorized("sign in first") }
        return s
    }
}

/// Outermost for dashboard routes: security headers on every answer, errors as HTML pages (the
/// API's JSON error middleware never sees them), redirects as 303.
struct DashboardPageMiddleware: RouterMiddleware {
    typealias Context = BalctlRequestContext
    let ui: DashboardState

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            // Red team D4: a form posted from another site (login CSRF — the attacker's session
            // planted in the victim's browser — or any form with a leaked token) is refused when
            // the browser says so. Clients that send no Sec-Fetch-Site are not browsers of that
            // kind and are judged by the CSRF token alone.
            if request.method != .get, request.method != .head,
               let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!], site == "cross-site" || site == "same-site" {
                throw ControlPlaneError.forbidden("Forms are only accepted from this site's own pages.")
            }
            response = try await next(request, context)
        } catch let r as DashboardRedirect {
            response = Response(status: .seeOther, headers: [.location: r.location])
            if let cookie = r.cookie { response.headers[.setCookie] = cookie }
        } catch let e as ControlPlaneError {
            let status = HTTPResponse.Status(code: e.kind.rawValue)
            response = errorPage(status, e.message)
        } catch is NIOTooManyBytesError {
            response = errorPage(.contentTooLarge, "The form is too large.")
        } catch let e as any HTTPResponseError {
            response = errorPage(e.status, e.status.reasonPhrase)
        } catch {
            context.logger.error("internal error on \(request.method) \(request.uri.path): \(error)")
            response = errorPage(.internalServerError, "Internal error.")
        }
        DashboardHeaders.apply(&response.headers, html: response.headers[.contentType]?.hasPrefix("text/html") ?? true)
        return response
    }

    private func errorPage(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let heading = switch status.code {
        case 404: "Not found"
        case 403: "Forbidden"
        case 401: "Sign in required"
        default: status.reasonPhrase
        }
        let body = ui.render("error", ["heading": heading, "message": message])
        let html = ui.render("layout", ["title": heading, "body": body, "version": BalctlVersion.current,
                                        "css": DashboardAssets.url("app.css", DashboardAssets.css),
                                        "js": DashboardAssets.url("app.js", DashboardAssets.js)])
        return htmlResponse(html, status: status)
    }
}

/// Signed-in routes: no session → GET redirects to /signin?next=…, anything else 403. A POST's
/// form is read here (64 KiB at most) and its `csrf` compared in constant time with the session's.
struct DashboardSessionMiddleware: RouterMiddleware {
    typealias Context = BalctlRequestContext
    let store: Store
    let policy: WebSessionPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let token = request.cookies[DashboardRoutes.cookieName]?.value
        let session: WebSession? = if let token { try await store.webSession(token: token, policy: policy) } else { nil }
        var context = context
        if request.method == .get || request.method == .head {
            guard let session else {
                var target = request.uri.path
                if let q = request.uri.query, !q.isEmpty { target += "?" + q }
                let encoded = target.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+?"))) ?? "/pools"
                throw DashboardRedirect(location: "/signin?next=" + encoded)
            }
            context.webSession = session
            return try await next(request, context)
        }
        guard let session else { throw ControlPlaneError.forbidden("Your session has ended: sign in again.") }
        let body = try await request.body.collect(upTo: 64 * 1024)
        let form = FormBody.parse(String(buffer: body))
        guard let sent = form["csrf"], constantTimeEqual(sent, session.csrf) else {
            throw ControlPlaneError.forbidden("The form's security token is missing or wrong: reload the page and try again.")
        }
        context.webSession = session
        context.webForm = form
        return try await next(request, context)
    }
}
