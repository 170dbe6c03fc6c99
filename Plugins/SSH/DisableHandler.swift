import AgentKernel
import BalctlProtocol

/// `ssh.disable`: `systemctl disable --now` the service, then delete the SSH port's allow rule
/// (from `source` or anywhere) through firewall.delete. Refuses while the service runs and SSH
/// is the only way in (see OtherAccess: another remote console must be listening) unless
/// `confirm: true`. Already stopped, disabled and without the rule → "unchanged".
public struct DisableHandler: CommandHandler {
    public typealias Parameters = AccessParameters
    let settings: SSHSettings
    public init(settings: SSHSettings) { self.settings = settings }
    public static let id = "ssh.disable"
    public static let summary = "Stop and disable SSH and remove its firewall rule (needs confirm: true when it is the only way in)"
    public static let parameterHelp = "confirm: true (needed when SSH is the only remote way in); source: address or CIDR of the rule to delete (default anywhere); firewall: bool (default true)"
    public static let requiresRoot = true
    public static let lock: String? = SSHPlugin.accessLock
    public static let supportsCheckMode = true
    public static let exampleParameters: JSONValue = .object(["confirm": .bool(true)])

    public func run(_ p: AccessParameters, in context: JobContext) async throws -> JobOutcome {
        let ports: [Int]
        do {
            let readout = try await SSHD.readout(settings, runner: context.processes, output: context.output)
            ports = readout.ports.isEmpty ? [22] : readout.ports
        } catch let e as JobFailure where settings.resolvedSSHD() != nil {
            // A broken config must not keep SSH from being turned off; its rule is then port 22's.
            context.log("cannot read sshd's ports (\(e.message)); using port 22")
            ports = [22]
        }
        let service = SSHService(settings)
        let before = try await service.state(context)
        var result: [String: JSONValue] = ["ports": .array(ports.map { .number(Double($0)) }), "service": .string(service.unit)]
        var changed = false
        var parts: [String] = []

        let running = before.isActive || before.active == "unknown"
        if running && p.confirm != true {
            let others = OtherAccess.listening(procNetDir: settings.procNetDir, ports: settings.otherAccessPorts)
            if others.isEmpty {
                throw JobFailure("refusing to disable SSH: it is the only remote way into this host that the agent can see "
                                 + "(the agent itself accepts no connections; no remote console listens on "
                                 + settings.otherAccessPorts.map(String.init).joined(separator: ", ")
                                 + "). Make sure you have another way in (the provider's console), then pass confirm: true")
            }
            context.log("another remote way in listens on port(s) \(others.map(String.init).joined(separator: ", "))")
            result["otherAccessPorts"] = .array(others.map { .number(Double($0)) })
        }

        if !before.isActive && !before.isEnabled && before.active != "unknown" {
            parts.append("\(service.unit) already stopped and disabled")
        } else if context.checkMode {
            changed = true
            parts.append("would run " + service.argv("disable").joined(separator: " "))
        } else {
            try await service.change("disable", context)
            changed = true
            let after = try await service.state(context)
            result["active"] = .string(after.active)
            result["enabled"] = .string(after.enabled)
            parts.append("\(service.unit) stopped and disabled (\(after.active)/\(after.enabled))")
        }

        let fw = SSHFirewall(settings: settings.firewall)
        if p.firewall != false, fw.installed {
            let outcomes = try await fw.delete(ports: ports, source: p.source, context: context)
            changed = changed || outcomes.contains(where: \.changed)
            parts += outcomes.map(\.summary)
            result["firewall"] = .array(outcomes.map { .object(["changed": .bool($0.changed), "summary": .string($0.summary)]) })
        } else {
            let why = p.firewall == false ? "firewall: false" : "no firewall installed"
            parts.append("firewall left alone (\(why))")
            result["firewall"] = .string(why)
        }
        let summary = (changed ? "" : "unchanged: ") + parts.joined(separator: "; ")
        return JobOutcome(changed: changed, summary: summary, result: .object(result))
    }
}
