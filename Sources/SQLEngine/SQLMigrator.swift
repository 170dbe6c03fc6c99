import Foundation

/// Ordered, named schema migrations, applied once per database on either engine. Each runs in
/// its own transaction with its bookkeeping row (PostgreSQL has transactional DDL; so does
/// SQLite), under the database's migration lock: several processes starting at once on one
/// PostgreSQL each wait for the lock, see what the others applied, and apply only the rest.
public struct SQLMigrator: Sendable {
    public struct Migration: Sendable {
        public let identifier: String
        let body: @Sendable (any SQLConnection) throws -> Void
    }

    public private(set) var migrations: [Migration] = []

    public init() {}

    /// `body` runs in the migration's transaction; write DDL with SQLite's types and pass it
    /// through `c.dialect.schema`, and run several statements with `executeScript`.
    public mutating func register(_ identifier: String, _ body: @escaping @Sendable (any SQLConnection) throws -> Void) {
        precondition(!migrations.contains { $0.identifier == identifier }, "migration \(identifier) registered twice")
        migrations.append(Migration(identifier: identifier, body: body))
    }

    static let table = "balctl_migrations"

    /// Applies the migrations not applied yet, in order (up to and including `upTo`, for tests
    /// that build an old database); returns the identifiers it applied.
    @discardableResult
    public func migrate(_ db: any SQLDatabase, upTo last: String? = nil) async throws -> [String] {
        var appliedNow: [String] = []
        var end = migrations.count
        if let last {
            guard let i = migrations.firstIndex(where: { $0.identifier == last }) else {
                throw SQLError(.other, "no migration named \(last)")
            }
            end = i + 1
        }
        for migration in migrations.prefix(end) {
            if try await db.exclusive({ c in try Self.apply(migration, c) }) { appliedNow.append(migration.identifier) }
        }
        return appliedNow
    }

    /// `migrate`, waiting on the calling thread (start-up).
    @discardableResult
    public func migrateBlocking(_ db: any SQLDatabase) throws -> [String] {
        try migrations.filter { migration in try db.transactionBlocking(.exclusive) { c in try Self.apply(migration, c) } }
            .map(\.identifier)
    }

    /// Runs `migration` unless it was applied; true when it ran.
    static func apply(_ migration: Migration, _ c: any SQLConnection) throws -> Bool {
        try createTable(c)
        let done = try c.fetchValue(Int.self, "SELECT COUNT(*) FROM \(table) WHERE identifier = ?", migration.identifier) ?? 0
        guard done == 0 else { return false }
        try migration.body(c)
        try c.execute("INSERT INTO \(table)(identifier, applied_at) VALUES (?, ?)", migration.identifier, Date().timeIntervalSince1970)
        return true
    }

    /// The identifiers applied to `db`, oldest first.
    public func applied(_ db: any SQLDatabase) async throws -> [String] {
        try await db.exclusive { c in
            try Self.createTable(c)
            return try c.fetchAll("SELECT identifier FROM \(Self.table) ORDER BY applied_at, identifier").map { try $0.get(0, as: String.self) }
        }
    }

    /// The bookkeeping table; on a SQLite file made by GRDB's migrator (before the two engines),
    /// its `grdb_migrations` rows are taken over once, so those migrations are not run again.
    static func createTable(_ c: any SQLConnection) throws {
        let exists: Bool
        switch c.dialect {
        case .sqlite:
            exists = try c.fetchValue(Int.self, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?", table) == 1
        case .postgres:
            exists = try c.fetchValue(Int.self, "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?", table) == 1
        }
        guard !exists else { return }
        try c.execute(c.dialect.schema("CREATE TABLE \(table)(identifier TEXT NOT NULL PRIMARY KEY, applied_at REAL NOT NULL)"), [])
        if c.dialect == .sqlite,
           try c.fetchValue(Int.self, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'grdb_migrations'") == 1 {
            try c.execute("INSERT INTO \(table)(identifier, applied_at) SELECT identifier, 0 FROM grdb_migrations", [])
        }
    }
}
