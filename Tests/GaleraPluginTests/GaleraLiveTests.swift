#if canImport(Glibc)
import Glibc
#endif
import AgentKernel
import BalctlProtocol
@testable import ControlPlane
import Foundation
@testable import GaleraPlugin
import MariaDBPlugin
import Testing
import TestSupport

/// Against a real 3-node Galera cluster on loopback (TestSupport's `.galeraCluster`: started once
/// for the suite, every node a real mariadbd with the galera-4 provider, rsync SST).
///
/// One test walks the cluster's life in order, because each phase changes the cluster for the
/// next: all three Synced → bootstrap refused on a Primary node → one node crashes → the two left
/// stay Primary at size 2 and the pool view warns → bootstrap of the crashed node refused while
/// its peers run → the two stop cleanly → the crashed node (safe_to_bootstrap: 0) refused without
/// force → the last node to leave bootstraps a new cluster for real.
@Suite(.serialized, .galeraCluster)
struct GaleraLiveTests {
    static func settings(_ c: GaleraCluster, _ i: Int) throws -> GaleraSettings {
        let n = c.nodes[i]
        var m = MariaDBSettings(stateDir: try MariaDBServer.makeTempDirectory("state", in: c.dir))
        m.socket = n.socket
        m.user = "root"
        m.configFile = n.config
        m.systemctl = "/nonexistent/systemctl"
        var g = GaleraSettings(mariadb: m)
        // The node's own mariadbd, detached, as a new cluster: what galera_new_cluster does
        // through systemd. --pidfile scopes start-stop-daemon to this node (the others run the
        // same binary).
        g.bootstrapCommand = ["/sbin/start-stop-daemon", "--start", "--background", "--quiet", "--pidfile", n.pidFile,
                              "--exec", "/usr/sbin/mariadbd", "--"] + n.serverArguments(["--wsrep-new-cluster"])
        g.peerConnectTimeoutSec = 1
        g.primaryTimeoutSec = 60
        return g
    }

    static func entry(_ p: GaleraPlugin) async throws -> [String: JSONValue] {
        guard case .object(let o)? = await p.probe() else { throw MariaDBServer.Failure("no galera entry: \(await p.hiddenReason() ?? "-")") }
        return o
    }

    static func num(_ v: JSONValue?) -> Int? { v?.doubleValue.map { Int($0) } }

    @Test func clusterLifecycle() async throws {
        let c = try GaleraCluster.shared()
        let plugins = try (0..<3).map { GaleraPlugin(settings: try Self.settings(c, $0)) }

        // Phase 1: all three report size 3, Synced, Primary — through the plugin's readout,
        // compared with SHOW GLOBAL STATUS read right after.
        for (i, p) in plugins.enumerated() {
            #expect(await p.probe() == nil, "nothing before the first read")
            #expect(await p.hiddenReason() == "wsrep state not read yet")
            await p.prober.refresh()
            let e = try await Self.entry(p)
            let s = c.wsrepStatus(i)
            #expect(Self.num(e["clusterSize"]) == 3)
            #expect(e["clusterSize"] == .number(Double(s["wsrep_cluster_size"] ?? "") ?? -1))
            #expect(e["localState"] == .string("Synced"))
            #expect(e["localState"] == .string(s["wsrep_local_state_comment"] ?? ""))
            #expect(e["clusterStatus"] == .string("Primary"))
            #expect(e["clusterStatus"] == .string(s["wsrep_cluster_status"] ?? ""))
            #expect(e["clusterStateUUID"] == .string(s["wsrep_cluster_state_uuid"] ?? ""))
            #expect(e["confID"] == .number(Double(s["wsrep_cluster_conf_id"] ?? "") ?? -1))
            #expect(e["ready"] == .bool(true))
            #expect(e["connected"] == .bool(true))
            #expect(e["up"] == .bool(true))
            #expect(e["nodeName"] == .string("node\(i + 1)"))
            #expect(e["flowControlPaused"]?.doubleValue.map { $0 >= 0 && $0 <= 1 } == true)
            let bytes = try JSONEncoder().encode(JSONValue.object(e))
            #expect(bytes.count < 1024, "entry is \(bytes.count) bytes")
        }
        let uuid = try #require(c.wsrepStatus(0)["wsrep_cluster_state_uuid"])
        // The pool view of a healthy cluster: one group, no warnings.
        let healthy = try await Self.poolView(plugins)
        #expect(healthy.warnings.isEmpty)
        #expect(healthy.galera.map(\.status) == ["healthy"])
        #expect(healthy.galera.first?.warnings == [])
        #expect(healthy.galera.first?.nodes.map(\.clusterSize) == [3, 3, 3])

        // galera.status reads now and adds grastate.dat (a running node: seqno -1).
        let (status, _) = try await runJob(plugins[1].handlers.compactMap { $0 as? GaleraStatusHandler }.first!)
        guard case .object(let so)? = status.result, case .object(let gs)? = so["grastate"] else {
            Issue.record("no grastate in \(String(describing: status.result))"); return
        }
        #expect(gs["uuid"] == .string(uuid))
        #expect(gs["seqno"] == .number(-1))
        #expect(!status.changed)

        // Phase 2: bootstrap is refused on a node in a Primary component, check mode or not.
        let boot0 = GaleraBootstrapHandler(settings: try Self.settings(c, 0), probe: plugins[0].prober)
        let refusedPrimary = await jobError(boot0, .object(["confirm": .bool(true)]))
        #expect(refusedPrimary?.contains("already in a Primary component (size 3") == true, "\(refusedPrimary ?? "nil")")
        #expect(await jobError(boot0, .object(["confirm": .bool(true), "force": .bool(true)]), checkMode: true)?
            .contains("already in a Primary component") == true)
        // A running node whose state cannot be read (an account the server refuses) is still
        // seen running: mariadb-admin ping answers even when access is denied.
        var wrongUser = try Self.settings(c, 0)
        wrongUser.mariadb.user = "balctl_nobody"
        let blind = await jobError(GaleraBootstrapHandler(settings: wrongUser, probe: GaleraProbe(settings: wrongUser)), .object(["confirm": .bool(true)]))
        #expect(blind?.contains("answers on \(c.nodes[0].socket) but its wsrep state could not be read") == true, "\(blind ?? "nil")")
        #expect(c.wsrepStatus(0)["wsrep_cluster_size"] == "3", "nothing changed")

        // Phase 3: node 3 crashes; the two left report size 2 and Primary.
        try await c.crash(2)
        for i in 0..<2 {
            try await c.waitFor(i, timeoutSec: 60) { $0["wsrep_cluster_size"] == "2" && $0["wsrep_cluster_status"] == "Primary" }
        }
        for p in plugins { await p.prober.refresh() }
        for i in 0..<2 {
            let e = try await Self.entry(plugins[i])
            #expect(Self.num(e["clusterSize"]) == 2)
            #expect(e["clusterStatus"] == .string("Primary"))
            #expect(e["localState"] == .string("Synced"))
        }
        // The crashed node stays visible (it was a Galera node): down, Disconnected, its last cluster.
        let dead = try await Self.entry(plugins[2])
        #expect(dead["up"] == .bool(false))
        #expect(dead["clusterStatus"] == .string("Disconnected"))
        #expect(dead["clusterStateUUID"] == .string(uuid))

        // The pool view, through a real control-plane store: three members' heartbeats ingested
        // by the route's own writer; the view warns that a node is down and the others see 2 of 3.
        let view = try await Self.poolView(plugins)
        #expect(view.warnings.isEmpty)
        #expect(view.galera.count == 1)
        let group = try #require(view.galera.first)
        #expect(group.clusterStateUUID == uuid)
        #expect(group.nodes.count == 3)
        #expect(group.status == "degraded")
        #expect(group.warnings.contains { $0.contains("galera-3: MariaDB is down") }, "\(group.warnings)")
        #expect(group.warnings.contains { $0.contains("galera-1 sees 2 of the 3 nodes") }, "\(group.warnings)")

        // Phase 4: bootstrapping the crashed node is refused while its peers run (their group
        // ports answer) — even with force — and nothing is started.
        let boot2 = GaleraBootstrapHandler(settings: try Self.settings(c, 2), probe: plugins[2].prober)
        // The refusal lists the live peers sorted (the ports are random: node 0's may sort second).
        let livePeers = ["127.0.0.1:\(c.nodes[0].groupPort)", "127.0.0.1:\(c.nodes[1].groupPort)"].sorted().joined(separator: ", ")
        for params: JSONValue in [.object(["confirm": .bool(true)]), .object(["confirm": .bool(true), "force": .bool(true)])] {
            let refused = await jobError(boot2, params)
            #expect(refused?.contains("a Galera node listens at \(livePeers) (its group port answers)") == true, "\(refused ?? "nil")")
        }
        #expect(c.pid(2) == nil)
        #expect(await jobError(boot2, .emptyObject)?.contains("say confirm: true") == true)

        // Phase 5: the two stop cleanly, node 2 first: node 1 is the last to leave.
        try await c.stop(1)
        try await c.stop(0)
        let g1 = GraState.parse(c.grastate(0)), g3 = GraState.parse(c.grastate(2))
        #expect(g1.safeToBootstrap == true, "\(c.grastate(0))")
        #expect((g1.seqno ?? -1) >= 0)
        #expect(g3.safeToBootstrap == false, "\(c.grastate(2))")
        #expect(g3.seqno == -1)

        // Which node is most advanced? The crashed one's grastate.dat says -1; its real position
        // comes from mariadbd --wsrep-recover (check mode runs nothing), and is not past node 1's.
        let recover2 = GaleraRecoverPositionHandler(settings: try Self.settings(c, 2))
        let (wouldRecover, _) = try await runJob(recover2, checkMode: true)
        #expect(wouldRecover.summary.contains("would run /usr/sbin/mariadbd --defaults-file=\(c.nodes[2].config) --wsrep-recover"))
        let (recovered, recoverLog) = try await runJob(recover2)
        guard case .object(let rec)? = recovered.result else { Issue.record("no result"); return }
        #expect(rec["source"] == .string("wsrep-recover"), "\(recoverLog)")
        #expect(rec["uuid"] == .string(uuid))
        let recoveredSeqno = try #require(rec["seqno"]?.doubleValue)
        #expect(recoveredSeqno >= 1 && recoveredSeqno <= Double(g1.seqno ?? -1), "node 3 \(recoveredSeqno), node 1 \(g1.seqno ?? -1)")
        #expect(c.pid(2) == nil)

        // The crashed node: no peer runs now, but grastate.dat says safe_to_bootstrap: 0 — refused
        // without force, naming the seqno and the rule; check mode with force says what it would do.
        let unsafe = await jobError(boot2, .object(["confirm": .bool(true)]))
        #expect(unsafe?.contains("says safe_to_bootstrap: 0 (seqno -1)") == true, "\(unsafe ?? "nil")")
        #expect(unsafe?.contains("highest seqno") == true)
        let (plan, _) = try await runJob(boot2, .object(["confirm": .bool(true), "force": .bool(true)]), checkMode: true)
        #expect(plan.summary.contains("would set safe_to_bootstrap: 1"), "\(plan.summary)")
        #expect(plan.summary.contains("start-stop-daemon"))
        #expect(GraState.parse(c.grastate(2)).safeToBootstrap == false, "check mode wrote nothing")
        #expect(c.pid(2) == nil, "check mode started nothing")

        // Phase 6: the last node to leave bootstraps a new cluster, for real.
        let started = Date()
        let (done, log) = try await runJob(boot0, .object(["confirm": .bool(true)]))
        #expect(done.changed)
        #expect(done.summary.contains("Primary, size 1"), "\(done.summary)\n\(log)")
        let s = c.wsrepStatus(0)
        #expect(s["wsrep_cluster_status"] == "Primary")
        #expect(s["wsrep_cluster_size"] == "1")
        #expect(s["wsrep_cluster_state_uuid"] == uuid, "the same cluster history continues")
        #expect(Date().timeIntervalSince(started) < 60)
        // A running node's position is its own wsrep_last_committed.
        let (live, _) = try await runJob(GaleraRecoverPositionHandler(settings: try Self.settings(c, 0)))
        #expect(live.result?["source"] == .string("running server"))
        #expect(live.result?["seqno"] == .number(Double(c.wsrepStatus(0)["wsrep_last_committed"] ?? "") ?? -2))
        // A second bootstrap is refused: the node is Primary now.
        #expect(await jobError(boot0, .object(["confirm": .bool(true)]))?.contains("already in a Primary component (size 1") == true)
    }

    /// Three members in one pool of a real store, their heartbeats carrying the plugins' entries,
    /// recorded by the ingest route's writer; then the pool's cluster view.
    static func poolView(_ plugins: [GaleraPlugin]) async throws -> PoolClustersView {
        let dir = try MariaDBServer.makeTempDirectory("balctl-galera-store")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: dir + "/cp.sqlite")
        let issued = try #require(try store.bootstrapAdminIfNeeded())
        let admin = try #require(try await store.authenticateOperator(token: issued.token))
        let pool = try await store.createPool(CreatePoolRequest(name: "db", template: .generic), by: admin)
        let ip = IPv4("203.0.113.10")!
        for (i, p) in plugins.enumerated() {
            let host = "galera-\(i + 1)"
            let e = try await store.addMember(pool: pool.id, CreateMemberRequest(hostname: host, allowedIPs: [ip.description], family: .debian, role: nil),
                                              publicURL: "https://cp.example", by: admin)
            let agent = try await store.authenticateAgent(secret: e.enrollmentSecret, clientIP: ip, hostname: host)
            var stacks: [String: JSONValue] = [:]
            if let g = await p.probe() { stacks["galera"] = g }
            let report = HostReport(hostname: host, agentVersion: "0.1.0",
                                    os: OSInfo(family: "debian", id: "debian", versionID: "12", prettyName: "Debian 12", kernel: "6.1"),
                                    uptimeSec: 1, load: [0, 0, 0], cpuPercent: nil, cpuCount: 1,
                                    memory: MemoryInfo(totalBytes: 1, availableBytes: 1), disks: [], publicIPv4: nil, publicIPSource: nil,
                                    stacks: stacks, commands: [], jobsInFlight: [])
            let raw = String(decoding: report.jsonBytes(), as: UTF8.self)
            _ = try await HeartbeatWriter(store: store, heartbeat: HeartbeatPolicy(), queue: QueuePolicy())
                .record(agent, report: try HeartbeatEnvelope.read(raw), raw: raw, ip: ip)
        }
        return try await store.poolClusters(pool.id, by: admin)
    }
}
