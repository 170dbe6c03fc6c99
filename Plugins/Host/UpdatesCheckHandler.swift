import AgentKernel
import BalctlProtocol

/// `host.updates_check`: how many package updates are pending, and how many of them are security
/// updates, from apt (`apt-get -s upgrade`) or dnf (`dnf check-update`, `dnf updateinfo list
/// --security`). Read-only: apt simulates, dnf only lists. The logic is `PackageTools.check`,
/// shared with `host.updates_install` (its check mode) and the heartbeat's hourly fact.
public struct UpdatesCheckHandler: CommandHandler {
    public struct Parameters: CommandParameters {
        /// "apt" or "dnf"; nil: whichever is installed (apt-get first).
        public var manager: String?
        public func validate() throws {
            if let m = manager, !["apt", "dnf"].contains(m) {
                throw ParameterError("manager: must be \"apt\" or \"dnf\"")
            }
        }
    }

    let tools: PackageTools
    public init(tools: PackageTools = PackageTools()) { self.tools = tools }
    public static let id = "host.updates_check"
    public static let summary = "Count pending and security updates (apt or dnf)"
    public static let parameterHelp = "manager: \"apt\" | \"dnf\" (default: detected)"
    public static let supportsCheckMode = true
    /// Shared with host.updates_install: a check never reads apt's or dnf's state halfway
    /// through an install on the same host.
    public static let lock: String? = "host.packages"
    /// Package names listed in the result at most.
    public static let maxListed = 500

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        let manager = try tools.manager(p.manager)
        let counts = try await tools.check(manager, run: { try await context.run($0, $1, timeoutSec: $2, environment: $3) })
        let result: JSONValue = .object([
            "manager": .string(manager.name),
            "pending": .number(Double(counts.packages.count)),
            "security": .number(Double(counts.security.count)),
            "packages": .array(counts.packages.prefix(Self.maxListed).map { .string($0) }),
            "securityPackages": .array(counts.security.prefix(Self.maxListed).map { .string($0) }),
        ])
        return .unchanged("\(counts.packages.count) pending update\(counts.packages.count == 1 ? "" : "s"), \(counts.security.count) security (\(manager.name))",
                          result: result)
    }
}
