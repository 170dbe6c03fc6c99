#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import MariaDBPlugin

/// Where the Galera node's pieces are. The server connection (client, socket, account, password
/// file, server binary) is the MariaDB plugin's (`MariaDBSettings`, the same `BALCTL_MARIADB_*`
/// environment): one server, one way to reach it.
public struct GaleraSettings: Sendable {
    public var mariadb: MariaDBSettings
    /// `my_print_defaults`: reads the option files the server would (wsrep_cluster_address,
    /// datadir, provider options) while the server is down, as the server itself would see them.
    public var printDefaults = "/usr/bin/my_print_defaults"
    /// The wsrep provider Debian's galera-4 installs; named in the hidden-stack reason.
    public var provider = "/usr/lib/galera/libgalera_smm.so"
    /// What `galera.bootstrap` runs to start this node as a new cluster (`BALCTL_GALERA_BOOTSTRAP`,
    /// an argv split on spaces, first word an absolute path; never a shell).
    public var bootstrapCommand = ["/usr/bin/galera_new_cluster"]
    /// The datadir holding grastate.dat (`BALCTL_GALERA_DATADIR`); nil: the server's
    /// (its answer when it runs, else the option files, else /var/lib/mysql).
    public var datadir: String?
    /// How long `galera.bootstrap` waits for the node to answer as Primary.
    public var primaryTimeoutSec: Double = 180
    /// Per peer: how long a TCP connect to its group-communication port may take.
    public var peerConnectTimeoutSec: Double = 1.5
    /// How often the background task refreshes the readout.
    public var refreshIntervalSec: Double = 12

    public init(mariadb: MariaDBSettings) { self.mariadb = mariadb }

    /// The option-file groups mariadbd reads (my_print_defaults prints them in file order; the
    /// last value of an option wins, as for the server).
    static let optionGroups = ["mysqld", "server", "mariadb", "mariadbd", "client-server", "galera"]

    /// `my_print_defaults [--defaults-file=…] <groups>` argv.
    var printDefaultsArguments: [String] {
        (mariadb.configFile.map { ["--defaults-file=" + $0] } ?? []) + Self.optionGroups
    }

    /// Parse `BALCTL_GALERA_BOOTSTRAP`: words split on spaces, at most 32, the first an absolute
    /// path; nil when malformed (the default stays).
    static func bootstrapArgv(_ text: String) -> [String]? {
        let words = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard let first = words.first, first.hasPrefix("/"), words.count <= 32,
              !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return nil }
        return words
    }

    public static func fromEnvironment() -> GaleraSettings {
        func env(_ name: String) -> String? {
            guard let v = getenv(name) else { return nil }
            let s = String(cString: v)
            return s.isEmpty ? nil : s
        }
        var s = GaleraSettings(mariadb: .fromEnvironment())
        if let v = env("BALCTL_GALERA_BOOTSTRAP"), let argv = bootstrapArgv(v) { s.bootstrapCommand = argv }
        if let v = env("BALCTL_GALERA_DATADIR"), v.hasPrefix("/") { s.datadir = v }
        return s
    }
}
