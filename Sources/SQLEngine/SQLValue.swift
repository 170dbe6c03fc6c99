import Foundation

/// One value bound to or read from a statement, in the four storage classes both engines share
/// (booleans are stored as 0/1 integers on both, so `WHERE flag = 1` reads the same everywhere).
public enum SQLValue: Sendable, Hashable, CustomStringConvertible {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob(Data)

    public var description: String {
        switch self {
        case .null: "NULL"
        case .int(let v): String(v)
        case .double(let v): String(v)
        case .text(let v): "'\(v)'"
        case .blob(let v): "<\(v.count) bytes>"
        }
    }
}

/// Why a value could not be read as the type asked for.
public struct SQLDecodingError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

/// A Swift type a column or a parameter converts to and from.
public protocol SQLValueConvertible: Sendable {
    var sqlValue: SQLValue { get }
    /// nil when `value` is not this type (NULL included: use an Optional to read one).
    init?(sqlValue value: SQLValue)
}

extension Int64: SQLValueConvertible {
    public var sqlValue: SQLValue { .int(self) }
    public init?(sqlValue v: SQLValue) {
        switch v {
        case .int(let i): self = i
        // PostgreSQL's numeric results (SUM over integers) arrive as text-free doubles only when
        // whole: never round a fraction away silently.
        case .double(let d) where d.rounded() == d && abs(d) < 9.0e18: self = Int64(d)
        default: return nil
        }
    }
}

extension Int: SQLValueConvertible {
    public var sqlValue: SQLValue { .int(Int64(self)) }
    public init?(sqlValue v: SQLValue) {
        guard let i = Int64(sqlValue: v) else { return nil }
        self = Int(i)
    }
}

extension Double: SQLValueConvertible {
    public var sqlValue: SQLValue { .double(self) }
    public init?(sqlValue v: SQLValue) {
        switch v {
        case .double(let d): self = d
        case .int(let i): self = Double(i)
        default: return nil
        }
    }
}

extension Bool: SQLValueConvertible {
    public var sqlValue: SQLValue { .int(self ? 1 : 0) }
    public init?(sqlValue v: SQLValue) {
        guard let i = Int64(sqlValue: v) else { return nil }
        self = i != 0
    }
}

extension String: SQLValueConvertible {
    public var sqlValue: SQLValue { .text(self) }
    public init?(sqlValue v: SQLValue) {
        guard case .text(let s) = v else { return nil }
        self = s
    }
}

extension Data: SQLValueConvertible {
    public var sqlValue: SQLValue { .blob(self) }
    public init?(sqlValue v: SQLValue) {
        guard case .blob(let d) = v else { return nil }
        self = d
    }
}

extension Optional: SQLValueConvertible where Wrapped: SQLValueConvertible {
    public var sqlValue: SQLValue { self?.sqlValue ?? .null }
    public init?(sqlValue v: SQLValue) {
        if case .null = v { self = .none; return }
        guard let w = Wrapped(sqlValue: v) else { return nil }
        self = .some(w)
    }
}

/// One result row: values by position, and by column name.
public struct SQLRow: Sendable {
    public let columns: [String]
    public let values: [SQLValue]

    public init(columns: [String], values: [SQLValue]) {
        self.columns = columns
        self.values = values
    }

    public func value(_ index: Int) throws -> SQLValue {
        guard values.indices.contains(index) else { throw SQLDecodingError("no column \(index) (row has \(values.count))") }
        return values[index]
    }

    public func value(_ name: String) throws -> SQLValue {
        guard let i = columns.firstIndex(of: name) else { throw SQLDecodingError("no column \(name) in \(columns)") }
        return values[i]
    }

    public func get<T: SQLValueConvertible>(_ index: Int, as: T.Type = T.self) throws -> T {
        let v = try value(index)
        guard let t = T(sqlValue: v) else { throw SQLDecodingError("column \(index) is \(v), not \(T.self)") }
        return t
    }

    public func get<T: SQLValueConvertible>(_ name: String, as: T.Type = T.self) throws -> T {
        let v = try value(name)
        guard let t = T(sqlValue: v) else { throw SQLDecodingError("column \(name) is \(v), not \(T.self)") }
        return t
    }
}
