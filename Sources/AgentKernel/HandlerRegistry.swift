import BalctlProtocol

/// A handler with its types erased: what the job runner calls.
public struct RegisteredHandler: Sendable {
    public let descriptor: CommandDescriptor
    public let run: @Sendable (JSONValue, JobContext) async throws -> JobOutcome
}

/// Every command the plugins declare, by ID. The kernel learns commands only from here.
public struct HandlerRegistry: Sendable {
    public let plugins: [any AgentPlugin]
    public let handlers: [String: RegisteredHandler]
    /// Every plugin's backup scopes, by name.
    public let backupScopes: [String: any BackupScope]
    /// Every plugin's certificate sources.
    public let certificateSources: [any CertificateSource]

    public init(plugins: [any AgentPlugin]) {
        self.plugins = plugins
        var map: [String: RegisteredHandler] = [:]
        for plugin in plugins {
            for handler in plugin.handlers {
                let entry = Self.register(handler, stack: plugin.name)
                precondition(map[entry.descriptor.info.id] == nil,
                             "command \(entry.descriptor.info.id) declared twice")
                map[entry.descriptor.info.id] = entry
            }
        }
        handlers = map
        commandIDs = map.keys.sorted()
        var scopes: [String: any BackupScope] = [:]
        for scope in plugins.flatMap(\.backupScopes) {
            precondition(scopes[scope.name] == nil, "backup scope \(scope.name) declared twice")
            scopes[scope.name] = scope
        }
        backupScopes = scopes
        certificateSources = plugins.flatMap(\.certificateSources)
    }

    private static func register<H: CommandHandler>(_ handler: H, stack: String) -> RegisteredHandler {
        let info = CommandInfo(
            id: H.id, stack: stack, summary: H.summary, requiresRoot: H.requiresRoot, lock: H.lock,
            supportsCheckMode: H.supportsCheckMode, parameters: H.parameterHelp, example: H.exampleParameters,
            snapshotUse: H.snapshotUse, defaultTimeoutSec: H.defaultTimeoutSec)
        let descriptor = CommandDescriptor(info: info) { json in _ = try H.decodeParameters(json) }
        return RegisteredHandler(descriptor: descriptor) { json, context in
            let params = try H.decodeParameters(json)
            return try await handler.run(params, in: context)
        }
    }

    public var catalogue: CommandCatalogue { CommandCatalogue(handlers.values.map(\.descriptor)) }
    /// Sorted once: every heartbeat sends them.
    public let commandIDs: [String]
}
