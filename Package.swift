// swift-tools-version:6.0
// balctl: a self-hosted control plane and a lean Linux agent that keep servers online by
// moving DNS, and run day-to-day server work as queued jobs.
import PackageDescription

/// The agent side (BalctlProtocol, CurlClient, AgentKernel, the plugins, balctl-heartbeat) must
/// stay lean: FoundationEssentials only, no SwiftNIO, no Yams. Server-side libraries are only
/// ever depended on by ControlPlane, balctl-server and balctl.
let package = Package(
    name: "balctl",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "balctl-heartbeat", targets: ["balctl-heartbeat"]),
        .executable(name: "balctl-server", targets: ["balctl-server"]),
        .executable(name: "balctl", targets: ["balctl"]),
        .executable(name: "balctl-bench", targets: ["balctl-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
    ],
    targets: [
        // MARK: shared wire contract
        .target(name: "BalctlProtocol", dependencies: ["CBuildStamp"]),
        // The version stamp `balctl-server bundle` rewrites in a built agent (see stamp.c).
        .target(name: "CBuildStamp"),

        // MARK: C libraries the agent links (system-library targets)
        .systemLibrary(
            name: "CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"]), .yum(["libcurl-devel"])]),
        .systemLibrary(
            name: "CArchive", pkgConfig: "libarchive",
            providers: [.apt(["libarchive-dev"]), .yum(["libarchive-devel"])]),
        // libzstd: already loaded by libarchive; the snapshot writer compresses with it directly.
        .systemLibrary(
            name: "CZstd", pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"]), .yum(["libzstd-devel"])]),
        // libcrypto: already loaded by libcurl (OpenSSL build); Ed25519 and SHA-256 for self-update.
        .systemLibrary(
            name: "CCrypto", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"]), .yum(["openssl-devel"])]),
        .systemLibrary(
            name: "CSystemd", pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"]), .yum(["systemd-devel"])]),

        // MARK: agent side (lean)
        .target(name: "CurlClient", dependencies: ["CCurl"]),
        .target(
            name: "AgentKernel",
            dependencies: ["BalctlProtocol", "CurlClient", "CSystemd", "CArchive", "CCrypto"]),
        .target(name: "HostPlugin", dependencies: ["AgentKernel"], path: "Plugins/Host",
                exclude: ["README.md"]),
        .target(name: "HAProxyPlugin", dependencies: ["AgentKernel", "BalctlProtocol"], path: "Plugins/HAProxy",
                exclude: ["README.md"]),
        .target(name: "BackupPlugin", dependencies: ["AgentKernel", "BalctlProtocol", "CArchive", "CZstd", "CurlClient"],
                path: "Plugins/Backup", exclude: ["README.md"]),
        .target(name: "OpenLiteSpeedPlugin", dependencies: ["AgentKernel", "BalctlProtocol", "BackupPlugin"],
                path: "Plugins/OpenLiteSpeed", exclude: ["README.md"]),
        .target(name: "FirewallPlugin", dependencies: ["AgentKernel", "BalctlProtocol"], path: "Plugins/Firewall",
                exclude: ["README.md"]),
        .target(name: "SSHPlugin", dependencies: ["AgentKernel", "BalctlProtocol", "FirewallPlugin"], path: "Plugins/SSH",
                exclude: ["README.md"]),
        .target(name: "MariaDBPlugin", dependencies: ["AgentKernel", "BalctlProtocol", "CArchive"], path: "Plugins/MariaDB",
                exclude: ["README.md"]),
        .target(name: "GaleraPlugin", dependencies: ["AgentKernel", "BalctlProtocol", "MariaDBPlugin"], path: "Plugins/Galera",
                exclude: ["README.md"]),
        // The one place that lists every plugin module (agent and control-plane catalogue).
        .target(name: "BalctlPlugins", dependencies: ["AgentKernel", "HostPlugin", "HAProxyPlugin", "BackupPlugin", "OpenLiteSpeedPlugin", "FirewallPlugin", "MariaDBPlugin", "GaleraPlugin", "SSHPlugin"]),
        .executableTarget(
            name: "balctl-heartbeat",
            dependencies: ["AgentKernel", "BalctlPlugins", "HAProxyPlugin"]),

        // MARK: control plane
        .target(
            name: "ControlPlane",
            dependencies: [
                "BalctlProtocol", "BalctlPlugins", "AgentKernel",
                "CurlClient",  // DNS provider APIs, alert mail (SMTP) and webhooks: the libcurl the agent links anyway
                "SQLEngine",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),  // sqlite3_libversion_number
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),  // HTTP parts, for SlowRequestGuard
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                // The web dashboard (issue 19): server-rendered templates and bcrypt password hashes.
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "NIOPosix", package: "swift-nio"),  // NIOThreadPool: bcrypt off the event loop and the task pool
            ]),
        .executableTarget(
            name: "balctl-server",
            dependencies: [
                "ControlPlane", "AgentKernel", "BalctlPlugins", "CurlClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The operator CLI's client logic (URL policy, path encoding, retries), testable apart.
        .target(name: "OperatorClient", dependencies: ["BalctlProtocol", "CurlClient"]),
        .executableTarget(
            name: "balctl",
            dependencies: [
                "BalctlProtocol", "OperatorClient", "CurlClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // One SQL seam over the two engines the control plane runs on (issue 22): SQLite through
        // GRDB, the embedded default, and PostgreSQL through postgres-nio for scale-out.
        .target(
            name: "SQLEngine",
            dependencies: [
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Real services on loopback for the test suites and benchmarks, one place each for its
        // configuration: BIND9 (`named`), PostgreSQL, free loopback ports.
        .target(name: "ServiceLaunchers", dependencies: ["AgentKernel"]),
        .executableTarget(
            name: "balctl-bench",
            dependencies: [
                "ControlPlane", "SQLEngine", "CurlClient", "OperatorClient", "ServiceLaunchers",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // MARK: tests
        .testTarget(name: "BalctlProtocolTests", dependencies: ["BalctlProtocol", "TestSupport"]),
        // Test helpers shared by several test targets: a loopback listener for tests that must prove
        // nothing was sent, a seeded generator for fuzz tests, a tiny HTTP server for contract emulators
        // and webhook receivers, and the `.bindServer` trait that starts one real named (ServiceLaunchers)
        // per suite for the DNS and failover suites.
        .target(name: "TestSupport", dependencies: ["ServiceLaunchers", "AgentKernel", "BalctlProtocol", "CurlClient"], path: "Tests/TestSupport",
                resources: [.copy("Fixtures")]),
        .testTarget(name: "CurlClientTests", dependencies: ["CurlClient", "CCurl", "TestSupport"]),
        .testTarget(name: "OperatorClientTests", dependencies: ["OperatorClient", "CurlClient"]),
        .testTarget(name: "SQLEngineTests", dependencies: ["SQLEngine", "ServiceLaunchers", "TestSupport"]),
        .testTarget(name: "AgentKernelTests", dependencies: ["AgentKernel", "BalctlPlugins", "TestSupport"]),
        .testTarget(name: "HostPluginTests", dependencies: ["HostPlugin", "AgentKernel", "TestSupport"]),
        .testTarget(name: "BackupPluginTests", dependencies: ["BackupPlugin", "AgentKernel", "BalctlProtocol", "CArchive", "CZstd", "TestSupport"]),
        .testTarget(name: "OpenLiteSpeedPluginTests", dependencies: ["OpenLiteSpeedPlugin", "BackupPlugin", "AgentKernel", "BalctlProtocol", "TestSupport"]),
        .testTarget(name: "SSHPluginTests", dependencies: ["SSHPlugin", "FirewallPlugin", "AgentKernel", "BalctlProtocol", "ServiceLaunchers", "TestSupport"]),
        .testTarget(name: "FirewallPluginTests", dependencies: ["FirewallPlugin", "BackupPlugin", "AgentKernel", "BalctlProtocol", "TestSupport"]),
        .testTarget(name: "MariaDBPluginTests", dependencies: ["MariaDBPlugin", "BackupPlugin", "AgentKernel", "BalctlProtocol", "TestSupport"]),
        .testTarget(name: "GaleraPluginTests", dependencies: ["GaleraPlugin", "MariaDBPlugin", "AgentKernel", "BalctlProtocol", "ControlPlane", "TestSupport"]),
        .testTarget(name: "HAProxyPluginTests", dependencies: ["HAProxyPlugin", "AgentKernel", "BalctlProtocol", "ServiceLaunchers", "TestSupport"]),
        .testTarget(name: "ControlPlaneTests", dependencies: ["ControlPlane", "SQLEngine", "TestSupport", "ServiceLaunchers", "CurlClient",
                                                             .product(name: "X509", package: "swift-certificates"),
                                                             .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                                                             .product(name: "HummingbirdTesting", package: "hummingbird"),
                                                             .product(name: "NIOEmbedded", package: "swift-nio"),
                                                             .product(name: "NIOHTTPTypes", package: "swift-nio-extras")],
                    exclude: ["Alerts/smtp_sink.py"]),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["ControlPlane", "CurlClient", "BalctlProtocol", "TestSupport", "ServiceLaunchers",
                           .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "Crypto", package: "swift-crypto")],
            exclude: ["Installer", "Browser/dashboard_driver.py", "Browser/scenarios.py"]),
    ],
    swiftLanguageModes: [.v6]
)
