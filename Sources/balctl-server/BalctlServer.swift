import ArgumentParser
import BalctlProtocol
import ControlPlane
import Foundation
import Logging

@main
struct BalctlServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "balctl-server",
        abstract: "The balctl control plane: pools, members, the job queue and the agent API.",
        version: BalctlVersion.current,
        subcommands: [Serve.self, Init.self, Migrate.self, Demo.self, SigningKey.self, Bundle.self],
        defaultSubcommand: Serve.self)
}

/// Options every way of running the server shares.
struct ServerOptions: ParsableArguments {
    @Option(help: "Data directory (SQLite database). Env: BALCTL_DATA_DIR.")
    var dataDir: String = ProcessInfo.processInfo.environment["BALCTL_DATA_DIR"] ?? "/var/lib/balctl-server"

    @OptionGroup var database: DatabaseOption

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Log lines as text, or as one JSON object per line (time, level, logger, message, request ID and other fields). Env: BALCTL_LOG_FORMAT.")
    var logFormat: String = ProcessInfo.processInfo.environment["BALCTL_LOG_FORMAT"] ?? "text"

    @Option(help: "Port to listen on (0 picks a free one).")
    var port: Int = 8443

    @Option(help: "TLS certificate chain (PEM). Without --tls-cert/--tls-key (and without --plain-http) the server makes its own CA and certificate in <data-dir>/tls and renews the certificate.")
    var tlsCert: String?

    @Option(help: "TLS private key (PEM).")
    var tlsKey: String?

    @Flag(help: "Serve plain HTTP (only behind a TLS-terminating reverse proxy) instead of HTTPS.")
    var plainHTTP = false

    @Flag(help: "Accept plain http to a loopback host for DNS provider and webhook URLs (emulators and tests only).")
    var allowLoopbackHTTP = false

    @Option(help: "CIDR of a reverse proxy whose X-Forwarded-For is believed (repeatable).")
    var trustedProxy: [String] = []

    @Option(help: "CIDR of Cloudflare's edge whose CF-Connecting-IP is believed (repeatable).")
    var cloudflareProxy: [String] = []

    @Option(help: "Seconds before an HTTP connection with no request is closed.")
    var idleTimeout: Int = 60

    @Option(help: "Seconds a request may take to arrive whole (head and body) before its connection is closed.")
    var readTimeout: Int = 30

    @Option(help: "Origin agents use to reach this server (install commands). Default: from host and port.")
    var publicURL: String?

    @Option(help: "Heartbeat interval handed to agents, 1–60 s.")
    var heartbeatInterval: Int = 1

    @Option(help: "Job lease in seconds.")
    var leaseSec: Int = 30

    @Option(help: "Hours after which a job its agent never claimed expires (fails), 1–8760.")
    var pendingExpiryHours: Int = 24

    @Option(help: "Recipe directory (env BALCTL_RECIPES_DIR; default ./recipes, then /etc/balctl/recipes, when present).")
    var recipesDir: String?

    @Option(help: "Seconds a leader's lease lasts without renewal; a dead leader is replaced within about this long (replicas), 2–60.")
    var leaderLeaseSec: Double = 4

    @Option(help: "Agent bundle directory (output of `balctl-server bundle`) to serve at /agent/agent.zip and advertise to agents. Env: BALCTL_AGENT_BUNDLE.")
    var agentBundle: String?

    @Option(help: "PEM of the private CA agents must trust to reach this server, written into install commands. Env: BALCTL_AGENT_CA_FILE.")
    var agentCAFile: String?

    @Option(help: "Directory for backup snapshots (default <data-dir>/snapshots). Env: BALCTL_SNAPSHOT_DIR. Ignored when BALCTL_S3_BUCKET selects S3.")
    var snapshotDir: String?

    @Flag(help: "The snapshot directory is on storage every replica sees (NFS …): lets replicas on PostgreSQL serve backups from it.")
    var snapshotDirShared = false

    @OptionGroup var smtp: SMTPOptions

    @OptionGroup var metrics: MetricsOptions

    func validate() throws {
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format must be text or json") }
        guard (2...60).contains(leaderLeaseSec) else { throw ValidationError("--leader-lease-sec must be 2–60") }
        guard AgentWire.intervalRange.contains(heartbeatInterval) else {
            throw ValidationError("--heartbeat-interval must be 1–60")
        }
        guard (2...3600).contains(leaseSec) else { throw ValidationError("--lease-sec must be 2–3600") }
        guard (1...8760).contains(pendingExpiryHours) else { throw ValidationError("--pending-expiry-hours must be 1–8760") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        for p in trustedProxy where CIDR(p) == nil { throw ValidationError("--trusted-proxy \(p) is not an IPv4 CIDR") }
        for p in cloudflareProxy where CIDR(p) == nil { throw ValidationError("--cloudflare-proxy \(p) is not an IPv4 CIDR") }
        guard (1...3600).contains(idleTimeout) else { throw ValidationError("--idle-timeout must be 1–3600") }
        guard (1...3600).contains(readTimeout) else { throw ValidationError("--read-timeout must be 1–3600") }
        if let url = publicURL {
            // It is pasted into install commands: a plain origin only.
            let lower = url.lowercased()
            guard lower.hasPrefix("https://") || lower.hasPrefix("http://"),
                  url.allSatisfy({ $0.isASCII && !$0.isWhitespace && !"'\"`$\\;&|<>()".contains($0) }) else {
                throw ValidationError("--public-url must be an http(s) origin such as https://balctl.example.com:8443")
            }
        }
    }

    func config() throws -> ServerConfig {
        var c = ServerConfig(dataDir: dataDir)
        c.host = host
        c.port = port
        c.tlsCertFile = tlsCert
        c.tlsKeyFile = tlsKey
        c.trustedProxies = trustedProxy.compactMap { CIDR($0) }
        c.cloudflareProxies = cloudflareProxy.compactMap { CIDR($0) }
        c.idleTimeoutSec = idleTimeout
        c.requestReadTimeoutSec = readTimeout
        c.publicURLOverride = publicURL
        c.heartbeat.intervalSec = heartbeatInterval
        c.queue.leaseSec = leaseSec
        c.queue.pendingExpirySec = Double(pendingExpiryHours) * 3600
        c.recipesDir = try resolvedRecipesDir()
        c.allowLoopbackHTTP = allowLoopbackHTTP
        c.smtp = try smtp.settings()
        c.metrics = try metrics.access()
        c.databaseURL = database.url
        c.leader.ttlSec = leaderLeaseSec
        c.leader.renewSec = min(1, leaderLeaseSec / 4)
        let env = ProcessInfo.processInfo.environment
        c.agentBundleDir = agentBundle ?? env["BALCTL_AGENT_BUNDLE"].flatMap { $0.isEmpty ? nil : $0 }
        c.agentCAFile = agentCAFile ?? env["BALCTL_AGENT_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        c.snapshotDir = snapshotDir ?? env["BALCTL_SNAPSHOT_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        c.snapshotDirShared = snapshotDirShared
        // S3-compatible storage for snapshots when BALCTL_S3_BUCKET is set (see README, Backups).
        do {
            if let settings = try S3SnapshotStore.settings(fromEnvironment: env) {
                c.snapshotStore = try S3SnapshotStore(settings: settings)
            }
        } catch {
            throw ValidationError("snapshot storage (BALCTL_S3_*): \(error)")
        }
        return c
    }
}

extension ServerOptions {
    /// A directory given explicitly (option or environment) must exist: a typo would otherwise
    /// start a server with no recipes at all. Only the defaults are optional.
    func resolvedRecipesDir() throws -> String? {
        if let d = recipesDir ?? ProcessInfo.processInfo.environment["BALCTL_RECIPES_DIR"] {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: d, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--recipes-dir \(d): no such directory")
            }
            return d
        }
        return ["recipes", "/etc/balctl/recipes"].first { FileManager.default.fileExists(atPath: $0) }
    }
}

func printAdminToken(_ issued: TokenIssued?, announce: (String) -> Void = say) {
    guard let issued else { return }
    announce("""
        First start: created account '\(issued.account.name)'. Its API token (shown once):
          BALCTL_TOKEN=\(issued.token)
        """)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the control plane (default).")
    @OptionGroup var options: ServerOptions

    func run() async throws {
        // Start-up messages (TLS, the first admin token, the port) are log lines too in JSON mode.
        var announce: @Sendable (String) -> Void = say
        if options.logFormat == "json" {
            // Before any logger exists: every one made from here on writes JSON lines.
            LoggingSystem.bootstrap { JSONLogHandler(label: $0) }
            let logger = Logger(label: "balctl-server")
            announce = { logger.notice("\($0)") }
        }
        var config = try options.config()
        if options.tlsCert == nil && !options.plainHTTP {
            try AutoTLS.apply(to: &config, publicURL: options.publicURL, listenHost: options.host, announce: announce)
        }
        let server = try ControlPlane(config: config)
        printAdminToken(try server.store.bootstrapAdminIfNeeded(), announce: announce)
        if let password = try await server.store.bootstrapAdminWebUserIfNeeded(hasher: server.dashboard.hasher) {
            // Once, like the admin token: only its bcrypt hash is stored.
            announce("dashboard: sign in at \(config.publicURL)/signin as user 'admin' with password \(password) (shown once; change it with balctl users)")
        }
        let scheme = config.tlsCertFile == nil ? "http" : "https"
        let announced = announce
        try await server.run { port in
            announced("balctl-server \(BalctlVersion.current) listening on \(scheme)://\(options.host):\(port)")
        }
    }
}

/// `--database` / BALCTL_DATABASE_URL: PostgreSQL for replicas; absent, SQLite in the data directory.
struct DatabaseOption: ParsableArguments {
    @Option(name: .customLong("database"),
            help: "postgres://user[:password]@host[:port]/db[?sslmode=…] to run on PostgreSQL (replicas). Env: BALCTL_DATABASE_URL (keeps the password off the command line). Default: SQLite in the data directory.")
    var option: String?

    var url: String? {
        let value = option ?? ProcessInfo.processInfo.environment["BALCTL_DATABASE_URL"]
        return value?.isEmpty == true ? nil : value
    }
}

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create the database and the admin account, print its token once.")
    @Option(help: "Data directory.")
    var dataDir: String = ProcessInfo.processInfo.environment["BALCTL_DATA_DIR"] ?? "/var/lib/balctl-server"
    @OptionGroup var database: DatabaseOption
    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        var config = ServerConfig(dataDir: dataDir)
        config.databaseURL = database.url
        let server = try ControlPlane(config: config)
        guard let issued = try server.store.bootstrapAdminIfNeeded() else {
            throw ValidationError("\(dataDir) is already initialised (the admin token was shown on first start)")
        }
        if json {
            say(String(decoding: try JSONEncoder().encode(issued), as: UTF8.self))
        } else {
            printAdminToken(issued)
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring the database's schema up to this version and exit (idempotent; safe while other replicas start).")
    @Option(help: "Data directory (SQLite database). Env: BALCTL_DATA_DIR.")
    var dataDir: String = ProcessInfo.processInfo.environment["BALCTL_DATA_DIR"] ?? "/var/lib/balctl-server"
    @OptionGroup var database: DatabaseOption

    func run() async throws {
        var config = ServerConfig(dataDir: dataDir)
        config.databaseURL = database.url
        let server = try ControlPlane(config: config)
        let all = Store.migrationIDs
        say(server.store.migratedAtOpen.isEmpty
            ? "\(server.databaseKind): schema up to date (\(all.count) migrations, last: \(all.last ?? "-"))"
            : "\(server.databaseKind): applied \(server.store.migratedAtOpen.count) migration(s): \(server.store.migratedAtOpen.joined(separator: "; "))")
        try await server.store.db.close()
    }
}

/// Unbuffered line output: the demo and `serve` are long-running, often with stdout in a file.
func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
