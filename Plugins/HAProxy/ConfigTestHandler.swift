import AgentKernel
import BalctlProtocol

/// `haproxy.config_test`: `haproxy -c -f <config>` on demand. A valid config completes
/// ("unchanged": nothing is touched); an invalid one fails the job with haproxy's own message.
public struct ConfigTestHandler: CommandHandler {
    public typealias Parameters = NoParameters
    public let settings: HAProxySettings
    public init(settings: HAProxySettings = .fromEnvironment()) { self.settings = settings }

    public static let id = "haproxy.config_test"
    public static let summary = "Validate the HAProxy configuration (haproxy -c)"
    public static let lock: String? = "haproxy"
    public static let supportsCheckMode = true

    public func run(_ p: NoParameters, in context: JobContext) async throws -> JobOutcome {
        let check = try await ConfigCheck.run(settings, file: settings.configPath, in: context)
        guard check.valid else { throw check.failure(settings.configPath) }
        context.log(check.message)
        return .unchanged("\(settings.configPath) is valid",
                          result: .object(["valid": .bool(true), "message": .string(check.message)]))
    }
}
