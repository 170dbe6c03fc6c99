import ArgumentParser
import BalctlProtocol
import OperatorClient
import Foundation

struct Recipes: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recipes: list, show, run, status, cancel, disable.",
        subcommands: [List.self, Show.self, Run.self, Status.self, Cancel.self, Disable.self], defaultSubcommand: List.self)

    static func runText(_ run: RecipeRunView) -> String {
        var lines = ["recipe run \(run.id): \(run.recipeId) (\(run.mode)) on member \(run.memberId) — \(run.state.rawValue)"]
        lines.append(Render.table(["STEP", "NAME", "COMMAND", "JOB", "STATE"], run.steps.map { s in
            ["\(s.index + 1)\(s.index == run.currentStep && run.state == .running ? "*" : "")", s.name, s.command,
             s.jobId.map { "\($0)" } ?? "-", s.state?.rawValue ?? "not started"]
        }))
        if let e = run.error { lines.append("error: \(e)") }
        return lines.joined(separator: "\n")
    }

    /// `--param name=value` pairs converted with the types the recipe declares (fetched from the
    /// server), so a string parameter may be `8080` or `true`.
    static func parameters(_ pairs: [String], recipe id: String, _ client: APIClient) throws -> [String: JSONValue] {
        if pairs.isEmpty { return [:] }
        let recipe: Recipe = try client.get(APIPath("recipes", id))
        do { return try recipe.parameterValues(fromPairs: pairs) } catch let e as ParameterError {
            throw ValidationError(e.message)
        }
    }

    /// Poll until the run ends; non-zero exit unless it completed.
    static func follow(_ client: APIClient, _ id: Int64, json: Bool) throws {
        var last = ""
        while true {
            let run: RecipeRunView = try pollThroughOutages { try client.get(APIPath("recipe-runs", id)) }
            let text = runText(run)
            if !json && text != last { print(text + "\n"); last = text }
            if run.state != .running {
                if json {
                    let e = JSONEncoder(); e.outputFormatting = [.prettyPrinted, .sortedKeys]
                    print(String(decoding: try e.encode(run), as: UTF8.self))
                }
                if run.state != .completed { throw ExitCode.failure }
                return
            }
            Thread.sleep(forTimeInterval: 1)
        }
    }

    struct List: ParsableCommand {
        @OptionGroup var global: Global
        @Option(help: "Only recipes that apply to this member.") var member: Int64?
        func run() throws {
            try perform {
                let recipes: [Recipe] = try global.client().get(APIPath("recipes").query("member", member))
                try global.output(recipes) {
                    Render.table(["ID", "TITLE", "APPLIES TO", "STEPS", "DISABLE"], recipes.map { r in
                        let applies = (r.templates.isEmpty ? "any pool" : r.templates.joined(separator: "/"))
                            + (r.stacks.isEmpty ? "" : " with " + r.stacks.joined(separator: ", "))
                        return [r.id, r.title, applies, "\(r.steps.count)", r.disable.isEmpty ? "-" : "\(r.disable.count)"]
                    })
                }
            }
        }
    }

    struct Show: ParsableCommand {
        @OptionGroup var global: Global
        @Argument var id: String
        func run() throws {
            try perform {
                let r: Recipe = try global.client().get(APIPath("recipes", id))
                try global.output(r) {
                    var lines = ["\(r.id): \(r.title)", r.description]
                    for p in r.parameters {
                        lines.append("  param \(p.name) (\(p.type.rawValue))\(p.defaultValue.map { " = \($0.jsonString())" } ?? " required")  \(p.description ?? "")")
                    }
                    for (i, s) in r.steps.enumerated() { lines.append("  \(i + 1). \(s.name): \(s.run) \(s.with.jsonString())") }
                    if let c = r.check { lines.append("  check: \(c.name): \(c.run)") }
                    for (i, s) in r.disable.enumerated() { lines.append("  disable \(i + 1). \(s.name): \(s.run)") }
                    return lines.joined(separator: "\n")
                }
            }
        }
    }

    struct Run: ParsableCommand {
        @OptionGroup var global: Global
        @Option(help: "Member ID.") var member: Int64
        @Argument var id: String
        @Option(help: "Recipe parameter name=value (repeatable).") var param: [String] = []
        @Flag(help: "Follow the run until it ends.") var follow = false
        func run() throws {
            try perform {
                let client = try global.client()
                let params = try Recipes.parameters(param, recipe: id, client)
                let run: RecipeRunView = try client.send("POST", APIPath("members", member, "recipes", id, "run"), RunRecipeRequest(params: params))
                if follow { try Recipes.follow(client, run.id, json: global.json) } else { try global.output(run) { Recipes.runText(run) } }
            }
        }
    }

    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run a recipe's disable steps (undo it).")
        @OptionGroup var global: Global
        @Option(help: "Member ID.") var member: Int64
        @Argument var id: String
        @Option(help: "Recipe parameter name=value (repeatable).") var param: [String] = []
        @Flag var follow = false
        func run() throws {
            try perform {
                let client = try global.client()
                let params = try Recipes.parameters(param, recipe: id, client)
                let run: RecipeRunView = try client.send("POST", APIPath("members", member, "recipes", id, "disable"), RunRecipeRequest(params: params))
                if follow { try Recipes.follow(client, run.id, json: global.json) } else { try global.output(run) { Recipes.runText(run) } }
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A recipe run (by id), or a member's runs (--member).")
        @OptionGroup var global: Global
        @Argument(help: "Recipe run ID.") var runID: Int64?
        @Option var member: Int64?
        func run() throws {
            try perform {
                let client = try global.client()
                if let runID {
                    let r: RecipeRunView = try client.get(APIPath("recipe-runs", runID))
                    try global.output(r) { Recipes.runText(r) }
                } else if let member {
                    let runs: [RecipeRunView] = try client.get(APIPath("members", member, "recipe-runs"))
                    try global.output(runs) {
                        Render.table(["RUN", "RECIPE", "MODE", "STATE", "STEP", "STARTED", "ERROR"], runs.map {
                            ["\($0.id)", $0.recipeId, $0.mode, $0.state.rawValue, "\($0.currentStep + 1)/\($0.steps.count)",
                             Render.dateTime($0.createdAt), $0.error ?? ""]
                        })
                    }
                } else {
                    throw ValidationError("give a run id or --member")
                }
            }
        }
    }

    struct Cancel: ParsableCommand {
        @OptionGroup var global: Global
        @Argument(help: "Recipe run ID.") var runID: Int64
        func run() throws {
            try perform {
                let r: RecipeRunView = try global.client().post(APIPath("recipe-runs", runID, "cancel"))
                try global.output(r) { Recipes.runText(r) }
            }
        }
    }
}

struct Schedules: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cron schedules (UTC): add, list, edit, enable, disable, delete.",
        subcommands: [Add.self, List.self, Edit.self, Enable.self, Disable.self, Delete.self], defaultSubcommand: List.self)

    static func table(_ s: [ScheduleView]) -> String {
        Render.table(["ID", "MEMBER", "NAME", "CRON (UTC)", "RUNS", "ENABLED", "NEXT RUN", "LAST RUN", "LAST ERROR"], s.map {
            ["\($0.id)", "\($0.memberId)", $0.name, $0.cron, $0.command ?? "recipe \($0.recipe ?? "")",
             $0.enabled ? "yes" : "no", $0.nextRunAt.map(Render.dateTime) ?? "-", $0.lastRunAt.map(Render.dateTime) ?? "-",
             $0.lastError ?? ""]
        })
    }

    struct Add: ParsableCommand {
        @OptionGroup var global: Global
        @Option(help: "Member ID.") var member: Int64
        @Option var name: String
        @Option(help: "5-field cron in UTC, or @hourly, @daily, @weekly, @monthly, @backup-nightly, @backup-weekly, @every-6h.")
        var cron: String
        @Option(help: "Command ID to run.") var command: String?
        @Option(help: "Recipe ID to run.") var recipe: String?
        @Option(help: "Parameters as a JSON object.") var params: String = "{}"
        @Flag(help: "Skip due times missed while the control plane was down (default: run them once).") var skipMissed = false
        @Flag(help: "Create disabled.") var disabled = false
        func run() throws {
            guard let p = try? JSONDecoder().decode(JSONValue.self, from: Data(params.utf8)), case .object = p else {
                throw ValidationError("--params must be a JSON object")
            }
            try perform {
                let s: ScheduleView = try global.client().send("POST", APIPath("members", member, "schedules"), CreateScheduleRequest(
                    name: name, cron: cron, command: command, recipe: recipe, params: p, enabled: !disabled,
                    missed: skipMissed ? .skip : .runOnce))
                try global.output(s) { Schedules.table([s]) }
            }
        }
    }

    struct List: ParsableCommand {
        @OptionGroup var global: Global
        @Option var member: Int64?
        func run() throws {
            try perform {
                let s: [ScheduleView] = try global.client().get(member.map { APIPath("members", $0, "schedules") } ?? APIPath("schedules"))
                try global.output(s) { Schedules.table(s) }
            }
        }
    }

    struct Edit: ParsableCommand {
        @OptionGroup var global: Global
        @Argument var id: Int64
        @Option var name: String?
        @Option var cron: String?
        @Option(help: "Parameters as a JSON object.") var params: String?
        func run() throws {
            let p = try params.map { text -> JSONValue in
                guard let v = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)), case .object = v else {
                    throw ValidationError("--params must be a JSON object")
                }
                return v
            }
            try perform {
                let s: ScheduleView = try global.client().send("PATCH", APIPath("schedules", id), UpdateScheduleRequest(name: name, cron: cron, params: p))
                try global.output(s) { Schedules.table([s]) }
            }
        }
    }

    struct Enable: ParsableCommand {
        @OptionGroup var global: Global
        @Argument var id: Int64
        func run() throws {
            try perform {
                let s: ScheduleView = try global.client().post(APIPath("schedules", id, "enable"))
                try global.output(s) { Schedules.table([s]) }
            }
        }
    }

    struct Disable: ParsableCommand {
        @OptionGroup var global: Global
        @Argument var id: Int64
        func run() throws {
            try perform {
                let s: ScheduleView = try global.client().post(APIPath("schedules", id, "disable"))
                try global.output(s) { Schedules.table([s]) }
            }
        }
    }

    struct Delete: ParsableCommand {
        @OptionGroup var global: Global
        @Argument var id: Int64
        func run() throws {
            try perform {
                try global.client().delete(APIPath("schedules", id))
                print("deleted schedule \(id)")
            }
        }
    }
}
