import BalctlProtocol
import Hummingbird
import NIOCore

extension OpenAPIDocument {
    static let path = OperatorAPI.prefix + "/openapi.json"

    /// `GET /api/v1/openapi.json`: public (the API's shape, no secrets), no operator token needed.
    static func register(_ router: Router<BalctlRequestContext>) {
        let body = ByteBuffer(string: json)
        router.get(RouterPath(path)) { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-cache"], body: .init(byteBuffer: body))
        }
    }
}

extension ControlPlane {
    /// Every route the server's router answers: method and path as registered (`/api/v1/pools/:pool`).
    /// The OpenAPI test holds the document to this list.
    func routeTable() throws -> [(method: String, path: String)] {
        let router = router()
        try router.validate()
        return router.routes.map { (method: $0.method.rawValue, path: $0.path.description) }
    }

    /// The web dashboard's routes (HTML pages, form posts, SSE, static assets): a browser UI, not
    /// part of the API the document describes. Read from a router holding only them, so the list
    /// cannot drift from what the dashboard registers.
    func dashboardRouteTable() -> [(method: String, path: String)] {
        let router = Router(context: BalctlRequestContext.self)
        DashboardRoutes(server: self).register(router)
        return router.routes.map { (method: $0.method.rawValue, path: $0.path.description) }
    }
}
