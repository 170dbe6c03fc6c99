import ServiceLaunchers
import Testing

/// The suite's named: set by the `.bindServer` trait for every test of the suite.
public enum BINDSuite {
    @TaskLocal public static var current: BINDServer?
}

/// Suite trait: one named for the whole suite, stopped when the suite ends.
public struct BINDServerTrait: SuiteTrait, TestScoping {
    public init() {}
    public func provideScope(for test: Test, testCase: Test.Case?,
                      performing function: @Sendable () async throws -> Void) async throws {
        let server = try await BINDServer.start()
        defer { server.stop() }
        try await BINDSuite.$current.withValue(server) { try await function() }
    }
}

extension Trait where Self == BINDServerTrait {
    public static var bindServer: Self { Self() }
}

extension BINDServer {
    /// The suite's server (the trait sets it).
    public static func shared() throws -> BINDServer {
        guard let s = BINDSuite.current else { throw Failure("no named: the suite needs the .bindServer trait") }
        return s
    }
}
