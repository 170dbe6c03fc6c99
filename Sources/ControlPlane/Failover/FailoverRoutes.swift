import BalctlProtocol
import Hummingbird

/// Operator API for failover and DNS providers (`/api/v1/...`). Every change is audit-logged by
/// the store; provider secrets go in and never come out.
struct FailoverRoutes {
    let server: ControlPlane
    var store: Store { server.store }
    var failover: Failover { server.failover }

    func register(_ router: Router<BalctlRequestContext>) {
        let api = router.group(RouterPath(OperatorAPI.prefix)).add(middleware: OperatorAuthMiddleware(store: store))
        let limit = 64 * 1024

        api.get("dns/providers") { _, c in try jsonResponse(try await store.listDNSProviders(by: c.requireOperator())) }
        api.post("dns/providers") { r, c in
            let (req, _) = try await decodeBody(CreateDNSProviderRequest.self, r, limit: limit)
            return try jsonResponse(try await store.addDNSProvider(req, box: server.secrets,
                                                                allowLoopbackHTTP: server.config.allowLoopbackHTTP, by: c.requireOperator()), status: .created)
        }
        api.delete("dns/providers/:provider") { _, c in
            try await store.removeDNSProvider(pathID(c, "provider"), by: c.requireOperator())
            return Response(status: .noContent)
        }

        api.get("pools/:pool/failover") { _, c in
            try jsonResponse(try await failover.status(pool: pathID(c, "pool"), by: c.requireOperator()))
        }
        api.patch("pools/:pool/failover") { r, c in
            let (req, _) = try await decodeBody(UpdateFailoverSettingsRequest.self, r, limit: limit)
            return try jsonResponse(try await store.updateFailoverSettings(pool: pathID(c, "pool"), req, box: server.secrets,
                                                                           allowLoopbackHTTP: server.config.allowLoopbackHTTP,
                                                                           by: c.requireOperator()))
        }
        api.get("pools/:pool/failover/events") { r, c in
            try jsonResponse(try await store.failoverEvents(pool: pathID(c, "pool"), limit: limitParam(r), by: c.requireOperator()))
        }
        api.post("pools/:pool/failover/cut") { _, c in
            try jsonResponse(try await failover.cut(pool: pathID(c, "pool"), by: c.requireOperator()))
        }
        api.post("pools/:pool/failover/drill") { _, c in
            try jsonResponse(try await failover.drill(pool: pathID(c, "pool"), by: c.requireOperator()))
        }
        api.post("members/:member/make-active") { r, c in
            let (req, _) = try await decodeBody(MakeActiveRequest.self, r, limit: limit)
            return try jsonResponse(try await failover.makeActive(member: pathID(c, "member"), force: req.force ?? false,
                                                                  by: c.requireOperator()))
        }
        api.patch("members/:member/failover") { r, c in
            let (req, _) = try await decodeBody(UpdateMemberFailoverRequest.self, r, limit: limit)
            return try jsonResponse(try await store.updateMemberFailover(pathID(c, "member"), req, by: c.requireOperator()))
        }
    }
}
