import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// PostgreSQL through postgres-nio. The store's transactions are synchronous closures (the
/// SQLite path runs them on GRDB's queues), so each PostgreSQL connection has a thread of its own
/// that runs one closure at a time and waits on each statement: the closure code is the same for
/// both engines. Writes run SERIALIZABLE and are retried (with jitter) when PostgreSQL reports a
/// serialization failure or deadlock; reads run REPEATABLE READ, READ ONLY (one snapshot, like a
/// SQLite read transaction). A broken connection is replaced; a transaction that failed before its
/// COMMIT was sent is retried on the new one, and one whose COMMIT got no answer is reported as
/// `commitUnknown`, never retried blindly.
public final class PostgresEngine: SQLDatabase {
    public var dialect: SQLDialect { .postgres }
    let configuration: PostgresConnection.Configuration
    let pool: ConnectionPool
    let logger: Logger
    /// Attempts per transaction (serialization failures, a broken connection before COMMIT).
    let maxAttempts = 20
    /// Statements as PostgreSQL wants them (`$n` placeholders), rewritten once each.
    let statements = StatementCache()

    /// `url`: `postgres://user[:password]@host[:port]/database[?sslmode=disable|require]`.
    public init(url: String, maxConnections: Int = 8, logger: Logger = Logger(label: "balctl.sql")) throws {
        configuration = try Self.configuration(url)
        self.logger = logger
        pool = ConnectionPool(limit: maxConnections)
    }

    /// Run once on each connection. A client that stops in the middle of a transaction (a frozen
    /// or cut-off replica) must not hold its locks (the leader lease row among them) until TCP
    /// gives up, hours later: the server ends such a session after 3 s; the store's transactions
    /// never wait between statements. A `SET` rather than a startup parameter: PgBouncer refuses
    /// unknown startup parameters (session pooling is required anyway, for LISTEN).
    static let sessionSetup: PostgresQuery = "SET idle_in_transaction_session_timeout = '3s'"

    /// The key of the advisory lock migrations hold ("balctl" in ASCII).
    static let migrationLock: Int64 = 0x62616C63746C

    static func begin(_ kind: SQLTransactionKind) -> String {
        switch kind {
        case .read: "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
        case .write: "BEGIN ISOLATION LEVEL SERIALIZABLE"
        case .exclusive: "BEGIN ISOLATION LEVEL READ COMMITTED"
        }
    }

    public func transaction<T: Sendable>(_ kind: SQLTransactionKind,
                                         _ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await run(Self.begin(kind)) { c in
            if kind == .exclusive { try c.execute("SELECT pg_advisory_xact_lock(?)", Self.migrationLock) }
            return try body(c)
        }
    }

    /// On a connection of its own, opened and closed here, with no task involved: start-up code
    /// calls this from wherever it runs, and waiting on a task from a thread of the task pool
    /// could starve the pool (one core: one thread) and never return.
    public func transactionBlocking<T: Sendable>(_ kind: SQLTransactionKind,
                                                 _ body: @escaping @Sendable (any SQLConnection) throws -> T) throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            let connection: PostgresConnection
            do {
                connection = try PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration,
                                                            id: Int.random(in: 0...Int.max), logger: logger).wait()
            } catch {
                if attempt < maxAttempts { usleep(UInt32(Int.random(in: 0...(100_000 << min(attempt, 4))))); continue }
                throw SQLError(.connection, "cannot connect to PostgreSQL at \(configuration.host ?? "?"):\(configuration.port ?? 5432): \(PGConnection.describe(error))")
            }
            let conn = PGConnection(connection: connection, logger: logger, statements: statements)
            defer { try? connection.close().wait() }
            do {
                _ = try PGTransaction.wait(for: connection.query(Self.sessionSetup, logger: logger), on: connection)
            } catch {
                if attempt < maxAttempts { continue }
                throw SQLError(.connection, "cannot set up the PostgreSQL session: \(PGConnection.describe(error))")
            }
            do {
                return try conn.run(begin: Self.begin(kind)) { c in
                    if kind == .exclusive { try c.execute("SELECT pg_advisory_xact_lock(?)", Self.migrationLock) }
                    return try body(c)
                }
            } catch let e as SQLError where Self.retryable(e) && attempt < maxAttempts {
                usleep(UInt32(Int.random(in: 0...(1000 << min(attempt, 6)))))
            }
        }
    }

    /// A serialization failure or deadlock (run the transaction again), or a connection lost
    /// before COMMIT was sent (run it again on a new one).
    static func retryable(_ e: SQLError) -> Bool {
        e.kind == .connection || e.sqlState == "40001" || e.sqlState == "40P01"
    }

    /// Until cancelled: LISTEN on `channel` on a connection of its own. `onListening(true)` once
    /// the LISTEN is in place, `onListening(false)` when the connection is lost (notifications
    /// sent meanwhile are gone: the caller must assume it missed some), `onNotification` for each
    /// one. Every `pingSec` the listener also notifies itself on the channel with the time it
    /// sent the ping; `onAlive(sentAt)` (monotonic nanoseconds, `DispatchTime`) reports each one
    /// that came back. PostgreSQL delivers notifications in commit order, so once a ping sent at
    /// `t` is heard, every notification committed before `t` has been heard too: the caller may
    /// trust what it knows as of `t`. No ping back for 3 s (a connection that died without
    /// closing, a backend that stopped delivering) ends the connection; a lost one is replaced
    /// after a back-off of 0.1 s doubling to 5 s.
    public func listen(channel: String, pingSec: Double = 0.4,
                       onListening: @escaping @Sendable (Bool) -> Void,
                       onNotification: @escaping @Sendable (String) -> Void,
                       onAlive: @escaping @Sendable (UInt64) -> Void = { _ in }) async {
        var failures = 0
        let me = "balctl-alive:\(UInt64.random(in: 0...UInt64.max)):"
        while !Task.isCancelled {
            var connection: PostgresConnection?
            do {
                let c = try await PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.any(),
                                                             configuration: configuration, id: Int.random(in: 0...Int.max),
                                                             logger: logger).get()
                connection = c
                let heard = ProbeClock()
                let sentPings = PingBook()
                try await c.listen(on: channel) { notifications in
                    onListening(true)
                    failures = 0
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for try await n in notifications {
                                if n.payload.hasPrefix("balctl-alive:") {
                                    // Only a ping this connection sent counts: any role that can
                                    // connect can LISTEN, read our payloads and NOTIFY forged ones.
                                    guard n.payload.hasPrefix(me), let sent = UInt64(n.payload.dropFirst(me.count)),
                                          sentPings.take(sent) else { continue }
                                    heard.touch()
                                    onAlive(sent)
                                } else {
                                    onNotification(n.payload)
                                }
                            }
                            throw SQLError(.connection, "the LISTEN connection ended")
                        }
                        group.addTask {
                            // Never awaits the ping's query (one sent to a connection that just
                            // closed may never complete): sends it and checks the last echo's age.
                            while true {
                                if c.isClosed { throw SQLError(.connection, "the LISTEN connection closed") }
                                if heard.age > 3 {
                                    throw SQLError(.connection, "the LISTEN connection delivered nothing for 3 s")
                                }
                                let stamp = DispatchTime.now().uptimeNanoseconds
                                sentPings.add(stamp)
                                let payload = me + String(stamp)
                                let ping: EventLoopFuture<PostgresQueryResult> = c.query("SELECT pg_notify(\(channel), \(payload))",
                                                                                          logger: self.logger)
                                ping.whenFailure { _ in }
                                try await Task.sleep(for: .seconds(pingSec))
                            }
                        }
                        try await group.next()
                        group.cancelAll()
                    }
                }
            } catch {
                if !Task.isCancelled {
                    failures += 1
                    if failures == 1 || failures % 30 == 0 {
                        logger.warning("postgres: LISTEN \(channel) lost, reconnecting: \(PGConnection.describe(error))")
                    }
                }
            }
            onListening(false)
            if let connection { try? await connection.close() }
            try? await Task.sleep(for: .milliseconds(min(5000, 100 << min(failures, 6))))
        }
    }

    public func close() async throws {
        for c in await pool.drain() { try? await c.connection.close() }
    }

    func run<T: Sendable>(_ begin: String, _ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            let conn = try await checkout()
            let outcome: Result<T, any Error> = await withCheckedContinuation { cont in
                conn.queue.async {
                    cont.resume(returning: Result { try conn.run(begin: begin, body) })
                }
            }
            switch outcome {
            case .success(let value):
                await pool.checkin(conn)
                return value
            case .failure(let error as SQLError) where error.kind == .connection:
                try? await conn.connection.close()
                await pool.discard()
                guard attempt < maxAttempts else { throw error }
                logger.warning("postgres: connection lost, retrying the transaction on a new one: \(error)")
            case .failure(let error as SQLError) where error.sqlState == "40001" || error.sqlState == "40P01":
                await pool.checkin(conn)
                guard attempt < maxAttempts else { throw error }
                // Full jitter, so the transactions that collided do not collide again in step.
                try await Task.sleep(for: .microseconds(Int.random(in: 0...(1000 << min(attempt, 6)))))
            case .failure(let error):
                if conn.connection.isClosed {
                    await pool.discard()
                } else {
                    await pool.checkin(conn)
                }
                throw error
            }
        }
    }

    func checkout() async throws -> PGConnection {
        if let idle = try await pool.take() {
            if !idle.connection.isClosed { return idle }
            await pool.discard()
            return try await checkout()
        }
        do {
            let c = try await PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.any(),
                                                         configuration: configuration, id: Int.random(in: 0...Int.max),
                                                         logger: logger).get()
            do {
                _ = try await c.query(Self.sessionSetup, logger: logger).collect()
            } catch {
                try? await c.close()
                throw error
            }
            return PGConnection(connection: c, logger: logger, statements: statements)
        } catch {
            await pool.discard()
            throw SQLError(.connection, "cannot connect to PostgreSQL at \(configuration.host ?? "?"):\(configuration.port ?? 5432): \(PGConnection.describe(error))")
        }
    }

    static func configuration(_ url: String) throws -> PostgresConnection.Configuration {
        guard let c = URLComponents(string: url), ["postgres", "postgresql"].contains(c.scheme ?? ""),
              let host = c.host, !host.isEmpty else {
            throw SQLError(.other, "database URL must look like postgres://user@host:5432/database")
        }
        let database = String(c.path.drop { $0 == "/" })
        guard !database.isEmpty else { throw SQLError(.other, "database URL names no database (postgres://user@host/DATABASE)") }
        // libpq's default is "prefer" (TLS when offered, plain otherwise); `sslrootcert=` names
        // a private CA for verify-ca / verify-full.
        let sslmode = c.queryItems?.first { $0.name == "sslmode" }?.value ?? "prefer"
        var tlsConfig = TLSConfiguration.makeClientConfiguration()
        // As libpq: prefer and require encrypt without checking the certificate; verify-ca
        // checks the chain; verify-full also the host name.
        switch sslmode {
        case "prefer", "allow", "require": tlsConfig.certificateVerification = .none
        case "verify-ca": tlsConfig.certificateVerification = .noHostnameVerification
        default: break
        }
        if let ca = c.queryItems?.first(where: { $0.name == "sslrootcert" })?.value {
            tlsConfig.trustRoots = .file(ca)
        }
        let tls: PostgresConnection.Configuration.TLS
        do {
            switch sslmode {
            case "disable": tls = .disable
            case "prefer", "allow": tls = .prefer(try NIOSSLContext(configuration: tlsConfig))
            case "require", "verify-ca", "verify-full": tls = .require(try NIOSSLContext(configuration: tlsConfig))
            default: throw SQLError(.other, "sslmode must be disable, prefer, require, verify-ca or verify-full")
            }
        } catch let e as SQLError {
            throw e
        } catch {
            throw SQLError(.other, "TLS setup for the database failed: \(error)")
        }
        let config = PostgresConnection.Configuration(host: host, port: c.port ?? 5432, username: c.user ?? "postgres",
                                                      password: c.password, database: database, tls: tls)
        return config
    }
}

/// Idle connections and how many exist; `take` waits while `limit` are in use.
actor ConnectionPool {
    let limit: Int
    private var idle: [PGConnection] = []
    private var open = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { self.limit = max(1, limit) }

    /// An idle connection, or nil when the caller may open a new one (counted as open).
    func take() async throws -> PGConnection? {
        while true {
            if let c = idle.popLast() { return c }
            if open < limit { open += 1; return nil }
            await withCheckedContinuation { waiters.append($0) }
            if Task.isCancelled {
                wake()  // the wake this waiter got belongs to the next one
                throw CancellationError()
            }
        }
    }

    func checkin(_ c: PGConnection) {
        idle.append(c)
        wake()
    }

    /// A connection that was taken (or being opened) is gone.
    func discard() {
        open -= 1
        wake()
    }

    func drain() -> [PGConnection] {
        defer { idle.removeAll(); open = 0 }
        return idle
    }

    private func wake() {
        if !waiters.isEmpty { waiters.removeFirst().resume() }
    }
}

/// One PostgreSQL connection and the thread its transactions run on.
final class PGConnection: @unchecked Sendable {
    let connection: PostgresConnection
    let logger: Logger
    /// Serial: one transaction at a time on this connection, and the only thread that touches it
    /// between checkout and checkin.
    let queue = DispatchQueue(label: "balctl.postgres")

    let statements: StatementCache

    init(connection: PostgresConnection, logger: Logger, statements: StatementCache) {
        self.connection = connection
        self.logger = logger
        self.statements = statements
    }

    /// An engine dropped without `close()` still closes its connections: the close holds the
    /// connection until it is done (postgres-nio requires a connection closed before release).
    deinit {
        guard !connection.isClosed else { return }
        let c = connection
        c.close().whenComplete { _ in withExtendedLifetime(c) {} }
    }

    /// BEGIN, the body, COMMIT (ROLLBACK when the body throws). Runs on `queue`.
    func run<T>(begin: String, _ body: (any SQLConnection) throws -> T) throws -> T {
        let tx = PGTransaction(owner: self)
        _ = try tx.query(begin, [])
        let value: T
        do {
            value = try body(tx)
        } catch {
            _ = try? tx.query("ROLLBACK", [])
            throw error
        }
        do {
            // A transaction in which a statement failed (and the body caught the error) is
            // aborted: PostgreSQL answers COMMIT with ROLLBACK, not an error. Never report that
            // as success (SQLite would have committed the rest).
            let tag = try tx.query("COMMIT", []).metadata.command
            guard tag == "COMMIT" else {
                throw SQLError(.other, "the transaction was rolled back (PostgreSQL answered COMMIT with \(tag)): a statement in it failed")
            }
        } catch let e as SQLError where e.kind == .connection {
            throw SQLError(.commitUnknown, "the connection failed during COMMIT; the transaction may or may not have committed: \(e.message)")
        }
        return value
    }

    static func describe(_ error: any Error) -> String {
        if let p = error as? PSQLError {
            if let message = p.serverInfo?[.message] { return message }
            return "\(p.code)"
        }
        return "\(error)"
    }
}

/// SQLite-style statement text → PostgreSQL's, for the statements the store runs over and over
/// (the rewrite walks the text character by character; the heartbeat upsert is ~1 KB). Bounded:
/// a store generating unbounded distinct texts would only lose the cache, not memory.
final class StatementCache: Sendable {
    private let texts = Mutex<[String: String]>([:])
    func postgres(_ sql: String) -> String {
        if let hit = texts.withLock({ $0[sql] }) { return hit }
        let rewritten = SQLDialect.postgres.statement(sql)
        texts.withLock { t in
            if t.count >= 2048 { t.removeAll() }
            t[sql] = rewritten
        }
        return rewritten
    }
}

/// The pings a LISTEN connection sent and has not heard back yet (the last 64).
private final class PingBook: Sendable {
    private let sent = Mutex<[UInt64]>([])
    func add(_ stamp: UInt64) { sent.withLock { s in s.append(stamp); if s.count > 64 { s.removeFirst(s.count - 64) } } }
    /// True once for a stamp this connection sent.
    func take(_ stamp: UInt64) -> Bool {
        sent.withLock { s in
            guard let i = s.firstIndex(of: stamp) else { return false }
            s.remove(at: i)
            return true
        }
    }
}

/// When the LISTEN connection last answered a probe.
private final class ProbeClock: Sendable {
    private let last = Mutex(ContinuousClock.now)
    func touch() { last.withLock { $0 = .now } }
    var age: Double {
        let d = ContinuousClock.now - last.withLock { $0 }
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// A future's result, written once before a semaphore is signalled and read after the wait.
private final class FutureOutcome<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

/// `SQLConnection` inside one PostgreSQL transaction.
final class PGTransaction: SQLConnection {
    let owner: PGConnection
    var dialect: SQLDialect { .postgres }
    private(set) var changesCount = 0

    init(owner: PGConnection) { self.owner = owner }

    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
        changesCount = try query(sql, arguments).metadata.rows ?? 0
        return changesCount
    }

    func executeScript(_ sql: String) throws {
        for statement in SQLDialect.statements(sql) { _ = try query(statement, []) }
    }

    func firstValue(_ sql: String, _ arguments: [SQLValue]) throws -> SQLValue? {
        let result = try query(sql, arguments)
        changesCount = result.metadata.rows ?? 0
        guard let row = result.rows.first else { return nil }
        guard let cell = row.first(where: { _ in true }) else { throw SQLDecodingError("\(sql): no column") }
        return try Self.value(cell)
    }

    func fetchAll(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow] {
        let result = try query(sql, arguments)
        changesCount = result.metadata.rows ?? 0
        var rows: [SQLRow] = []
        rows.reserveCapacity(result.rows.count)
        for row in result.rows {
            var columns: [String] = [], values: [SQLValue] = []
            for cell in row {
                columns.append(cell.columnName)
                values.append(try Self.value(cell))
            }
            rows.append(SQLRow(columns: columns, values: values))
        }
        return rows
    }

    /// `future.wait()`, except that a connection found closed ends the wait: postgres-nio sends
    /// a query to a connection that closed meanwhile without completing its future (seen under
    /// `pg_terminate_backend`: the thread waited for ever and the pool ran dry). A statement that
    /// runs long on a live connection is waited for as long as it takes.
    static func wait<T: Sendable>(for future: EventLoopFuture<T>, on connection: PostgresConnection) throws -> T {
        let done = DispatchSemaphore(value: 0)
        let box = FutureOutcome<T>()
        future.whenComplete { result in
            box.result = result
            done.signal()
        }
        while done.wait(timeout: .now() + 0.25) == .timedOut {
            if connection.isClosed {
                throw SQLError(.connection, "the connection closed while a statement was under way")
            }
        }
        return try box.result!.get()
    }

    func query(_ sql: String, _ arguments: [SQLValue]) throws -> PostgresQueryResult {
        var binds = PostgresBindings(capacity: arguments.count)
        for a in arguments {
            switch a {
            case .null: binds.appendNull()
            case .int(let v): binds.append(v)
            case .double(let v): binds.append(v)
            case .text(let v): binds.append(v)
            case .blob(let v): binds.append(ByteBuffer(bytes: v))
            }
        }
        let q = PostgresQuery(unsafeSQL: owner.statements.postgres(sql), binds: binds)
        do {
            return try Self.wait(for: owner.connection.query(q, logger: owner.logger), on: owner.connection)
        } catch let e as PSQLError {
            if let state = e.serverInfo?[.sqlState] {
                let message = e.serverInfo?[.message] ?? "\(e.code)"
                let kind: SQLError.Kind = switch state {
                case "23505": .uniqueViolation
                case "23502", "23503", "23514": .constraint
                // The server ended the session (pg_terminate_backend, shutdown, restart) or the
                // connection failed: nothing of this transaction committed.
                case "57P01", "57P02", "57P03": .connection
                case let s where s.hasPrefix("08"): .connection
                default: .other
                }
                throw SQLError(kind, message, sqlState: state)
            }
            switch e.code {
            case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown, .poolClosed:
                throw SQLError(.connection, "\(e.code)")
            default:
                throw SQLError(.other, "\(e.code)")
            }
        } catch let e as SQLError {
            throw e
        } catch {
            throw SQLError(.connection, "\(error)")
        }
    }

    static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8:
            return .int(try cell.decode(Int64.self))
        case .float4, .float8:
            return .double(try cell.decode(Double.self))
        case .numeric:
            // SUM over BIGINT is NUMERIC: whole numbers come back as integers, as SQLite returns them.
            let text = "\(try cell.decode(Decimal.self))"
            if let i = Int64(text) { return .int(i) }
            guard let d = Double(text) else { throw SQLDecodingError("numeric \(text) out of range") }
            return .double(d)
        case .bool:
            return .int(try cell.decode(Bool.self) ? 1 : 0)
        case .bytea:
            var buffer = try cell.decode(ByteBuffer.self)
            return .blob(Data(buffer.readBytes(length: buffer.readableBytes) ?? []))
        default:
            return .text(try cell.decode(String.self))
        }
    }
}
