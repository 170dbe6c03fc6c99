/// The small XML subset firewalld writes (zones, services, policies, ipsets, …): a declaration,
/// comments, elements with single- or double-quoted attributes, text, the five predefined
/// entities and numeric character references. No DTDs, no CDATA, no processing instructions
/// beyond `<?xml …?>` — firewalld never writes them, so a file holding one is refused rather
/// than half-read. Bounded: depth 16, 20 000 elements (FoundationEssentials has no XMLParser).
struct XMLElement: Equatable, Sendable {
    var name: String
    var attributes: [(String, String)]
    var children: [XMLElement]
    var text: String

    static func == (a: XMLElement, b: XMLElement) -> Bool {
        a.name == b.name && a.children == b.children && a.text == b.text
            && a.attributes.map(\.0) == b.attributes.map(\.0) && a.attributes.map(\.1) == b.attributes.map(\.1)
    }

    subscript(_ attribute: String) -> String? { attributes.first { $0.0 == attribute }?.1 }
    func all(_ name: String) -> [XMLElement] { children.filter { $0.name == name } }
    func first(_ name: String) -> XMLElement? { children.first { $0.name == name } }
}

struct XMLError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

enum MiniXML {
    static let maxDepth = 16
    static let maxElements = 20_000

    /// The root element of `text`.
    static func parse(_ text: String) throws(XMLError) -> XMLElement {
        var p = Parser(bytes: Array(text.utf8))
        return try p.document()
    }

    /// `&`, `<`, `>`, `"` and `'` escaped (for attribute values).
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }

    struct Parser {
        let bytes: [UInt8]
        var i = 0
        var elements = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        func at(_ s: String) -> Bool {
            let u = Array(s.utf8)
            guard i + u.count <= bytes.count else { return false }
            return Array(bytes[i..<(i + u.count)]) == u
        }

        mutating func skipSpace() { while i < bytes.count, [9, 10, 13, 32].contains(bytes[i]) { i += 1 } }

        /// Skips `<?…?>` and `<!--…-->` (and whitespace) between elements.
        mutating func skipMisc() throws(XMLError) {
            while true {
                skipSpace()
                if at("<?") {
                    guard let end = find("?>") else { throw XMLError("unterminated <?") }
                    i = end + 2
                } else if at("<!--") {
                    guard let end = find("-->", from: i + 4) else { throw XMLError("unterminated comment") }
                    i = end + 3
                } else if at("<!") {
                    throw XMLError("DTDs and CDATA are not read")
                } else { return }
            }
        }

        func find(_ s: String, from start: Int? = nil) -> Int? {
            let u = Array(s.utf8)
            var j = start ?? i
            while j + u.count <= bytes.count {
                if bytes[j] == u[0], Array(bytes[j..<(j + u.count)]) == u { return j }
                j += 1
            }
            return nil
        }

        mutating func document() throws(XMLError) -> XMLElement {
            try skipMisc()
            let root = try element(depth: 0)
            try skipMisc()
            guard i == bytes.count else { throw XMLError("content after the root element") }
            return root
        }

        static func isNameByte(_ b: UInt8) -> Bool {
            (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 45 || b == 95 || b == 46 || b == 58
        }

        mutating func name() throws(XMLError) -> String {
            let start = i
            while i < bytes.count, Self.isNameByte(bytes[i]) { i += 1 }
            guard i > start, i - start <= 64 else { throw XMLError("bad name at byte \(start)") }
            return String(decoding: bytes[start..<i], as: UTF8.self)
        }

        mutating func element(depth: Int) throws(XMLError) -> XMLElement {
            guard depth < MiniXML.maxDepth else { throw XMLError("nested too deeply") }
            elements += 1
            guard elements <= MiniXML.maxElements else { throw XMLError("too many elements") }
            guard i < bytes.count, bytes[i] == 60 else { throw XMLError("expected '<' at byte \(i)") }
            i += 1
            var el = XMLElement(name: try name(), attributes: [], children: [], text: "")
            while true {
                skipSpace()
                guard i < bytes.count else { throw XMLError("unterminated <\(el.name)>") }
                if at("/>") { i += 2; return el }
                if bytes[i] == 62 { i += 1; break }
                let key = try name()
                skipSpace()
                guard i < bytes.count, bytes[i] == 61 else { throw XMLError("expected '=' after \(key)") }
                i += 1; skipSpace()
                guard i < bytes.count, bytes[i] == 34 || bytes[i] == 39 else { throw XMLError("unquoted value of \(key)") }
                let quote = bytes[i]; i += 1
                let start = i
                while i < bytes.count, bytes[i] != quote { if bytes[i] == 60 { throw XMLError("'<' in the value of \(key)") }; i += 1 }
                guard i < bytes.count else { throw XMLError("unterminated value of \(key)") }
                let value = try Self.decodeEntities(bytes[start..<i])
                i += 1
                guard !el.attributes.contains(where: { $0.0 == key }) else { throw XMLError("\(key) given twice") }
                el.attributes.append((key, value))
            }
            // Content: text, comments, children, then the closing tag.
            var text: [UInt8] = []
            while true {
                guard i < bytes.count else { throw XMLError("unterminated <\(el.name)>") }
                if at("</") {
                    i += 2
                    let closing = try name()
                    skipSpace()
                    guard closing == el.name, i < bytes.count, bytes[i] == 62 else { throw XMLError("</\(closing)> closes <\(el.name)>") }
                    i += 1
                    el.text = try Self.decodeEntities(text[...])
                    return el
                }
                if at("<!--") {
                    guard let end = find("-->", from: i + 4) else { throw XMLError("unterminated comment") }
                    i = end + 3
                } else if at("<!") || at("<?") {
                    throw XMLError("DTDs, CDATA and processing instructions are not read")
                } else if bytes[i] == 60 {
                    el.children.append(try element(depth: depth + 1))
                } else {
                    text.append(bytes[i]); i += 1
                }
            }
        }

        static func decodeEntities(_ raw: ArraySlice<UInt8>) throws(XMLError) -> String {
            guard raw.contains(38) else { return String(decoding: raw, as: UTF8.self) }
            var out: [UInt8] = []
            var j = raw.startIndex
            while j < raw.endIndex {
                guard raw[j] == 38 else { out.append(raw[j]); j += 1; continue }
                guard let semi = raw[j...].firstIndex(of: 59), semi - j <= 10 else { throw XMLError("bad entity") }
                let ent = String(decoding: raw[(j + 1)..<semi], as: UTF8.self)
                switch ent {
                case "amp": out.append(38)
                case "lt": out.append(60)
                case "gt": out.append(62)
                case "quot": out.append(34)
                case "apos": out.append(39)
                default:
                    var code: UInt32?
                    if ent.hasPrefix("#x") { code = UInt32(ent.dropFirst(2), radix: 16) }
                    else if ent.hasPrefix("#") { code = UInt32(ent.dropFirst(1)) }
                    guard let c = code, let scalar = Unicode.Scalar(c) else { throw XMLError("unknown entity &\(ent);") }
                    out += Array(String(Character(scalar)).utf8)
                }
                j = semi + 1
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}
