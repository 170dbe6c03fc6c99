#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import FirewallPlugin

/// Where sshd, its configuration and the programs around it live on this host. Production values
/// come from the environment (see README.md: `BALCTL_SSHD`, `BALCTL_SSH_SYSTEMCTL`,
/// `BALCTL_SSH_CONFIG_DIR`, `BALCTL_SSH_UNIT`, `BALCTL_SSH_PRIVSEP_DIR`); tests point every field
/// at a temp config, throwaway host keys and a recording `systemctl`.
public struct SSHSettings: Sendable {
    /// A path, or a name looked up in PATH and the sbin directories.
    public var sshd: String
    public var systemctl: String
    /// Holds `sshd_config` and the drop-in directory `sshd_config.d`.
    public var configDir: String
    /// The service's unit name (`ssh` on Debian/Ubuntu, `sshd` on the RHEL family); nil: detected
    /// from the unit files in `unitDirs`, then from os-release.
    public var unit: String?
    public var unitDirs: [String]
    public var osReleaseFile: String
    /// sshd refuses `-t`/`-T` as root while its privilege-separation directory is missing (it is
    /// a RuntimeDirectory, so it is gone whenever the service has not run since boot); the
    /// plugin creates it (0755, as Debian's init script does) before asking sshd anything.
    public var privsepDir: String
    /// Where the probe looks for sshd's pid (`/proc/<pid>/comm`).
    public var procRoot: String
    /// Listening sockets here (`tcp`, `tcp6`) on `otherAccessPorts` count as another remote way
    /// in (ssh.disable's guard).
    public var procNetDir: String
    /// RDP (xrdp), VNC, Cockpit: remote consoles that keep a host reachable without SSH.
    public var otherAccessPorts: [Int]
    /// The firewall the SSH port rules go to (the firewall plugin's own settings).
    public var firewall: FirewallSettings
    /// Account lookup (getpwnam_r by default); tests give temp homes to test accounts.
    public var accounts: AccountLookup

    public init(sshd: String = "sshd", systemctl: String = "systemctl", configDir: String = "/etc/ssh",
                unit: String? = nil,
                unitDirs: [String] = ["/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"],
                osReleaseFile: String = "/etc/os-release", privsepDir: String = "/run/sshd",
                procRoot: String = "/proc", procNetDir: String = "/proc/net",
                otherAccessPorts: [Int] = [3389, 5900, 9090],
                firewall: FirewallSettings = FirewallSettings(), accounts: AccountLookup = .system) {
        self.sshd = sshd; self.systemctl = systemctl; self.configDir = configDir; self.unit = unit
        self.unitDirs = unitDirs; self.osReleaseFile = osReleaseFile; self.privsepDir = privsepDir
        self.procRoot = procRoot; self.procNetDir = procNetDir; self.otherAccessPorts = otherAccessPorts
        self.firewall = firewall; self.accounts = accounts
    }

    /// Reading the environment has no side effects (the control plane builds the plugin too).
    public static func fromEnvironment() -> SSHSettings {
        SSHSettings(sshd: env("BALCTL_SSHD") ?? "sshd", systemctl: env("BALCTL_SSH_SYSTEMCTL") ?? "systemctl",
                    configDir: env("BALCTL_SSH_CONFIG_DIR") ?? "/etc/ssh", unit: env("BALCTL_SSH_UNIT"),
                    privsepDir: env("BALCTL_SSH_PRIVSEP_DIR") ?? "/run/sshd",
                    firewall: .fromEnvironment())
    }

    static func env(_ name: String) -> String? {
        guard let p = getenv(name) else { return nil }
        let s = String(cString: p)
        return s.isEmpty ? nil : s
    }

    public var configFile: String { configDir + "/sshd_config" }
    public var dropInDir: String { configDir + "/sshd_config.d" }
    public static let dropInName = "50-balctl.conf"
    public var dropInFile: String { dropInDir + "/" + Self.dropInName }

    /// The sshd executable, or nil when openssh-server is not installed.
    public func resolvedSSHD() -> String? { Self.resolve(sshd) }

    static func resolve(_ program: String) -> String? {
        candidates(program).first(where: Files.isExecutable)
    }

    /// Where `resolve` looks, in order: the path itself, else along PATH then the sbin directories.
    static func candidates(_ program: String) -> [String] { Files.programCandidates(program, path: env("PATH")) }

    /// Every file whose presence decides `resolvedSSHD()` and `serviceName()` (for `PathWatched`).
    public func presencePaths() -> [String] {
        Self.candidates(sshd) + unitDirs.flatMap { [$0 + "/ssh.service", $0 + "/sshd.service"] } + [osReleaseFile]
    }

    /// `ssh` where a unit file of that name exists (Debian/Ubuntu, where `sshd.service` is only
    /// an alias), else `sshd` where that exists (RHEL family), else by os-release: the Debian
    /// family `ssh`, everyone else `sshd`. Stats and one small read: no program runs.
    public func serviceName() -> String {
        if let unit { return unit }
        for name in ["ssh", "sshd"] {
            for dir in unitDirs where Files.info(dir + "/" + name + ".service") != nil { return name }
        }
        guard let bytes = try? Files.readBytes(osReleaseFile, limit: 64 << 10) else { return "sshd" }
        let kv = EnvFile.parse(String(decoding: bytes, as: UTF8.self))
        let words = ((kv["ID"] ?? "") + " " + (kv["ID_LIKE"] ?? "")).lowercased().split(separator: " ")
        return words.contains { $0 == "debian" || $0 == "ubuntu" } ? "ssh" : "sshd"
    }
}

/// A login account as the plugin needs it.
public struct Account: Sendable, Equatable {
    public var name: String
    public var uid: uid_t
    public var gid: gid_t
    public var home: String
    public var shell: String
    public init(name: String, uid: uid_t, gid: gid_t, home: String, shell: String) {
        self.name = name; self.uid = uid; self.gid = gid; self.home = home; self.shell = shell
    }

    /// An account a person can log in to: a real shell (not nologin/false).
    public var canLogIn: Bool { !shell.hasSuffix("/nologin") && !shell.hasSuffix("/false") && !shell.isEmpty }
}

/// How accounts are found: by name (getpwnam_r) and all of them (for the harden guard's default).
public struct AccountLookup: Sendable {
    public var byName: @Sendable (String) -> Account?
    public var all: @Sendable () -> [Account]
    public init(byName: @escaping @Sendable (String) -> Account?, all: @escaping @Sendable () -> [Account]) {
        self.byName = byName; self.all = all
    }

    /// The system's user database (/etc/passwd, or whatever NSS is configured with).
    public static let system = AccountLookup(byName: { name in
        var pw = passwd()
        var result: UnsafeMutablePointer<passwd>? = nil
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getpwnam_r(name, &pw, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return Account(name: String(cString: pw.pw_name), uid: pw.pw_uid, gid: pw.pw_gid,
                       home: String(cString: pw.pw_dir), shell: String(cString: pw.pw_shell))
    }, all: {
        // /etc/passwd itself (not getpwent: no global iteration state in a threaded agent).
        guard let bytes = try? Files.readBytes("/etc/passwd", limit: 4 << 20) else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 7, let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { return nil }
            return Account(name: String(f[0]), uid: uid, gid: gid, home: String(f[5]), shell: String(f[6]))
        }
    })
}
