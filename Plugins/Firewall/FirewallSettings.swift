#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel

/// Where ufw and the programs around it live on this host. Production values come from the
/// environment (`BALCTL_STATE_DIR`, `BALCTL_API_BASE`, else `/etc/balctl/agent.env`); tests
/// point every field at a private copy of /etc/ufw and at wrappers that run ufw inside a
/// throwaway network namespace.
public struct FirewallSettings: Sendable {
    /// A path, or a name looked up in PATH and the sbin directories.
    public var ufw: String
    /// Holds user.rules, user6.rules, ufw.conf, before/after rules.
    public var ufwDir: String
    /// /etc/default/ufw: default policies, IPV6.
    public var defaultsFile: String
    /// For the lock-out guard's SSH port (`sshd -T`); 22 when it cannot say.
    public var sshd: String
    /// Backups go to `<stateDir>/firewall-backups` (0700, files 0600).
    public var stateDir: String
    /// The control plane's origin; nil: read BALCTL_API_BASE from the environment, then from
    /// `agentEnvFile`, when the guard needs it.
    public var apiBase: String?
    public var agentEnvFile: String
    /// firewalld is only detected (probe): its files and program.
    public var firewalldMarkers: [String]

    public init(ufw: String = "ufw", ufwDir: String = "/etc/ufw", defaultsFile: String = "/etc/default/ufw",
                sshd: String = "sshd", stateDir: String = "/var/lib/balctl", apiBase: String? = nil,
                agentEnvFile: String = "/etc/balctl/agent.env",
                firewalldMarkers: [String] = ["/usr/sbin/firewalld", "/etc/firewalld/firewalld.conf"]) {
        self.ufw = ufw; self.ufwDir = ufwDir; self.defaultsFile = defaultsFile; self.sshd = sshd
        self.stateDir = stateDir; self.apiBase = apiBase; self.agentEnvFile = agentEnvFile
        self.firewalldMarkers = firewalldMarkers
    }

    /// Reading the environment has no side effects (the control plane builds the plugin too).
    public static func fromEnvironment() -> FirewallSettings {
        FirewallSettings(stateDir: envValue("BALCTL_STATE_DIR") ?? "/var/lib/balctl",
                         apiBase: envValue("BALCTL_API_BASE"))
    }

    static func envValue(_ name: String) -> String? {
        guard let p = getenv(name) else { return nil }
        let s = String(cString: p)
        return s.isEmpty ? nil : s
    }

    public var backupDir: String { stateDir + "/firewall-backups" }

    /// The files a backup holds (names inside `ufwDir`), and the defaults file under its own name.
    static let ruleFileNames = ["user.rules", "user6.rules", "before.rules", "before6.rules",
                                "after.rules", "after6.rules", "ufw.conf", "sysctl.conf"]
    static let defaultsName = "default-ufw"

    func path(ofBackupName name: String) -> String {
        name == Self.defaultsName ? defaultsFile : ufwDir + "/" + name
    }

    /// The ufw executable, or nil when it is not installed.
    public func resolvedUFW() -> String? { Self.resolve(ufw) }

    static func resolve(_ program: String) -> String? {
        if program.contains("/") { return Files.isExecutable(program) ? program : nil }
        let path = (envValue("PATH") ?? "").split(separator: ":").map(String.init)
        for dir in path + ["/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin"] where !dir.isEmpty {
            let candidate = dir + "/" + program
            if Files.isExecutable(candidate) { return candidate }
        }
        return nil
    }

    /// The control plane's origin as the agent knows it.
    func controlPlaneOrigin() -> String? {
        if let apiBase { return apiBase }
        return EnvFile.load(agentEnvFile)?["BALCTL_API_BASE"].flatMap { $0.isEmpty ? nil : $0 }
    }
}
