#if canImport(Glibc)
import Glibc
#endif
import AgentKernel
import Foundation
import ServiceLaunchers
import Testing

/// A real Galera cluster of `size` mariadbd nodes on loopback, for the Galera suites (started
/// once per suite by the `.galeraCluster` trait). Per node: a datadir made by
/// `mariadb-install-db --user=mysql` (node 1 only; the others get theirs by rsync SST), a my.cnf
/// with `user=mysql` (as root, rsync SST fails: the joiner's rsync daemon drops to nobody),
/// `wsrep_on=ON`, the galera-4 provider, one shared `gcomm://` address and per node its own
/// `gmcast.listen_addr`, IST and SST ports (`Loopback.freePort`), `wsrep_sst_method=rsync`. Node 1
/// starts with `--wsrep-new-cluster`, the others join. Everything lives in one mkdtemp directory
/// (0711 so mysql reaches its node directories), removed when the suite ends; the host's
/// server and /etc/mysql are never read (`--defaults-file` first on every command line).
public final class GaleraCluster: Sendable {
    public struct Node: Sendable {
        public let index: Int
        public let dir: String
        public let datadir: String
        public let socket: String
        public let config: String
        public let sqlPort: UInt16
        public let groupPort: UInt16
        public var pidFile: String { dir + "/mariadbd.pid" }
        public var errorLog: String { dir + "/error.log" }
        /// The argv that starts this node (the first word mariadbd), with `extra` appended.
        public func serverArguments(_ extra: [String] = []) -> [String] { ["--defaults-file=\(config)"] + extra }
    }

    public let dir: String
    public let nodes: [Node]
    public let clusterAddress: String
    /// The node processes this helper started (index → Process); a node started some other way
    /// (the plugin's bootstrap) is found by its pid file.
    private let processes = Locked<[Int: Process]>([:])

    public static let provider = "/usr/lib/galera/libgalera_smm.so"
    static let tools = ["/usr/bin/mariadb-install-db", "/usr/sbin/mariadbd", "/usr/bin/mariadb", "/usr/bin/rsync", provider]

    init(size: Int) throws {
        for tool in Self.tools where !FileManager.default.fileExists(atPath: tool) {
            throw MariaDBServer.Failure("\(tool) is missing: apt-get install mariadb-server mariadb-client galera-4 rsync (see README)")
        }
        guard getuid() == 0 else { throw MariaDBServer.Failure("the Galera cluster runs its nodes as the mysql user: run the suite as root") }
        dir = try MariaDBServer.makeTempDirectory("balctl-galera")
        chmod(dir, 0o711)
        var used = Set<UInt16>()
        func port() throws -> UInt16 {
            for _ in 0..<50 { let p = try Loopback.freePort(); if used.insert(p).inserted { return p } }
            throw MariaDBServer.Failure("no free loopback port")
        }
        var made: [Node] = []
        var group: [UInt16] = []
        var extra: [(ist: UInt16, sst: UInt16)] = []
        for i in 0..<size {
            let d = "\(dir)/node\(i + 1)"
            made.append(Node(index: i, dir: d, datadir: d + "/data", socket: d + "/sock", config: d + "/my.cnf",
                             sqlPort: try port(), groupPort: try port()))
            group.append(made[i].groupPort)
            extra.append((try port(), try port()))
        }
        nodes = made
        clusterAddress = "gcomm://" + group.map { "127.0.0.1:\($0)" }.joined(separator: ",")
        let mysql = getpwnam("mysql")
        guard let mysql else { throw MariaDBServer.Failure("no mysql user (mariadb-server makes it)") }
        for n in nodes {
            try FileManager.default.createDirectory(atPath: n.datadir, withIntermediateDirectories: true)
            chown(n.dir, mysql.pointee.pw_uid, mysql.pointee.pw_gid)
            chown(n.datadir, mysql.pointee.pw_uid, mysql.pointee.pw_gid)
            let cnf = """
                [mysqld]
                user=mysql
                datadir=\(n.datadir)
                socket=\(n.socket)
                port=\(n.sqlPort)
                bind-address=127.0.0.1
                pid-file=\(n.pidFile)
                log-error=\(n.errorLog)
                skip-log-bin
                innodb-buffer-pool-size=32M
                innodb-log-file-size=48M
                binlog_format=ROW
                default_storage_engine=InnoDB
                innodb_autoinc_lock_mode=2
                wsrep_on=ON
                wsrep_provider=\(Self.provider)
                wsrep_cluster_name=balctl-test
                wsrep_cluster_address=\(clusterAddress)
                wsrep_node_name=node\(n.index + 1)
                wsrep_node_address=127.0.0.1
                wsrep_provider_options="gmcast.listen_addr=tcp://127.0.0.1:\(n.groupPort);ist.recv_addr=127.0.0.1:\(extra[n.index].ist);gcache.size=32M;evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S;evs.install_timeout=PT5S"
                wsrep_sst_receive_address=127.0.0.1:\(extra[n.index].sst)
                wsrep_sst_method=rsync

                """
            try cnf.write(toFile: n.config, atomically: false, encoding: .utf8)
        }
        let r = try BINDServer.run("/usr/bin/mariadb-install-db", ["--defaults-file=\(nodes[0].config)", "--user=mysql",
                                                                  "--auth-root-authentication-method=normal", "--skip-test-db"])
        guard r.status == 0 else { throw MariaDBServer.Failure("mariadb-install-db failed (\(r.status)): \(r.out.suffix(1500))\(r.err.suffix(1500))") }
    }

    /// Start every node (the first as a new cluster) and wait until all report size `nodes.count`, Synced.
    public static func start(size: Int = 3, timeoutSec: Double = 120) async throws -> GaleraCluster {
        let c = try GaleraCluster(size: size)
        do {
            try c.launch(0, extra: ["--wsrep-new-cluster"])
            try await c.waitFor(0, timeoutSec: 30) { $0["wsrep_local_state_comment"] == "Synced" }
            for i in 1..<size { try c.launch(i) }
            for i in 0..<size {
                try await c.waitFor(i, timeoutSec: timeoutSec) {
                    $0["wsrep_local_state_comment"] == "Synced" && $0["wsrep_cluster_size"] == String(size)
                }
            }
        } catch {
            c.stopAll()
            throw error
        }
        return c
    }

    /// Start node `i` in the background (its own process, output to its error log).
    public func launch(_ i: Int, extra: [String] = []) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/mariadbd")
        p.arguments = nodes[i].serverArguments(extra)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        processes.withLock { $0[i] = p }
    }

    /// The pid of node `i`'s mariadbd: the process this helper started, or the pid file's.
    public func pid(_ i: Int) -> pid_t? {
        if let p = processes.value[i], p.isRunning { return p.processIdentifier }
        guard let text = try? String(contentsOfFile: nodes[i].pidFile, encoding: .utf8),
              let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0, kill(pid, 0) == 0 else { return nil }
        return pid
    }

    /// SIGKILL node `i` (a crash: no clean leave, grastate.dat keeps seqno -1) and wait for it to go.
    public func crash(_ i: Int) async throws {
        guard let pid = pid(i) else { return }
        kill(pid, SIGKILL)
        try await waitGone(i, pid: pid, timeoutSec: 15)
    }

    /// SIGTERM node `i` (a clean shutdown: it leaves the cluster, grastate.dat gets its seqno).
    public func stop(_ i: Int, timeoutSec: Double = 60) async throws {
        guard let pid = pid(i) else { return }
        kill(pid, SIGTERM)
        try await waitGone(i, pid: pid, timeoutSec: timeoutSec)
    }

    private func waitGone(_ i: Int, pid: pid_t, timeoutSec: Double) async throws {
        let deadline = Date().addingTimeInterval(timeoutSec)
        while Date() < deadline {
            if let p = processes.value[i], p.processIdentifier == pid {
                if !p.isRunning { return }
            } else if kill(pid, 0) != 0 {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw MariaDBServer.Failure("node \(i + 1) (pid \(pid)) did not stop within \(Int(timeoutSec))s")
    }

    /// Kill every node still running and remove the directory.
    public func stopAll() {
        for i in nodes.indices {
            guard let pid = pid(i) else { continue }
            kill(pid, SIGKILL)
            let deadline = Date().addingTimeInterval(10)
            while kill(pid, 0) == 0 && Date() < deadline {
                if let p = processes.value[i], p.processIdentifier == pid, !p.isRunning { break }
                usleep(50_000)
            }
        }
        for p in processes.value.values where p.isRunning { p.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Run SQL as root over node `i`'s socket; tab-separated rows.
    @discardableResult
    public func sql(_ i: Int, _ statements: String) throws -> String {
        let r = try BINDServer.run("/usr/bin/mariadb", ["--no-defaults", "--socket=\(nodes[i].socket)", "-uroot", "--batch",
                                                        "--skip-column-names", "-e", statements])
        guard r.status == 0 else { throw MariaDBServer.Failure("mariadb -e on node \(i + 1) failed (\(r.status)): \(r.err)") }
        return r.out
    }

    /// `SHOW GLOBAL STATUS LIKE 'wsrep_%'` of node `i`, names lowercased; empty when it does not answer.
    public func wsrepStatus(_ i: Int) -> [String: String] {
        guard let out = try? sql(i, "SHOW GLOBAL STATUS LIKE 'wsrep_%'") else { return [:] }
        var d: [String: String] = [:]
        for line in out.split(separator: "\n") {
            let f = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
            if f.count == 2 { d[f[0].lowercased()] = String(f[1]) }
        }
        return d
    }

    /// Wait until node `i`'s wsrep status satisfies `ok`.
    public func waitFor(_ i: Int, timeoutSec: Double, _ ok: ([String: String]) -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeoutSec)
        var last: [String: String] = [:]
        while Date() < deadline {
            last = wsrepStatus(i)
            if ok(last) { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        let log = (try? String(contentsOfFile: nodes[i].errorLog, encoding: .utf8)) ?? ""
        throw MariaDBServer.Failure("node \(i + 1) did not get there within \(Int(timeoutSec))s (status \(last["wsrep_cluster_status"] ?? "-"), \(last["wsrep_local_state_comment"] ?? "-"), size \(last["wsrep_cluster_size"] ?? "-")):\n\(log.suffix(3000))")
    }

    /// grastate.dat of node `i` as text ("" when absent).
    public func grastate(_ i: Int) -> String {
        (try? String(contentsOfFile: nodes[i].datadir + "/grastate.dat", encoding: .utf8)) ?? ""
    }
}

/// The suite's cluster: set by the `.galeraCluster` trait for every test of the suite.
public enum GaleraSuite {
    @TaskLocal public static var current: GaleraCluster?
}

/// Suite trait: one 3-node Galera cluster for the whole suite, killed and removed when it ends.
public struct GaleraClusterTrait: SuiteTrait, TestScoping {
    public init() {}
    public func provideScope(for test: Test, testCase: Test.Case?,
                             performing function: @Sendable () async throws -> Void) async throws {
        let cluster = try await GaleraCluster.start()
        defer { cluster.stopAll() }
        try await GaleraSuite.$current.withValue(cluster) { try await function() }
    }
}

extension Trait where Self == GaleraClusterTrait {
    public static var galeraCluster: Self { Self() }
}

extension GaleraCluster {
    public static func shared() throws -> GaleraCluster {
        guard let c = GaleraSuite.current else { throw MariaDBServer.Failure("no cluster: the suite needs the .galeraCluster trait") }
        return c
    }
}
