import ServiceLaunchers
import Testing

/// The suite's PostgreSQL: set by the `.postgresServer` trait for every test of the suite.
public enum PostgresSuite {
    @TaskLocal public static var current: PostgresServer?
}

/// Suite trait: one PostgreSQL cluster for the whole suite (initdb + start is ~2 s), stopped when
/// the suite ends; tests take a fresh database each (`PostgresServer.createDatabase`).
public struct PostgresServerTrait: SuiteTrait, TestScoping {
    public init() {}
    public func provideScope(for test: Test, testCase: Test.Case?,
                             performing function: @Sendable () async throws -> Void) async throws {
        let server = try PostgresServer.start()
        defer { server.stop() }
        try await PostgresSuite.$current.withValue(server) { try await function() }
    }
}

extension Trait where Self == PostgresServerTrait {
    public static var postgresServer: Self { Self() }
}

extension PostgresServer {
    /// The suite's server (the trait sets it).
    public static func shared() throws -> PostgresServer {
        guard let s = PostgresSuite.current else { throw Failure("no PostgreSQL: the suite needs the .postgresServer trait") }
        return s
    }
}
