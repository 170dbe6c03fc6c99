#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol
import MariaDBPlugin

/// What the commands read about this node before acting: the live wsrep state when the server
/// answers, the option files, and grastate.dat from the datadir.
struct NodeFacts: Sendable {
    var readout: WsrepReadout?
    var serverError: String?
    var options: ServerOptions?
    var datadir: String
    var grastate: GraState?
    /// Why grastate.dat could not be read (absent, a link, too large…); nil when it was.
    var grastateProblem: String?
    /// grastate.dat does not exist (ENOENT): a node that never ran as a Galera node. Any other
    /// failure (a link, not a regular file, too large, unreadable) is not "missing".
    var grastateMissing = false

    var grastatePath: String { datadir.hasSuffix("/") ? datadir + "grastate.dat" : datadir + "/grastate.dat" }

    static func read(_ settings: GaleraSettings, runner: ProcessRunner, readServer: Bool = true) async -> NodeFacts {
        var f = NodeFacts(datadir: "/var/lib/mysql")
        if readServer {
            do { f.readout = WsrepReadout(rows: try await MariaDBClient(settings: settings.mariadb, runner: runner).query(WsrepReadout.query)) } catch {
                f.serverError = clipped("\(error)", 300)
            }
        }
        f.options = await GaleraProbe.options(settings, runner: runner)
        f.datadir = settings.datadir ?? f.readout?.datadir.flatMap { $0.hasPrefix("/") ? $0 : nil } ?? f.options?.datadir ?? "/var/lib/mysql"
        do {
            // Outside input: no link followed, a regular file only, 64 KB at most.
            let bytes = try Files.readBytes(f.grastatePath, limit: GraState.maxBytes, noFollow: true)
            f.grastate = GraState.parse(bytes).state
        } catch {
            f.grastateProblem = "\(error)"
            f.grastateMissing = error.code == ENOENT
        }
        return f
    }

    /// The cluster address the node runs with (live) or would start with (option files).
    var clusterAddress: String? { readout?.clusterAddress ?? options?.clusterAddress }
}

/// `galera.status`: the wsrep readout read now plus grastate.dat. A node that is down but
/// configured for Galera is reported (up: false, with its saved position), not failed: that is
/// when a DBA needs grastate.dat most.
public struct GaleraStatusHandler: CommandHandler {
    public typealias Parameters = NoParameters
    let settings: GaleraSettings
    let probe: GaleraProbe

    public static let id = "galera.status"
    public static let summary = "Galera node now: cluster size and status, local state, flow control, cluster UUID, and grastate.dat (uuid, seqno, safe_to_bootstrap)"
    public static let supportsCheckMode = true

    init(settings: GaleraSettings, probe: GaleraProbe) { self.settings = settings; self.probe = probe }

    public func run(_ p: NoParameters, in context: JobContext) async throws -> JobOutcome {
        let state = await probe.refresh(runner: context.processes)
        if let why = probe.hiddenReason() { throw JobFailure(why) }
        var entry = probe.entry(state)
        let facts = await NodeFacts.read(settings, runner: context.processes, readServer: false)
        entry["datadir"] = .string(clipped(settings.datadir ?? state.readout?.datadir ?? facts.datadir, 200))
        if let g = facts.grastate { entry["grastate"] = g.json } else if let why = facts.grastateProblem {
            entry["grastateError"] = .string(clipped(why, 200))
        }
        let g = facts.grastate
        let saved = g.map { " · grastate seqno \($0.seqno.map(String.init) ?? "?"), safe_to_bootstrap \($0.safeToBootstrap.map { $0 ? "1" : "0" } ?? "?")" } ?? ""
        let summary: String
        if let r = state.readout, state.up {
            summary = "Galera \(r.clusterStatus ?? "?") size \(r.clusterSize.map(String.init) ?? "?"), \(r.localState ?? "?")\(saved)"
        } else {
            summary = "MariaDB is down (wsrep configured)\(saved)"
        }
        return .unchanged(summary, result: .object(entry))
    }
}
