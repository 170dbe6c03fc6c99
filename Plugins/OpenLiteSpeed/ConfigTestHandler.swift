import AgentKernel
import BalctlProtocol

/// `ols.config_test`: the structural test of httpd_config.conf and every vhost config it names,
/// plus `lshttpd -t` where the installed version supports it.
public struct ConfigTestHandler: CommandHandler {
    public typealias Parameters = NoParameters
    public let settings: OLSSettings
    public init(settings: OLSSettings = .fromEnvironment()) { self.settings = settings }

    public static let id = "ols.config_test"
    public static let summary = "Test the OpenLiteSpeed configuration (structure, references, lshttpd -t where supported)"

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        let check = try await OLSCheck.run(settings, in: context)
        for w in check.warnings.prefix(50) { context.log("warning: \(w)") }
        guard check.valid else { throw check.failure("nothing was changed") }
        return .unchanged("configuration valid (\(check.warnings.count) warnings; lshttpd -t: \(check.lshttpdTest))", result: check.json)
    }
}
