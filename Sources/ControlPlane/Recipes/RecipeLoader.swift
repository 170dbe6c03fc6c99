import BalctlProtocol
import Foundation
import Yams

/// A problem in a recipe file, located: "recipes/x.yaml:12: steps[1].run: unknown command 'x'".
public struct RecipeError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    public var line: Int
    public var key: String
    public var message: String
    public var description: String { "\(file):\(line): \(key): \(message)" }
}

public struct RecipeLoadErrors: Error, CustomStringConvertible, Sendable {
    public var errors: [RecipeError]
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// Reads recipe YAML strictly: known keys only, no duplicate keys, no anchors, aliases or complex
/// keys (refused lexically before Yams parses, so no alias bomb), only the core tags, the right
/// type for every value (no silent coercion); then checks every step
/// against the command catalogue (the ID exists, the parameters decode into its type).
public enum RecipeLoader {
    static let maxFileBytes = 64 * 1024

    /// Every `*.yaml`/`*.yml` file in `directory`, all problems reported together.
    public static func loadDirectory(_ directory: String, catalogue: CommandCatalogue) throws -> [Recipe] {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        var recipes: [Recipe] = []
        var errors: [RecipeError] = []
        for name in files {
            let path = directory + "/" + name
            do {
                let recipe = try load(path: path, catalogue: catalogue)
                if let clash = recipes.first(where: { $0.id == recipe.id }) {
                    errors.append(RecipeError(file: path, line: 1, key: "id", message: "'\(recipe.id)' is also the id of \(clash.file)"))
                } else {
                    recipes.append(recipe)
                }
            } catch let e as RecipeLoadErrors {
                errors += e.errors
            }
        }
        if !errors.isEmpty { throw RecipeLoadErrors(errors: errors) }
        return recipes
    }

    public static func load(path: String, catalogue: CommandCatalogue) throws -> Recipe {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RecipeLoadErrors(errors: [RecipeError(file: path, line: 0, key: "(file)", message: "cannot read")])
        }
        guard data.count <= maxFileBytes else {
            throw RecipeLoadErrors(errors: [RecipeError(file: path, line: 0, key: "(file)", message: "larger than \(maxFileBytes) bytes")])
        }
        let recipe = try parse(String(decoding: data, as: UTF8.self), file: path)
        try validate(recipe, catalogue: catalogue)
        return recipe
    }

    // MARK: format

    public static func parse(_ text: String, file: String) throws -> Recipe {
        // Before Yams: its composer expands aliases while building the tree (issue 21 item 2).
        do { try YAMLTokenGuard.check(text) } catch let r as YAMLTokenGuard.Refusal {
            throw RecipeLoadErrors(errors: [RecipeError(file: file, line: r.line, key: "(yaml)", message: r.message)])
        }
        let parser: Parser
        let root: Node?
        do {
            parser = try Parser(yaml: text)
            root = try parser.singleRoot()
        } catch let e as YamlError {
            throw RecipeLoadErrors(errors: [RecipeError(file: file, line: yamlLine(e), key: "(yaml)", message: yamlMessage(e))])
        } catch {
            throw RecipeLoadErrors(errors: [RecipeError(file: file, line: 0, key: "(yaml)", message: "\(error)")])
        }
        guard let root else {
            throw RecipeLoadErrors(errors: [RecipeError(file: file, line: 1, key: "(file)", message: "empty document")])
        }
        // Anchors are weak references owned by the parser: keep it alive while walking.
        return try withExtendedLifetime(parser) {
            let w = Walker(file: file)
            do {
                try w.checkTree(root, "")
                return try w.recipe(root)
            } catch let e as RecipeError { throw RecipeLoadErrors(errors: [e]) }
        }
    }

    static func yamlLine(_ e: YamlError) -> Int {
        switch e {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        case .duplicatedKeysInMapping(_, let context): return context.mark.line
        default: return 0
        }
    }

    static func yamlMessage(_ e: YamlError) -> String {
        switch e {
        case .duplicatedKeysInMapping(let keys, _): return "duplicate key(s): \(keys.sorted().joined(separator: ", "))"
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): return problem
        default: return "\(e)"
        }
    }

    // MARK: catalogue

    /// Each `run:` must be a known command; each `with:` (parameters substituted by their
    /// defaults, else their `example`, else a sample of their type) must decode into that
    /// command's parameters.
    public static func validate(_ recipe: Recipe, catalogue: CommandCatalogue) throws {
        var errors: [RecipeError] = []
        var samples: [String: JSONValue] = [:]
        for p in recipe.parameters {
            samples[p.name] = p.defaultValue ?? p.example ?? {
                switch p.type {
                case .string: return .string("example")
                case .int, .number: return .number(1)
                case .bool: return .bool(true)
                }
            }()
        }
        let all = recipe.steps.enumerated().map { ("steps[\($0)]", $1) }
            + recipe.disable.enumerated().map { ("disable[\($0)]", $1) }
            + (recipe.check.map { [("check", $0)] } ?? [])
        for (key, step) in all {
            guard catalogue.descriptors[step.run] != nil else {
                errors.append(RecipeError(file: recipe.file, line: step.line, key: "\(key).run",
                                          message: "unknown command '\(step.run)'"))
                continue
            }
            do {
                let params = try substitute(step.with, with: samples, file: recipe.file, line: step.line, key: "\(key).with")
                try catalogue.validate(command: step.run, params: params, checkMode: false)
            } catch let e as ParameterError {
                errors.append(RecipeError(file: recipe.file, line: step.line, key: "\(key).with", message: e.message))
            } catch let e as RecipeError {
                errors.append(e)
            }
        }
        if !errors.isEmpty { throw RecipeLoadErrors(errors: errors) }
    }

    /// Replace `{{ name }}` references with parameter values.
    public static func substitute(_ value: JSONValue, with params: [String: JSONValue], file: String = "",
                                  line: Int = 0, key: String = "with") throws -> JSONValue {
        switch value {
        case .string(let s):
            let refs = references(in: s)
            if refs.isEmpty { return value }
            for r in refs where params[r.name] == nil {
                throw RecipeError(file: file, line: line, key: key, message: "unknown recipe parameter '\(r.name)'")
            }
            if refs.count == 1, refs[0].range == s.startIndex..<s.endIndex { return params[refs[0].name]! }
            var out = s
            for r in refs.reversed() {
                let v = params[r.name]!
                let text: String
                switch v {
                case .string(let t): text = t
                case .null: text = ""
                default: text = v.jsonString()
                }
                out.replaceSubrange(r.range, with: text)
            }
            return .string(out)
        case .array(let a):
            return .array(try a.map { try substitute($0, with: params, file: file, line: line, key: key) })
        case .object(let o):
            return .object(try o.mapValues { try substitute($0, with: params, file: file, line: line, key: key) })
        default:
            return value
        }
    }

    static func references(in s: String) -> [(name: String, range: Range<String.Index>)] {
        var out: [(String, Range<String.Index>)] = []
        var search = s.startIndex..<s.endIndex
        while let open = s.range(of: "{{", range: search), let close = s.range(of: "}}", range: open.upperBound..<s.endIndex) {
            let name = s[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            out.append((name, open.lowerBound..<close.upperBound))
            search = close.upperBound..<s.endIndex
        }
        return out
    }
}

/// Turns the YAML node tree into a `Recipe`, refusing anything outside the format.
private struct Walker {
    let file: String

    static let coreTags: Set<String> = [
        "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq",
    ]

    func fail(_ node: Node?, _ key: String, _ message: String) -> RecipeError {
        RecipeError(file: file, line: node?.mark?.line ?? 0, key: key, message: message)
    }

    /// Checks every node has a core tag and no anchor (so no alias can point at it).
    func check(_ node: Node, _ key: String) throws {
        if node.anchor != nil { throw fail(node, key, "anchors and aliases are not allowed in recipes") }
        let tag = node.tag.description
        guard Self.coreTags.contains(tag) else { throw fail(node, key, "tag '\(tag)' is not allowed") }
    }

    /// Tags and anchors everywhere, in document order, before anything else: an anchor is
    /// always met before any alias to it, so an alias bomb stops at its first anchor.
    func checkTree(_ node: Node, _ key: String) throws {
        try check(node, key)
        switch node {
        case .mapping(let m):
            for (k, v) in m {
                try check(k, key)
                let name = k.scalar?.string ?? "?"
                try checkTree(v, key.isEmpty ? name : "\(key).\(name)")
            }
        case .sequence(let s):
            for (i, v) in s.enumerated() { try checkTree(v, "\(key)[\(i)]") }
        case .scalar, .alias:
            break
        }
    }

    func mapping(_ node: Node, _ key: String, allowed: Set<String>, required: Set<String>) throws -> [String: Node] {
        try check(node, key)
        guard let map = node.mapping else { throw fail(node, key, "expected a mapping") }
        var out: [String: Node] = [:]
        for (k, v) in map {
            try check(k, key)
            guard let name = k.scalar?.string else { throw fail(k, key, "keys must be plain strings") }
            let path = key.isEmpty ? name : "\(key).\(name)"
            guard allowed.contains(name) else {
                throw fail(k, path, "unknown key (allowed: \(allowed.sorted().joined(separator: ", ")))")
            }
            out[name] = v
        }
        for r in required.sorted() where out[r] == nil {
            throw fail(node, key.isEmpty ? r : "\(key).\(r)", "required key is missing")
        }
        return out
    }

    func string(_ node: Node, _ key: String) throws -> String {
        try check(node, key)
        guard let s = node.scalar, node.tag.description == "tag:yaml.org,2002:str" else {
            throw fail(node, key, "expected a string")
        }
        return s.string
    }

    func int(_ node: Node, _ key: String, _ range: ClosedRange<Int>) throws -> Int {
        try check(node, key)
        guard node.tag.description == "tag:yaml.org,2002:int", let v = node.int else { throw fail(node, key, "expected an integer") }
        guard range.contains(v) else { throw fail(node, key, "must be \(range.lowerBound)–\(range.upperBound)") }
        return v
    }

    func stringList(_ node: Node, _ key: String) throws -> [String] {
        try check(node, key)
        guard let seq = node.sequence else { throw fail(node, key, "expected a list") }
        return try seq.enumerated().map { try string($1, "\(key)[\($0)]") }
    }

    /// Any value made of core-tag scalars, lists and mappings.
    func json(_ node: Node, _ key: String) throws -> JSONValue {
        try check(node, key)
        switch node {
        case .mapping(let m):
            var o: [String: JSONValue] = [:]
            for (k, v) in m {
                try check(k, key)
                guard let name = k.scalar?.string else { throw fail(k, key, "keys must be plain strings") }
                o[name] = try json(v, "\(key).\(name)")
            }
            return .object(o)
        case .sequence(let s):
            return .array(try s.enumerated().map { try json($1, "\(key)[\($0)]") })
        case .scalar(let s):
            // A value the tag's type cannot hold is an error, never a silent 0 or false
            // (issue 21 item 8); JSON has no NaN or infinity.
            switch node.tag.description {
            case "tag:yaml.org,2002:int":
                guard let v = node.int else { throw fail(node, key, "'\(s.string)' is not an integer (or out of range)") }
                return .number(Double(v))
            case "tag:yaml.org,2002:float":
                guard let v = node.float else { throw fail(node, key, "'\(s.string)' is not a number") }
                guard v.isFinite else { throw fail(node, key, "'\(s.string)': numbers must be finite") }
                return .number(v)
            case "tag:yaml.org,2002:bool":
                guard let v = node.bool else { throw fail(node, key, "'\(s.string)' is not a bool (true or false)") }
                return .bool(v)
            case "tag:yaml.org,2002:null": return .null
            default: return .string(s.string)
            }
        case .alias:
            throw fail(node, key, "anchors and aliases are not allowed in recipes")
        }
    }

    func recipe(_ root: Node) throws -> Recipe {
        let top = try mapping(root, "", allowed: ["id", "title", "description", "applies", "parameters", "steps", "disable", "check"],
                              required: ["id", "title", "steps"])
        let id = try string(top["id"]!, "id")
        guard !id.isEmpty, id.count <= 64, id.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) else {
            throw fail(top["id"], "id", "must be 1–64 characters of a-z, 0-9 and '-'")
        }
        var templates: [String] = [], stacks: [String] = []
        if let applies = top["applies"] {
            let a = try mapping(applies, "applies", allowed: ["templates", "stacks"], required: [])
            if let t = a["templates"] {
                templates = try stringList(t, "applies.templates")
                for (i, name) in templates.enumerated() where PoolTemplate(rawValue: name) == nil {
                    throw fail(t.sequence?[i], "applies.templates[\(i)]", "unknown template '\(name)' (haproxy, generic)")
                }
            }
            if let s = a["stacks"] { stacks = try stringList(s, "applies.stacks") }
        }
        var parameters: [RecipeParameter] = []
        if let ps = top["parameters"] {
            for (name, node) in try mapping(ps, "parameters", allowed: Set(ps.mapping?.compactMap { $0.key.scalar?.string } ?? []), required: [])
                .sorted(by: { $0.key < $1.key }) {
                let key = "parameters.\(name)"
                guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                    throw fail(node, key, "parameter names are letters, digits and '_'")
                }
                let p = try mapping(node, key, allowed: ["type", "default", "description", "example"], required: ["type"])
                let typeText = try string(p["type"]!, "\(key).type")
                guard let type = RecipeParameterType(rawValue: typeText) else {
                    throw fail(p["type"], "\(key).type", "unknown type '\(typeText)' (string, int, number, bool)")
                }
                var def: JSONValue? = nil
                if let d = p["default"] {
                    def = try json(d, "\(key).default")
                    if !type.accepts(def!) { throw fail(d, "\(key).default", "expected a \(type.rawValue)") }
                }
                var example: JSONValue? = nil
                if let e = p["example"] {
                    example = try json(e, "\(key).example")
                    if !type.accepts(example!) { throw fail(e, "\(key).example", "expected a \(type.rawValue)") }
                }
                parameters.append(RecipeParameter(name: name, type: type, defaultValue: def,
                                                  description: try p["description"].map { try string($0, "\(key).description") },
                                                  example: example))
            }
        }
        let steps = try stepList(top["steps"]!, "steps")
        guard !steps.isEmpty else { throw fail(top["steps"], "steps", "at least one step is required") }
        let disable = try top["disable"].map { try stepList($0, "disable") } ?? []
        let check = try top["check"].map { try step($0, "check", isCheck: true) }
        return Recipe(id: id, title: try string(top["title"]!, "title"),
                      description: try top["description"].map { try string($0, "description") } ?? "",
                      templates: templates, stacks: stacks, parameters: parameters, steps: steps,
                      disable: disable, check: check, file: file)
    }

    func stepList(_ node: Node, _ key: String) throws -> [RecipeStep] {
        try check(node, key)
        guard let seq = node.sequence else { throw fail(node, key, "expected a list of steps") }
        guard seq.count <= 50 else { throw fail(node, key, "at most 50 steps") }
        return try seq.enumerated().map { try step($1, "\(key)[\($0)]") }
    }

    /// A `check` has no `on_failure`: the run completes only if the check does (issue 21 item 5).
    func step(_ node: Node, _ key: String, isCheck: Bool = false) throws -> RecipeStep {
        let m = try mapping(node, key, allowed: ["name", "run", "with", "timeout", "on_failure"], required: ["name", "run"])
        if isCheck, let f = m["on_failure"] {
            throw fail(f, "\(key).on_failure", "not allowed on a check: the run completes only if the check does")
        }
        let run = try string(m["run"]!, "\(key).run")
        guard CommandID.isWellFormed(run) else { throw fail(m["run"], "\(key).run", "'\(run)' is not a command ID") }
        var with: JSONValue = .emptyObject
        if let w = m["with"] {
            with = try json(w, "\(key).with")
            guard case .object = with else { throw fail(w, "\(key).with", "expected a mapping of parameters") }
        }
        var policy = StepFailurePolicy.abort
        if let f = m["on_failure"] {
            let text = try string(f, "\(key).on_failure")
            guard let p = StepFailurePolicy(rawValue: text) else {
                throw fail(f, "\(key).on_failure", "must be abort or continue")
            }
            policy = p
        }
        return RecipeStep(name: try string(m["name"]!, "\(key).name"), run: run, with: with,
                          timeoutSec: try m["timeout"].map { try int($0, "\(key).timeout", 1...86_400) },
                          onFailure: policy, line: node.mark?.line ?? 0)
    }
}
