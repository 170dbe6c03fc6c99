import AgentKernel
import BalctlProtocol

/// `ols.vhosts`: every virtual host (and template member) with its root, document root,
/// domains, listeners and PHP handler.
public struct VHostsHandler: CommandHandler {
    public typealias Parameters = NoParameters
    public let settings: OLSSettings
    public init(settings: OLSSettings = .fromEnvironment()) { self.settings = settings }

    public static let id = "ols.vhosts"
    public static let summary = "List OpenLiteSpeed virtual hosts: roots, domains, listeners, PHP handler"

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        let model = try OLSServerModel.load(settings)
        for vh in model.vhosts {
            context.log("\(vh.name): \(vh.domains.isEmpty ? "(no domains)" : vh.domains.joined(separator: ", ")) → \(vh.vhRoot)")
        }
        return .unchanged("\(model.vhosts.count) virtual hosts", result: .object(["vhosts": model.vhostsJSON(), "listeners": model.listenersJSON()]))
    }
}
