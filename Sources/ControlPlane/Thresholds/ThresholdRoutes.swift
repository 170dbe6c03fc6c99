import BalctlProtocol
import Foundation
import Hummingbird

/// Operator API for alert thresholds (pool presets, member overrides) and the alert list.
struct ThresholdRoutes {
    let server: ControlPlane

    func register(_ router: Router<BalctlRequestContext>) {
        let api = router.group(RouterPath(OperatorAPI.prefix)).add(middleware: OperatorAuthMiddleware(store: server.store))
        let store = server.store, monitor = server.thresholds
        let limit = 16 * 1024

        @Sendable func metric(_ c: BalctlRequestContext) throws -> ThresholdMetric {
            let name = c.parameters.get("metric") ?? ""
            guard let m = ThresholdMetric(rawValue: name) else {
                throw ControlPlaneError.notFound("no threshold metric '\(name.prefix(64))' (one of \(ThresholdMetric.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return m
        }

        api.get("pools/:pool/thresholds") { _, c in
            try jsonResponse(try await store.thresholds(pool: pathID(c, "pool"), by: c.requireOperator()))
        }
        api.put("pools/:pool/thresholds/:metric") { r, c in
            let (req, _) = try await decodeBody(SetThresholdRequest.self, r, limit: limit)
            let view = try await store.setThreshold(pool: pathID(c, "pool"), try metric(c), req, by: c.requireOperator())
            try? await monitor.refresh()  // in effect on this replica at once; others within their refresh
            return try jsonResponse(view)
        }
        api.delete("pools/:pool/thresholds/:metric") { _, c in
            let view = try await store.removeThreshold(pool: pathID(c, "pool"), try metric(c), by: c.requireOperator())
            try? await monitor.refresh()
            return try jsonResponse(view)
        }
        api.get("members/:member/thresholds") { _, c in
            try jsonResponse(try await store.thresholds(member: pathID(c, "member"), by: c.requireOperator()))
        }
        api.put("members/:member/thresholds/:metric") { r, c in
            let (req, _) = try await decodeBody(SetThresholdRequest.self, r, limit: limit)
            let view = try await store.setThreshold(member: pathID(c, "member"), try metric(c), req, by: c.requireOperator())
            try? await monitor.refresh()
            return try jsonResponse(view)
        }
        api.delete("members/:member/thresholds/:metric") { _, c in
            let view = try await store.removeThreshold(member: pathID(c, "member"), try metric(c), by: c.requireOperator())
            try? await monitor.refresh()
            return try jsonResponse(view)
        }
        api.get("alerts") { r, c in
            let member = r.uri.queryParameters.get("member").map { Int64($0) }
            if case .some(.none) = member { throw ControlPlaneError.badRequest("member must be a number") }
            return try jsonResponse(try await store.alerts(member: member ?? nil, limit: limitParam(r), by: c.requireOperator()))
        }
    }
}
