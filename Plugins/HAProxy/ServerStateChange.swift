import AgentKernel
import BalctlProtocol

/// What haproxy.server_drain / _ready / _maint share: find the admin socket in the config, check
/// the names against `show stat`, read the server's admin state, and only then send
/// `set server <backend>/<server> state <target>`.
struct ServerStateChange: Sendable {
    enum Target: String, Sendable {
        case drain, ready, maint

        /// Whether haproxy's admin state already is what this target sets.
        func reached(_ s: ServerAdminState) -> Bool {
            switch self {
            case .drain: return s.forcedDrain && !s.forcedMaint
            case .maint: return s.forcedMaint
            case .ready: return !s.forcedDrain && !s.forcedMaint
            }
        }
    }

    let settings: HAProxySettings

    /// The admin socket the config declares; the errors name the command that adds one.
    static func adminSocket(_ settings: HAProxySettings, requireAdmin: Bool) throws -> AdminSocket {
        let bytes: [UInt8]
        do { bytes = try Files.readBytes(settings.configPath) } catch {
            throw JobFailure("cannot read the HAProxy config \(error) (set BALCTL_HAPROXY_CONFIG if it lives elsewhere)")
        }
        guard let socket = HAProxyConfigFile(bytes: bytes).adminSocket() else {
            throw JobFailure(AdminSocketError.notConfigured(config: settings.configPath).description)
        }
        if requireAdmin && socket.level != "admin" {
            throw JobFailure(AdminSocketError.notAdminLevel(path: socket.path, level: socket.level).description)
        }
        return AdminSocket(path: socket.path, timeoutSec: settings.socketTimeoutSec)
    }

    static func ask(_ socket: AdminSocket, _ command: String) async throws -> String {
        do { return try await socket.execute(command) } catch { throw JobFailure(error.description) }
    }

    static func showStat(_ socket: AdminSocket) async throws -> StatTable {
        let csv = try await ask(socket, "show stat")
        do { return try StatTable(csv: csv) } catch { throw JobFailure("unexpected answer to show stat: \(error)") }
    }

    func apply(_ target: Target, _ p: ServerParameters, in context: JobContext) async throws -> JobOutcome {
        // Parameters were validated at decode time; check again so no caller can skip it.
        try p.validate()
        let socket = try Self.adminSocket(settings, requireAdmin: true)
        let before = try await Self.showStat(socket)
        let name = "\(p.backend)/\(p.server)"
        guard before.hasBackend(p.backend) else {
            let backends = Set(before.rows.filter { $0.kind == .backend }.map(\.proxy)).sorted()
            throw JobFailure("backend '\(p.backend)' is not in show stat (backends: \(backends.isEmpty ? "none" : backends.joined(separator: ", "))); nothing was sent")
        }
        guard let row = before.server(p.backend, p.server) else {
            let servers = before.rows.filter { $0.kind == .server && $0.proxy == p.backend }.map(\.name)
            throw JobFailure("server '\(name)' is not in show stat (servers of \(p.backend): \(servers.isEmpty ? "none" : servers.joined(separator: ", "))); nothing was sent")
        }
        let state = try await adminState(socket, p)
        if target.reached(state) {
            return .unchanged("\(name) is already \(target.rawValue) (status \(row.status))",
                              result: result(p, target, before: row.status, after: row.status))
        }
        if context.checkMode {
            return JobOutcome(changed: true, summary: "check mode: would set server \(name) state \(target.rawValue) (now \(row.status)); nothing sent",
                              result: result(p, target, before: row.status, after: nil))
        }
        let answer = try await Self.ask(socket, "set server \(name) state \(target.rawValue)").trimmingWhitespace
        // Success is an empty answer; anything else is haproxy explaining a refusal.
        guard answer.isEmpty else { throw JobFailure("haproxy refused `set server \(name) state \(target.rawValue)`: \(answer)") }
        let now = try await adminState(socket, p)
        guard target.reached(now) else {
            throw JobFailure("haproxy accepted `set server \(name) state \(target.rawValue)` but its admin state reads \(now.bits)")
        }
        let after = try await Self.showStat(socket).server(p.backend, p.server)?.status ?? "?"
        context.log("set server \(name) state \(target.rawValue): status \(row.status) → \(after)")
        return JobOutcome(changed: true, summary: "\(name): \(row.status) → \(after)",
                          result: result(p, target, before: row.status, after: after))
    }

    private func adminState(_ socket: AdminSocket, _ p: ServerParameters) async throws -> ServerAdminState {
        let text = try await Self.ask(socket, "show servers state \(p.backend)")
        guard let s = ServerAdminState.parse(text, server: p.server) else {
            throw JobFailure("show servers state \(p.backend) does not list \(p.server): \(text.prefix(300))")
        }
        return s
    }

    private func result(_ p: ServerParameters, _ t: Target, before: String, after: String?) -> JSONValue {
        .object(["backend": .string(p.backend), "server": .string(p.server), "state": .string(t.rawValue),
                 "statusBefore": .string(before), "statusAfter": after.map(JSONValue.string) ?? .null])
    }
}
