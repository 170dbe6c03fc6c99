import BalctlProtocol

/// `agent.update`: fetch agent.zip, verify it against the pinned key, install the new binary and
/// restart into it once this job's completion has reached the control plane. The new version must
/// then have a heartbeat accepted within BALCTL_UPDATE_ROLLBACK_SEC or the old one comes back
/// (the "updated" or "rolled back" event lands in this job's timeline).
public struct AgentUpdateHandler: CommandHandler {
    public struct Parameters: CommandParameters {
        /// Another https:// agent.zip than BALCTL_UPDATE_URL (still checked against the pinned key).
        public var url: String?

        public func validate() throws {
            if let url {
                guard url.lowercased().hasPrefix("https://"), url.utf8.count <= 2048,
                      !url.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7F }) else {
                    throw ParameterError("url: must be an https:// URL without spaces or control characters")
                }
            }
        }
    }

    public init() {}
    public static let id = "agent.update"
    public static let summary = "Update the agent from its signed agent.zip (version guard, automatic rollback)"
    public static let parameterHelp = "url: https:// agent.zip (default BALCTL_UPDATE_URL, else <api base>/agent/agent.zip)"
    public static let lock: String? = "agent"
    public static let supportsCheckMode = true

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        var values = currentEnvironment()
        if let url = p.url { values["BALCTL_UPDATE_URL"] = url }
        do {
            let settings = try UpdateSettings.load(values)
            let updater = AgentUpdater(settings: settings)
            let outcome = try await updater.run(checkMode: context.checkMode, jobId: context.jobID) { line in
                context.log(line)
            }
            switch outcome {
            case .unchanged(let v):
                return .unchanged("already at \(v)", result: .object(["version": .string(v)]))
            case .wouldInstall(let from, let to):
                return .unchanged("check mode: would update \(from) → \(to) (every check passed)",
                                  result: .object(["from": .string(from), "to": .string(to)]))
            case .installed(let pending):
                var outcome = JobOutcome(
                    changed: true,
                    summary: "installed \(pending.to) (was \(pending.from)); restarting into it, rolled back unless it heartbeats within \(settings.rollbackSec)s",
                    result: .object(["from": .string(pending.from), "to": .string(pending.to),
                                     "rollbackSec": .number(Double(settings.rollbackSec))]))
                outcome.restartAgent = true
                return outcome
            }
        } catch let refusal as UpdateRefusal {
            throw JobFailure("update refused (\(refusal.check.rawValue)): \(refusal.message)",
                             result: .object(["check": .string(refusal.check.rawValue), "message": .string(refusal.message)]))
        }
    }
}

/// The agent's own commands (not a stack: the kernel's self-update).
public struct AgentSelfPlugin: AgentPlugin {
    public init() {}
    public let name = "agent"
    public var handlers: [any CommandHandler] { [AgentUpdateHandler()] }
}
