/// One OpenLiteSpeed configuration file (`httpd_config.conf`, a `vhconf.conf`, a template), kept
/// as its lines so that printing it back gives the same bytes, with the structure read from them:
/// `name value` directives, `name [argument] {` … `}` blocks, `name <<<END` … `END` multi-line
/// values (rewrite rules), `#` comments. Names are case-insensitive in OLS (`virtualHost` and
/// `virtualhost` are one), so lookups lower-case them; the file keeps the spelling it had.
///
/// Edits work on lines (insert a run of lines, remove a range) and re-parse, so everything the
/// edit did not touch stays byte-identical.
public struct OLSConfigFile: Sendable, Equatable {
    /// Every line with its own terminator ("\n", "\r\n", or none for a last line without one).
    public private(set) var lines: [String]
    public private(set) var nodes: [OLSNode]

    /// Bounds on what is parsed: a configuration is small; anything past these is refused.
    public static let maxBytes = 8 << 20
    public static let maxDepth = 32

    public init(bytes: [UInt8]) throws(OLSParseError) {
        guard bytes.count <= Self.maxBytes else { throw OLSParseError(line: 0, "larger than \(Self.maxBytes) bytes") }
        let text = String(decoding: bytes, as: UTF8.self)
        // Only text that decodes as UTF-8 round-trips through String: anything else is refused
        // rather than silently rewritten.
        guard text.utf8.count == bytes.count, text.utf8.elementsEqual(bytes) else {
            throw OLSParseError(line: 0, "not UTF-8 text")
        }
        try self.init(lines: Self.splitLines(text))
    }

    init(lines: [String]) throws(OLSParseError) {
        self.lines = lines
        self.nodes = try Self.parse(lines)
    }

    /// The file's bytes: its lines, unchanged.
    public var bytes: [UInt8] { Array(lines.joined().utf8) }
    public var text: String { lines.joined() }

    static func splitLines(_ text: String) -> [String] {
        var out: [String] = []
        var current = ""
        for ch in text {
            current.append(ch)
            // "\r\n" is one Character in Swift: both end a line here.
            if ch == "\n" || ch == "\r\n" { out.append(current); current = "" }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    /// The line's content without its terminator and surrounding blanks.
    static func content(_ line: String) -> Substring {
        var s = Substring(line)
        while let l = s.last, l == "\n" || l == "\r\n" || l == "\r" || l == " " || l == "\t" { s = s.dropLast() }
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        return s
    }

    /// Split "name rest" at the first blank.
    static func nameAndValue(_ s: Substring) -> (String, String) {
        guard let blank = s.firstIndex(where: { $0 == " " || $0 == "\t" }) else { return (String(s), "") }
        var rest = s[blank...]
        while let f = rest.first, f == " " || f == "\t" { rest = rest.dropFirst() }
        return (String(s[..<blank]), String(rest))
    }

    /// One pass over the lines; every iteration consumes at least one line, so it ends.
    static func parse(_ lines: [String]) throws(OLSParseError) -> [OLSNode] {
        var stack: [OLSNode] = [OLSNode(kind: .block, name: "", value: "", line: -1)]
        var i = 0
        while i < lines.count {
            let c = content(lines[i])
            defer { i += 1 }
            if c.isEmpty || c.hasPrefix("#") { continue }
            if c == "}" || (c.hasPrefix("}") && content(String(c.dropFirst())).hasPrefix("#")) {
                guard stack.count > 1 else { throw OLSParseError(line: i + 1, "a '}' without an open block") }
                var block = stack.removeLast()
                block.endLine = i
                stack[stack.count - 1].children.append(block)
                continue
            }
            if c == "{" { throw OLSParseError(line: i + 1, "a '{' on a line of its own: put it at the end of the block's first line") }
            if c.hasSuffix("{") {
                let header = content(String(c.dropLast()))
                let (name, arg) = nameAndValue(header)
                guard !name.isEmpty, Self.isName(name) else { throw OLSParseError(line: i + 1, "a block needs a name before '{'") }
                guard stack.count <= maxDepth else { throw OLSParseError(line: i + 1, "blocks nested deeper than \(maxDepth)") }
                stack.append(OLSNode(kind: .block, name: name, value: arg, line: i))
                continue
            }
            let (name, value) = nameAndValue(c)
            // The line's text is not repeated: an error message must not carry file content.
            guard Self.isName(name) else { throw OLSParseError(line: i + 1, "not a directive name (letters, digits, _ - . $)") }
            var node = OLSNode(kind: .directive, name: name, value: value, line: i)
            if value.hasPrefix("<<<") {
                // A multi-line value runs to the line that holds just its end marker.
                let marker = String(value.dropFirst(3))
                guard !marker.isEmpty, Self.isName(marker) else { throw OLSParseError(line: i + 1, "a '<<<' value needs an end marker") }
                var j = i + 1
                while j < lines.count && content(lines[j]) != marker[...] { j += 1 }
                guard j < lines.count else { throw OLSParseError(line: i + 1, "'\(marker)' never ends the value begun here") }
                node.value = lines[(i + 1)..<j].joined()
                node.endLine = j
                i = j
            }
            stack[stack.count - 1].children.append(node)
        }
        guard stack.count == 1 else {
            throw OLSParseError(line: stack.last!.line + 1, "block '\(stack.last!.name)' is never closed")
        }
        return stack[0].children
    }

    /// Directive and block names: letters, digits, `_`, `-`, `.`, `$` (OLS uses camelCase names;
    /// modules add snake_case ones).
    static func isName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 128 && s.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a)
                || $0 == 0x5f || $0 == 0x2d || $0 == 0x2e || $0 == 0x24
        }
    }

    // MARK: edits

    /// Insert `newLines` (each ending in "\n") before line `index` (== lines.count appends).
    public func inserting(_ newLines: [String], at index: Int) throws(OLSParseError) -> OLSConfigFile {
        var l = lines
        // A last line without a terminator gets one first, or the insertion would join it.
        var new = newLines.map(adapted)
        if index == l.count, let last = l.last, !Self.isTerminated(last) {
            // ... and the inserted run ends unterminated instead, so removing it again restores
            // the file's bytes (see `removing`).
            l[l.count - 1] = last + lineEnding
            if let end = new.last, Self.isTerminated(end) { new[new.count - 1] = String(end.dropLast()) }
        }
        l.insert(contentsOf: new, at: index)
        return try OLSConfigFile(lines: l)
    }

    /// "\r\n" when most lines of the file end so (inserted lines follow the file).
    public var lineEnding: String {
        let crlf = lines.filter { $0.last == "\r\n" }.count
        return crlf * 2 > lines.count ? "\r\n" : "\n"
    }

    static func isTerminated(_ line: String) -> Bool { line.last == "\n" || line.last == "\r\n" }

    /// A line written with "\n" as the file writes its lines.
    func adapted(_ line: String) -> String {
        guard lineEnding == "\r\n", line.last == "\n" else { return line }
        return String(line.dropLast()) + "\r\n"
    }

    /// Remove lines `range` (indexes into `lines`).
    public func removing(_ range: ClosedRange<Int>) throws(OLSParseError) -> OLSConfigFile {
        try removing([range])
    }

    /// Remove several line ranges at once. When the file's unterminated last line goes, the new
    /// last line loses its terminator (the mirror of `inserting` at the end).
    public func removing(_ ranges: [ClosedRange<Int>]) throws(OLSParseError) -> OLSConfigFile {
        var l = lines
        let endsOpen = l.last.map { !Self.isTerminated($0) } ?? false
        let removesLast = ranges.contains { $0.contains(l.count - 1) }
        for r in ranges.sorted(by: { $0.lowerBound > $1.lowerBound }) { l.removeSubrange(r) }
        if endsOpen && removesLast, let last = l.last, Self.isTerminated(last) { l[l.count - 1] = String(last.dropLast()) }
        return try OLSConfigFile(lines: l)
    }

    /// Replace line `index` with `line`.
    public func replacing(line index: Int, with line: String) throws(OLSParseError) -> OLSConfigFile {
        var l = lines
        // The replaced line keeps its own terminator.
        let body = line.last == "\n" || line.last == "\r\n" ? String(line.dropLast()) : line
        l[index] = body + (l[index].last == "\r\n" ? "\r\n" : l[index].last == "\n" ? "\n" : "")
        return try OLSConfigFile(lines: l)
    }

    /// The leading blanks of line `index` (to indent inserted lines like their neighbours).
    public func indentation(ofLine index: Int) -> String {
        String(lines[index].prefix(while: { $0 == " " || $0 == "\t" }))
    }

    // MARK: lookups

    /// Top-level nodes named `name` (case-insensitive).
    public func all(_ name: String) -> [OLSNode] { nodes.filter { $0.is(name) } }
    public func first(_ name: String) -> OLSNode? { nodes.first { $0.is(name) } }
}

/// A directive or a block with its place in the file.
public struct OLSNode: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case directive, block }
    public var kind: Kind
    /// As written (case kept).
    public var name: String
    /// A directive's value, a block's argument (`virtualhost Example {` → "Example"); for a
    /// `<<<` value, the lines between the markers.
    public var value: String
    /// First line (0-based index into `OLSConfigFile.lines`).
    public var line: Int
    /// Last line: a block's closing brace, a multi-line value's end marker, else `line`.
    public var endLine: Int
    public var children: [OLSNode] = []

    init(kind: Kind, name: String, value: String, line: Int) {
        self.kind = kind; self.name = name; self.value = value; self.line = line; self.endLine = line
    }

    public func `is`(_ other: String) -> Bool { name.lowercased() == other.lowercased() }
    public func all(_ name: String) -> [OLSNode] { children.filter { $0.is(name) } }
    public func first(_ name: String) -> OLSNode? { children.first { $0.is(name) } }
    /// The value of the first child directive `name`, if any and not empty.
    public func value(_ name: String) -> String? {
        guard let v = first(name)?.value, !v.isEmpty else { return nil }
        return v
    }
}

public struct OLSParseError: Error, CustomStringConvertible, Sendable, Equatable {
    /// 1-based; 0 for the file as a whole.
    public var line: Int
    public var message: String
    public init(line: Int, _ message: String) { self.line = line; self.message = message }
    public var description: String { line > 0 ? "line \(line): \(message)" : message }
}
