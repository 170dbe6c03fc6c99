#if canImport(Glibc)
import Glibc
#endif
import AgentKernel
import BalctlProtocol
import Foundation
@testable import GaleraPlugin
import MariaDBPlugin
import ServiceLaunchers
import Testing
import TestSupport

/// galera.bootstrap's rule on a node whose server is down, without a cluster: the real
/// `my_print_defaults` reads a real option file in a temp directory, the client and
/// mariadb-admin are /bin/false (the server does not answer), the bootstrap command /bin/true
/// (it "starts" nothing, so the wait for Primary fails after 1 s — proof it ran).
@Suite struct GaleraBootstrapRuleTests {
    static let grastate = "# GALERA saved state\nversion: 2.1\nuuid:    04aaad88-ebce-11f1-93d5-e6ceda60e39c\nseqno:   41\nsafe_to_bootstrap: 0\n"

    struct Node {
        let dir: String
        let settings: GaleraSettings
        var grastatePath: String { dir + "/data/grastate.dat" }
        var handler: GaleraBootstrapHandler { GaleraBootstrapHandler(settings: settings, probe: GaleraProbe(settings: settings)) }
    }

    static func node(wsrep: String = "ON", peers: [String]? = nil, grastate: String? = Self.grastate) throws -> Node {
        let dir = try MariaDBServer.makeTempDirectory("balctl-galera-rule")
        try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
        let dead = try Loopback.freePort(), own = try Loopback.freePort()
        let address = "gcomm://" + (peers ?? ["127.0.0.1:\(dead)"]).joined(separator: ",")
        try """
            [mysqld]
            datadir=\(dir)/data
            wsrep_on=\(wsrep)
            wsrep_cluster_address=\(address)
            wsrep_provider_options="gmcast.listen_addr=tcp://127.0.0.1:\(own);gcache.size=32M"

            """.write(toFile: dir + "/my.cnf", atomically: false, encoding: .utf8)
        if let grastate {
            try grastate.write(toFile: dir + "/data/grastate.dat", atomically: false, encoding: .utf8)
            chmod(dir + "/data/grastate.dat", 0o640)
        }
        var m = MariaDBSettings(stateDir: dir + "/state")
        m.server = "/bin/true"; m.client = "/bin/false"; m.admin = "/bin/false"
        m.socket = dir + "/sock"; m.configFile = dir + "/my.cnf"
        var g = GaleraSettings(mariadb: m)
        g.bootstrapCommand = ["/bin/true", "--bootstrap-marker"]
        g.primaryTimeoutSec = 1
        g.peerConnectTimeoutSec = 1
        return Node(dir: dir, settings: g)
    }

    static let confirm: JSONValue = .object(["confirm": .bool(true)])
    static let force: JSONValue = .object(["confirm": .bool(true), "force": .bool(true)])

    @Test func safeToBootstrapZeroIsRefusedWithoutForceAndForceRewritesOnlyThatLine() async throws {
        let n = try Self.node()
        defer { try? FileManager.default.removeItem(atPath: n.dir) }
        let refused = await jobError(n.handler, Self.confirm)
        #expect(refused?.contains("\(n.grastatePath) says safe_to_bootstrap: 0 (seqno 41)") == true, "\(refused ?? "nil")")
        #expect(refused?.contains("highest seqno") == true)
        #expect(try String(contentsOfFile: n.grastatePath, encoding: .utf8) == Self.grastate)

        // Check mode with force: says it, writes and runs nothing.
        let (plan, _) = try await runJob(n.handler, Self.force, checkMode: true)
        #expect(plan.summary == "would set safe_to_bootstrap: 1 in \(n.grastatePath), then run /bin/true --bootstrap-marker, then wait up to 1s for this node to be Primary")
        #expect(try String(contentsOfFile: n.grastatePath, encoding: .utf8) == Self.grastate)
        // Check mode without confirm says confirm is needed.
        let (noConfirm, _) = try await runJob(n.handler, .object(["force": .bool(true)]), checkMode: true)
        #expect(noConfirm.summary.hasSuffix("(confirm: true is required to do it)"))

        // force: the one line rewritten, every other byte and the mode kept; then the command
        // runs and the wait for Primary fails (nothing started).
        let failed = await jobError(n.handler, Self.force)
        #expect(failed == "/bin/true --bootstrap-marker ran but the node is not Primary after 1s (last: no answer)")
        #expect(try String(contentsOfFile: n.grastatePath, encoding: .utf8) == Self.grastate.replacing("safe_to_bootstrap: 0", with: "safe_to_bootstrap: 1"))
        #expect(Files.info(n.grastatePath)?.mode == 0o640)
        // Now safe: no force needed.
        #expect(await jobError(n.handler, Self.confirm)?.contains("ran but the node is not Primary") == true)
    }

    @Test func aLinkedOrUnreadableGrastateIsRefusedEvenWithForce() async throws {
        let n = try Self.node(grastate: nil)
        defer { try? FileManager.default.removeItem(atPath: n.dir) }
        let target = n.dir + "/elsewhere.dat"
        let safe = Self.grastate.replacing("safe_to_bootstrap: 0", with: "safe_to_bootstrap: 1")
        try safe.write(toFile: target, atomically: false, encoding: .utf8)
        symlink(target, n.grastatePath)
        for params in [Self.confirm, Self.force] {
            let refused = await jobError(n.handler, params)
            #expect(refused?.hasPrefix("cannot read \(n.grastatePath)") == true, "\(refused ?? "nil")")
        }
        #expect(try String(contentsOfFile: target, encoding: .utf8) == safe)
        // A directory where the file should be.
        unlink(n.grastatePath)
        mkdir(n.grastatePath, 0o755)
        #expect(await jobError(n.handler, Self.force)?.hasPrefix("cannot read") == true)
        // A FIFO (opened non-blocking, never hangs) and a file past 64 KB.
        rmdir(n.grastatePath)
        mkfifo(n.grastatePath, 0o600)
        #expect(await jobError(n.handler, Self.force)?.hasPrefix("cannot read \(n.grastatePath) (\(n.grastatePath): not a regular file)") == true)
        unlink(n.grastatePath)
        try (safe + String(repeating: "#\n", count: 40_000)).write(toFile: n.grastatePath, atomically: false, encoding: .utf8)
        #expect(await jobError(n.handler, Self.force)?.contains("larger than 65536 bytes") == true)
        // No file at all: a node that never ran; allowed.
        unlink(n.grastatePath)
        let (plan, _) = try await runJob(n.handler, Self.confirm, checkMode: true)
        #expect(plan.summary.hasPrefix("would run /bin/true --bootstrap-marker"))
        #expect(plan.result?["notes"] == .array([.string("no grastate.dat in \(n.dir)/data: a node that never ran as a Galera node")]))
    }

    @Test func aListeningPeerAnUnreadablePeerOrWsrepOffRefuse() async throws {
        let listener = try LoopbackListener()
        defer { listener.stop() }
        let live = try Self.node(peers: ["127.0.0.1:\(try Loopback.freePort())", "127.0.0.1:\(listener.port)"])
        defer { try? FileManager.default.removeItem(atPath: live.dir) }
        let refused = await jobError(live.handler, Self.force)
        #expect(refused?.hasPrefix("a Galera node listens at 127.0.0.1:\(listener.port) (its group port answers)") == true, "\(refused ?? "nil")")
        #expect(try String(contentsOfFile: live.grastatePath, encoding: .utf8) == Self.grastate, "nothing written")

        let hostile = try Self.node(peers: ["127.0.0.1:1", "$(reboot)"])
        defer { try? FileManager.default.removeItem(atPath: hostile.dir) }
        #expect(await jobError(hostile.handler, Self.force) == "cannot check the peers $(reboot) of wsrep_cluster_address; refusing to bootstrap")

        let off = try Self.node(wsrep: "OFF")
        defer { try? FileManager.default.removeItem(atPath: off.dir) }
        #expect(await jobError(off.handler, Self.force) == "wsrep is not turned on in the server's option files (my_print_defaults); not a Galera node")

        // Without confirm nothing is even read.
        #expect(await jobError(live.handler, .object(["force": .bool(true)])) == "galera.bootstrap starts a NEW cluster from this node; say confirm: true")
    }

    /// markSafe through a link planted between the read and the write is refused by SafeFile.
    @Test func markSafeRefusesALink() throws {
        let dir = try MariaDBServer.makeTempDirectory("balctl-galera-mark")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.grastate.write(toFile: dir + "/real", atomically: false, encoding: .utf8)
        symlink(dir + "/real", dir + "/grastate.dat")
        #expect(throws: JobFailure.self) { try GaleraBootstrapHandler.markSafe(dir + "/grastate.dat") }
        #expect(try String(contentsOfFile: dir + "/real", encoding: .utf8) == Self.grastate)
        // No trailing newline and no safe_to_bootstrap line: one is added.
        try "uuid: 04aaad88-ebce-11f1-93d5-e6ceda60e39c\nseqno: 3".write(toFile: dir + "/g2", atomically: false, encoding: .utf8)
        try GaleraBootstrapHandler.markSafe(dir + "/g2")
        #expect(try String(contentsOfFile: dir + "/g2", encoding: .utf8) == "uuid: 04aaad88-ebce-11f1-93d5-e6ceda60e39c\nseqno: 3\nsafe_to_bootstrap: 1\n")
    }
}
