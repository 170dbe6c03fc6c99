#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol
import Synchronization

/// What every heartbeat says about HAProxy (under `stacks["haproxy"]`); nil when haproxy is not
/// installed. It runs inside the 1 s heartbeat loop, so it stays cheap: `haproxy -v` only when
/// the binary changes, the config parsed only when it changes, known pids re-checked instead of
/// scanning /proc, `systemctl is-active` at most every 5 s (sooner when the pids change), and one
/// `show stat` over the admin socket with a 1 s bound. Everything that can block (the socket, the
/// /proc scan, reading the config) runs on its own thread, never on the cooperative pool the
/// heartbeat shares (issue 20 item 20).
///
/// "active" without systemd counts only trusted processes (ProcessTrust: the configured binary,
/// run by root, or by the haproxy user as a worker of such a root master; ProcessTable.serving):
/// a process any user names haproxy does not make it active.
///
/// Shape (see README.md): installed, version, configPath, configFound, active, activeSource
/// ("systemd" | "process"), unitState (systemd only), processes, adminSocket, adminSocketLevel,
/// adminSocketAnswers, adminSocketError, stats {columns, rows}, statsRowsTotal (when cut),
/// certificates [{path, notAfter | error}] (the config's `crt` files, read every 5 min).
public final class HAProxyProbe: Sendable {
    public let settings: HAProxySettings
    /// Rows beyond this are left out (statsRowsTotal says how many there were): a fleet-wide
    /// 1 s heartbeat must not grow without bound with the size of a config.
    public static let maxStatRows = 250
    /// And the rows sent stay under this many bytes, whatever the names' lengths.
    public static let maxStatBytes = 64 * 1024
    static let unitRecheckSec = 5.0
    /// With no haproxy serving our config, how often /proc is scanned for one: the scan reads
    /// every process's stat and cmdline and was most of the agent's heartbeat CPU on such hosts.
    /// A stop is still seen on the next heartbeat (known pids are re-checked every time).
    static let rescanSec = 5.0
    static let socketTimeoutSec = 1.0
    /// Bounds on the programs the probe runs (`haproxy -v`, `systemctl is-active`): a wedged
    /// systemd or binary delays one heartbeat by at most this.
    static let programTimeoutSec = 2.0

    private struct Cache {
        var binaryKey: Files.Info?
        var binaryPath: String?
        var version: String?
        var trust: ProcessTrust?
        var pids: [Int32] = []
        var scannedAt = -1e9
        var unitState: String?
        var unitCheckedAt = -1e9
        var unitPids: [Int32] = []
    }
    private let cache = Mutex(Cache())
    /// Where haproxy is, its stat, and whether systemd runs the host, looked up again only when a
    /// directory along the search path (or /run/systemd) changes — a package install or upgrade —
    /// rather than with a walk along PATH on every beat.
    private struct FoundBinary: Sendable { var path: String?; var key: Files.Info?; var systemd: Bool }
    private let binaryWatch = PathWatched<FoundBinary>()
    /// What the probe reads from the config (its admin socket), parsed again only when the file
    /// changes (`FileCache`): tokenising it on every beat was 13 % of the agent's CPU (issue 18).
    private let configCache = FileCache<ProbedConfig>()
    struct ProbedConfig: Sendable {
        var adminSocket: HAProxyConfigFile.StatsSocket?
        var certificates: [String] = []
    }
    /// Expiry of the certificates the config serves (tls_expiry thresholds on the control plane).
    private let certificates = CertificateExpiry()
    private let runner = ProcessRunner(maxOutputBytes: 4096)

    public init(settings: HAProxySettings) { self.settings = settings }

    public func report() async -> JSONValue? {
        let settings = self.settings
        let found = binaryWatch.value(watching: { settings.binaryCandidates() + [settings.systemdRunDir] }) {
            let binary = settings.resolvedBinary()
            return FoundBinary(path: binary, key: binary.flatMap(Files.info), systemd: settings.systemdRunning)
        }
        guard let binary = found.path else { return nil }
        var out: [String: JSONValue] = ["installed": .bool(true)]
        let (version, trust) = await binaryFacts(binary, key: found.key)
        out["version"] = version.map(JSONValue.string) ?? .null
        out["configPath"] = .string(settings.configPath)
        let (config, pids) = await configAndPIDs(trust)
        out["configFound"] = .bool(config != nil)
        if let paths = config?.certificates, !paths.isEmpty {
            let certificates = self.certificates
            if let known = certificates.cached(paths) { out["certificates"] = known } else {
                out["certificates"] = await runBlocking { certificates.report(paths) }
            }
        }

        out["processes"] = .number(Double(pids.count))
        if found.systemd {
            let state = await unitState(pids: pids)
            out["activeSource"] = .string("systemd")
            out["unitState"] = .string(state)
            out["active"] = .bool(ServiceControl.isActive(unitState: state))
        } else {
            out["activeSource"] = .string("process")
            out["active"] = .bool(!pids.isEmpty)
        }

        guard let socket = config?.adminSocket else {
            out["adminSocket"] = .null
            return .object(out)
        }
        out["adminSocket"] = .string(socket.path)
        out["adminSocketLevel"] = .string(socket.level)
        do {
            // No socket file, no conversation: the answer connect() would give, without a thread.
            if access(socket.path, F_OK) != 0 && errno == ENOENT { throw AdminSocketError.missing(socket.path) }
            let csv = try await AdminSocket(path: socket.path, timeoutSec: Self.socketTimeoutSec).execute("show stat")
            let table = try StatTable(csv: csv)
            out["adminSocketAnswers"] = .bool(true)
            let sent = table.rowsFitting(maxRows: Self.maxStatRows, maxBytes: Self.maxStatBytes)
            out["stats"] = table.json(limit: sent)
            if sent < table.rows.count { out["statsRowsTotal"] = .number(Double(table.rows.count)) }
        } catch {
            out["adminSocketAnswers"] = .bool(false)
            out["adminSocketError"] = .string(String(describing: error))
        }
        return .object(out)
    }

    /// The binary's version and which processes are trusted as haproxy, recomputed only when the
    /// binary changes (a package upgrade; provisioning creates the haproxy user).
    private func binaryFacts(_ binary: String, key: Files.Info?) async -> (String?, ProcessTrust?) {
        if let cached = cache.withLock({ $0.binaryPath == binary && $0.binaryKey == key ? ($0.version, $0.trust) : nil }) {
            return cached
        }
        let v = await HAProxyVersion.read(binary, runner, timeoutSec: Self.programTimeoutSec)
        let settings = self.settings
        let trust = await runBlocking { settings.processTrust() }
        cache.withLock { $0.binaryPath = binary; $0.binaryKey = key; $0.version = v; $0.trust = trust }
        return (v, trust)
    }

    /// The config's facts and the serving pids. Reading the config (when it changed) and
    /// checking processes can block, so they run on a thread of their own; when neither is due
    /// (the config unchanged, no haproxy known and no scan due) one `stat` here answers and the
    /// beat makes no thread hop.
    private func configAndPIDs(_ trust: ProcessTrust?) async -> (ProbedConfig?, [Int32]) {
        let pidWorkDue = trust != nil && cache.withLock { !$0.pids.isEmpty || monotonicNow() - $0.scannedAt >= Self.rescanSec }
        if !pidWorkDue {
            switch configCache.lookup(settings.configPath) {
            case .missing: return (nil, [])
            case .current(let config): return (config, [])
            case .stale: break
            }
        }
        return await runBlocking { (self.loadConfig(), self.livePIDs(trust)) }
    }

    private func loadConfig() -> ProbedConfig? {
        configCache.value(settings.configPath) {
            let file = HAProxyConfigFile(bytes: $0)
            return ProbedConfig(adminSocket: file.adminSocket(), certificates: file.certificatePaths())
        }
    }

    /// Pids of the trusted haproxy processes serving our config: the ones seen last time if they
    /// all still are, else a /proc scan (at most every `rescanSec` while none is found). Only
    /// processes that load *this* config count: another haproxy on the host (a test instance, a
    /// second service) says nothing about ours.
    private func livePIDs(_ trust: ProcessTrust?) -> [Int32] {
        guard let trust else { return [] }
        let table = ProcessTable(procRoot: settings.procRoot)
        let config = settings.configPath
        let known = cache.withLock { $0.pids }
        if !known.isEmpty {
            let alive = known.compactMap { table.haproxy($0) }
            if ProcessTable.serving(alive, config: config, trust: trust).count == known.count { return known }
        }
        let now = monotonicNow()
        if known.isEmpty && now - cache.withLock({ $0.scannedAt }) < Self.rescanSec { return [] }
        let found = table.serving(config, trust: trust).map(\.pid)
        cache.withLock { $0.pids = found; $0.scannedAt = now }
        return found
    }

    private func unitState(pids: [Int32]) async -> String {
        let now = monotonicNow()
        if let cached = cache.withLock({ c -> String? in
            guard let s = c.unitState, now - c.unitCheckedAt < Self.unitRecheckSec, c.unitPids == pids else { return nil }
            return s
        }) { return cached }
        let state = await ServiceControl(settings: settings).unitState(runner, timeoutSec: Self.programTimeoutSec)
        cache.withLock { $0.unitState = state; $0.unitCheckedAt = now; $0.unitPids = pids }
        return state
    }
}
