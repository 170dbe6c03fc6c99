import BalctlProtocol
import Hummingbird

/// Operator API for dashboard users: `POST/GET /api/v1/users`, `DELETE /api/v1/users/{name}`.
struct UserRoutes {
    let server: ControlPlane

    func register(_ router: Router<BalctlRequestContext>) {
        let store = server.store
        let hasher = server.dashboard.hasher
        let api = router.group(RouterPath(OperatorAPI.prefix)).add(middleware: OperatorAuthMiddleware(store: store))
        api.get("users") { _, c in try jsonResponse(try await store.listWebUsers(by: c.requireOperator())) }
        api.post("users") { r, c in
            let (req, _) = try await decodeBody(CreateWebUserRequest.self, r, limit: 16 * 1024)
            return try jsonResponse(try await store.createWebUser(req, hasher: hasher, by: c.requireOperator()), status: .created)
        }
        api.delete("users/:username") { _, c in
            try await store.removeWebUser(c.parameters.get("username") ?? "", by: c.requireOperator())
            return Response(status: .noContent)
        }
    }
}
