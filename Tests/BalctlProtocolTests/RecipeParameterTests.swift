import BalctlProtocol
import Testing

/// `balctl recipes run --param name=value`: each value converted with the type the recipe
/// declares, never guessed from the text (issue 21 item 9).
struct RecipeParameterTests {
    let recipe = Recipe(
        id: "r", title: "R", description: "", templates: [], stacks: [],
        parameters: [
            RecipeParameter(name: "label", type: .string, defaultValue: nil, description: nil),
            RecipeParameter(name: "port", type: .int, defaultValue: nil, description: nil),
            RecipeParameter(name: "weight", type: .number, defaultValue: nil, description: nil),
            RecipeParameter(name: "force", type: .bool, defaultValue: nil, description: nil),
        ],
        steps: [], disable: [], check: nil, file: "r.yaml")

    @Test("issue 21 item 9: a string parameter keeps text that looks like a number or a bool")
    func stringsStayText() throws {
        let v = try recipe.parameterValues(fromPairs: ["label=8080", "port=8080", "weight=0.5", "force=true"])
        #expect(v == ["label": .string("8080"), "port": .number(8080), "weight": .number(0.5), "force": .bool(true)])
        #expect(try recipe.parameterValues(fromPairs: ["label=true"]) == ["label": .string("true")])
        #expect(try recipe.parameterValues(fromPairs: ["label=a=b"]) == ["label": .string("a=b")])
        #expect(try recipe.parameterValues(fromPairs: ["label="]) == ["label": .string("")])
    }

    @Test("issue 21 item 9: a value of the wrong type, an unknown name or a missing '=' is a clear error", arguments: [
        ("port=80.5", "'port' is an int"),
        ("port=eighty", "'port' is an int"),
        ("weight=nan", "'weight' is a number"),
        ("force=yes", "'force' is a bool (true or false)"),
        ("colour=red", "recipe r has no parameter 'colour' (it takes: force, label, port, weight)"),
        ("port", "expected name=value"),
    ])
    func wrongInput(_ pair: String, _ message: String) {
        #expect {
            _ = try recipe.parameterValues(fromPairs: [pair])
        } throws: { error in
            let m = (error as? ParameterError)?.message ?? ""
            return m.hasPrefix("--param \(pair): ") && m.contains(message)
        }
    }
}
