#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Any JSON value. Job parameters and structured results travel as `JSONValue` on the wire and
/// are decoded into a handler's typed parameters only where the handler is known.
public enum JSONValue: Codable, Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        // From a parsed tree (JSONTree): the node is the value, nothing to try.
        if let tree = decoder as? TreeDecoder { self = tree.node; return }
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else if let o = try? c.decode([String: JSONValue].self) { self = .object(o) }
        else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a JSON value")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n):
            // Integers print without a fraction so ids and counts stay readable.
            if n.rounded() == n, abs(n) < 9.0e15 { try c.encode(Int64(n)) } else { try c.encode(n) }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    public static let emptyObject = JSONValue.object([:])

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var doubleValue: Double? { if case .number(let n) = self { return n }; return nil }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }

    /// Re-encode this value and decode it as `T`: how untyped job parameters become typed ones.
    public func decode<T: Decodable>(as type: T.Type) throws -> T {
        let data = try JSONEncoder().encode(self)
        return try JSONDecoder().decode(T.self, from: data)
    }

    /// Encode any `Encodable` as a `JSONValue`.
    public static func from<T: Encodable>(_ value: T) throws -> JSONValue {
        let data = try JSONEncoder().encode(value)
        return try JSONDecoder().decode(JSONValue.self, from: data)
    }

    /// Compact JSON text.
    public func jsonString() -> String {
        guard let data = try? JSONEncoder().encode(self) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }
}

extension DecodingError {
    /// A one-line reason a person can act on: which key, what was wrong.
    public var balctlReason: String {
        func path(_ ctx: Context) -> String {
            let p = ctx.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
                .joined(separator: ".")
            return p.isEmpty ? "(top level)" : p
        }
        switch self {
        case .keyNotFound(let key, let ctx):
            let parent = path(ctx)
            return "missing key '\(key.stringValue)'" + (ctx.codingPath.isEmpty ? "" : " in \(parent)")
        case .typeMismatch(let type, let ctx):
            return "wrong type at \(path(ctx)): expected \(type)"
        case .valueNotFound(let type, let ctx):
            return "null at \(path(ctx)): expected \(type)"
        case .dataCorrupted(let ctx):
            if ctx.codingPath.isEmpty { return "malformed JSON: \(ctx.debugDescription)" }
            return "invalid value at \(path(ctx)): \(ctx.debugDescription)"
        @unknown default:
            return "malformed JSON"
        }
    }
}
