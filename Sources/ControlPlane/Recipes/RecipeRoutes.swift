import BalctlProtocol
import Foundation
import Hummingbird

/// Operator API for recipes, recipe runs and schedules.
struct RecipeRoutes {
    let server: ControlPlane
    var store: Store { server.store }

    func register(_ router: Router<BalctlRequestContext>) {
        let api = router.group(RouterPath(OperatorAPI.prefix)).add(middleware: OperatorAuthMiddleware(store: store))
        let limit = 64 * 1024
        let server = self.server, store = self.store

        @Sendable func recipe(_ c: BalctlRequestContext) throws -> Recipe {
            let name = c.parameters.get("recipe") ?? ""
            guard let r = server.recipes[name] else { throw ControlPlaneError.notFound("no recipe '\(name)'") }
            return r
        }

        // Recipes
        api.get("recipes") { r, c in
            let op = try c.requireOperator()
            let all = server.recipes.values.sorted { $0.id < $1.id }
            if let member = r.uri.queryParameters.get("member", as: Int64.self) {
                return try jsonResponse(try await store.applicableRecipes(all, member: member, by: op))
            }
            return try jsonResponse(all)
        }
        api.get("recipes/:recipe") { _, c in
            _ = try c.requireOperator()
            return try jsonResponse(try recipe(c))
        }
        for (path, disable) in [("members/:member/recipes/:recipe/run", false), ("members/:member/recipes/:recipe/disable", true)] {
            api.post(RouterPath(path)) { r, c in
                let (req, _) = try await decodeBody(RunRecipeRequest.self, r, limit: limit)
                return try jsonResponse(try await store.startRecipe(
                    recipe(c), disable: disable, member: pathID(c, "member"), params: req.params ?? [:],
                    catalogue: server.catalogue, policy: server.config.queue, by: c.requireOperator()), status: .created)
            }
        }
        api.get("members/:member/recipe-runs") { r, c in
            try jsonResponse(try await store.listRecipeRuns(member: pathID(c, "member"), limit: limitParam(r), by: c.requireOperator()))
        }
        api.get("recipe-runs/:run") { _, c in
            try jsonResponse(try await store.recipeRun(pathID(c, "run"), by: c.requireOperator()))
        }
        api.post("recipe-runs/:run/cancel") { _, c in
            try jsonResponse(try await store.cancelRecipeRun(pathID(c, "run"), by: c.requireOperator()))
        }

        // Schedules
        api.get("schedules") { _, c in try jsonResponse(try await store.listSchedules(member: nil, by: c.requireOperator())) }
        api.get("members/:member/schedules") { _, c in
            try jsonResponse(try await store.listSchedules(member: pathID(c, "member"), by: c.requireOperator()))
        }
        api.post("members/:member/schedules") { r, c in
            let (req, _) = try await decodeBody(CreateScheduleRequest.self, r, limit: limit)
            return try jsonResponse(try await store.createSchedule(
                member: pathID(c, "member"), req, recipes: server.recipes, catalogue: server.catalogue,
                policy: server.config.queue, by: c.requireOperator()), status: .created)
        }
        api.get("schedules/:schedule") { _, c in
            try jsonResponse(try await store.schedule(pathID(c, "schedule"), by: c.requireOperator()))
        }
        api.patch("schedules/:schedule") { r, c in
            let (req, _) = try await decodeBody(UpdateScheduleRequest.self, r, limit: limit)
            return try jsonResponse(try await store.updateSchedule(
                pathID(c, "schedule"), req, recipes: server.recipes, catalogue: server.catalogue,
                policy: server.config.queue, by: c.requireOperator()))
        }
        for (path, enabled) in [("schedules/:schedule/enable", true), ("schedules/:schedule/disable", false)] {
            api.post(RouterPath(path)) { _, c in
                try jsonResponse(try await store.updateSchedule(
                    pathID(c, "schedule"), UpdateScheduleRequest(enabled: enabled), recipes: server.recipes,
                    catalogue: server.catalogue, policy: server.config.queue, by: c.requireOperator()))
            }
        }
        api.delete("schedules/:schedule") { _, c in
            try await store.deleteSchedule(pathID(c, "schedule"), by: c.requireOperator())
            return Response(status: .noContent)
        }
    }
}
