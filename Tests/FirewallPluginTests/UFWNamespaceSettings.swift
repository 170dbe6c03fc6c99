import FirewallPlugin
import TestSupport

extension UFWNamespace {
    /// Settings pointing the plugin at the namespace (TestSupport's `UFWNamespace`).
    func settings(sshd: String? = nil, apiBase: String = "https://198.51.100.7:8443") -> FirewallSettings {
        FirewallSettings(ufw: ufwWrapper, ufwDir: ufwDir, defaultsFile: defaultsFile,
                         sshd: sshd ?? root + "/no-sshd", stateDir: stateDir, apiBase: apiBase,
                         agentEnvFile: root + "/no-agent.env", firewalldMarkers: [])
    }
}

struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
