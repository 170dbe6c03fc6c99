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
    /// Files whose presence says firewalld is installed (tool selection and the probe).
    public var firewalldMarkers: [String]
    /// firewalld's programs: `firewall-cmd` talks to the running daemon (D-Bus);
    /// `firewall-offline-cmd` edits the permanent configuration when the daemon is stopped.
    public var firewallCmd: String
    public var firewallOfflineCmd: String
    /// The permanent configuration (zones, policies, services, ipsets, firewalld.conf) and the
    /// package's defaults a zone or service falls back to when /etc has no copy.
    public var firewalldDir: String
    public var firewalldLibDir: String
    /// firewalld writes its pid here while it runs (the probe's `active`, files only).
    public var firewalldPidFile: String
    /// Service start/stop for firewalld, and the installer used on first `firewall.status`.
    public var systemctl: String
    public var dnf: String
    /// ID / ID_LIKE pick the tool: the RHEL family (rhel, fedora, centos) uses firewalld.
    public var osReleaseFile: String
    /// nil: chosen from os-release and what is installed (`selectedTool()`); tests pin it.
    public var tool: FirewallTool?

    public init(ufw: String = "ufw", ufwDir: String = "/etc/ufw", defaultsFile: String = "/etc/default/ufw",
                sshd: String = "sshd", stateDir: String = "/var/lib/balctl", apiBase: String? = nil,
                agentEnvFile: String = "/etc/balctl/agent.env",
                firewalldMarkers: [String] = ["/usr/sbin/firewalld", "/etc/firewalld/firewalld.conf"],
                firewallCmd: String = "firewall-cmd", firewallOfflineCmd: String = "firewall-offline-cmd",
                firewalldDir: String = "/etc/firewalld", firewalldLibDir: String = "/usr/lib/firewalld",
                firewalldPidFile: String = "/run/firewalld.pid", systemctl: String = "systemctl",
                dnf: String = "dnf", osReleaseFile: String = "/etc/os-release", tool: FirewallTool? = nil) {
        self.ufw = ufw; self.ufwDir = ufwDir; self.defaultsFile = defaultsFile; self.sshd = sshd
        self.stateDir = stateDir; self.apiBase = apiBase; self.agentEnvFile = agentEnvFile
        self.firewalldMarkers = firewalldMarkers
        self.firewallCmd = firewallCmd; self.firewallOfflineCmd = firewallOfflineCmd
        self.firewalldDir = firewalldDir; self.firewalldLibDir = firewalldLibDir
        self.firewalldPidFile = firewalldPidFile; self.systemctl = systemctl; self.dnf = dnf
        self.osReleaseFile = osReleaseFile; self.tool = tool
    }

    /// Whether os-release names the RHEL family (ID or ID_LIKE holds rhel, fedora or centos).
    public func isRHELFamily() -> Bool {
        guard let bytes = try? Files.readBytes(osReleaseFile, limit: 64 << 10) else { return false }
        return Self.isRHELFamily(osRelease: String(decoding: bytes, as: UTF8.self))
    }

    static func isRHELFamily(osRelease text: String) -> Bool {
        let kv = EnvFile.parse(text)
        let words = ((kv["ID"] ?? "") + " " + (kv["ID_LIKE"] ?? "")).lowercased().split(separator: " ")
        return words.contains { ["rhel", "fedora", "centos"].contains(String($0)) }
    }

    /// Whether firewalld is on this host: one of `firewalldMarkers` exists. Only the markers
    /// count (not a firewall-cmd found in PATH), so settings that say "no firewalld here"
    /// (`firewalldMarkers: []`, as other plugins' tests do) never fall through to the host's
    /// real firewalld because their ufw path is missing.
    public func firewalldInstalled() -> Bool {
        firewalldMarkers.contains(where: Files.exists)
    }

    /// ufw where it is installed (Debian/Ubuntu); firewalld on the RHEL family, or where it is
    /// present and ufw is not. nil: neither is installed and the OS does not say (the commands
    /// then fail with "ufw is not installed"). Stats and one small read: no program runs.
    public func selectedTool() -> FirewallTool? {
        if let tool { return tool }
        if isRHELFamily() { return .firewalld }
        if resolvedUFW() != nil { return .ufw }
        if firewalldInstalled() { return .firewalld }
        return nil
    }

    /// Reading the environment has no side effects (the control plane builds the plugin too).
    public static func fromEnvironment() -> FirewallSettings {
        // Overrides for non-standard installs (and the end-to-end tests, which point a real agent
        // at ufw in a throwaway namespace); agent.env and the unit are root's, like the agent.
        FirewallSettings(ufw: envValue("BALCTL_UFW") ?? "ufw",
                         ufwDir: envValue("BALCTL_UFW_DIR") ?? "/etc/ufw",
                         defaultsFile: envValue("BALCTL_UFW_DEFAULTS") ?? "/etc/default/ufw",
                         sshd: envValue("BALCTL_SSHD") ?? "sshd",
                         stateDir: envValue("BALCTL_STATE_DIR") ?? "/var/lib/balctl",
                         apiBase: envValue("BALCTL_API_BASE"),
                         tool: envValue("BALCTL_FIREWALL_TOOL").flatMap(FirewallTool.init(rawValue:)))
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
        Files.programCandidates(program, path: envValue("PATH")).first(where: Files.isExecutable)
    }

    /// The control plane's origin as the agent knows it: the one the agent was configured with
    /// (`JobContext.controlPlaneBase`), else BALCTL_API_BASE from the environment / these
    /// settings, else agent.env (the fallbacks serve tests and contexts the agent did not build).
    func controlPlaneOrigin(configured: String? = nil) -> String? {
        if let configured, !configured.isEmpty { return configured }
        if let apiBase { return apiBase }
        return EnvFile.load(agentEnvFile)?["BALCTL_API_BASE"].flatMap { $0.isEmpty ? nil : $0 }
    }
}
