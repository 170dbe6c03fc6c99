import FirewallPlugin
import TestSupport

extension UFWNamespace {
    /// The firewall plugin pointed at the namespace's ufw (pinned to ufw whatever the host is).
    func settings() -> FirewallSettings {
        FirewallSettings(ufw: ufwWrapper, ufwDir: ufwDir, defaultsFile: defaultsFile,
                         sshd: root + "/no-sshd", stateDir: stateDir, apiBase: "https://198.51.100.7:8443",
                         agentEnvFile: root + "/no-agent.env", firewalldMarkers: [], tool: .ufw)
    }
}
