import AgentKernel
import BalctlProtocol

/// `ssh.status`: the service (unit, active, enabled) and what sshd has in effect (`sshd -T`):
/// ports, listen addresses, PasswordAuthentication, KbdInteractiveAuthentication,
/// PubkeyAuthentication, PermitRootLogin; and whether the balctl drop-in (ssh.harden) is there.
/// `installed: false` when there is no sshd.
public struct StatusHandler: CommandHandler {
    public typealias Parameters = NoParameters
    let settings: SSHSettings
    public init(settings: SSHSettings) { self.settings = settings }
    public static let id = "ssh.status"
    public static let summary = "SSH service state, ports and authentication settings (sshd -T)"

    public func run(_ p: NoParameters, in context: JobContext) async throws -> JobOutcome {
        guard settings.resolvedSSHD() != nil else {
            return .unchanged("sshd is not installed", result: .object(["installed": .bool(false)]))
        }
        let service = SSHService(settings)
        let readout = try await SSHD.readout(settings, runner: context.processes, output: context.output)
        let state = try await service.state(context)
        guard case .object(var o) = readout.json else { throw JobFailure("internal: readout is not an object") }
        o["installed"] = .bool(true)
        o["service"] = .string(service.unit)
        o["active"] = .string(state.active)
        o["enabled"] = .string(state.enabled)
        o["hardened"] = .bool(Files.info(settings.dropInFile)?.isRegular == true)
        let ports = readout.ports.map(String.init).joined(separator: ",")
        let summary = "\(service.unit) \(state.active)/\(state.enabled), port \(ports), password auth "
            + (readout.passwordAuthentication.map { $0 ? "yes" : "no" } ?? "?")
            + ", root login " + (readout.permitRootLogin ?? "?")
        return .unchanged(summary, result: .object(o))
    }
}
