#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel

/// Where HAProxy and the programs around it live on this host. Production values come from the
/// environment (`BALCTL_HAPROXY_CONFIG`, `BALCTL_HAPROXY_BIN`, `BALCTL_STATE_DIR`); tests point
/// every field at temporary files and fake programs.
public struct HAProxySettings: Sendable {
    public static let defaultConfigPath = "/etc/haproxy/haproxy.cfg"
    public static let defaultSocketPath = "/run/haproxy/admin.sock"
    public static let stampName = ".haproxy-provisioned"

    /// The config that is validated, edited, parsed for the admin socket and reloaded.
    public var configPath: String
    /// A path, or a name looked up in PATH and the sbin directories (the agent may run with a
    /// PATH without /usr/sbin, where Debian puts haproxy).
    public var haproxyBinary: String
    /// Holds the provisioning stamp (and is the agent's state directory).
    public var stateDir: String
    public var systemctl: String
    /// Exists when systemd is PID 1 (what `sd_booted()` checks).
    public var systemdRunDir: String
    public var unitName: String
    /// nil: detect apt-get or dnf.
    public var packageManager: PackageManager?
    public var procRoot: String
    /// Bound on every admin-socket conversation.
    public var socketTimeoutSec: Double
    /// How long a reload may take to show a new haproxy process.
    public var reloadWaitSec: Double
    /// The user haproxy drops to (`user` in its global section): its processes are trusted
    /// besides root's.
    public var haproxyUser: String
    /// `-p <file>` on the command line of a haproxy the agent starts (takeover reload without
    /// systemd); nil: none.
    public var pidFile: String?
    /// Without systemd: true reloads by SIGUSR2 to a master-worker master (and fails when there
    /// is none), false always starts a new haproxy that takes over, nil follows what the trusted
    /// running haproxy is.
    public var masterWorker: Bool?
    /// The only directory (and its subdirectories) haproxy.admin_socket_enable puts a socket in.
    public var socketDir: String

    public init(configPath: String = HAProxySettings.defaultConfigPath, haproxyBinary: String = "haproxy",
                stateDir: String = "/var/lib/balctl", systemctl: String = "systemctl",
                systemdRunDir: String = "/run/systemd/system", unitName: String = "haproxy.service",
                packageManager: PackageManager? = nil, procRoot: String = "/proc",
                socketTimeoutSec: Double = 3, reloadWaitSec: Double = 15, haproxyUser: String = "haproxy",
                pidFile: String? = nil, masterWorker: Bool? = nil,
                socketDir: String = HAProxySettings.defaultSocketDir) {
        self.configPath = configPath; self.haproxyBinary = haproxyBinary; self.stateDir = stateDir
        self.systemctl = systemctl; self.systemdRunDir = systemdRunDir; self.unitName = unitName
        self.packageManager = packageManager; self.procRoot = procRoot
        self.socketTimeoutSec = socketTimeoutSec; self.reloadWaitSec = reloadWaitSec
        self.haproxyUser = haproxyUser; self.pidFile = pidFile; self.masterWorker = masterWorker
        self.socketDir = socketDir
    }

    public static let defaultSocketDir = "/run/haproxy"

    /// The agent's settings. Reading the environment has no side effects, so the control plane can
    /// build the plugin for its catalogue too.
    public static func fromEnvironment() -> HAProxySettings {
        HAProxySettings(
            configPath: environmentValue("BALCTL_HAPROXY_CONFIG") ?? defaultConfigPath,
            haproxyBinary: environmentValue("BALCTL_HAPROXY_BIN") ?? "haproxy",
            stateDir: environmentValue("BALCTL_STATE_DIR") ?? "/var/lib/balctl",
            haproxyUser: environmentValue("BALCTL_HAPROXY_USER") ?? "haproxy",
            pidFile: environmentValue("BALCTL_HAPROXY_PIDFILE"),
            masterWorker: environmentValue("BALCTL_HAPROXY_MASTER_WORKER").flatMap(parseMode),
            socketDir: environmentValue("BALCTL_HAPROXY_SOCKET_DIR") ?? defaultSocketDir)
    }

    /// "1/yes/true/on" → true, "0/no/false/off" → false, anything else ("auto") → nil.
    static func parseMode(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "1", "yes", "true", "on": return true
        case "0", "no", "false", "off": return false
        default: return nil
        }
    }

    /// Which processes count as haproxy: the configured binary, run by root or `haproxyUser`.
    /// nil when the binary is not installed (then no process is haproxy).
    public func processTrust() -> ProcessTrust? {
        guard let binary = resolvedBinary(), let canonical = HAProxyProcess.realPath(binary) else { return nil }
        var owners: Set<uid_t> = [0]
        if let uid = Self.uid(of: haproxyUser) { owners.insert(uid) }
        return ProcessTrust(executable: canonical, owners: owners)
    }

    static func uid(of user: String) -> uid_t? {
        var pw = passwd()
        var result: UnsafeMutablePointer<passwd>? = nil
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getpwnam_r(user, &pw, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return pw.pw_uid
    }

    public var stampPath: String { stateDir + "/" + Self.stampName }

    /// True when systemd manages services here; otherwise we look at processes and signal them.
    public var systemdRunning: Bool { access(systemdRunDir, F_OK) == 0 }

    /// The haproxy executable, or nil when it is not installed.
    public func resolvedBinary() -> String? {
        binaryCandidates().first(where: Files.isExecutable)
    }

    /// Where `resolvedBinary` looks, in order: the path itself, else along PATH then the sbin
    /// directories (what the probe watches to know when to look again).
    public func binaryCandidates() -> [String] { Files.programCandidates(haproxyBinary, path: environmentValue("PATH")) }
}

/// The package manager `haproxy.provision` drives.
public struct PackageManager: Sendable, Equatable {
    public enum Kind: String, Sendable { case apt, dnf }
    public var kind: Kind
    /// The program: apt-get or dnf (a path in tests).
    public var program: String

    public init(kind: Kind, program: String) { self.kind = kind; self.program = program }

    /// apt-get on Debian/Ubuntu, dnf on RHEL-likes; nil when neither is present.
    public static func detect() -> PackageManager? {
        for dir in ["/usr/bin", "/bin", "/usr/sbin"] {
            if Files.isExecutable(dir + "/apt-get") { return PackageManager(kind: .apt, program: dir + "/apt-get") }
        }
        for dir in ["/usr/bin", "/bin", "/usr/sbin"] {
            if Files.isExecutable(dir + "/dnf") { return PackageManager(kind: .dnf, program: dir + "/dnf") }
        }
        return nil
    }

    /// The argv lists that install (or reinstall) haproxy, in order.
    func installCommands(reinstall: Bool) -> [[String]] {
        switch kind {
        case .apt:
            // -o DPkg::Lock::Timeout: wait for an unattended-upgrades run instead of failing at once.
            let wait = ["-o", "DPkg::Lock::Timeout=120"]
            return [[program, "update"] + wait,
                    [program, "install", "-y"] + wait + (reinstall ? ["--reinstall"] : []) + ["haproxy"]]
        case .dnf:
            return [[program, reinstall ? "reinstall" : "install", "-y", "haproxy"]]
        }
    }
}
