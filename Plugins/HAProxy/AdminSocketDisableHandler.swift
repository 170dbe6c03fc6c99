import AgentKernel
import BalctlProtocol

/// `haproxy.admin_socket_disable`: remove the `stats socket <path>` line from the global section
/// and the `stats timeout` that admin_socket_enable added (see AdminSocketEdit), validate, back
/// up, write, reload a running haproxy. Nothing to remove → "unchanged".
public struct AdminSocketDisableHandler: CommandHandler {
    public typealias Parameters = AdminSocketEnableHandler.Parameters

    public let settings: HAProxySettings
    public init(settings: HAProxySettings = .fromEnvironment()) { self.settings = settings }

    public static let id = "haproxy.admin_socket_disable"
    public static let summary = "Remove the HAProxy admin stats socket from the global section, validate, reload"
    public static let parameterHelp = "socketPath: absolute path (default /run/haproxy/admin.sock)"
    public static let lock: String? = "haproxy"
    public static let supportsCheckMode = true

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        try p.validate()
        let path = p.path
        let editor = SafeConfigEdit(settings: settings)
        let (original, info) = try editor.read()
        guard let edit = AdminSocketEdit.disable(HAProxyConfigFile(bytes: original), socketPath: path) else {
            return .unchanged("\(settings.configPath) declares no stats socket \(path)",
                              result: .object(["socketPath": .string(path), "removed": .array([])]))
        }
        if context.checkMode {
            return JobOutcome(changed: true, summary: "check mode: would remove from global: \(edit.lines.joined(separator: " / ")); nothing changed",
                              result: .object(["socketPath": .string(path), "removed": .array(edit.lines.map(JSONValue.string))]))
        }
        let applied = try await editor.apply(edit.config.bytes, original: original, info: info, in: context)
        for line in edit.lines { context.log("removed: \(line)") }
        return JobOutcome(changed: true, summary: "removed admin socket \(path); \(applied.note)",
                          result: .object(["socketPath": .string(path), "removed": .array(edit.lines.map(JSONValue.string)),
                                           "reloaded": .bool(applied.reloaded), "backup": .string(editor.backupPath)]))
    }
}
