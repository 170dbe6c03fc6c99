#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol
import MariaDBPlugin

/// `galera.bootstrap`: start this (stopped) node as a new cluster — what a DBA does after the
/// whole cluster went down, from the most advanced node. The rule, checked in this order, every
/// refusal before anything runs:
///
/// 1. `confirm: true` is required (check mode reports without it).
/// 2. The local server must not run: answering in a Primary component means there is nothing to
///    bootstrap; answering non-Primary means promote it (`pc.bootstrap=YES`) or stop it first;
///    answering `mariadb-admin ping` although its state could not be read refuses too.
/// 3. The option files must turn wsrep on.
/// 4. No peer of `wsrep_cluster_address` (nor this node's own `gmcast.listen_addr`) may be
///    listening on its group-communication port: a
///    running node may hold a Primary component, and a second cluster beside it splits the data.
///    A peer entry that cannot be read refuses too (it cannot be checked).
/// 5. grastate.dat must say `safe_to_bootstrap: 1` — or not exist (a node that never ran; a
///    link, a non-regular or unreadable file refuses) — unless `force: true`, which sets it to 1
///    first (the DBA's manual edit, done safely).
///
/// Then `galera_new_cluster` (or `BALCTL_GALERA_BOOTSTRAP`) runs and the handler waits until the
/// node answers as Primary.
public struct GaleraBootstrapHandler: CommandHandler {
    public struct Parameters: CommandParameters {
        public var confirm: Bool?
        public var force: Bool?
    }
    let settings: GaleraSettings
    let probe: GaleraProbe

    public static let id = "galera.bootstrap"
    public static let summary = "Start this stopped node as a new Galera cluster (confirm: true); refused while any peer runs or grastate.dat says safe_to_bootstrap: 0 (force: true overrides the latter)"
    public static let parameterHelp = "confirm: true (required); force: true to bootstrap although grastate.dat says safe_to_bootstrap: 0"
    public static let requiresRoot = true
    public static let lock: String? = "mariadb"
    public static let supportsCheckMode = true
    /// The bootstrap command (300 s) plus the wait for Primary, or InnoDB crash recovery: 15 minutes.
    public static let defaultTimeoutSec: Int? = 900
    public static let exampleParameters: JSONValue = .object(["confirm": .bool(true)])

    init(settings: GaleraSettings, probe: GaleraProbe) { self.settings = settings; self.probe = probe }

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        guard settings.mariadb.installed else { throw JobFailure(probe.hiddenReason() ?? "MariaDB is not installed here") }
        if p.confirm != true && !context.checkMode {
            throw JobFailure("galera.bootstrap starts a NEW cluster from this node; say confirm: true")
        }
        let facts = await NodeFacts.read(settings, runner: context.processes)
        // 2. The local server.
        if let r = facts.readout {
            guard r.wsrepOn else { throw JobFailure("wsrep is off on the running server (not a Galera node); nothing to bootstrap") }
            if r.clusterStatus == "Primary" {
                throw JobFailure("this node is already in a Primary component (size \(r.clusterSize.map(String.init) ?? "?"), \(r.localState ?? "?")); refusing to bootstrap a second cluster",
                                 result: .object(r.json))
            }
            throw JobFailure("mariadbd runs here in a \(r.clusterStatus ?? "non-Primary") component; galera.bootstrap starts a stopped node — stop it first, or promote it if it is the most advanced (SET GLOBAL wsrep_provider_options='pc.bootstrap=YES')",
                             result: .object(r.json))
        }
        // The server may run although its wsrep state could not be read (a wrong password, a
        // full connection table): mariadb-admin ping says so even when access is denied, and
        // galera_new_cluster would restart a running node as a second cluster.
        if await MariaDBClient(settings: settings.mariadb, runner: context.processes).ping() {
            throw JobFailure("mariadbd answers on \(settings.mariadb.socket) but its wsrep state could not be read (\(facts.serverError ?? "no answer")); galera.bootstrap starts a stopped node — refusing")
        }
        // 3. Configured for Galera.
        guard facts.options?.wsrepOn == true else {
            throw JobFailure("wsrep is not turned on in the server's option files (my_print_defaults); not a Galera node")
        }
        // 4. Peers.
        var (peers, unreadable) = GroupAddress.peers(ofClusterAddress: facts.clusterAddress ?? "")
        // This node's own group port too: something listening there means a server runs here.
        if let own = facts.options?.listenAddress, !peers.contains(own) {
            peers.append(own.host == "0.0.0.0" || own.host == "::" ? GroupAddress(host: "127.0.0.1", port: own.port) : own)
        }
        if !unreadable.isEmpty {
            throw JobFailure("cannot check the peers \(unreadable.joined(separator: ", ")) of wsrep_cluster_address; refusing to bootstrap")
        }
        let timeout = settings.peerConnectTimeoutSec
        // All at once (each on its own thread): at most 17 addresses, so the check takes one
        // connect timeout (plus name resolution), not one per peer in turn.
        let live = await withTaskGroup(of: String?.self) { group in
            for peer in peers {
                group.addTask { await runBlocking({ PeerProbe.listening(peer, timeoutSec: timeout) }) ? peer.description : nil }
            }
            var found: [String] = []
            for await answer in group { if let answer { found.append(answer) } }
            return found.sorted()
        }
        if !live.isEmpty {
            throw JobFailure("a Galera node listens at \(live.joined(separator: ", ")) (its group port answers): it may hold a Primary component; bootstrapping here would split the cluster — start this node normally to rejoin it, or stop that node first",
                             result: .object(["listeningPeers": .array(live.map { .string($0) })]))
        }
        // 5. grastate.dat.
        var notes: [String] = []
        var setSafe = false
        if let g = facts.grastate {
            if g.safeToBootstrap != true {
                let seqno = g.seqno.map(String.init) ?? "unknown"
                let said = g.safeToBootstrap == nil ? "does not say safe_to_bootstrap" : "says safe_to_bootstrap: 0"
                guard p.force == true else {
                    throw JobFailure("\(facts.grastatePath) \(said) (seqno \(seqno)): this node may not be the last one that left the cluster. Bootstrap the most advanced node — the highest seqno among the nodes' grastate.dat (galera.status; where seqno is -1, galera.recover_position) — or say force: true to bootstrap this one anyway",
                                     result: .object(["grastate": g.json]))
                }
                setSafe = true
                notes.append("force: safe_to_bootstrap set to 1 (seqno \(seqno))")
            }
        } else if facts.grastateMissing {
            notes.append("no grastate.dat in \(facts.datadir): a node that never ran as a Galera node")
        } else {
            throw JobFailure("cannot read \(facts.grastatePath) (\(clipped(facts.grastateProblem ?? "?", 160))); refusing to bootstrap")
        }
        let argv = settings.bootstrapCommand
        if context.checkMode {
            let what = (setSafe ? ["set safe_to_bootstrap: 1 in \(facts.grastatePath)"] : []) + ["run \(argv.joined(separator: " "))", "wait up to \(Int(settings.primaryTimeoutSec))s for this node to be Primary"]
            return JobOutcome(changed: true, summary: "would " + what.joined(separator: ", then ") + (p.confirm == true ? "" : " (confirm: true is required to do it)"),
                              result: .object(["peersChecked": .array(peers.map { .string($0.description) }), "notes": .array(notes.map { .string($0) })]))
        }
        if setSafe { try Self.markSafe(facts.grastatePath) }
        notes.forEach { context.log("note: \($0)") }
        context.log("no peer of \(facts.clusterAddress ?? "gcomm://") listens; running \(argv.joined(separator: " "))")
        let r = try await context.run(argv[0], Array(argv.dropFirst()), timeoutSec: 300)
        guard r.succeeded else {
            throw JobFailure("\(argv.joined(separator: " ")) failed (\(MariaDBClient.describe(r))): \(r.output.trimmingWhitespace.lastLines(5))", exitCode: Int(r.exitCode))
        }
        let client = MariaDBClient(settings: settings.mariadb, runner: context.processes)
        let started = monotonicNow()
        var last = "no answer"
        while monotonicNow() - started < settings.primaryTimeoutSec {
            if let rows = try? await client.query(WsrepReadout.query) {
                let w = WsrepReadout(rows: rows)
                last = "\(w.clusterStatus ?? "?") \(w.localState ?? "?")"
                if w.clusterStatus == "Primary" && w.localState == "Synced" {
                    _ = await probe.refresh(runner: context.processes)
                    let after = ((monotonicNow() - started) * 10).rounded() / 10
                    return JobOutcome(changed: true, summary: "bootstrapped a new cluster from this node: Primary, size \(w.clusterSize.map(String.init) ?? "?") (after \(after)s)",
                                      result: .object(w.json.merging(["readyAfterSec": .number(after), "notes": .array(notes.map { .string($0) })]) { a, _ in a }))
                }
            }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw JobFailure("\(argv.joined(separator: " ")) ran but the node is not Primary after \(Int(settings.primaryTimeoutSec))s (last: \(last))")
    }

    /// Rewrite grastate.dat with `safe_to_bootstrap: 1`, every other line kept byte for byte;
    /// through SafeFile (a link at the path is refused).
    ///
    /// The datadir is the mysql user's: it can swap grastate.dat for a link or another file at
    /// any moment. So the bytes, the owner and the mode all come from ONE descriptor opened with
    /// O_NOFOLLOW (a second look by path — `stat` follows links — let the mysql user borrow a
    /// root-owned set-uid file's owner and mode for its own bytes); set-id and sticky bits are
    /// dropped (root never writes set-id files for another user); a file with another hard link
    /// is refused (it is also some other file).
    static func markSafe(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else { throw JobFailure("cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw JobFailure("cannot read \(path): not a regular file") }
        guard st.st_nlink == 1 else { throw JobFailure("\(path) has \(st.st_nlink) hard links; refusing to rewrite it") }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw JobFailure("cannot read \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
            guard bytes.count <= GraState.maxBytes else { throw JobFailure("cannot read \(path): larger than \(GraState.maxBytes) bytes") }
        }
        var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
        var found = false
        for i in lines.indices where String(decoding: lines[i], as: UTF8.self).trimmingWhitespace.hasPrefix("safe_to_bootstrap:") {
            lines[i] = Array("safe_to_bootstrap: 1".utf8); found = true
        }
        if !found {
            if lines.last == [] { lines.removeLast() }
            lines.append(Array("safe_to_bootstrap: 1".utf8)); lines.append([])
        }
        let out = Array(lines.joined(separator: [0x0A]))
        let owner = geteuid() == 0 ? SafeFile.Owner(uid: st.st_uid, gid: st.st_gid) : nil
        do { try SafeFile.write(path, out, mode: st.st_mode & 0o777, owner: owner) } catch { throw JobFailure("cannot write \(path): \(error)") }
    }
}
