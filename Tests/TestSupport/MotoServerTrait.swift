import ServiceLaunchers
import Testing

/// The suite's moto: set by the `.motoServer` trait for every test of the suite.
public enum MotoSuite {
    @TaskLocal public static var current: MotoServer?
}

/// Suite trait: one moto S3 server (signature checking on, bucket `MotoServer.bucket` created)
/// for the whole suite, stopped when the suite ends.
public struct MotoServerTrait: SuiteTrait, TestScoping {
    public init() {}
    public func provideScope(for test: Test, testCase: Test.Case?,
                             performing function: @Sendable () async throws -> Void) async throws {
        let server = try await MotoServer.start()
        defer { server.stop() }
        try await MotoSuite.$current.withValue(server) { try await function() }
    }
}

extension Trait where Self == MotoServerTrait {
    public static var motoServer: Self { Self() }
}

extension MotoServer {
    /// The suite's server (the trait sets it).
    public static func shared() throws -> MotoServer {
        guard let s = MotoSuite.current else { throw Failure("no moto: the suite needs the .motoServer trait") }
        return s
    }
}
