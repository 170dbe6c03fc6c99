/// A lexical pass over recipe YAML that runs BEFORE Yams sees the text: Yams' composer builds
/// the whole node tree with aliases expanded and hashes complex keys fully expanded, so a
/// 600-byte alias bomb costs hours there, long before any check on the tree could run.
///
/// It refuses, at any YAML token position, an anchor (`&`), an alias (`*`) and a complex-key
/// indicator (`?`) — without them nothing Yams builds is larger than the text — and flow
/// nesting deeper than `maxFlowDepth`. It is deliberately conservative: where it cannot tell
/// what Yams would see, it refuses rather than guesses (a quoted string must end on its own
/// line; every new line is treated as a token position), and it never skips text Yams could
/// read as tokens. What it skips: quoted strings, comments, the body of a block scalar (`|`, `>`)
/// and the inside of plain scalars (`a & b`, `why?`).
///
/// One loop over the text's Unicode scalars; every pass of it consumes at least one scalar,
/// so its work is bounded by the text's length (`steps` counts the passes, for the tests).
struct YAMLTokenGuard {
    struct Refusal: Error, Equatable {
        var line: Int
        var message: String
    }

    static let maxFlowDepth = 32
    static let anchorMessage = "anchors and aliases are not allowed in recipes"

    private let s: [Unicode.Scalar]
    private var i = 0
    private var line = 1
    private var column = 0
    private(set) var steps = 0

    /// Where the current line's innermost parent node starts (a key or a `-` entry): at least
    /// the indentation that bounds a block scalar's body on this line.
    private var parentColumn: Int? = nil
    /// Column where a node that may turn out to be a key started on this line (a scalar, or a
    /// flow collection used as a key), until a `:` or `-` consumes it.
    private var pendingKeyColumn: Int? = nil
    private var flowDepth = 0
    private var inPlain = false
    /// Inside a block scalar's body: which lines belong to it.
    private var blockBody: BlockBody? = nil

    private enum BlockBody {
        /// Before the first non-blank line: the body's indentation will be that line's, which
        /// must exceed the parent's and (as libyaml reads it) be no less than any leading blank
        /// line's spaces.
        case auto(parent: Int, blankSpaces: Int)
        case fixed(Int)
    }

    private init(_ text: String) { s = Array(text.unicodeScalars) }

    /// Throws the first refusal, located by line (1-based).
    static func check(_ text: String) throws {
        var g = YAMLTokenGuard(text)
        try g.scan()
    }

    /// The number of loop passes a scan of `text` takes (refused or not): the tests' work bound.
    static func steps(_ text: String) -> Int {
        var g = YAMLTokenGuard(text)
        _ = try? g.scan()
        return g.steps
    }

    private func at(_ k: Int) -> Unicode.Scalar? { k >= 0 && k < s.count ? s[k] : nil }

    /// YAML's line breaks (YAML 1.1 as libyaml reads it also breaks on NEL, LS and PS).
    private static func isBreak(_ c: Unicode.Scalar?) -> Bool {
        guard let c else { return false }
        return c == "\n" || c == "\r" || c == "\u{85}" || c == "\u{2028}" || c == "\u{2029}"
    }

    /// Separation spaces as libyaml reads them (a comment's `#` must follow one).
    private static func isBlank(_ c: Unicode.Scalar?) -> Bool { c == " " || c == "\t" }
    private static func isBlankOrEnd(_ c: Unicode.Scalar?) -> Bool { c == nil || isBlank(c) || isBreak(c) }
    private static func isFlowIndicator(_ c: Unicode.Scalar?) -> Bool { c == "," || c == "[" || c == "]" || c == "{" || c == "}" }

    private func refuse(_ message: String) -> Refusal { Refusal(line: line, message: message) }

    /// Consume one scalar (a CR LF pair counts as one line break).
    private mutating func advance() {
        let c = s[i]
        i += 1
        if Self.isBreak(c) {
            if c == "\r" && at(i) == "\n" { i += 1 }
            line += 1
            column = 0
            startLine()
        } else {
            column += 1
        }
    }

    /// A new line is a token position (conservative: a plain scalar's continuation is scanned
    /// as if it could hold tokens).
    private mutating func startLine() {
        inPlain = false
        parentColumn = nil
        pendingKeyColumn = nil
    }

    private mutating func scan() throws {
        while i < s.count {
            steps += 1
            let before = i
            try step()
            precondition(i > before, "YAMLTokenGuard must consume input on every pass")
        }
    }

    private mutating func step() throws {
        if column == 0, let body = blockBody, skipBlockLine(body) { return }
        let c = s[i]
        if Self.isBreak(c) { advance(); return }
        if inPlain && plainScalar(c) { return }
        try token(c)
    }

    /// At a token position: what the next scalar starts.
    private mutating func token(_ c: Unicode.Scalar) throws {
        if column == 0 && (c == "-" || c == ".") && at(i + 1) == c && at(i + 2) == c && Self.isBlankOrEnd(at(i + 3)) {
            // A document marker (`---`, `...`): what follows on its line is a token position.
            advance(); advance(); advance()
            return
        }
        switch c {
        case " ", "\t", "\u{FEFF}":
            advance()
        case "#" where column == 0 || Self.isBlank(at(i - 1)):
            skipToEndOfLine()
        case "'", "\"":
            try quoted(c)
        case "&", "*":
            throw refuse(Self.anchorMessage)
        case "?":
            throw refuse("complex keys ('?') are not allowed in recipes")
        case "!":
            skipTag()
        case "|" where flowDepth == 0, ">" where flowDepth == 0:
            try blockHeader()
        case "[", "{":
            if flowDepth == 0 && pendingKeyColumn == nil { pendingKeyColumn = column }
            flowDepth += 1
            guard flowDepth <= Self.maxFlowDepth else { throw refuse("nested deeper than \(Self.maxFlowDepth) levels") }
            advance()
        case "]", "}":
            flowDepth = max(0, flowDepth - 1)
            advance()
        case ",":
            advance()
        case ":" where flowDepth > 0 || Self.isBlankOrEnd(at(i + 1)):
            keyEnded()
            advance()
        case "-" where Self.isBlankOrEnd(at(i + 1)):
            parentColumn = max(parentColumn ?? 0, column)
            pendingKeyColumn = nil
            advance()
        default:
            if pendingKeyColumn == nil { pendingKeyColumn = column }
            inPlain = true
            advance()
        }
    }

    /// A `:` value indicator: the node before it (or the `:` itself, for an empty key) is a key.
    private mutating func keyEnded() {
        parentColumn = max(parentColumn ?? 0, pendingKeyColumn ?? column)
        pendingKeyColumn = nil
    }

    /// Inside a plain scalar `&`, `*`, `?` and quotes are text. It ends at `: `, ` #`, a line
    /// break and, in a flow collection, at `,[]{}` and (conservatively) at any `:`. Returns
    /// false when `c` ended it unconsumed, to be read as a token.
    private mutating func plainScalar(_ c: Unicode.Scalar) -> Bool {
        if c == ":" && (flowDepth > 0 || Self.isBlankOrEnd(at(i + 1))) {
            inPlain = false
            keyEnded()
        } else if Self.isBlank(c) && at(i + 1) == "#" {
            inPlain = false
        } else if flowDepth > 0 && Self.isFlowIndicator(c) {
            inPlain = false
            return false
        }
        advance()
        return true
    }

    private mutating func skipToEndOfLine() {
        repeat { advance() } while i < s.count && !Self.isBreak(s[i])
    }

    /// A quoted scalar must end on its line: a string running over lines could hide text that
    /// Yams reads as tokens if this scanner's idea of where it started were ever wrong.
    private mutating func quoted(_ quote: Unicode.Scalar) throws {
        if pendingKeyColumn == nil { pendingKeyColumn = column }
        let startLine = line
        advance()
        while i < s.count && !Self.isBreak(s[i]) {
            let c = s[i]
            if quote == "\"" && c == "\\" {
                advance()
                if i < s.count && !Self.isBreak(s[i]) { advance() }
                continue
            }
            if c == quote {
                advance()
                if quote == "'" && at(i) == "'" { advance(); continue }  // '' is a quote inside '…'
                return
            }
            advance()
        }
        throw Refusal(line: startLine, message: "a quoted string must end on the line it starts (use a block scalar, |, for long text)")
    }

    /// `!tag`, `!!str`, `!<verbatim>`: skipped; the node that follows is still at a token position.
    private mutating func skipTag() {
        repeat { advance() } while i < s.count && !Self.isBlankOrEnd(s[i]) && !(flowDepth > 0 && Self.isFlowIndicator(s[i]))
    }

    /// `|` or `>` with optional chomping (`+`/`-`) and indentation (1–9) indicators, then only a
    /// comment: the following lines indented deeper than the parent node are its body.
    private mutating func blockHeader() throws {
        let indicatorColumn = column
        advance()
        var explicit: Int? = nil
        while let c = at(i), c == "+" || c == "-" || ("1"..."9").contains(c) {
            if c != "+" && c != "-" { explicit = Int(c.value - 48) }
            advance()
        }
        while let c = at(i), Self.isBlank(c) { advance() }
        if at(i) == "#" && Self.isBlank(at(i - 1)) { skipToEndOfLine() }
        // Anything else on the header line is a YAML error; read it as tokens and take no body.
        guard i >= s.count || Self.isBreak(s[i]) else { return }
        // The parent's indentation is at most the column of the key or `-` that owns the block
        // (or of the indicator itself): over-estimating it only makes fewer lines body.
        let parent = parentColumn ?? indicatorColumn
        blockBody = explicit.map { .fixed(parent + $0) } ?? .auto(parent: parent, blankSpaces: 0)
        if i < s.count { advance() }  // the header's line break
    }

    /// One line while in a block scalar's body: skipped whole (returns true) if it belongs to
    /// the body; otherwise the body has ended and the line is left to be scanned as usual.
    private mutating func skipBlockLine(_ body: BlockBody) -> Bool {
        var k = i
        while at(k) == " " { k += 1 }
        let indent = k - i
        let blank = at(k) == nil || Self.isBreak(at(k))
        switch body {
        case .auto(let parent, let blankSpaces):
            if blank {
                blockBody = .auto(parent: parent, blankSpaces: max(blankSpaces, indent))
            } else if indent > parent && indent >= blankSpaces {
                blockBody = .fixed(indent)
            } else {
                blockBody = nil
                return false
            }
        case .fixed(let need):
            if !blank && indent < need {
                blockBody = nil
                return false
            }
        }
        // Consume the line and its break: at least one scalar, as `i` is not at the end.
        while i < s.count && !Self.isBreak(s[i]) { advance() }
        if i < s.count { advance() }
        return true
    }
}
