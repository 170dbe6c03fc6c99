/// Recipes and schedules as the operator API shows them.

public enum RecipeParameterType: String, Codable, Sendable {
    case string, int, number, bool

    /// Does `value` have this type (an int is a whole number)?
    public func accepts(_ value: JSONValue) -> Bool {
        switch (self, value) {
        case (.string, .string), (.bool, .bool): return true
        case (.number, .number(let n)): return n.isFinite
        case (.int, .number(let n)): return n.isFinite && n.rounded() == n
        default: return false
        }
    }

    /// Command-line text as this type, nil when it is not one: a string is the text as given,
    /// however it looks (`8080`, `true`), so nothing is guessed from the text (issue 21 item 9).
    public func value(fromText text: String) -> JSONValue? {
        switch self {
        case .string: return .string(text)
        case .int: return Int(text).map { .number(Double($0)) }
        case .number: return Double(text).flatMap { $0.isFinite ? .number($0) : nil }
        case .bool: return ["true": true, "false": false][text].map { .bool($0) }
        }
    }
}

public struct RecipeParameter: Codable, Sendable, Equatable {
    public var name: String
    public var type: RecipeParameterType
    public var defaultValue: JSONValue?
    public var description: String?
    /// A value the loader checks the steps with when there is no default (a required snapshot
    /// ID must look like one); never used as a value.
    public var example: JSONValue?
    public init(name: String, type: RecipeParameterType, defaultValue: JSONValue?, description: String?, example: JSONValue? = nil) {
        self.name = name; self.type = type; self.defaultValue = defaultValue; self.description = description
        self.example = example
    }
}

public enum StepFailurePolicy: String, Codable, Sendable {
    case abort, `continue`
}

/// One step: a command ID and its parameters, which may reference recipe parameters as
/// `{{ name }}` (a whole value keeps the parameter's type; inside a longer string it is text).
public struct RecipeStep: Codable, Sendable, Equatable {
    public var name: String
    public var run: String
    public var with: JSONValue
    public var timeoutSec: Int?
    public var onFailure: StepFailurePolicy
    /// Where the step is written (file line), for messages.
    public var line: Int
    public init(name: String, run: String, with: JSONValue, timeoutSec: Int?, onFailure: StepFailurePolicy, line: Int) {
        self.name = name; self.run = run; self.with = with; self.timeoutSec = timeoutSec
        self.onFailure = onFailure; self.line = line
    }
}

public struct Recipe: Codable, Sendable, Equatable {
    public var id: String
    public var title: String
    public var description: String
    /// Pool templates it is offered on (empty: any).
    public var templates: [String]
    /// Stacks the member's agent must detect (empty: none needed).
    public var stacks: [String]
    public var parameters: [RecipeParameter]
    public var steps: [RecipeStep]
    /// Steps that undo the recipe (e.g. remove the admin-socket lines); empty when it has none.
    public var disable: [RecipeStep]
    /// Run after the steps; the run completes only when this check completes.
    public var check: RecipeStep?
    public var file: String
    public init(id: String, title: String, description: String, templates: [String], stacks: [String],
                parameters: [RecipeParameter], steps: [RecipeStep], disable: [RecipeStep], check: RecipeStep?, file: String) {
        self.id = id; self.title = title; self.description = description; self.templates = templates
        self.stacks = stacks; self.parameters = parameters; self.steps = steps; self.disable = disable
        self.check = check; self.file = file
    }
}

extension Recipe {
    /// `name=value` pairs (`balctl recipes run --param`), each converted with the type the
    /// recipe declares for it. A `ParameterError` names the pair and what was wrong.
    public func parameterValues(fromPairs pairs: [String]) throws -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for pair in pairs {
            guard let eq = pair.firstIndex(of: "=") else { throw ParameterError("--param \(pair): expected name=value") }
            let name = String(pair[..<eq]), text = String(pair[pair.index(after: eq)...])
            guard let p = parameters.first(where: { $0.name == name }) else {
                let names = parameters.map(\.name).sorted()
                throw ParameterError("--param \(pair): recipe \(id) has no parameter '\(name)' (it takes: \(names.isEmpty ? "none" : names.joined(separator: ", ")))")
            }
            guard let v = p.type.value(fromText: text) else {
                throw ParameterError("--param \(pair): '\(name)' is a\(p.type == .int ? "n" : "") \(p.type.rawValue)\(p.type == .bool ? " (true or false)" : "")")
            }
            out[name] = v
        }
        return out
    }
}

public struct RunRecipeRequest: Codable, Sendable {
    public var params: [String: JSONValue]?
    public init(params: [String: JSONValue]?) { self.params = params }
}

public enum RecipeRunState: String, Codable, Sendable {
    case running, completed, failed, cancelled
}

public struct RecipeRunStepView: Codable, Sendable {
    public var index: Int
    public var name: String
    public var command: String
    public var jobId: Int64?
    public var state: JobState?
    public var error: String?
    public init(index: Int, name: String, command: String, jobId: Int64?, state: JobState?, error: String?) {
        self.index = index; self.name = name; self.command = command; self.jobId = jobId
        self.state = state; self.error = error
    }
}

public struct RecipeRunView: Codable, Sendable {
    public var id: Int64
    public var memberId: Int64
    public var recipeId: String
    /// `enable` (the steps) or `disable` (the disable steps).
    public var mode: String
    public var state: RecipeRunState
    public var currentStep: Int
    public var steps: [RecipeRunStepView]
    public var failedStep: Int?
    public var error: String?
    public var createdAt: Double
    public var finishedAt: Double?
    public init(id: Int64, memberId: Int64, recipeId: String, mode: String, state: RecipeRunState, currentStep: Int,
                steps: [RecipeRunStepView], failedStep: Int?, error: String?, createdAt: Double, finishedAt: Double?) {
        self.id = id; self.memberId = memberId; self.recipeId = recipeId; self.mode = mode; self.state = state
        self.currentStep = currentStep; self.steps = steps; self.failedStep = failedStep; self.error = error
        self.createdAt = createdAt; self.finishedAt = finishedAt
    }
}

/// What to do about due times missed while the control plane was down.
public enum MissedRunPolicy: String, Codable, Sendable {
    /// Fire once on start for everything missed.
    case runOnce = "run_once"
    case skip
}

public struct ScheduleView: Codable, Sendable {
    public var id: Int64
    public var memberId: Int64
    public var name: String
    /// 5-field cron expression in UTC, or a preset such as @daily.
    public var cron: String
    /// Exactly one of `command` or `recipe`.
    public var command: String?
    public var recipe: String?
    public var params: JSONValue
    public var enabled: Bool
    public var missed: MissedRunPolicy
    public var nextRunAt: Double?
    public var lastRunAt: Double?
    public var lastJobId: Int64?
    public var lastRecipeRunId: Int64?
    public var lastError: String?
    public init(id: Int64, memberId: Int64, name: String, cron: String, command: String?, recipe: String?,
                params: JSONValue, enabled: Bool, missed: MissedRunPolicy, nextRunAt: Double?, lastRunAt: Double?,
                lastJobId: Int64?, lastRecipeRunId: Int64?, lastError: String?) {
        self.id = id; self.memberId = memberId; self.name = name; self.cron = cron; self.command = command
        self.recipe = recipe; self.params = params; self.enabled = enabled; self.missed = missed
        self.nextRunAt = nextRunAt; self.lastRunAt = lastRunAt; self.lastJobId = lastJobId
        self.lastRecipeRunId = lastRecipeRunId; self.lastError = lastError
    }
}

public struct CreateScheduleRequest: Codable, Sendable {
    public var name: String
    public var cron: String
    public var command: String?
    public var recipe: String?
    public var params: JSONValue?
    public var enabled: Bool?
    public var missed: MissedRunPolicy?
    public init(name: String, cron: String, command: String?, recipe: String?, params: JSONValue?,
                enabled: Bool?, missed: MissedRunPolicy?) {
        self.name = name; self.cron = cron; self.command = command; self.recipe = recipe
        self.params = params; self.enabled = enabled; self.missed = missed
    }
}

public struct UpdateScheduleRequest: Codable, Sendable {
    public var name: String?
    public var cron: String?
    public var params: JSONValue?
    public var enabled: Bool?
    public var missed: MissedRunPolicy?
    public init(name: String? = nil, cron: String? = nil, params: JSONValue? = nil, enabled: Bool? = nil,
                missed: MissedRunPolicy? = nil) {
        self.name = name; self.cron = cron; self.params = params; self.enabled = enabled; self.missed = missed
    }
}
