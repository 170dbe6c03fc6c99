#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// JSON from outside, decoded in time linear in its size.
///
/// Why not `JSONDecoder` for anything holding a `JSONValue`: `JSONValue` can only find out what a
/// node is by trying each type and catching the failure, and a failed `JSONDecoder` attempt costs
/// time that grows with the node's depth and neighbourhood — measured here, a 500 KB array of
/// numbers 60 levels deep took 51 s, a 1 KB body of 500 nested arrays 1.7 s (red team, session
/// 3: one agent's completion or stored report froze the control plane). `JSONTree` parses once,
/// strictly (RFC 8259, depth-bounded, every loop consumes input), into a `JSONValue`, then decodes
/// `T` from that tree; a `JSONValue` inside `T` is handed over as the subtree, never re-parsed.
public enum JSONTree {
    public static let defaultMaxDepth = 64

    /// Parse `bytes` (one JSON text, UTF-8) into a `JSONValue`.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws(JSONTreeError) -> JSONValue {
        var p = Parser(bytes: bytes, maxDepth: maxDepth)
        p.skipSpace()
        let value = try p.value(depth: 1)
        p.skipSpace()
        guard p.i == bytes.count else { throw p.fail("unexpected data after the JSON value") }
        return value
    }

    public static func parse(_ text: String, maxDepth: Int = defaultMaxDepth) throws(JSONTreeError) -> JSONValue {
        try parse(Array(text.utf8), maxDepth: maxDepth)
    }

    /// Parse as `parse` does — the same text is accepted or refused, for the same reason — but
    /// for each top-level member named in `hollow` whose value is an object, keep only that
    /// object's keys: their values are checked without being built, and read as null. What a
    /// summary needs from a large report (the names of its stacks, not the stacks: a 500 KB
    /// HAProxy table read for a dashboard card).
    public static func parse(_ bytes: [UInt8], hollowing hollow: Set<String>, maxDepth: Int = defaultMaxDepth) throws(JSONTreeError) -> JSONValue {
        var p = Parser(bytes: bytes, maxDepth: maxDepth)
        p.hollow = hollow
        p.skipSpace()
        let value = try p.value(depth: 1)
        p.skipSpace()
        guard p.i == bytes.count else { throw p.fail("unexpected data after the JSON value") }
        return value
    }

    /// Parse, then decode `T` from the tree. Throws `JSONTreeError` for malformed JSON and
    /// `DecodingError` (with the coding path) for a well-formed body of the wrong shape.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws -> T {
        try T(from: TreeDecoder(node: try parse(bytes, maxDepth: maxDepth), codingPath: []))
    }

    public static func decode<T: Decodable>(_ type: T.Type, from text: String, maxDepth: Int = defaultMaxDepth) throws -> T {
        try decode(T.self, from: Array(text.utf8), maxDepth: maxDepth)
    }

    /// Decode `T` from a value already parsed.
    public static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try T(from: TreeDecoder(node: value, codingPath: []))
    }
}

public struct JSONTreeError: Error, Sendable, CustomStringConvertible {
    public var offset: Int
    public var reason: String
    public var description: String { "malformed JSON at byte \(offset): \(reason)" }
}

// MARK: the parser

private struct Parser {
    let bytes: [UInt8]
    let maxDepth: Int
    var i = 0
    /// Top-level keys whose object values keep only their keys (`JSONTree.parse(_:hollowing:)`).
    var hollow: Set<String> = []

    init(bytes: [UInt8], maxDepth: Int) { self.bytes = bytes; self.maxDepth = maxDepth }

    func fail(_ reason: String) -> JSONTreeError { JSONTreeError(offset: i, reason: reason) }

    mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    /// Every branch either consumes at least one byte or throws.
    mutating func value(depth: Int) throws(JSONTreeError) -> JSONValue {
        guard i < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw fail("unexpected character")
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONTreeError) {
        let w = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard bytes.count - i >= w.count, bytes[i..<i + w.count].elementsEqual(w) else { throw fail("invalid literal") }
        i += w.count
    }

    mutating func object(depth: Int) throws(JSONTreeError) -> JSONValue {
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        var out: [String: JSONValue] = [:]
        try members(depth: depth) { (p: inout Parser, key: String) throws(JSONTreeError) in
            let v = depth == 1 && p.hollow.contains(key) && p.i < p.bytes.count && p.bytes[p.i] == UInt8(ascii: "{")
                ? try p.hollowObject(depth: depth + 1) : try p.value(depth: depth + 1)
            // Duplicate keys: the first wins, as with JSONDecoder (no two readers may disagree).
            if out[key] == nil { out[key] = v }
        }
        return .object(out)
    }

    /// An object whose members' values are checked (`skip`) and kept as null.
    mutating func hollowObject(depth: Int) throws(JSONTreeError) -> JSONValue {
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        var out: [String: JSONValue] = [:]
        try members(depth: depth) { (p: inout Parser, key: String) throws(JSONTreeError) in
            try p.skip(depth: depth + 1)
            if out[key] == nil { out[key] = .null }
        }
        return .object(out)
    }

    /// An object's members, `{` to `}`, each value handed to `value` (which must consume it).
    mutating func members(depth: Int, _ value: (inout Parser, String) throws(JSONTreeError) -> Void) throws(JSONTreeError) {
        i += 1  // {
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return }
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try string()
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            i += 1
            skipSpace()
            try value(&self, key)
            skipSpace()
            guard i < bytes.count else { throw fail("unterminated object") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return }
            throw fail("expected ',' or '}' in an object")
        }
    }

    /// Check one value exactly as `value` would, building no object or array (scalars are read
    /// as `value` reads them, so the same texts are refused at the same offsets).
    mutating func skip(depth: Int) throws(JSONTreeError) {
        guard i < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
            try members(depth: depth) { (p: inout Parser, _: String) throws(JSONTreeError) in try p.skip(depth: depth + 1) }
        case UInt8(ascii: "["):
            guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
            i += 1  // [
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return }
            while true {
                skipSpace()
                try skip(depth: depth + 1)
                skipSpace()
                guard i < bytes.count else { throw fail("unterminated array") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return }
                throw fail("expected ',' or ']' in an array")
            }
        case UInt8(ascii: "\""):
            // Plain ASCII without escapes (what stats tables hold) is checked here without
            // building the string; anything else is read by `string` from the start.
            let start = i
            var j = i + 1
            while j < bytes.count, bytes[j] != UInt8(ascii: "\""), bytes[j] >= 0x20, bytes[j] < 0x80, bytes[j] != UInt8(ascii: "\\") { j += 1 }
            if j < bytes.count, bytes[j] == UInt8(ascii: "\"") { i = j + 1; return }
            i = start
            _ = try string()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            // Without an exponent and with few digits a number can neither overflow nor
            // underflow: the grammar is checked here without building it. Anything else is read
            // by `number` from the start.
            let start = i
            var j = i
            if bytes[j] == UInt8(ascii: "-") { j += 1 }
            let intStart = j
            while j < bytes.count, isDigit(bytes[j]) { j += 1 }
            var simple = j > intStart && (bytes[intStart] != UInt8(ascii: "0") || j == intStart + 1)
            if simple, j < bytes.count, bytes[j] == UInt8(ascii: ".") {
                let fracStart = j + 1
                j = fracStart
                while j < bytes.count, isDigit(bytes[j]) { j += 1 }
                simple = j > fracStart
            }
            if simple, j - start <= 200, j == bytes.count || (bytes[j] != UInt8(ascii: "e") && bytes[j] != UInt8(ascii: "E")) {
                i = j
                return
            }
            i = start
            _ = try number()
        default:
            _ = try value(depth: depth)
        }
    }

    mutating func array(depth: Int) throws(JSONTreeError) -> JSONValue {
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        i += 1  // [
        var out: [JSONValue] = []
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(out) }
        while true {
            skipSpace()
            out.append(try value(depth: depth + 1))
            skipSpace()
            guard i < bytes.count else { throw fail("unterminated array") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(out) }
            throw fail("expected ',' or ']' in an array")
        }
    }

    mutating func number() throws(JSONTreeError) -> Double {
        let start = i
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < bytes.count, isDigit(bytes[i]) else { throw fail("invalid number") }
        if bytes[i] == UInt8(ascii: "0") { i += 1 } else { while i < bytes.count, isDigit(bytes[i]) { i += 1 } }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard i < bytes.count, isDigit(bytes[i]) else { throw fail("invalid number: no digit after '.'") }
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < bytes.count, isDigit(bytes[i]) else { throw fail("invalid number: no digit in the exponent") }
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        guard let d = Double(text), d.isFinite else { i = start; throw fail("number out of range") }
        // A number with a non-zero digit that reads as 0 (1e-400) underflowed: refused, as
        // JSONDecoder and the heartbeat scanner do, so every reader agrees on what was sent.
        if d == 0, bytes[start..<i].prefix(while: { $0 != UInt8(ascii: "e") && $0 != UInt8(ascii: "E") })
            .contains(where: { $0 >= UInt8(ascii: "1") && $0 <= UInt8(ascii: "9") }) {
            i = start
            throw fail("number out of range: too small for a Double")
        }
        return d
    }

    func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    mutating func string() throws(JSONTreeError) -> String {
        i += 1  // opening quote
        var out: [UInt8] = []
        var runStart = i
        while true {
            guard i < bytes.count else { throw fail("unterminated string") }
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                out.append(contentsOf: bytes[runStart..<i])
                i += 1
                guard let s = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8 in a string") }
                return s
            }
            if b < 0x20 { throw fail("control character in a string") }
            if b != UInt8(ascii: "\\") { i += 1; continue }
            out.append(contentsOf: bytes[runStart..<i])
            i += 1
            guard i < bytes.count else { throw fail("unterminated string") }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard bytes.count - i >= 6, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired surrogate in a string")
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw fail("unpaired surrogate in a string") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw fail("unpaired surrogate in a string")
                }
                guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default: throw fail("invalid escape in a string")
            }
            runStart = i
        }
    }

    mutating func hex4() throws(JSONTreeError) -> UInt32 {
        guard bytes.count - i >= 4 else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[i]
            let d: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(b - UInt8(ascii: "A") + 10)
            default: throw fail("invalid \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }
}

// MARK: decoding Decodable types from a parsed tree

/// A `Decoder` over a `JSONValue`. `JSONValue.init(from:)` recognises it and takes the node as it
/// is, so no subtree is ever decoded twice and no attempt ever fails.
struct TreeDecoder: Decoder {
    let node: JSONValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let o) = node else { throw mismatch([String: JSONValue].self, node, codingPath) }
        return KeyedDecodingContainer(TreeKeyed<Key>(object: o, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let a) = node else { throw mismatch([JSONValue].self, node, codingPath) }
        return TreeUnkeyed(array: a, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { TreeSingle(node: node, codingPath: codingPath) }
}

private func mismatch(_ type: Any.Type, _ node: JSONValue, _ path: [any CodingKey]) -> DecodingError {
    let found: String
    switch node {
    case .null: found = "null"
    case .bool: found = "a boolean"
    case .number: found = "a number"
    case .string: found = "a string"
    case .array: found = "an array"
    case .object: found = "an object"
    }
    return .typeMismatch(type, .init(codingPath: path, debugDescription: "Expected to decode \(type) but found \(found) instead."))
}

/// One value: primitives converted exactly (an integer field refuses 1.5 or 1e30), anything else
/// decoded from the subtree.
private func decodeNode<T: Decodable>(_ type: T.Type, _ node: JSONValue, _ path: [any CodingKey]) throws -> T {
    switch type {
    case is JSONValue.Type: return node as! T
    case is Bool.Type:
        guard case .bool(let b) = node else { throw mismatch(type, node, path) }
        return b as! T
    case is String.Type:
        guard case .string(let s) = node else { throw mismatch(type, node, path) }
        return s as! T
    case is Double.Type:
        guard case .number(let d) = node else { throw mismatch(type, node, path) }
        return d as! T
    case is Float.Type:
        guard case .number(let d) = node else { throw mismatch(type, node, path) }
        return Float(d) as! T
    default:
        if let integer = type as? any FixedWidthInteger.Type {
            guard case .number(let d) = node else { throw mismatch(type, node, path) }
            guard let v = integer.init(exactly: d) else {
                throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: "Number \(d) does not fit in \(type)."))
            }
            return v as! T
        }
        return try T(from: TreeDecoder(node: node, codingPath: path))
    }
}

private struct TreeKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) { self.stringValue = "Index \(intValue)"; self.intValue = intValue }
}

private struct TreeKeyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let object: [String: JSONValue]
    let codingPath: [any CodingKey]

    var allKeys: [Key] { object.keys.compactMap { Key(stringValue: $0) } }
    func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

    func node(_ key: Key) throws -> JSONValue {
        guard let v = object[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "No value associated with key \(key.stringValue)."))
        }
        return v
    }

    func decodeNil(forKey key: Key) throws -> Bool { try node(key) == .null }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decode(type, forKeyGeneric: key) }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decode(type as Bool.Type, forKeyGeneric: key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decode(type as String.Type, forKeyGeneric: key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decode(type as Double.Type, forKeyGeneric: key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decode(type as Float.Type, forKeyGeneric: key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decode(type as Int.Type, forKeyGeneric: key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decode(type as Int8.Type, forKeyGeneric: key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decode(type as Int16.Type, forKeyGeneric: key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decode(type as Int32.Type, forKeyGeneric: key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decode(type as Int64.Type, forKeyGeneric: key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decode(type as UInt.Type, forKeyGeneric: key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decode(type as UInt8.Type, forKeyGeneric: key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decode(type as UInt16.Type, forKeyGeneric: key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decode(type as UInt32.Type, forKeyGeneric: key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decode(type as UInt64.Type, forKeyGeneric: key) }
    func decode<T: Decodable>(_ type: T.Type, forKeyGeneric key: Key) throws -> T {
        let v = try node(key)
        if v == .null, type != JSONValue.self {
            throw DecodingError.valueNotFound(type, .init(codingPath: codingPath + [key], debugDescription: "Expected \(type) value but found null instead."))
        }
        return try decodeNode(type, v, codingPath + [key])
    }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let v = object[key.stringValue], v != .null else { return nil }
        return try decodeNode(type, v, codingPath + [key])
    }
    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try TreeDecoder(node: try node(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try TreeDecoder(node: try node(key), codingPath: codingPath + [key]).unkeyedContainer()
    }
    func superDecoder() throws -> any Decoder {
        TreeDecoder(node: object["super"] ?? .null, codingPath: codingPath + [TreeKey(stringValue: "super")])
    }
    func superDecoder(forKey key: Key) throws -> any Decoder {
        TreeDecoder(node: object[key.stringValue] ?? .null, codingPath: codingPath + [key])
    }
}

private struct TreeUnkeyed: UnkeyedDecodingContainer {
    let array: [JSONValue]
    let codingPath: [any CodingKey]
    var currentIndex = 0

    init(array: [JSONValue], codingPath: [any CodingKey]) { self.array = array; self.codingPath = codingPath }

    var count: Int? { array.count }
    var isAtEnd: Bool { currentIndex >= array.count }

    mutating func next<T>(_ type: T.Type) throws -> JSONValue {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: codingPath + [TreeKey(intValue: currentIndex)], debugDescription: "Unkeyed container is at end."))
        }
        defer { currentIndex += 1 }
        return array[currentIndex]
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { return false }
        if array[currentIndex] == .null { currentIndex += 1; return true }
        return false
    }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeGeneric(type) }
    mutating func decode(_ type: Bool.Type) throws -> Bool { try decodeGeneric(type) }
    mutating func decode(_ type: String.Type) throws -> String { try decodeGeneric(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try decodeGeneric(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try decodeGeneric(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try decodeGeneric(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try decodeGeneric(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try decodeGeneric(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try decodeGeneric(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try decodeGeneric(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try decodeGeneric(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try decodeGeneric(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try decodeGeneric(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try decodeGeneric(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try decodeGeneric(type) }
    mutating func decodeGeneric<T: Decodable>(_ type: T.Type) throws -> T {
        let path = codingPath + [TreeKey(intValue: currentIndex)]
        let v = try next(type)
        if v == .null, type != JSONValue.self {
            throw DecodingError.valueNotFound(type, .init(codingPath: path, debugDescription: "Expected \(type) but found null instead."))
        }
        return try decodeNode(type, v, path)
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let path = codingPath + [TreeKey(intValue: currentIndex)]
        return try TreeDecoder(node: try next(type), codingPath: path).container(keyedBy: type)
    }
    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let path = codingPath + [TreeKey(intValue: currentIndex)]
        return try TreeDecoder(node: try next([JSONValue].self), codingPath: path).unkeyedContainer()
    }
    mutating func superDecoder() throws -> any Decoder {
        let path = codingPath + [TreeKey(intValue: currentIndex)]
        return TreeDecoder(node: try next(JSONValue.self), codingPath: path)
    }
}

private struct TreeSingle: SingleValueDecodingContainer {
    let node: JSONValue
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool { node == .null }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeGeneric(type) }
    func decode(_ type: Bool.Type) throws -> Bool { try decodeGeneric(type) }
    func decode(_ type: String.Type) throws -> String { try decodeGeneric(type) }
    func decode(_ type: Double.Type) throws -> Double { try decodeGeneric(type) }
    func decode(_ type: Float.Type) throws -> Float { try decodeGeneric(type) }
    func decode(_ type: Int.Type) throws -> Int { try decodeGeneric(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decodeGeneric(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decodeGeneric(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decodeGeneric(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decodeGeneric(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try decodeGeneric(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decodeGeneric(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decodeGeneric(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decodeGeneric(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decodeGeneric(type) }
    func decodeGeneric<T: Decodable>(_ type: T.Type) throws -> T {
        if node == .null, type != JSONValue.self {
            throw DecodingError.valueNotFound(type, .init(codingPath: codingPath, debugDescription: "Expected \(type) but found null instead."))
        }
        return try decodeNode(type, node, codingPath)
    }
}
