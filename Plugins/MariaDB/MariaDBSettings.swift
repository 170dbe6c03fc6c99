#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel

/// Where MariaDB and its tools live on this host and how the agent reaches the server. Every
/// program path is a setting, so tests point them at recording fakes or at a private server.
public struct MariaDBSettings: Sendable {
    public var client = "/usr/bin/mariadb"
    public var admin = "/usr/bin/mariadb-admin"
    public var dump = "/usr/bin/mariadb-dump"
    /// The server binary: detection (installed or not) and `mariadb.config_test`.
    public var server = "/usr/sbin/mariadbd"
    /// Older packages name it mysqld; detection accepts either.
    public var serverAlternatives = ["/usr/sbin/mysqld"]
    /// The server's UNIX socket (`BALCTL_MARIADB_SOCKET`): every conversation goes through it.
    public var socket = "/run/mysqld/mysqld.sock"
    /// Account the agent connects as (`BALCTL_MARIADB_USER`); nil: the client's default
    /// (root over the socket with unix_socket authentication, as Debian and cPanel set it up).
    public var user: String?
    /// A root-only file holding the password (`BALCTL_MARIADB_PASSWORD_FILE`); its content goes
    /// into a per-run option file of mode 600 (`--defaults-extra-file`), never onto a command line.
    public var passwordFile: String?
    /// `--defaults-file` for `mariadb.config_test` (`BALCTL_MARIADB_CONFIG`); nil: the server's
    /// own search order (/etc/mysql/my.cnf …).
    public var configFile: String?
    /// `mariadb.restart` runs `<systemctl> restart <unit>` (`BALCTL_MARIADB_UNIT`).
    public var systemctl = "/usr/bin/systemctl"
    public var unit = "mariadb"
    /// cPanel manages the server when this exists (its own restarts and account-level DB work).
    public var cpanelMarker = "/usr/local/cpanel/cpanel"
    /// Where `mariadb.wordpress_sites` looks for wp-config.php (`BALCTL_MARIADB_WEB_ROOTS`, colon-separated).
    public var webRoots = ["/var/www", "/home", "/srv"]
    /// `<BALCTL_STATE_DIR>/mariadb`: backups and the per-run option files.
    public var stateDir: String
    /// How often the background task refreshes the health readout.
    public var refreshIntervalSec: Double = 12
    /// Seconds one client invocation may take (the health refresh; a dump/restore uses the job's time).
    public var queryTimeoutSec: Double = 20
    /// How long `mariadb.restart` waits for the server to answer a ping again.
    public var readyTimeoutSec: Double = 120

    public init(stateDir: String = "/var/lib/balctl") {
        self.stateDir = stateDir + "/mariadb"
    }

    public var backupsDir: String { stateDir + "/backups" }
    /// Private (0700) directory for the option files.
    public var runDir: String { stateDir + "/run" }

    public var installedServer: String? {
        ([server] + serverAlternatives).first(where: Files.isExecutable)
    }
    public var installed: Bool { installedServer != nil }
    public var cpanelManaged: Bool { Files.exists(cpanelMarker) }
    /// The files `installed` and `cpanelManaged` depend on (for a probe's `PathWatched`).
    public var presencePaths: [String] { [server] + serverAlternatives + [cpanelMarker] }

    public static func fromEnvironment() -> MariaDBSettings {
        func env(_ name: String) -> String? {
            guard let v = getenv(name) else { return nil }
            let s = String(cString: v)
            return s.isEmpty ? nil : s
        }
        var s = MariaDBSettings(stateDir: env("BALCTL_STATE_DIR") ?? "/var/lib/balctl")
        if let v = env("BALCTL_MARIADB_SOCKET") { s.socket = v }
        if let v = env("BALCTL_MARIADB_USER") { s.user = v }
        if let v = env("BALCTL_MARIADB_PASSWORD_FILE") { s.passwordFile = v }
        if let v = env("BALCTL_MARIADB_CONFIG") { s.configFile = v }
        if let v = env("BALCTL_MARIADB_UNIT") { s.unit = v }
        if let v = env("BALCTL_MARIADB_WEB_ROOTS") {
            s.webRoots = v.split(separator: ":").map(String.init).filter { $0.hasPrefix("/") && $0 != "/" }
        }
        return s
    }
}
