import Foundation
import ServiceLaunchers
@testable import SQLEngine
import Testing
import TestSupport

/// Issue 22, the store seam: the same statement texts and the same transaction code on SQLite
/// (GRDB) and on a real PostgreSQL 15, with the differences confined to `SQLDialect`.
@Suite("SQL engines: one statement text, two engines", .serialized)
struct SQLEngineTests {
    enum Engine: String, CaseIterable, Sendable { case sqlite, postgres }

    /// A fresh, empty database on `engine` (a temp SQLite file, or a new PostgreSQL database).
    func database(_ engine: Engine) throws -> any SQLDatabase {
        switch engine {
        case .sqlite:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-sql-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            return try SQLiteEngine(path: dir.appendingPathComponent("t.sqlite").path)
        case .postgres:
            return try PostgresEngine(url: try StoreEngine.postgres().createDatabase() + "?sslmode=disable")
        }
    }

    /// Runs `body` on a fresh database and closes it after (PostgreSQL connections must be closed
    /// before they are released), also when `body` throws.
    func with(_ engine: Engine, _ body: (any SQLDatabase) async throws -> Void) async throws {
        let db = try database(engine)
        do {
            try await body(db)
        } catch {
            try? await db.close()
            throw error
        }
        try await db.close()
    }

    /// SQLite's column types; `SQLDialect.schema` maps them for PostgreSQL.
    static let schema = """
        CREATE TABLE jobs(
            id INTEGER PRIMARY KEY,
            member TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            deadline REAL,
            secret BLOB,
            flag INTEGER NOT NULL DEFAULT 0,
            note TEXT DEFAULT 'what? no ?1 here',  -- a ? in a comment
            UNIQUE(member, state));
        """

    func create(_ db: any SQLDatabase) async throws {
        try await db.write { c in _ = try c.execute(c.dialect.schema(Self.schema), []) }
    }

    @Test("values round-trip by position and by name: integers, doubles, text, blobs, NULL, booleans", arguments: Engine.allCases)
    func roundTrip(_ engine: Engine) async throws {
        try await with(engine) { db in
            try await create(db)
            let secret = Data([0, 1, 2, 255, 0x3F])
            let id = try await db.write { c in
                try c.fetchValue(Int64.self, "INSERT INTO jobs(member, attempts, deadline, secret, flag) VALUES (?, ?, ?, ?, ?) RETURNING id",
                                 "web-1", 3, 1.5e9 + 0.25, secret, true)
            }
            #expect(id == 1)
            let row = try #require(try await db.read { c in try c.fetchOne("SELECT * FROM jobs WHERE id = ?", id) })
            #expect(try row.get("member", as: String.self) == "web-1")
            #expect(try row.get("attempts", as: Int.self) == 3)
            #expect(try row.get("deadline", as: Double.self) == 1.5e9 + 0.25)
            #expect(try row.get("secret", as: Data.self) == secret)
            #expect(try row.get("flag", as: Bool.self) == true)
            #expect(try row.get("note", as: String.self) == "what? no ?1 here")
            #expect(try row.get("state", as: String?.self) == "pending")
            let nothing = try await db.read { c in try c.fetchValue(Double.self, "SELECT deadline FROM jobs WHERE member = ?", "nobody") }
            #expect(nothing == nil)
            let null = try await db.read { c in try c.fetchOne("SELECT NULL AS x, COUNT(*) AS n FROM jobs") }
            #expect(try null?.get("x", as: String?.self) == nil)
            #expect(try null?.get("n", as: Int.self) == 1)
            // A wrong type is an error naming the column, not a silent zero.
            #expect(throws: SQLDecodingError.self) { try row.get("member", as: Int.self) }
        }
    }

    @Test("numbered and repeated placeholders, ON CONFLICT upserts, changed-row counts and RETURNING", arguments: Engine.allCases)
    func dialect(_ engine: Engine) async throws {
        try await with(engine) { db in
            try await create(db)
            try await db.write { c in
                for m in ["a", "b", "c"] { try c.execute("INSERT INTO jobs(member) VALUES (?)", m) }
            }
            let changed = try await db.write { c in
                try c.execute("UPDATE jobs SET attempts = attempts + ?1, deadline = ?2 WHERE member <> ?3 AND ?2 > 0", 2, 10.0, "b")
            }
            #expect(changed == 2)
            // Upsert: the second insert of (a, pending) updates, with excluded.* and a scalar minimum.
            let attempts = try await db.write { c in
                try c.fetchValue(Int.self, """
                    INSERT INTO jobs(member, attempts) VALUES (?, ?)
                    ON CONFLICT(member, state) DO UPDATE SET attempts = \(c.dialect.least("jobs.attempts + excluded.attempts", "5"))
                    RETURNING attempts
                    """, "a", 7)
            }
            #expect(attempts == 5)
            let sum = try await db.read { c in try c.fetchValue(Int.self, "SELECT SUM(attempts) FROM jobs") }
            #expect(sum == 5 + 0 + 2)
            let ids = try await db.read { c in
                try c.fetchAll("WITH ranked AS (SELECT id, ROW_NUMBER() OVER (ORDER BY id DESC) AS n FROM jobs) SELECT id FROM ranked WHERE n <= ? ORDER BY id", 2)
                    .map { try $0.get(0, as: Int64.self) }
            }
            #expect(ids == [2, 3])
        }
    }

    @Test("a thrown error rolls the whole transaction back; a unique violation is told apart", arguments: Engine.allCases)
    func rollback(_ engine: Engine) async throws {
        try await with(engine) { db in
            try await create(db)
            struct Stop: Error {}
            await #expect(throws: Stop.self) {
                try await db.write { c in
                    try c.execute("INSERT INTO jobs(member) VALUES (?)", "x")
                    throw Stop()
                }
            }
            #expect(try await db.read { c in try c.fetchValue(Int.self, "SELECT COUNT(*) FROM jobs") } == 0)
            try await db.write { c in try c.execute("INSERT INTO jobs(member) VALUES (?)", "x") }
            do {
                _ = try await db.write { c in try c.execute("INSERT INTO jobs(member) VALUES (?)", "x") }
                Issue.record("a duplicate was accepted")
            } catch let e as SQLError {
                #expect(e.kind == .uniqueViolation, "\(e)")
            }
            #expect(try await db.read { c in try c.fetchValue(Int.self, "SELECT COUNT(*) FROM jobs") } == 1)
        }
    }

    @Test("concurrent read-then-write transactions lose no update (serializable on both engines)", arguments: Engine.allCases)
    func noLostUpdate(_ engine: Engine) async throws {
        try await with(engine) { db in
            try await create(db)
            try await db.write { c in try c.execute("INSERT INTO jobs(member) VALUES (?)", "counter") }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        for _ in 0..<10 {
                            try await db.write { c in
                                // Read, then write what was read plus one: a lost update shows as a short count.
                                let n = try c.fetchValue(Int.self, "SELECT attempts FROM jobs WHERE member = ?", "counter") ?? -1
                                try c.execute("UPDATE jobs SET attempts = ? WHERE member = ?", n + 1, "counter")
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await db.read { c in try c.fetchValue(Int.self, "SELECT attempts FROM jobs WHERE member = ?", "counter") } == 80)
        }
    }

    @Test("PostgreSQL: a body that swallows a failed statement does not pass for committed (the server rolled it back)")
    func swallowedFailure() async throws {
        try await with(.postgres) { db in
            try await create(db)
            do {
                _ = try await db.write { c in
                    try c.execute("INSERT INTO jobs(member) VALUES (?)", "kept?")
                    _ = try? c.execute("INSERT INTO jobs(member) VALUES (?)", "kept?")  // unique violation, swallowed
                    return 1
                }
                Issue.record("COMMIT of an aborted transaction was reported as success")
            } catch let e as SQLError {
                #expect(e.message.contains("rolled back"), "\(e)")
            }
            let n = try await db.read { c in try c.fetchValue(Int.self, "SELECT COUNT(*) FROM jobs") }
            #expect(n == 0)
        }
    }

    @Test("PostgreSQL: a connection killed by the server is replaced and the transaction retried; nothing committed is lost")
    func reconnect() async throws {
        try await with(.postgres) { db in
            try await create(db)
            try await db.write { c in try c.execute("INSERT INTO jobs(member) VALUES (?)", "before") }
            let pid = try #require(try await db.read { c in try c.fetchValue(Int.self, "SELECT pg_backend_pid()") })
            let database = try #require(try await db.read { c in try c.fetchValue(String.self, "SELECT current_database()") })
            // Terminate every session of this database from outside (as a restart or a failover would).
            try StoreEngine.postgres().psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(database)'")
            try await db.write { c in try c.execute("INSERT INTO jobs(member) VALUES (?)", "after") }
            let members = try await db.read { c in try c.fetchAll("SELECT member FROM jobs ORDER BY id").map { try $0.get(0, as: String.self) } }
            #expect(members == ["before", "after"])
            let newPid = try await db.read { c in try c.fetchValue(Int.self, "SELECT pg_backend_pid()") }
            #expect(newPid != pid)
        }
    }

    static func migrator() -> SQLMigrator {
        var m = SQLMigrator()
        m.register("v1: jobs") { c in try c.executeScript(c.dialect.schema(SQLEngineTests.schema)) }
        m.register("v2: runs, and a count of how often a migration body ran") { c in
            try c.executeScript(c.dialect.schema("""
                CREATE TABLE runs(id INTEGER PRIMARY KEY, what TEXT NOT NULL);
                CREATE INDEX runs_what ON runs(what);
                -- a comment after the last statement
                """))
            try c.execute("INSERT INTO runs(what) VALUES (?)", "v2")
        }
        return m
    }

    @Test("migrations apply once, in order; a second run applies nothing", arguments: Engine.allCases)
    func migrations(_ engine: Engine) async throws {
        try await with(engine) { db in
            let m = Self.migrator()
            let first = try await m.migrate(db), second = try await m.migrate(db), applied = try await m.applied(db)
            #expect(first == ["v1: jobs", "v2: runs, and a count of how often a migration body ran"])
            #expect(second.isEmpty)
            #expect(applied.count == 2)
            let runs = try await db.read { c in try c.fetchValue(Int.self, "SELECT COUNT(*) FROM runs") }
            #expect(runs == 1)
        }
    }

    @Test("PostgreSQL: three processes migrating one database at once apply each migration exactly once")
    func concurrentMigrations() async throws {
        let url = try StoreEngine.postgres().createDatabase() + "?sslmode=disable"
        let engines = try (0..<3).map { _ in try PostgresEngine(url: url) }
        let applied = try await withThrowingTaskGroup(of: [String].self) { group in
            for e in engines { group.addTask { try await Self.migrator().migrate(e) } }
            return try await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(applied.sorted() == Self.migrator().migrations.map(\.identifier).sorted())
        #expect(try await engines[0].read { c in try c.fetchValue(Int.self, "SELECT COUNT(*) FROM runs") } == 1)
        for e in engines { try await e.close() }
    }

    @Test("SQLite: a file migrated by GRDB's migrator keeps its history; only the new migrations run")
    func takesOverGRDBHistory() async throws {
        try await with(.sqlite) { db in
            try await db.write { c in
                try c.executeScript("CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
                try c.execute("INSERT INTO grdb_migrations VALUES (?)", "v1: jobs")
                try c.executeScript(SQLEngineTests.schema)
            }
            #expect(try await Self.migrator().migrate(db) == ["v2: runs, and a count of how often a migration body ran"])
        }
    }

    @Test("PostgreSQL: a database URL that cannot work is refused with the reason")
    func badURLs() {
        for url in ["mysql://u@h/db", "postgres://u@/db", "postgres://u@h", "postgres://u@h/db?sslmode=maybe"] {
            #expect(throws: SQLError.self, "\(url)") { _ = try PostgresEngine(url: url) }
        }
    }
}

/// The placeholder and schema rewriting, and its termination on any input.
@Suite("SQL dialect rewriting")
struct SQLDialectTests {
    @Test("placeholders are numbered as SQLite numbers them; literals, identifiers and comments are untouched")
    func placeholders() {
        let p = SQLDialect.postgres
        #expect(p.statement("SELECT ? , ?") == "SELECT $1 , $2")
        #expect(p.statement("SELECT ?2, ?, ?1") == "SELECT $2, $3, $1")
        #expect(p.statement("SELECT '?', \"a?\", ? -- ?\n/* ? */ ?") == "SELECT '?', \"a?\", $1 -- ?\n/* ? */ $2")
        #expect(p.statement("SELECT 'it''s ?', ?") == "SELECT 'it''s ?', $1")
        #expect(p.statement("SELECT ? -- c\r\n, ?") == "SELECT $1 -- c\r\n, $2")
        #expect(SQLDialect.sqlite.statement("SELECT ?") == "SELECT ?")
    }

    @Test("schema types: rowid keys become identity columns; words inside names and literals stay")
    func schema() {
        let p = SQLDialect.postgres
        #expect(p.schema("id INTEGER PRIMARY KEY, n INTEGER, t REAL, b BLOB, integers_seen TEXT DEFAULT 'REAL'")
                == "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n BIGINT, t DOUBLE PRECISION, b BYTEA, integers_seen TEXT DEFAULT 'REAL'")
        #expect(p.schema("x integer\n  primary   key") == "x BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
    }

    @Test("scripts split at semicolons outside literals, comments and dollar quotes")
    func scripts() {
        let script = """
            CREATE TABLE a(x TEXT DEFAULT ';');  -- one; comment
            CREATE FUNCTION bump() RETURNS trigger AS $$ BEGIN UPDATE g SET n = n + 1; RETURN NULL; END $$ LANGUAGE plpgsql;
            CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;
            /* trailing; */
            """
        let parts = SQLDialect.statements(script)
        #expect(parts.count == 3, "\(parts)")
        #expect(parts[1].hasSuffix("END $$ LANGUAGE plpgsql"))
        #expect(SQLDialect.postgres.statement("SELECT $$ ? $$, ?") == "SELECT $$ ? $$, $1")
    }

    @Test("every prefix and many mutations of a statement finish, with no placeholder lost")
    func terminates() {
        let base = "INSERT INTO t(a, 'b?') VALUES (?1, ?, \"c\"\"?\") -- x ?\n/* y ? */ ON CONFLICT DO UPDATE SET a = ?3; $t$ ;? $t$"
        var rng = SplitMix64(seed: 22)
        var inputs = (0...base.count).map { String(base.prefix($0)) }
        let alphabet = Array("?'\"-/*\n 0123456789ab$;t")
        for _ in 0..<2000 {
            var chars = Array(base)
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                chars[Int.random(in: 0..<chars.count, using: &rng)] = alphabet[Int.random(in: 0..<alphabet.count, using: &rng)]
            }
            inputs.append(String(chars))
        }
        for sql in inputs {
            let out = SQLDialect.postgres.statement(sql)
            // Outside literals every ? became $n, so the output has no more ? than the input.
            #expect(out.filter { $0 == "?" }.count <= sql.filter { $0 == "?" }.count)
            _ = SQLDialect.postgres.schema(sql)
            _ = SQLDialect.statements(sql)
        }
    }
}
