import AgentKernel
import BalctlProtocol

/// `ssh.enable`: allow the SSH port(s) in the firewall (every port `sshd -T` reports; from
/// `source` or anywhere), then `systemctl enable --now` the service. Already enabled, running
/// and allowed → "unchanged". The firewall part goes through firewall.allow (see SSHFirewall)
/// and is skipped where no firewall is installed or with `firewall: false`.
public struct EnableHandler: CommandHandler {
    public typealias Parameters = AccessParameters
    let settings: SSHSettings
    public init(settings: SSHSettings) { self.settings = settings }
    public static let id = "ssh.enable"
    public static let summary = "Enable and start SSH and allow its port(s) in the firewall"
    public static let parameterHelp = "source: IPv4/IPv6 address or CIDR the rule admits (default anywhere); firewall: bool (default true)"
    public static let requiresRoot = true
    /// The firewall's lock: the rule change reads then changes the firewall's rules, which a
    /// firewall.* job running beside it must not interleave with.
    public static let lock: String? = SSHPlugin.accessLock
    public static let supportsCheckMode = true

    public func run(_ p: AccessParameters, in context: JobContext) async throws -> JobOutcome {
        if p.confirm != nil { throw JobFailure("confirm: only ssh.disable takes it") }
        let readout = try await SSHD.readout(settings, runner: context.processes, output: context.output)
        let ports = readout.ports.isEmpty ? [22] : readout.ports
        var changed = false
        var parts: [String] = []
        var result: [String: JSONValue] = ["ports": .array(ports.map { .number(Double($0)) })]

        let fw = SSHFirewall(settings: settings.firewall)
        if p.firewall != false, fw.installed {
            let outcomes = try await fw.allow(ports: ports, source: p.source, context: context)
            changed = changed || outcomes.contains(where: \.changed)
            parts += outcomes.map(\.summary)
            result["firewall"] = .array(outcomes.map { .object(["changed": .bool($0.changed), "summary": .string($0.summary)]) })
        } else {
            let why = p.firewall == false ? "firewall: false" : "no firewall installed"
            parts.append("firewall left alone (\(why))")
            result["firewall"] = .string(why)
        }

        let service = SSHService(settings)
        let before = try await service.state(context)
        result["service"] = .string(service.unit)
        if before.isActive && before.isEnabled {
            parts.append("\(service.unit) already enabled and running")
        } else if context.checkMode {
            changed = true
            parts.append("would run " + service.argv("enable").joined(separator: " "))
        } else {
            try await service.change("enable", context)
            changed = true
            let after = try await service.state(context)
            result["active"] = .string(after.active)
            result["enabled"] = .string(after.enabled)
            parts.append("\(service.unit) enabled and started (\(after.active)/\(after.enabled))")
        }
        let summary = (changed ? "" : "unchanged: ") + parts.joined(separator: "; ")
        return JobOutcome(changed: changed, summary: summary, result: .object(result))
    }
}
