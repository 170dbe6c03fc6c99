import Foundation
import GRDB

/// The embedded engine: a GRDB `DatabasePool` (WAL, one writer, concurrent readers). Statements
/// are prepared once per connection (`cachedStatement`), as the store's hot paths rely on.
public final class SQLiteEngine: SQLDatabase {
    public let pool: DatabasePool
    public var dialect: SQLDialect { .sqlite }

    public init(pool: DatabasePool) { self.pool = pool }

    public convenience init(path: String) throws {
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(10)
        self.init(pool: try DatabasePool(path: path, configuration: config))
    }

    public func transaction<T: Sendable>(_ kind: SQLTransactionKind,
                                         _ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        switch kind {
        case .read: try await pool.read { db in try Self.mapErrors { try body(GRDBConnection(db: db)) } }
        case .write, .exclusive: try await pool.writeWithoutTransaction { db in try Self.immediate(db, body) }
        }
    }

    /// Writes begin IMMEDIATE: the write lock is taken before the first read, so two processes
    /// on one file (two control planes, a migration) never both read and then both write.
    static func immediate<T>(_ db: Database, _ body: (any SQLConnection) throws -> T) throws -> T {
        var value: T?
        try mapErrors {
            try db.inTransaction(.immediate) {
                value = try body(GRDBConnection(db: db))
                return .commit
            }
        }
        return value!
    }

    public func transactionBlocking<T: Sendable>(_ kind: SQLTransactionKind,
                                                 _ body: @escaping @Sendable (any SQLConnection) throws -> T) throws -> T {
        switch kind {
        case .read: try pool.read { db in try Self.mapErrors { try body(GRDBConnection(db: db)) } }
        case .write, .exclusive: try pool.writeWithoutTransaction { db in try Self.immediate(db, body) }
        }
    }

    public func close() async throws { try pool.close() }

    public func write<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T,
                                   completion: @escaping @Sendable (Result<T, any Error>) -> Void) {
        pool.asyncWriteWithoutTransaction { db in
            completion(Result { try Self.immediate(db, body) })
        }
    }

    static func mapErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let e as DatabaseError {
            switch e.extendedResultCode {
            case .SQLITE_CONSTRAINT_UNIQUE, .SQLITE_CONSTRAINT_PRIMARYKEY:
                throw SQLError(.uniqueViolation, e.message ?? "\(e)")
            default:
                throw SQLError(e.resultCode == .SQLITE_CONSTRAINT ? .constraint : .other, e.message ?? "\(e)")
            }
        }
    }
}

/// `SQLConnection` over a GRDB `Database` (valid only inside the GRDB closure it came from).
struct GRDBConnection: SQLConnection {
    let db: Database
    var dialect: SQLDialect { .sqlite }
    var changesCount: Int { db.changesCount }

    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
        try db.cachedStatement(sql: sql).execute(arguments: StatementArguments(arguments.map(Self.databaseValue)))
        return db.changesCount
    }

    func executeScript(_ sql: String) throws { try db.execute(sql: sql) }

    func firstValue(_ sql: String, _ arguments: [SQLValue]) throws -> SQLValue? {
        let value = try DatabaseValue.fetchOne(db.cachedStatement(sql: sql),
                                               arguments: StatementArguments(arguments.map(Self.databaseValue)))
        return value.map(Self.sqlValue)
    }

    static func sqlValue(_ v: DatabaseValue) -> SQLValue {
        switch v.storage {
        case .null: .null
        case .int64(let i): .int(i)
        case .double(let d): .double(d)
        case .string(let s): .text(s)
        case .blob(let b): .blob(b)
        }
    }

    func fetchAll(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow] {
        let statement = try db.cachedStatement(sql: sql)
        let columns = statement.columnNames
        var rows: [SQLRow] = []
        let cursor = try Row.fetchCursor(statement, arguments: StatementArguments(arguments.map(Self.databaseValue)))
        while let row = try cursor.next() {
            var values: [SQLValue] = []
            values.reserveCapacity(columns.count)
            for i in 0..<columns.count { values.append(Self.sqlValue(row[i])) }
            rows.append(SQLRow(columns: columns, values: values))
        }
        return rows
    }

    static func databaseValue(_ v: SQLValue) -> DatabaseValue {
        switch v {
        case .null: .null
        case .int(let i): i.databaseValue
        case .double(let d): d.databaseValue
        case .text(let s): s.databaseValue
        case .blob(let b): b.databaseValue
        }
    }
}
