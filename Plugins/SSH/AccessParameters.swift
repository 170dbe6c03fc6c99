import AgentKernel
import BalctlProtocol
import FirewallPlugin

/// What ssh.enable and ssh.disable take: where the SSH firewall rule admits from, and whether
/// to touch the firewall at all. `source` is checked by the firewall plugin's own rule type.
public struct AccessParameters: CommandParameters {
    /// IPv4/IPv6 address or CIDR the SSH rule admits (default: anywhere).
    public var source: String?
    /// false: leave the firewall alone (default true).
    public var firewall: Bool?
    /// ssh.disable only: disable SSH even though no other way in is seen.
    public var confirm: Bool?

    public init(source: String? = nil, firewall: Bool? = nil, confirm: Bool? = nil) {
        self.source = source; self.firewall = firewall; self.confirm = confirm
    }

    public func validate() throws {
        if let source {
            do { _ = try AllowHandler.decodeParameters(.object(SSHFirewall.rule(port: 22, source: source))) } catch {
                throw ParameterError("source: must be an IPv4 or IPv6 address or CIDR")
            }
            if firewall == false { throw ParameterError("source: only with the firewall rule (firewall: false was given)") }
        }
    }
}
