import Foundation
import ServiceLaunchers
import Testing

/// Which engine a store test runs on (issue 22: the store suite runs on both).
public enum StoreEngine: String, Sendable, CaseIterable {
    case sqlite
    case postgres

    /// The engine of the test running now (`.storeEngines` sets it; SQLite outside it).
    @TaskLocal public static var current: StoreEngine = .sqlite

    /// One PostgreSQL cluster for the whole test process, started on first use (initdb + start is
    /// ~2 s; every test takes a fresh database of its own) and stopped when the process exits.
    public static func postgres() throws -> PostgresServer {
        try processServer.get()
    }

    private static let processServer: Result<PostgresServer, any Error> = {
        let started = Result { try PostgresServer.start() }
        if case .success = started {
            atexit { if case .success(let s) = StoreEngine.processServer { s.stop() } }
        }
        return started
    }()
}

/// Suite trait: every test of the suite runs twice, on SQLite and then on PostgreSQL, with
/// `StoreEngine.current` telling the fixture which store to open. A failure names the engine.
/// (A recursive suite trait must also be a `TestTrait`: Swift Testing traps planning the run
/// otherwise, with no diagnostic.)
public struct StoreEnginesTrait: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }
    public init() {}

    public func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? {
        // Scope each test case (a plain test has one), not the suite or the test as a whole:
        // otherwise a test would run four times.
        test.isSuite || testCase == nil ? nil : self
    }

    public func provideScope(for test: Test, testCase: Test.Case?,
                             performing function: @Sendable () async throws -> Void) async throws {
        for engine in StoreEngine.allCases {
            try await StoreEngine.$current.withValue(engine) {
                do {
                    try await function()
                } catch is ExpectationFailedError {
                    // A failed #require: already recorded where it failed.
                } catch {
                    Issue.record(error, "on \(engine.rawValue)")
                }
            }
        }
    }
}

extension Trait where Self == StoreEnginesTrait {
    /// Runs each test of the suite on SQLite and on PostgreSQL.
    public static var storeEngines: Self { Self() }
}
