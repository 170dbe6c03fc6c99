import AgentKernel
import BalctlProtocol

/// `haproxy.server_ready`: `set server <backend>/<server> state ready` over the admin socket, after
/// the names were checked against `show stat`. Re-running it when haproxy already has the server
/// in that admin state sends nothing and reports "unchanged".
public struct ServerReadyHandler: CommandHandler {
    public typealias Parameters = ServerParameters
    public let settings: HAProxySettings
    public init(settings: HAProxySettings = .fromEnvironment()) { self.settings = settings }

    public static let id = "haproxy.server_ready"
    public static let exampleParameters: JSONValue = .object(["backend": .string("web"), "server": .string("web1")])
    public static let summary = "Return a backend server to service (clears drain and maintenance)"
    public static let parameterHelp = ServerParameters.help
    public static let lock: String? = "haproxy"
    public static let supportsCheckMode = true

    public func run(_ p: ServerParameters, in context: JobContext) async throws -> JobOutcome {
        try await ServerStateChange(settings: settings).apply(.ready, p, in: context)
    }
}
