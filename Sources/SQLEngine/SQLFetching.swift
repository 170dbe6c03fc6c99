/// Statement arguments written as GRDB's are: `[name, 3, nil]`.
public struct SQLArguments: ExpressibleByArrayLiteral, Sendable {
    public var values: [SQLValue]

    public init(_ values: [SQLValue]) { self.values = values }
    public init(_ elements: [(any SQLValueConvertible)?]) { values = elements.map { $0?.sqlValue ?? .null } }
    public init(arrayLiteral elements: (any SQLValueConvertible)?...) { self.init(elements) }
}

/// The store's statements read as they did on GRDB (`Int.fetchOne(db, sql:arguments:)`,
/// `row["name"]`), so one body of code runs on both engines.
extension SQLConnection {
    public func execute(sql: String, arguments: SQLArguments = []) throws {
        _ = try execute(sql, arguments.values)
    }
}

extension SQLValueConvertible {
    /// The first column of the first row; nil when there is no row (or it is NULL).
    public static func fetchOne(_ c: any SQLConnection, sql: String, arguments: SQLArguments = []) throws -> Self? {
        guard let v = try c.firstValue(sql, arguments.values) else { return nil }
        if case .null = v { return Self(sqlValue: v) }
        guard let t = Self(sqlValue: v) else { throw SQLDecodingError("\(sql): column 0 is \(v), not \(Self.self)") }
        return t
    }

    /// The first column of every row.
    public static func fetchAll(_ c: any SQLConnection, sql: String, arguments: SQLArguments = []) throws -> [Self] {
        try c.fetchAll(sql, arguments.values).map { try $0.get(0, as: Self.self) }
    }
}

extension SQLRow {
    public static func fetchOne(_ c: any SQLConnection, sql: String, arguments: SQLArguments = []) throws -> SQLRow? {
        try c.fetchAll(sql, arguments.values).first
    }

    public static func fetchAll(_ c: any SQLConnection, sql: String, arguments: SQLArguments = []) throws -> [SQLRow] {
        try c.fetchAll(sql, arguments.values)
    }

    /// The value of a column, converted as GRDB converts it; a column that is missing or cannot
    /// be converted (NULL read as a non-optional, text read as a number) is a programming error,
    /// as it is in GRDB, and stops with the column and the value.
    public subscript<T: SQLValueConvertible>(_ index: Int) -> T {
        do { return try get(index, as: T.self) } catch { fatalError("\(error)") }
    }

    public subscript<T: SQLValueConvertible>(_ name: String) -> T {
        do { return try get(name, as: T.self) } catch { fatalError("\(error)") }
    }
}

/// A statement text bound to a connection, as GRDB's `db.cachedStatement(sql:)` reads: on SQLite
/// every statement is prepared once per connection and reused (the hot paths rely on it); on
/// PostgreSQL postgres-nio sends it with its parameters.
public struct SQLStatement {
    public let connection: any SQLConnection
    public let sql: String

    public func execute(arguments: SQLArguments = []) throws {
        _ = try connection.execute(sql, arguments.values)
    }
}

extension SQLConnection {
    public func cachedStatement(sql: String) -> SQLStatement { SQLStatement(connection: self, sql: sql) }
}

/// Rows read one at a time, as GRDB's cursors are (`while let row = try rows.next()`).
public final class SQLRowCursor {
    private var iterator: IndexingIterator<[SQLRow]>
    init(_ rows: [SQLRow]) { iterator = rows.makeIterator() }
    public func next() throws -> SQLRow? { iterator.next() }
}

extension SQLValueConvertible {
    public static func fetchOne(_ s: SQLStatement, arguments: SQLArguments = []) throws -> Self? {
        try fetchOne(s.connection, sql: s.sql, arguments: arguments)
    }

    public static func fetchAll(_ s: SQLStatement, arguments: SQLArguments = []) throws -> [Self] {
        try fetchAll(s.connection, sql: s.sql, arguments: arguments)
    }
}

extension SQLRow {
    public static func fetchOne(_ s: SQLStatement, arguments: SQLArguments = []) throws -> SQLRow? {
        try s.connection.fetchAll(s.sql, arguments.values).first
    }

    public static func fetchAll(_ s: SQLStatement, arguments: SQLArguments = []) throws -> [SQLRow] {
        try s.connection.fetchAll(s.sql, arguments.values)
    }

    public static func fetchCursor(_ s: SQLStatement, arguments: SQLArguments = []) throws -> SQLRowCursor {
        SQLRowCursor(try s.connection.fetchAll(s.sql, arguments.values))
    }

    public static func fetchCursor(_ c: any SQLConnection, sql: String, arguments: SQLArguments = []) throws -> SQLRowCursor {
        SQLRowCursor(try c.fetchAll(sql, arguments.values))
    }
}

extension SQLConnection {
    /// Runs an INSERT into a table with an `id INTEGER PRIMARY KEY` and returns the new row's id
    /// (SQLite: its rowid, on any SQLite version; PostgreSQL: `RETURNING id`).
    public func insertReturningID(sql: String, arguments: SQLArguments = []) throws -> Int64 {
        switch dialect {
        case .sqlite:
            _ = try execute(sql, arguments.values)
            guard let id = try Int64.fetchOne(self, sql: "SELECT last_insert_rowid()") else {
                throw SQLDecodingError("no row id after \(sql)")
            }
            return id
        case .postgres:
            guard let id = try Int64.fetchOne(self, sql: sql + " RETURNING id", arguments: arguments) else {
                throw SQLDecodingError("no id returned by \(sql)")
            }
            return id
        }
    }
}
