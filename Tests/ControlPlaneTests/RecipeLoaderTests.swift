import BalctlPlugins
import BalctlProtocol
import Foundation
import Testing
@testable import ControlPlane

/// Recipe files: strict format errors with file, line and key; catalogue validation; and every
/// recipe shipped in recipes/ validates.
struct RecipeLoaderTests {
    let catalogue = AllPlugins.registry.catalogue

    static let good = """
        id: three-echoes
        title: Three echoes
        description: diagnostic
        applies:
          templates: [generic]
        parameters:
          greeting:
            type: string
            default: hello
          wait:
            type: number
            default: 0
        steps:
          - name: first
            run: host.echo
            with:
              message: "{{ greeting }} one"
              delaySeconds: "{{ wait }}"
          - name: second
            run: host.echo
            with: { message: two }
            timeout: 30
            on_failure: continue
        disable:
          - name: undo
            run: host.echo
            with: { message: undo }
        check:
          name: facts
          run: host.collect_facts
        """

    func errors(_ text: String) -> [RecipeError] {
        do {
            let r = try RecipeLoader.parse(text, file: "r.yaml")
            try RecipeLoader.validate(r, catalogue: catalogue)
            return []
        } catch let e as RecipeLoadErrors {
            return e.errors
        } catch {
            return [RecipeError(file: "?", line: 0, key: "?", message: "\(error)")]
        }
    }

    @Test func parsesAGoodRecipe() throws {
        let r = try RecipeLoader.parse(Self.good, file: "r.yaml")
        try RecipeLoader.validate(r, catalogue: catalogue)
        #expect(r.id == "three-echoes" && r.templates == ["generic"])
        #expect(r.steps.map(\.run) == ["host.echo", "host.echo"])
        #expect(r.steps[1].onFailure == .continue && r.steps[1].timeoutSec == 30)
        #expect(r.steps[0].line == 14)
        #expect(r.disable.count == 1 && r.check?.run == "host.collect_facts")
        #expect(r.parameters.map(\.name) == ["greeting", "wait"])
        let with = try RecipeLoader.substitute(r.steps[0].with, with: ["greeting": .string("hi"), "wait": .number(2)])
        #expect(with == .object(["message": .string("hi one"), "delaySeconds": .number(2)]), "a whole reference keeps its type")
    }

    @Test("format errors name file, line and key", arguments: [
        ("id: x\ntitle: t\nstep: []\n", 3, "step", "unknown key"),
        ("id: x\ntitle: t\ntitle: u\nsteps: []\n", 2, "(yaml)", "duplicate"),
        ("id: x\ntitle: t\nsteps:\n  - name: a\n    run: host.echo\n    timeout: ten\n", 6, "steps[0].timeout", "integer"),
        ("id: x\ntitle: t\nsteps:\n  - name: a\n    run: host.echo\n    colour: red\n", 6, "steps[0].colour", "unknown key"),
        ("id: x\ntitle: !!python/object:os.system t\nsteps: []\n", 2, "title", "tag"),
        ("id: x\ntitle: t\nsteps:\n  - name: a\n    run: host.echo\n    on_failure: retry\n", 6, "steps[0].on_failure", "abort or continue"),
        ("id: x\ntitle: t\nsteps:\n  - &a {name: a, run: host.echo}\n  - *a\n", 4, "(yaml)", "anchors"),
        ("id: x\ntitle: t\nsteps:\n  - ? name\n    : a\n", 4, "(yaml)", "complex keys"),
        ("title: t\nsteps: []\n", 1, "id", "required"),
        ("id: X Y\ntitle: t\nsteps: []\n", 1, "id", "a-z"),
        ("id: x\ntitle: t\nsteps: [\n", 4, "(yaml)", "expected"),
    ])
    func formatErrors(_ text: String, _ line: Int, _ key: String, _ message: String) {
        let e = errors(text)
        #expect(e.count == 1)
        #expect(e.first?.file == "r.yaml")
        #expect(e.first?.line == line, "\(e)")
        #expect(e.first?.key == key, "\(e)")
        #expect(e.first?.message.contains(message) == true, "\(e)")
    }

    // issue 21 item 5: the run completes only if the check does, so a check cannot continue on failure.
    @Test("issue 21 item 5: on_failure is refused on the check")
    func checkHasNoFailurePolicy() {
        let e = errors("id: x\ntitle: t\nsteps:\n  - name: a\n    run: host.collect_facts\ncheck:\n  name: c\n  run: host.collect_facts\n  on_failure: continue\n")
        #expect(e.count == 1)
        #expect(e.first?.line == 9 && e.first?.key == "check.on_failure", "\(e)")
        #expect(e.first?.message.contains("not allowed on a check") == true, "\(e)")
    }

    // issue 21 item 8: no silent coercion; every error says file:line: key: message.
    @Test("issue 21 item 8: values the tag's type cannot hold are refused with file, line and key", arguments: [
        ("delaySeconds: 99999999999999999999", "integer"),
        ("delaySeconds: !!int \"abc\"", "integer"),
        ("fail: !!bool \"x\"", "bool"),
        ("delaySeconds: !!float \"soon\"", "number"),
        ("delaySeconds: .nan", "finite"),
        ("delaySeconds: .inf", "finite"),
        ("delaySeconds: -.inf", "finite"),
    ])
    func noSilentCoercion(_ entry: String, _ message: String) {
        let text = "id: x\ntitle: t\nsteps:\n  - name: a\n    run: host.echo\n    with:\n      message: hi\n      \(entry)\n"
        let e = errors(text)
        let key = "steps[0].with." + entry.prefix { $0 != ":" }
        #expect(e.count == 1, "\(e)")
        #expect(e.first?.description.hasPrefix("r.yaml:8: \(key): ") == true, "\(e)")
        #expect(e.first?.message.contains(message) == true, "\(e)")
    }

    @Test("issue 21 item 8: a parameter default that is not finite is refused, not an EncodingError")
    func nonFiniteDefault() {
        let e = errors("id: x\ntitle: t\nparameters:\n  n:\n    type: number\n    default: .nan\nsteps:\n  - name: a\n    run: host.echo\n    with: {message: hi}\n")
        #expect(e.first?.description.hasPrefix("r.yaml:6: parameters.n.default: ") == true, "\(e)")
    }

    @Test("issue 21 item 8: unknown keys in with: are refused for every command")
    func unknownWithKeys() {
        // Every command declares parameters that validate (CommandInfo.example); as JSON they are
        // YAML flow syntax, so a recipe step can take them as they are.
        for info in catalogue.infos {
            let example = info.example ?? .emptyObject
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let with = String(decoding: try! encoder.encode(example), as: UTF8.self)
            let base = "id: x\ntitle: t\nsteps:\n  - name: a\n    run: \(info.id)\n    with: "
            #expect(errors(base + with + "\n").isEmpty, "\(info.id) with \(with)")
            let typo = with == "{}" ? "{fial: true}" : String(with.dropLast()) + ", fial: true}"
            let e = errors(base + typo + "\n")
            #expect(e.first?.key == "steps[0].with", "\(info.id): \(e)")
            #expect(e.first?.message.contains("unexpected parameter 'fial'") == true, "\(info.id): \(e)")
        }
    }

    @Test("a required parameter's example checks the steps at load time; it must have the parameter's type")
    func parameterExample() {
        let withExample = "id: x\ntitle: t\nparameters:\n  snap:\n    type: string\n    example: 0123456789abcdef0123456789abcdef\nsteps:\n  - name: a\n    run: backup.restore\n    with: {snapshot: \"{{ snap }}\"}\n"
        #expect(errors(withExample).isEmpty, "\(errors(withExample))")
        // Without it, the type's sample ("example") is no snapshot ID: the step is refused.
        let without = withExample.replacingOccurrences(of: "    example: 0123456789abcdef0123456789abcdef\n", with: "")
        #expect(errors(without).first?.key == "steps[0].with")
        let wrongType = withExample.replacingOccurrences(of: "example: 0123456789abcdef0123456789abcdef", with: "example: true")
        #expect(errors(wrongType).first?.key == "parameters.snap.example")
    }

    @Test("steps are checked against the command catalogue")
    func catalogueErrors() {
        let unknown = errors("id: x\ntitle: t\nsteps:\n  - name: a\n    run: host.nope\n")
        #expect(unknown.first?.key == "steps[0].run" && unknown.first?.message.contains("unknown command") == true)
        #expect(unknown.first?.line == 4)
        let badParam = errors("id: x\ntitle: t\nsteps:\n  - name: a\n    run: host.echo\n    with: {message: hi, delaySeconds: soon}\n")
        #expect(badParam.first?.key == "steps[0].with")
        #expect(badParam.first?.message.contains("delaySeconds") == true)
        let missing = errors("id: x\ntitle: t\nsteps:\n  - name: a\n    run: host.echo\n")
        #expect(missing.first?.message.contains("message") == true)
        let undefined = errors("id: x\ntitle: t\nsteps:\n  - name: a\n    run: host.echo\n    with: {message: \"{{ nope }}\"}\n")
        #expect(undefined.first?.message.contains("unknown recipe parameter 'nope'") == true)
        let badDefault = errors("id: x\ntitle: t\nparameters:\n  n:\n    type: int\n    default: many\nsteps:\n  - name: a\n    run: host.echo\n    with: {message: hi}\n")
        #expect(badDefault.first?.key == "parameters.n.default")
    }

    @Test("a directory load reports every broken file together, and duplicate ids")
    func directory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recipes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.good.write(to: dir.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        try Self.good.write(to: dir.appendingPathComponent("b.yaml"), atomically: true, encoding: .utf8)
        try "id: y\ntitle: t\nsteps: 3\n".write(to: dir.appendingPathComponent("c.yml"), atomically: true, encoding: .utf8)
        #expect {
            _ = try RecipeLoader.loadDirectory(dir.path, catalogue: catalogue)
        } throws: { error in
            let text = "\(error)"
            return text.contains("b.yaml:1: id:") && text.contains("c.yml:3: steps")
        }
    }

    @Test("every recipe shipped in recipes/ validates against the catalogue")
    func shippedRecipes() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = root.appendingPathComponent("recipes").path
        let recipes = try RecipeLoader.loadDirectory(dir, catalogue: catalogue)
        #expect(!recipes.isEmpty, "recipes/ ships at least one recipe")
        for r in recipes { #expect(!r.steps.isEmpty) }
    }
}
