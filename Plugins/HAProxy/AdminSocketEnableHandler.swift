#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// `haproxy.admin_socket_enable`: add `stats socket <path> mode 600 level admin expose-fd
/// listeners` and `stats timeout 2m` to the global section (see AdminSocketEdit), validate,
/// back up, write, reload a running haproxy and check the socket answers. Already declared →
/// "unchanged".
public struct AdminSocketEnableHandler: CommandHandler {
    public struct Parameters: CommandParameters {
        public var socketPath: String?
        public init(socketPath: String? = nil) { self.socketPath = socketPath }

        enum CodingKeys: String, CodingKey { case socketPath }
        public init(from decoder: any Decoder) throws {
            try refuseUnknownKeys(decoder, allowed: ["socketPath"])
            socketPath = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(String.self, forKey: .socketPath)
        }
        public var path: String { socketPath ?? HAProxySettings.defaultSocketPath }
        public func validate() throws { try SocketPath.check(path) }
    }

    public let settings: HAProxySettings
    public init(settings: HAProxySettings = .fromEnvironment()) { self.settings = settings }

    public static let id = "haproxy.admin_socket_enable"
    public static let summary = "Add the HAProxy admin stats socket to the global section, validate, reload"
    public static let parameterHelp = "socketPath: a file directly in the agent's socket directory (BALCTL_HAPROXY_SOCKET_DIR, /run/haproxy by default), no subdirectory; default /run/haproxy/admin.sock"
    public static let lock: String? = "haproxy"
    public static let supportsCheckMode = true

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        try p.validate()
        let path = p.path
        try SocketPath.checkPlacement(path, socketDir: settings.socketDir)
        let editor = SafeConfigEdit(settings: settings)
        let (original, info) = try editor.read()
        let edit: AdminSocketEdit.Result?
        do { edit = try AdminSocketEdit.enable(HAProxyConfigFile(bytes: original), socketPath: path) } catch {
            throw JobFailure("\(settings.configPath): \(error)")
        }
        guard let edit else {
            var note = ""
            do { _ = try await AdminSocket(path: path, timeoutSec: settings.socketTimeoutSec).execute("show info") } catch {
                note = " (but it does not answer yet: \(error); run haproxy.reload)"
            }
            return .unchanged("\(settings.configPath) already declares stats socket \(path) at level admin\(note)",
                              result: .object(["socketPath": .string(path), "added": .array([])]))
        }
        if context.checkMode {
            return JobOutcome(changed: true, summary: "check mode: would add to global: \(edit.lines.joined(separator: " / ")); nothing changed",
                              result: .object(["socketPath": .string(path), "added": .array(edit.lines.map(JSONValue.string))]))
        }
        let applied = try await editor.apply(edit.config.bytes, original: original, info: info, in: context)
        for line in edit.lines { context.log("added: \(line)") }
        if applied.reloaded {
            // The reload returned once a new process existed; give it a moment to bind.
            var last: AdminSocketError? = nil
            let deadline = monotonicNow() + settings.reloadWaitSec
            repeat {
                do { _ = try await AdminSocket(path: path, timeoutSec: settings.socketTimeoutSec).execute("show info"); last = nil; break }
                catch { last = error; try await Task.sleep(for: .milliseconds(100)) }
            } while monotonicNow() < deadline
            if let last {
                throw JobFailure("\(settings.configPath) now declares \(path) and haproxy was reloaded, but the socket does not answer: \(last)")
            }
        }
        return JobOutcome(changed: true, summary: "added admin socket \(path); \(applied.note)",
                          result: .object(["socketPath": .string(path), "added": .array(edit.lines.map(JSONValue.string)),
                                           "reloaded": .bool(applied.reloaded), "backup": .string(editor.backupPath)]))
    }
}
