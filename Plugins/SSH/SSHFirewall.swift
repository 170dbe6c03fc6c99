import AgentKernel
import BalctlProtocol
import FirewallPlugin

/// The SSH port rules, through the firewall plugin's own commands (`firewall.allow`,
/// `firewall.delete`) run in this job's context: the same validation, idempotency ("unchanged"),
/// check mode and output, and whatever tool the firewall plugin drives (ufw, firewalld). A host
/// without a firewall (the firewall plugin's probe reports none) gets no rule.
struct SSHFirewall: Sendable {
    let settings: FirewallSettings

    /// Whether a firewall the plugin drives is installed (files only, no program runs).
    var installed: Bool { FirewallProbe(settings: settings).report() != nil }

    static func rule(port: Int, source: String?) -> [String: JSONValue] {
        var o: [String: JSONValue] = ["port": .number(Double(port)), "protocol": .string("tcp")]
        if let source { o["source"] = .string(source) }
        return o
    }

    /// allow in tcp/<port> (from `source`, else anywhere), for every port sshd listens on.
    func allow(ports: [Int], source: String?, context: JobContext) async throws -> [JobOutcome] {
        var outcomes: [JobOutcome] = []
        for port in ports {
            let handler = AllowHandler(settings: settings)
            let p = try AllowHandler.decodeParameters(.object(Self.rule(port: port, source: source)))
            outcomes.append(try await handler.run(p, in: context))
        }
        return outcomes
    }

    /// Delete the allow rules for these ports. `force` goes to the firewall's lock-out guard,
    /// which would otherwise refuse exactly this (closing SSH): ssh.disable has already applied
    /// its own guard (confirm), and removing an inbound rule cannot cut the agent's egress.
    func delete(ports: [Int], source: String?, context: JobContext) async throws -> [JobOutcome] {
        var outcomes: [JobOutcome] = []
        for port in ports {
            var o = Self.rule(port: port, source: source)
            o["action"] = .string("allow")
            o["force"] = .bool(true)
            let handler = DeleteHandler(settings: settings)
            let p = try DeleteHandler.decodeParameters(.object(o))
            outcomes.append(try await handler.run(p, in: context))
        }
        return outcomes
    }
}
