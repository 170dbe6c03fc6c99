import BalctlPlugins
import BalctlProtocol
import CurlClient
import Foundation

import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle
import SQLEngine

/// How `balctl-server serve` runs.
public struct ServerConfig: Sendable {
    public var dataDir: String
    public var host = "127.0.0.1"
    public var port = 8443
    /// PEM files; without them the server speaks plain HTTP (put it behind a TLS reverse proxy and
    /// list that proxy in `trustedProxies`).
    public var tlsCertFile: String?
    public var tlsKeyFile: String?
    /// `--tls auto`: the server's own CA, for renewals while it runs.
    public var autoTLS: AutoTLSSettings? = nil
    /// Seconds between looks at the certificate files (a renewed pair is served without a restart).
    public var certificateCheckSec: Double = 60
    /// Peers whose X-Forwarded-For header is believed.
    public var trustedProxies: [CIDR] = []
    /// Peers (Cloudflare's ranges) whose CF-Connecting-IP header is believed.
    public var cloudflareProxies: [CIDR] = []
    /// An HTTP/1 connection with no request for this long is closed (Hummingbird has no default).
    public var idleTimeoutSec: Int = 60
    /// A request whose head and body have not all arrived this long after they began is dropped
    /// with its connection: a client trickling a body cannot hold a connection (and a handler).
    public var requestReadTimeoutSec: Int = 30
    /// The origin agents and operators reach this server at (install commands use it).
    public var publicURLOverride: String?
    public var heartbeat = HeartbeatPolicy()
    public var queue = QueuePolicy()
    /// How long `GET /api/agents/wait` holds an agent's request when no work comes (below the
    /// agent's 40 s transfer timeout and the 60 s idle timeout of proxies in between).
    public var agentWaitSec: Double = 25
    /// Seconds between lease sweeps.
    public var sweepIntervalSec: Double = 1
    /// Seconds between scheduler passes.
    public var schedulerIntervalSec: Double = 1
    /// Who may scrape `GET /metrics` (nobody, by default: the route answers 404).
    public var metrics = MetricsAccess()
    /// Seconds between threshold evaluations of the reports received meanwhile.
    public var thresholdTickSec: Double = 1
    /// A member's reports are evaluated against its thresholds at most this often.
    public var thresholdMinIntervalSec: Double = 5
    /// Seconds between reloads of the thresholds in effect (set through another replica) and
    /// checks of heartbeat age.
    public var thresholdRefreshSec: Double = 5
    /// Accept plain http to a loopback host for DNS provider and webhook URLs (contract emulators,
    /// tests). Off in production: those URLs must not reach the control plane's own services.
    public var allowLoopbackHTTP = false
    /// Seconds between failover evaluations (sub-second: detection must not wait for a heartbeat).
    public var failoverTickSec: Double = 0.25
    /// Directory of recipe YAML files (every file must validate, or the server refuses to start).
    public var recipesDir: String? = nil
    /// Dashboard live-update (SSE) streams this server holds at most (issue 19).
    public var dashboardMaxStreams = 1000
    /// One shared poller per watched pool (false: one per stream, as before — only for
    /// `balctl-bench dashboard --sse-clients` to measure the difference).
    public var dashboardSharedPoller = true
    /// The relay alert mail goes through (nil: email alerts fail with "no SMTP server configured").
    public var smtp: SMTPSettings? = nil
    public var alerts = AlertPolicy()
    /// `postgres://…`: run on PostgreSQL, one of any number of replicas (issue 22); nil: the
    /// SQLite file in the data directory.
    public var databaseURL: String? = nil
    /// Which replica runs the evaluator, the scheduler and the sweeper (see `LeaderLease`).
    public var leader = LeaderLease.Policy()
    /// Output of `balctl-server bundle`: agent.zip served to agents and install commands, and its
    /// version advertised in every heartbeat reply.
    public var agentBundleDir: String? = nil
    /// PEM of the private CA agents must trust to reach this server (written into install
    /// commands); nil when the certificate chains to a public CA.
    public var agentCAFile: String? = nil
    /// Backup snapshots: a directory (default `<data-dir>/snapshots`) or `snapshotStore` (S3).
    public var snapshotDir: String? = nil
    /// The snapshot directory is on storage every replica sees (NFS …): PostgreSQL replicas may
    /// use it. Without it, replicas on PostgreSQL need `snapshotStore` (S3) for backups.
    public var snapshotDirShared = false
    /// An object store for snapshots (S3-compatible); overrides `snapshotDir`.
    public var snapshotStore: (any SnapshotStore)? = nil

    public init(dataDir: String) { self.dataDir = dataDir }

    public var publicURL: String {
        publicURLOverride ?? "\(tlsCertFile == nil ? "http" : "https")://\(host):\(port)"
    }
    public var databasePath: String { dataDir + "/balctl.sqlite" }
}

/// The control plane: store, command catalogue and the HTTP application.
public final class ControlPlane: Sendable {
    public let config: ServerConfig
    public let store: Store
    public let catalogue: CommandCatalogue
    /// Recipes by id, loaded and validated at start.
    public let recipes: [String: Recipe]
    let heartbeats: HeartbeatWriter
    /// The certificate and key served, reloaded when the files change (nil: plain HTTP).
    let servedCertificate: ServedCertificate?
    /// Agents parked until work for them is committed (`GET /api/agents/wait`).
    public let wakes = AgentWakeHub()
    /// PostgreSQL: the LISTEN that feeds `wakes` (SQLite feeds it from a commit observer).
    let wakeListener: WakeListener?
    /// Seals stored credentials (`secrets.key` in the data directory).
    let secrets: SecretBox
    public let failover: Failover
    let heartbeatReply: HeartbeatReplyBody
    /// Who runs the singletons; with SQLite, always this process.
    public let leader: LeaderLease
    /// The agent bundle served at /agent/… (nil without `--agent-bundle`).
    public let agentBundle: ServedAgentBundle?
    /// Backup snapshots: catalog and store.
    public let backups: Backups
    /// What install commands embed besides the member.
    public let installContext: InstallContext
    /// Prometheus metrics (`GET /metrics`).
    public let metrics: ServerMetrics
    /// Member alert thresholds, evaluated on the reports received.
    public let thresholds: ThresholdMonitor
    /// The web dashboard's users, sessions and templates (issue 19).
    public let dashboard: DashboardState
    /// The agent version members should run: the bundle's, else this build's.
    public var latestAgentVersion: String { agentBundle?.manifest.version ?? BalctlVersion.current }
    let logger: Logger

    public init(config: ServerConfig, logger: Logger = Logger(label: "balctl-server")) throws {
        let catalogue = AllPlugins.registry.catalogue
        var config = config
        config.queue.commandLocks = QueuePolicy.locks(of: catalogue)
        self.config = config
        if let url = config.databaseURL {
            try DataDirectory.prepare(config.dataDir, databasePath: nil)
            self.store = try Store(engine: try PostgresEngine(url: url, logger: logger))
            // Until this replica proves it hears other replicas' changes (AuthChangeListener), it caches nothing.
            store.authCache.requireProof()
        } else {
            try DataDirectory.prepare(config.dataDir, databasePath: config.databasePath)
            self.store = try Store(path: config.databasePath)
            // -wal and -shm exist now (WAL mode): make sure they are 0600 as well.
            try DataDirectory.tightenDatabaseFiles(config.databasePath)
        }
        self.wakeListener = wakes.attach(to: store.db)
        if let cert = config.tlsCertFile, let key = config.tlsKeyFile {
            self.servedCertificate = try ServedCertificate(certFile: cert, keyFile: key)
        } else {
            self.servedCertificate = nil
        }
        self.catalogue = catalogue
        if let dir = config.recipesDir {
            self.recipes = Dictionary(uniqueKeysWithValues: try RecipeLoader.loadDirectory(dir, catalogue: catalogue).map { ($0.id, $0) })
        } else {
            self.recipes = [:]
        }
        self.heartbeats = HeartbeatWriter(store: store, heartbeat: config.heartbeat, queue: config.queue)
        let metrics = ServerMetrics()
        self.metrics = metrics
        self.thresholds = ThresholdMonitor(store: store, metrics: metrics, logger: logger,
                                           minIntervalSec: config.thresholdMinIntervalSec)
        let bundle = try config.agentBundleDir.map(ServedAgentBundle.load)
        self.agentBundle = bundle
        var caPEM: String? = nil
        if let ca = config.agentCAFile {
            guard let text = try? String(contentsOfFile: ca, encoding: .utf8), text.contains("-----BEGIN CERTIFICATE-----"),
                  !text.contains("'") else {
                throw ControlPlaneError.badRequest("--agent-ca-file \(ca) is not a PEM certificate")
            }
            caPEM = text
        }
        self.installContext = InstallContext(publicURL: config.publicURL, updatePublicKey: bundle?.publicKey,
                                             zipSHA256: bundle?.zipSHA256, caPEM: caPEM)
        self.heartbeatReply = try HeartbeatReplyBody(intervalSec: config.heartbeat.intervalSec,
                                                     latestAgentVersion: bundle?.manifest.version ?? BalctlVersion.current)
        self.secrets = try SecretBox.open(dataDir: config.dataDir)
        let holder = "\(ProcessInfo.processInfo.hostName):\(getpid()):\(UInt32.random(in: 0...UInt32.max))"
        self.leader = LeaderLease(db: store.db, holder: holder, policy: config.leader, logger: logger)
        self.failover = Failover(store: store, box: secrets, heartbeatIntervalSec: config.heartbeat.intervalSec, logger: logger,
                                 owner: holder, leader: leader, metrics: metrics)
        self.logger = logger
        self.dashboard = DashboardState(maxStreams: config.dashboardMaxStreams, sharedPoller: config.dashboardSharedPoller)
        if let objects = config.snapshotStore {
            self.backups = Backups(store: store, objects: objects)
        } else {
            let dir = config.snapshotDir ?? config.dataDir + "/snapshots"
            let objects = try FilesystemSnapshotStore(root: dir)
            // Replicas on PostgreSQL each have their own disk: a part one stored would be missing
            // on the next. Serve backups only from storage every replica sees.
            let unshared = config.databaseURL != nil && !config.snapshotDirShared
            self.backups = Backups(store: store, objects: objects, unavailableReason: unshared
                ? "backups are off: replicas on PostgreSQL need shared snapshot storage (BALCTL_S3_* for S3, or --snapshot-dir on shared storage with --snapshot-dir-shared)"
                : nil)
        }
    }

    /// "sqlite" or "postgresql".
    public var databaseKind: String { store.db.dialect == .postgres ? "postgresql" : "sqlite" }

    func router() -> Router<BalctlRequestContext> {
        let router = Router(context: BalctlRequestContext.self)
        router.add(middleware: RequestLogMiddleware())
        router.add(middleware: JSONErrorMiddleware())
        // For load balancers (and the benchmark's baseline): no database call, it reads what the
        // lease loop last saw (it talks to the database every second).
        router.get("healthz") { _, _ in self.health() }
        OpenAPIDocument.register(router)
        MetricsRoute(server: self).register(router)
        ServedAgentBundle.register(router, bundle: agentBundle)
        AgentRoutes(server: self).register(router)
        OperatorRoutes(server: self).register(router)
        RecipeRoutes(server: self).register(router)
        ThresholdRoutes(server: self).register(router)
        FailoverRoutes(server: self).register(router)
        UserRoutes(server: self).register(router)
        DashboardRoutes(server: self).register(router)
        return router
    }

    /// The HTTP(S) application; `onRunning` gets the bound port (useful with port 0).
    public func application(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        let serverBuilder: HTTPServerBuilder
        if let servedCertificate {
            serverBuilder = try .tls(.http1(configuration: http1Configuration()), tlsConfiguration: servedCertificate.tlsConfiguration())
        } else {
            serverBuilder = .http1(configuration: http1Configuration())
        }
        var log = logger
        log.logLevel = .warning
        return Application(
            router: router(),
            server: serverBuilder,
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: "balctl"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: log)
    }

    /// Idle and read timeouts for every connection (issue 20 item 8).
    func http1Configuration() -> HTTP1Channel.Configuration {
        let readTimeout = TimeAmount.seconds(Int64(config.requestReadTimeoutSec))
        return HTTP1Channel.Configuration(additionalChannelHandlers: [SlowRequestGuard(readTimeout: readTimeout)],
                                          idleTimeout: .seconds(Int64(config.idleTimeoutSec)))
    }

    /// The server and the lease sweeper as one service group that shuts down gracefully on
    /// SIGTERM/SIGINT or `triggerGracefulShutdown()`.
    public func serviceGroup(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws -> ServiceGroup {
        try await store.verifySecretsKey(secrets)
        if store.db.dialect == .sqlite {
            // The single server was down: agents could not renew, so their leases get the time back.
            // (Replicas on PostgreSQL: one replica's restart is no outage.)
            try await store.graceRunningLeases(policy: config.queue)
        }
        // Lead before serving when possible (SQLite: always), so the first ticks are not skipped.
        _ = try? await leader.round()
        let app = try application(onRunning: onRunning)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: DatabaseCloser(db: store.db)),
            .init(service: app), .init(service: LeaderLeaseService(lease: leader)),
            .init(service: LeaseSweeper(server: self)), .init(service: Scheduler(server: self)),
            .init(service: FailoverEvaluator(failover: failover, intervalSec: config.failoverTickSec)),
            .init(service: try alertDispatcher()),
            .init(service: ThresholdMonitorService(monitor: thresholds, tickSec: config.thresholdTickSec,
                                                   refreshSec: config.thresholdRefreshSec)),
        ]
        if let wakeListener { services.append(.init(service: wakeListener)) }
        services.append(.init(service: WakeHubCloser(hub: wakes)))
        if let servedCertificate {
            services.append(.init(service: CertificateWatcher(served: servedCertificate, auto: config.autoTLS,
                                                              intervalSec: config.certificateCheckSec, logger: logger)))
        }
        if let engine = store.db as? PostgresEngine {
            services.append(.init(service: AuthChangeListener(engine: engine, store: store)))

        }
        return ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    }

    /// `/healthz`: 200 "ok" with the database and this replica's role; 503 when the database has
    /// not answered for `3 × ttl` (a load balancer should send agents elsewhere).
    func health() -> Response {
        let since = leader.secondsSinceContact
        let reachable = since.map { $0 <= 3 * config.leader.ttlSec } ?? false
        let text = """
            \(reachable ? "ok" : "unavailable")
            database: \(databaseKind) \(reachable ? "reachable" : since.map { "unreachable for \(Int($0)) s" } ?? "not yet reached")
            role: \(leader.role.rawValue)
            leader_changes: \(leader.changes)
            clock_offset_ms: \(leader.clockOffset.map { String(Int(($0 * 1000).rounded())) } ?? "unknown")

            """
        return Response(status: reachable ? .ok : .serviceUnavailable, headers: [.contentType: "text/plain"],
                        body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// Sends the alert outbox; refuses an SMTP configuration that breaks the mail policy.
    func alertDispatcher() throws -> AlertDispatcher {
        try AlertDispatcher(store: store, policy: config.alerts, smtp: config.smtp,
                            secrets: try SecretBox.open(dataDir: config.dataDir), logger: logger, metrics: metrics)
    }

    /// Serve until SIGTERM/SIGINT, sweeping expired leases beside the server.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await serviceGroup(onRunning: onRunning).run()
    }
}

/// Returns jobs whose lease ran out to the queue (or fails them after their last attempt), and
/// ends jobs past their deadline or pending too long.
struct LeaseSweeper: Service {
    let server: ControlPlane

    func run() async throws {
        try await runEvery(server.config.sweepIntervalSec, logger: server.logger, what: "lease sweep") {
            guard let fence = server.leader.fence() else { return }
            let expired = try await server.store.expireLeases(fence: fence)
            server.metrics.leasesExpired(expired)
            let moved = try await server.store.enforceDeadlines(policy: server.config.queue, fence: fence) + expired
            if moved > 0 { server.logger.info("lease sweep: \(moved) job(s) moved") }
            let reaped = try await server.backups.reapAbandoned()
            if reaped > 0 { server.logger.info("backup sweep: \(reaped) abandoned upload(s) marked failed and removed") }
        }
    }
}

/// Closes the database's connections once the other services have stopped (the group shuts
/// services down in reverse order, and this one is listed first).
struct DatabaseCloser: Service {
    let db: any SQLDatabase
    func run() async throws {
        try? await gracefulShutdown()
        try? await db.close()
    }
}
