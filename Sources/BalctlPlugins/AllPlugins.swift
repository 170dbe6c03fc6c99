import AgentKernel
import BackupPlugin
import FirewallPlugin
import GaleraPlugin
import HAProxyPlugin
import HostPlugin
import MariaDBPlugin
import OpenLiteSpeedPlugin
import SSHPlugin

/// The one list of plugin modules. The agent runs them; the control plane reads their command
/// catalogue from the same list. Add a plugin here (and to Package.swift) and nowhere else.
public enum AllPlugins {
    public static var list: [any AgentPlugin] {
        [AgentSelfPlugin(), HostPlugin(), HAProxyPlugin(), BackupPlugin(), OpenLiteSpeedPlugin(), FirewallPlugin(), MariaDBPlugin(), GaleraPlugin(), SSHPlugin()]
    }

    public static var registry: HandlerRegistry { HandlerRegistry(plugins: list) }
}
