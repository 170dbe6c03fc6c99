@testable import ControlPlane
import Foundation
import Testing
import TestSupport
import Yams

/// The lexical pass that refuses anchors, aliases and complex keys before Yams parses a recipe
/// (issue 21 item 2). Its oracle is Yams itself: whatever the guard lets through must parse, if
/// it parses at all, into a tree without an anchor or an alias.
struct YAMLTokenGuardTests {
    /// Legal text with `&`, `*`, `?`, quotes and comments where they are NOT tokens.
    static let accepted: [String] = [
        "id: x\ntitle: t\nsteps: []\n",
        "message: a & b *c ?d\n",
        "message: \"a & b, *c, ?d, &e\"\n",
        "message: 'it''s & *not* an alias'\n",
        "message: why?\n",
        "message: a*b&c\n",
        "url: http://example.com/a?b=c&d=*\n",
        "# &anchor *alias ? complex\nk: v # &x *y\n",
        "k: |\n  *not an alias\n  &not an anchor\n  ? no key\n\n  \"open quote\nnext: 1\n",
        "- key: >-\n    *folded\n    text\n- two\n",
        "k: |2\n    *indented further than needed\n",
        "flow: {message: \"x*y\", n: [1, 2, 'a&b']}\n",
        "s: !!str text\n",
        "---\nk: v\n...\n",
        "k: \"escaped \\\" quote & *\"\n",
        "a: b\r\nc: d\r\n",
    ]

    /// Anchors, aliases and complex keys in every position Yams reads them; the line reported.
    static let refused: [(String, Int, String)] = [
        ("k: &a v\n", 1, "anchors"),
        ("k: v\nj: *a\n", 2, "anchors"),
        ("- *a\n", 1, "anchors"),
        ("k: [x, *a]\n", 1, "anchors"),
        ("k: {a: *b}\n", 1, "anchors"),
        ("k: {\"a\":*b}\n", 1, "anchors"),
        ("k: !!str &a v\n", 1, "anchors"),
        ("--- *a\n", 1, "anchors"),
        ("? x\n: y\n", 1, "complex keys"),
        ("k:\n  ? [a]\n  : b\n", 2, "complex keys"),
        ("k: |\n  text\n*b : c\n", 3, "anchors"),                 // the block scalar ended
        ("- key: |\n  *x : y\n", 2, "anchors"),                   // not body: the parent is `key` at column 2
        ("k: |\n          \n  *x : y\n", 3, "anchors"),           // leading blank line sets the body deeper
        ("k: |4\n  *x : y\n", 2, "anchors"),                      // explicit indentation: 4 needed
        ("a: b\r*c: d\n", 2, "anchors"),                          // CR alone breaks a line
        ("a: b\u{2028}*c: d\n", 2, "anchors"),                    // so does LS, as libyaml reads it
        ("a:\t*c\n", 1, "anchors"),
        ("k: \"never closed\n*a: b\n", 1, "quoted string"),
        ("k: " + String(repeating: "[", count: 40) + "\n", 1, "nested deeper"),
    ]

    @Test("text where & * ? are not tokens is accepted", arguments: accepted)
    func accepts(_ text: String) throws {
        try YAMLTokenGuard.check(text)
        #expect(Self.yamsSeesNoAnchorOrAlias(text))
    }

    @Test("anchors, aliases and complex keys are refused, with their line", arguments: refused)
    func refuses(_ text: String, _ line: Int, _ message: String) {
        #expect {
            try YAMLTokenGuard.check(text)
        } throws: { error in
            guard let r = error as? YAMLTokenGuard.Refusal else { return false }
            return r.line == line && r.message.contains(message)
        }
    }

    /// The alias bomb of the issue: 12 levels of 10-element aliased lists and a complex key,
    /// about 600 bytes (8 levels took Yams 8.6 s; 12 about a day). Refused at its first anchor,
    /// in a number of scanner steps bounded by its length, before Yams sees it.
    static func bomb(levels: Int = 12) -> String {
        var yaml = "id: x\ntitle: t\nsteps:\n  - name: a\n    run: host.echo\n    with:\n"
        yaml += "      a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...levels {
            yaml += "      a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ",") + "]\n"
        }
        yaml += "      ? *a\(levels)\n      : boom\n"
        return yaml
    }

    @Test("issue 21 item 2: the alias bomb is refused lexically, within a work and time bound")
    func aliasBomb() throws {
        let text = Self.bomb()
        #expect(text.utf8.count < 1000)
        let started = ContinuousClock.now
        #expect {
            _ = try RecipeLoader.parse(text, file: "bomb.yaml")
        } throws: { error in
            let e = (error as? RecipeLoadErrors)?.errors.first
            return e?.line == 7 && e?.key == "(yaml)" && e?.message.contains("anchors and aliases") == true
        }
        #expect(ContinuousClock.now - started < .seconds(2), "robustness bound: refused without expanding anything")
        #expect(YAMLTokenGuard.steps(text) <= text.unicodeScalars.count)
        // The complex key alone (no anchor before it) is refused too.
        #expect(throws: YAMLTokenGuard.Refusal.self) { try YAMLTokenGuard.check("k:\n  ? *a12\n  : boom\n") }
    }

    /// Every prefix of every corpus text: the scan ends, and its loop passes never exceed the
    /// number of scalars (each pass consumes at least one; the scanner also checks that).
    @Test("every prefix of the corpus scans within its length")
    func everyPrefix() {
        for text in Self.corpus {
            let scalars = Array(text.unicodeScalars)
            for n in 0...scalars.count {
                var prefix = String.UnicodeScalarView()
                prefix.append(contentsOf: scalars[0..<n])
                let steps = YAMLTokenGuard.steps(String(prefix))
                #expect(steps <= n, "prefix \(n) of \(text.debugDescription): \(steps) steps")
            }
        }
    }

    /// Seeded mutations (insert, delete, replace with YAML's significant characters): the scan
    /// stays within its work bound, and whatever it accepts Yams reads without anchor or alias.
    @Test("seeded mutation fuzz: bounded work, and nothing accepted holds an anchor or alias for Yams")
    func mutationFuzz() {
        var rng = SplitMix64(seed: 0x5EED_2111)  // the seeded generator of HeartbeatEnvelopeTests
        let alphabet: [Unicode.Scalar] = ["&", "*", "?", "'", "\"", "#", "|", ">", "-", ":", "[", "]", "{", "}", ",", "!",
                                          "\n", "\r", " ", " ", "\t", "a", "b", "1", "2", "\\", ".", "\u{2028}", "\u{FEFF}"]
        var accepted = 0
        for round in 0..<3000 {
            var s = Array(Self.corpus[round % Self.corpus.count].unicodeScalars)
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let at = s.isEmpty ? 0 : Int(rng.next() % UInt64(s.count + 1))
                let c = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                switch rng.next() % 3 {
                case 0: s.insert(c, at: at)
                case 1: if at < s.count { s.remove(at: at) }
                default: if at < s.count { s[at] = c } else { s.append(c) }
                }
            }
            var view = String.UnicodeScalarView()
            view.append(contentsOf: s)
            let text = String(view)
            #expect(YAMLTokenGuard.steps(text) <= s.count, "\(text.debugDescription)")
            if (try? YAMLTokenGuard.check(text)) != nil {
                accepted += 1
                #expect(Self.yamsSeesNoAnchorOrAlias(text), "accepted but Yams reads an anchor or alias: \(text.debugDescription)")
            }
        }
        #expect(accepted > 100, "the fuzz exercises the accepting paths too (\(accepted))")
    }

    static var corpus: [String] {
        accepted + refused.map(\.0) + [bomb(levels: 3), RecipeLoaderTests.good]
    }

    /// Yams' own reading of `text` (only ever called on text the guard accepted, so without
    /// aliases to expand): true when no node has an anchor and none is an alias.
    static func yamsSeesNoAnchorOrAlias(_ text: String) -> Bool {
        func clean(_ node: Node) -> Bool {
            if node.anchor != nil { return false }
            switch node {
            case .alias: return false
            case .scalar: return true
            case .sequence(let s): return s.allSatisfy(clean)
            case .mapping(let m): return m.allSatisfy { clean($0.key) && clean($0.value) }
            }
        }
        guard let parser = try? Parser(yaml: text) else { return true }
        while true {
            guard let node = try? parser.nextRoot() else { return true }  // end, or not YAML
            if !clean(node) { return false }
        }
    }
}
