#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// Where OpenLiteSpeed lives on this host. Everything derives from the server root
/// (`BALCTL_OLS_ROOT`, default `/usr/local/lsws`), as OLS's own `$SERVER_ROOT` does.
public struct OLSSettings: Sendable {
    public var serverRoot: String
    /// Where the plugin keeps copies of what it removed (`<BALCTL_STATE_DIR>/openlitespeed`).
    public var stateDir: String
    /// Seconds a control command (`lswsctrl …`, `lshttpd -t`) may take.
    public var commandTimeoutSec: Double = 120
    /// Where a virtual host that is new on this member may have its root when restored from a
    /// snapshot (besides directly under the server root): `BALCTL_OLS_WEB_ROOTS`, colon-separated.
    public var webRoots: [String] = ["/var/www", "/srv"]

    public init(serverRoot: String = "/usr/local/lsws", stateDir: String = "/var/lib/balctl") {
        var root = serverRoot
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        self.serverRoot = root
        self.stateDir = stateDir + "/openlitespeed"
    }

    public static func fromEnvironment() -> OLSSettings {
        func env(_ name: String) -> String? {
            guard let v = getenv(name) else { return nil }
            let s = String(cString: v)
            return s.isEmpty ? nil : s
        }
        var settings = OLSSettings(serverRoot: env("BALCTL_OLS_ROOT") ?? "/usr/local/lsws",
                                   stateDir: env("BALCTL_STATE_DIR") ?? "/var/lib/balctl")
        if let roots = env("BALCTL_OLS_WEB_ROOTS") {
            settings.webRoots = roots.split(separator: ":").map(String.init).filter { $0.hasPrefix("/") && $0 != "/" }
        }
        return settings
    }

    public var configPath: String { serverRoot + "/conf/httpd_config.conf" }
    public var confDir: String { serverRoot + "/conf" }
    public var lswsctrl: String { serverRoot + "/bin/lswsctrl" }
    public var lshttpd: String { serverRoot + "/bin/lshttpd" }
    public var versionFile: String { serverRoot + "/VERSION" }
    /// OLS writes its PID here (`/tmp/lshttpd/lshttpd.pid` by default); the fixture's root may
    /// hold its own.
    public var pidFiles: [String] { [serverRoot + "/logs/lshttpd.pid", "/tmp/lshttpd/lshttpd.pid"] }
    public var installed: Bool { Files.isExecutable(lshttpd) || Files.isExecutable(lswsctrl) }
}
