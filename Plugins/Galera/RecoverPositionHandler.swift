#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol
import MariaDBPlugin

/// `galera.recover_position`: this node's last committed position (cluster UUID and seqno), to
/// find the most advanced node before a bootstrap. A node that crashed has `seqno: -1` in
/// grastate.dat; its real position is in InnoDB, which `mariadbd --wsrep-recover` reads (it
/// starts, logs "WSREP: Recovered position: <uuid>:<seqno>" and exits; `--skip-log-error` sends
/// that log to its stderr, which the job captures). While the server runs, the answer is its own
/// `wsrep_last_committed` — running the recovery beside it would fight over the datadir.
public struct GaleraRecoverPositionHandler: CommandHandler {
    public typealias Parameters = NoParameters
    let settings: GaleraSettings

    public static let id = "galera.recover_position"
    public static let summary = "This node's last committed Galera position (UUID:seqno): wsrep_last_committed while it runs, else mariadbd --wsrep-recover"
    public static let requiresRoot = true
    public static let lock: String? = "mariadb"
    public static let supportsCheckMode = true
    /// The bootstrap command (300 s) plus the wait for Primary, or InnoDB crash recovery: 15 minutes.
    public static let defaultTimeoutSec: Int? = 900

    init(settings: GaleraSettings) { self.settings = settings }

    public func run(_ p: NoParameters, in context: JobContext) async throws -> JobOutcome {
        guard let server = settings.mariadb.installedServer else {
            throw JobFailure("MariaDB is not installed: no server binary at \(([settings.mariadb.server] + settings.mariadb.serverAlternatives).joined(separator: " or "))")
        }
        let facts = await NodeFacts.read(settings, runner: context.processes)
        var result: [String: JSONValue] = [:]
        if let g = facts.grastate { result["grastate"] = g.json }
        if let r = facts.readout {
            guard r.wsrepOn else { throw JobFailure("wsrep is off on the running server (not a Galera node)") }
            result["source"] = .string("running server")
            if let u = r.clusterStateUUID { result["uuid"] = .string(u) }
            if let s = r.lastCommitted { result["seqno"] = .number(Double(s)) }
            return .unchanged("the server runs: position \(r.clusterStateUUID ?? "?"):\(r.lastCommitted.map(String.init) ?? "?") (wsrep_last_committed)", result: .object(result))
        }
        // Run as the datadir's owner, never as root: Debian's option files leave `user=` out, and
        // mariadbd then refuses root (the command never worked there); with `user=root` in them
        // recovery would create root-owned InnoDB files in the mysql-owned datadir and the next
        // normal start fails. `--user` on the command line wins over the option files.
        var runAs: [String] = []
        if geteuid() == 0 {
            guard let dirInfo = Files.info(facts.datadir), dirInfo.isDirectory else {
                throw JobFailure("the datadir \(clipped(facts.datadir, 200)) is not a directory; cannot recover its position", result: .object(result))
            }
            guard dirInfo.uid != 0 else {
                throw JobFailure("the datadir \(clipped(facts.datadir, 200)) is owned by root; refusing to run mariadbd --wsrep-recover as root (chown it to the server's user)", result: .object(result))
            }
            runAs = ["--user=\(dirInfo.uid)"]
        }
        let argv = [server] + (settings.mariadb.configFile.map { ["--defaults-file=" + $0] } ?? []) + ["--wsrep-recover", "--skip-log-error"] + runAs
        if context.checkMode {
            return .unchanged("would run \(argv.joined(separator: " ")) and read the recovered position", result: .object(result))
        }
        let r = try await context.run(argv[0], Array(argv.dropFirst()), timeoutSec: 600)
        guard r.succeeded, let (uuid, seqno) = Self.recoveredPosition(r.output) else {
            throw JobFailure("\(argv.joined(separator: " ")) found no position (\(MariaDBClient.describe(r))): \(r.output.trimmingWhitespace.lastLines(5))",
                             exitCode: Int(r.exitCode), result: .object(result))
        }
        result["source"] = .string("wsrep-recover")
        result["uuid"] = .string(uuid)
        result["seqno"] = .number(Double(seqno))
        return .unchanged("recovered position \(uuid):\(seqno)", result: .object(result))
    }

    /// The last "WSREP: Recovered position: <uuid>:<seqno>" line of the server's log (outside
    /// input, bounded by the job's output tail): a UUID and a seqno ≥ -1, or nil.
    static func recoveredPosition(_ log: String) -> (String, Int64)? {
        let marker = "WSREP: Recovered position: "
        var found: (String, Int64)? = nil
        for line in log.split(separator: "\n").suffix(2000) {
            guard let r = line.firstRange(of: marker) else { continue }
            let token = line[r.upperBound...].prefix { $0 != " " && $0 != "," && $0 != "\t" && $0 != "\r" }
            guard let colon = token.lastIndex(of: ":"),
                  let uuid = GraState.uuid(ArraySlice(token[..<colon].utf8)),
                  let seqno = Int64(token[token.index(after: colon)...]), seqno >= -1 else { continue }
            found = (uuid, seqno)
        }
        return found
    }
}
