import AgentKernel
import BalctlProtocol
import MariaDBPlugin

/// The heartbeat's `galera` entry. `report()` runs no program: it returns what the last
/// `refresh()` read. `refresh()` (the plugin's periodic work and `galera.status`) runs one
/// `mariadb` client invocation; only when the server does not answer, `my_print_defaults` too,
/// to tell a Galera node that is down from a server that is not a Galera node.
///
/// Shape (< 1 KB): {up, clusterSize, clusterStatus, localState, ready, connected,
/// flowControlPaused, clusterStateUUID, confID, lastCommitted, nodeName, clusterName,
/// incomingAddresses, checkedAgeSec, error}. Hidden (nil, with `hiddenReason()`) when MariaDB is
/// not installed, before the first read, when wsrep is off, or when the server does not answer
/// and its option files do not turn wsrep on.
public final class GaleraProbe: Sendable {
    let settings: GaleraSettings

    struct State: Sendable {
        var readout: WsrepReadout?
        var up = false
        var checkedAt: Double?
        var error: String?
        /// wsrep_on as the option files say (read only while the server is down).
        var configuredOn: Bool?
        /// wsrep was on the last time the server answered: a node that goes down stays visible.
        var lastOn = false
        /// The cluster it was in then: a node that is down stays in its cluster's group in the
        /// control plane's pool view.
        var lastUUID: String?
        var lastNodeName: String?
    }
    private let state = Locked(State())

    /// Whether a MariaDB server binary is installed, looked at again only when its directory
    /// changes (a package install), not with a stat and an access on every beat.
    private let installedWatch = PathWatched<Bool>()
    var installed: Bool {
        let mariadb = settings.mariadb
        return installedWatch.value(watching: { mariadb.presencePaths }) { mariadb.installed }
    }

    public init(settings: GaleraSettings) { self.settings = settings }

    /// Read the node's wsrep state now and remember it.
    @discardableResult
    func refresh(runner: ProcessRunner = ProcessRunner()) async -> State {
        guard settings.mariadb.installed else { return state.value }
        let client = MariaDBClient(settings: settings.mariadb, runner: runner)
        do {
            let readout = WsrepReadout(rows: try await client.query(WsrepReadout.query))
            return state.withLock { s in
                s = State(readout: readout, up: true, checkedAt: unixNow(), error: nil, configuredOn: nil, lastOn: readout.wsrepOn,
                          lastUUID: readout.clusterStateUUID ?? s.lastUUID, lastNodeName: readout.nodeName ?? s.lastNodeName)
                return s
            }
        } catch {
            let options = await Self.options(settings, runner: runner)
            let message = clipped("\(error)", 200)
            return state.withLock { s in
                s.readout = nil; s.up = false; s.checkedAt = unixNow(); s.error = message
                s.configuredOn = options?.wsrepOn
                return s
            }
        }
    }

    /// The option files as the server would read them; nil when my_print_defaults fails.
    static func options(_ settings: GaleraSettings, runner: ProcessRunner) async -> ServerOptions? {
        guard Files.isExecutable(settings.printDefaults),
              let r = try? await runner.run(settings.printDefaults, settings.printDefaultsArguments, timeoutSec: 10),
              r.succeeded else { return nil }
        return ServerOptions(output: r.output)
    }

    func visible(_ s: State) -> Bool {
        guard installed, s.checkedAt != nil else { return false }
        if s.up { return s.readout?.wsrepOn == true }
        return s.configuredOn == true || s.lastOn
    }

    public func report() -> JSONValue? {
        let s = state.value
        return visible(s) ? .object(entry(s)) : nil
    }

    /// Why the stack is hidden now (nil while it is shown).
    public func hiddenReason() -> String? {
        let s = state.value
        if visible(s) { return nil }
        if !installed {
            return "MariaDB is not installed: no server binary at \(([settings.mariadb.server] + settings.mariadb.serverAlternatives).joined(separator: " or "))"
        }
        if s.checkedAt == nil { return "wsrep state not read yet" }
        if s.up { return "wsrep is off (not a Galera node)" }
        return "MariaDB does not answer on \(clipped(settings.mariadb.socket, 100)) and its option files do not turn wsrep on"
    }

    func entry(_ s: State) -> [String: JSONValue] {
        var o: [String: JSONValue] = ["up": .bool(s.up)]
        if let r = s.readout { o.merge(r.json) { a, _ in a } }
        if !s.up {
            o["clusterStatus"] = .string("Disconnected")
            if let u = s.lastUUID { o["clusterStateUUID"] = .string(u) }
            if let n = s.lastNodeName { o["nodeName"] = .string(n) }
        }
        if let at = s.checkedAt { o["checkedAgeSec"] = .number(max(0, unixNow() - at).rounded()) }
        if let e = s.error { o["error"] = .string(e) }
        return o
    }
}
