/// The statements of one transaction, on either engine. A value of this type lives only inside
/// the closure given to `SQLDatabase.read` / `write`; the closure runs on a thread of the engine's
/// own and may be run again after a serialization failure, so it must do nothing but SQL. A
/// failed statement must fail the transaction: on PostgreSQL it aborts it (COMMIT then reports
/// the rollback as an error), where SQLite would undo that statement alone.
public protocol SQLConnection {
    var dialect: SQLDialect { get }
    /// Runs one statement; returns how many rows it inserted, updated or deleted.
    @discardableResult
    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int
    func fetchAll(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow]
    /// The first column of the first row: nil when there is no row, `.null` for NULL. (Most
    /// lookups want one value; this skips building rows.)
    func firstValue(_ sql: String, _ arguments: [SQLValue]) throws -> SQLValue?
    /// Rows the last `execute` inserted, updated or deleted (GRDB's `changesCount`).
    var changesCount: Int { get }
    /// Several statements without parameters (migrations): SQLite runs the script as one text,
    /// PostgreSQL statement by statement (`SQLDialect.statements`).
    func executeScript(_ sql: String) throws
}

extension SQLConnection {
    @discardableResult
    public func execute(_ sql: String, _ arguments: any SQLValueConvertible...) throws -> Int {
        try execute(sql, arguments.map(\.sqlValue))
    }

    public func fetchAll(_ sql: String, _ arguments: any SQLValueConvertible...) throws -> [SQLRow] {
        try fetchAll(sql, arguments.map(\.sqlValue))
    }

    public func fetchOne(_ sql: String, _ arguments: any SQLValueConvertible...) throws -> SQLRow? {
        try fetchAll(sql, arguments.map(\.sqlValue)).first
    }

    /// The first column of the first row (nil: no row, or NULL).
    public func fetchValue<T: SQLValueConvertible>(_ type: T.Type = T.self, _ sql: String,
                                                   _ arguments: any SQLValueConvertible...) throws -> T? {
        guard let row = try fetchAll(sql, arguments.map(\.sqlValue)).first else { return nil }
        return try row.get(0, as: T?.self)
    }
}

/// What a transaction may do, and what it sees.
public enum SQLTransactionKind: Sendable {
    /// One consistent snapshot, no writes.
    case read
    /// Serializable: SQLite's single writer; PostgreSQL SERIALIZABLE, retried after a
    /// serialization failure (the body runs again, so it must do nothing but SQL).
    case write
    /// A write that holds the database's migration lock (one at a time across every process on
    /// the database) and whose statements see all that was committed before each runs
    /// (PostgreSQL: READ COMMITTED after `pg_advisory_xact_lock`; SQLite: its single writer).
    case exclusive
}

/// A database on either engine: SQLite through GRDB (the embedded default) or PostgreSQL through
/// postgres-nio (scale-out). Reads see one consistent snapshot; writes are serializable on both
/// (SQLite has one writer; PostgreSQL runs SERIALIZABLE and retries a transaction that lost a
/// serialization conflict), so the store's read-then-write logic means the same on both.
public protocol SQLDatabase: Sendable {
    var dialect: SQLDialect { get }
    func transaction<T: Sendable>(_ kind: SQLTransactionKind,
                                  _ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T
    /// The same, waiting on the calling thread: for start-up (migrations, the first account)
    /// before any task runs; never from a task that other work shares a thread with.
    func transactionBlocking<T: Sendable>(_ kind: SQLTransactionKind,
                                          _ body: @escaping @Sendable (any SQLConnection) throws -> T) throws -> T
    /// Closes every connection; calls after it fail.
    func close() async throws
    /// A write transaction whose outcome goes to `completion`, called from wherever the engine
    /// finishes it: SQLite calls it from its writer queue with no task of its own (the heartbeat
    /// group commit runs one of these per batch, and a task hop per batch was measurable).
    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T,
                            completion: @escaping @Sendable (Result<T, any Error>) -> Void)
}

extension SQLDatabase {
    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await transaction(.read, body)
    }

    public func write<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await transaction(.write, body)
    }

    public func exclusive<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await transaction(.exclusive, body)
    }

    public func write<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T,
                                   completion: @escaping @Sendable (Result<T, any Error>) -> Void) {
        Task {
            do { completion(.success(try await transaction(.write, body))) } catch { completion(.failure(error)) }
        }
    }
}

/// An engine's error, with PostgreSQL's SQLSTATE where there is one (e.g. 23505: unique
/// violation) so callers can tell a conflict from a failure on both engines.
public struct SQLError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// A UNIQUE or PRIMARY KEY constraint refused the row.
        case uniqueViolation
        /// A CHECK, NOT NULL or FOREIGN KEY constraint refused it.
        case constraint
        /// The connection to the server failed; the transaction did not commit.
        case connection
        /// The server's answer to COMMIT never arrived: the transaction may or may not have committed.
        case commitUnknown
        case other
    }
    public let kind: Kind
    public let sqlState: String?
    public let message: String
    public var description: String { sqlState.map { "\(message) (SQLSTATE \($0))" } ?? message }

    public init(_ kind: Kind, _ message: String, sqlState: String? = nil) {
        self.kind = kind
        self.message = message
        self.sqlState = sqlState
    }
}
