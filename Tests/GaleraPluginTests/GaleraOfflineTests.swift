import AgentKernel
import BalctlProtocol
@testable import ControlPlane
import Foundation
@testable import GaleraPlugin
import MariaDBPlugin
import OperatorClient
import Testing
import TestSupport

/// No server: grastate.dat, option and address parsing (outside input, fuzzed), the readout's
/// bounds, typed parameters, the hidden-stack seam through the agent's own heartbeat builder,
/// and the pool evaluation rules.
@Suite struct GaleraOfflineTests {
    static let real = """
        # GALERA saved state
        version: 2.1
        uuid:    04aaad88-ebce-11f1-93d5-e6ceda60e39c
        seqno:   1234
        safe_to_bootstrap: 1

        """

    // MARK: grastate.dat

    @Test func grastateParsesTheRealFormatAndItsVariants() {
        let g = GraState.parse(Self.real)
        #expect(g == { var s = GraState(); s.version = "2.1"; s.uuid = "04aaad88-ebce-11f1-93d5-e6ceda60e39c"; s.seqno = 1234; s.safeToBootstrap = true; return s }())
        #expect(GraState.parse(Self.real.replacing("\n", with: "\r\n")) == g, "CRLF")
        #expect(GraState.parse(Self.real.replacing("04aaad88-ebce", with: "04AAAD88-EBCE")).uuid == g.uuid, "upper-case hex")
        #expect(GraState.parse("seqno: -1\nsafe_to_bootstrap: 0").seqno == -1)
        #expect(GraState.parse("seqno: -1\nsafe_to_bootstrap: 0").safeToBootstrap == false)
        #expect(GraState.parse("seqno:\t 7 \t").seqno == 7)
        // Last wins, as Galera reads it.
        #expect(GraState.parse("safe_to_bootstrap: 1\nsafe_to_bootstrap: 0\n").safeToBootstrap == false)
        #expect(GraState.parse("safe_to_bootstrap: 0\nsafe_to_bootstrap: 1\n").safeToBootstrap == true)
        // Anything else is unknown, never guessed.
        for bad in ["safe_to_bootstrap: 2", "safe_to_bootstrap: yes", "safe_to_bootstrap: 1 1", "safe_to_bootstrap:", "safe_to_bootstrap: -1"] {
            #expect(GraState.parse(bad).safeToBootstrap == nil, "\(bad)")
        }
        for bad in ["seqno: -2", "seqno: 99999999999999999999", "seqno: 1e3", "seqno: 0x10", "seqno: ", "seqno: 1 2"] {
            #expect(GraState.parse(bad).seqno == nil, "\(bad)")
        }
        for bad in ["uuid: 04aaad88-ebce-11f1-93d5-e6ceda60e39", "uuid: 04aaad88-ebce-11f1-93d5-e6ceda60e39cc",
                    "uuid: 04aaad88_ebce-11f1-93d5-e6ceda60e39c", "uuid: g4aaad88-ebce-11f1-93d5-e6ceda60e39c", "uuid: $(reboot)"] {
            #expect(GraState.parse(bad).uuid == nil, "\(bad)")
        }
        #expect(GraState.parse("# safe_to_bootstrap: 1").safeToBootstrap == nil, "a comment")
        #expect(GraState.parse("").isFresh)
        #expect(GraState.parse("uuid: 00000000-0000-0000-0000-000000000000").isFresh)
        // A line longer than 256 bytes is ignored whole.
        #expect(GraState.parse("safe_to_bootstrap: 1" + String(repeating: " ", count: 300)).safeToBootstrap == nil)
    }

    /// Every prefix, 20,000 seeded mutations, random bytes and a 4 MiB file: no crash, results
    /// well-formed, and the work linear (at most one turn per byte of the first 64 KB plus one).
    @Test func grastateFuzz() {
        let base = Array(Self.real.utf8)
        func check(_ bytes: [UInt8]) {
            let (g, steps) = GraState.parse(bytes)
            #expect(steps <= min(bytes.count, GraState.maxBytes) + 1)
            if let u = g.uuid { #expect(u.utf8.count == 36 && u == u.lowercased()) }
            if let s = g.seqno { #expect(s >= -1) }
            if let v = g.version { #expect(v.utf8.count <= 16) }
        }
        for n in 0...base.count { check(Array(base.prefix(n))) }
        var rng = SplitMix64(seed: 16)
        let alphabet = Array("0123456789abcdef-:#\n\r\t safe_to_bootstrap seqno uuid version \u{0}\u{FF}".utf8)
        for _ in 0..<20_000 {
            var b = base
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                let i = Int.random(in: 0..<b.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: b[i] = alphabet.randomElement(using: &rng)!
                case 1: b.remove(at: i)
                case 2: b.insert(alphabet.randomElement(using: &rng)!, at: i)
                default: b[i] = UInt8.random(in: 0...255, using: &rng)
                }
                if b.isEmpty { b = [0x0A] }
            }
            check(b)
        }
        for _ in 0..<500 { check((0..<Int.random(in: 0...600, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }) }
        let started = Date()
        let huge = [UInt8](repeating: 0x3A, count: 4 << 20)
        check(huge)
        check(Array(String(repeating: "seqno: 1\n", count: 500_000).utf8))
        #expect(Date().timeIntervalSince(started) < 2)
        // Past maxLines nothing more is read.
        let many = String(repeating: "x\n", count: GraState.maxLines) + "safe_to_bootstrap: 1\n"
        #expect(GraState.parse(many).safeToBootstrap == nil)
    }

    @Test func recoveredPositionIsReadFromTheLastWellFormedLine() {
        let u = "04aaad88-ebce-11f1-93d5-e6ceda60e39c"
        let log = """
            2026-11-29  8:43:01 0 [Note] WSREP: Recovered position: \(u):7
            2026-11-29  8:43:01 0 [Note] WSREP: Recovered position: \(u):12,0-1-12
            2026-11-29  8:43:01 0 [Note] WSREP: Recovered position: not-a-uuid:99
            2026-11-29  8:43:01 0 [Note] WSREP: Recovered position: \(u):-5
            2026-11-29  8:43:01 0 [Note] WSREP: Recovered position: \(u):99999999999999999999
            """
        let p = GaleraRecoverPositionHandler.recoveredPosition(log)
        #expect(p?.0 == u && p?.1 == 12)
        #expect(GaleraRecoverPositionHandler.recoveredPosition("WSREP: Recovered position: 00000000-0000-0000-0000-000000000000:-1")?.1 == -1)
        #expect(GaleraRecoverPositionHandler.recoveredPosition("nothing here") == nil)
        #expect(GaleraRecoverPositionHandler.recoveredPosition(String(repeating: "WSREP: Recovered position: ", count: 10_000)) == nil)
    }

    // MARK: option files and cluster addresses

    @Test func optionsAndGroupAddresses() {
        let o = ServerOptions(output: """
            --datadir=/var/lib/mysql
            --wsrep_on=OFF
            --wsrep-on=ON
            --wsrep_cluster_address=gcomm://10.0.0.1,10.0.0.2:4568,[fd00::3]:4567?pc.wait_prim=no
            --wsrep_provider_options=gcache.size=1G; gmcast.listen_addr=tcp://0.0.0.0:4570 ;ist.recv_addr=1.2.3.4
            not an option
            """)
        #expect(o.wsrepOn == true, "last wins, - and _ the same")
        #expect(o.datadir == "/var/lib/mysql")
        #expect(o.listenAddress == GroupAddress(host: "0.0.0.0", port: 4570))
        let (peers, bad) = GroupAddress.peers(ofClusterAddress: o.clusterAddress ?? "")
        #expect(peers.map(\.description) == ["10.0.0.1:4567", "10.0.0.2:4568", "[fd00::3]:4567"])
        #expect(bad.isEmpty)
        #expect(ServerOptions(output: "--datadir=relative").datadir == nil)
        #expect(GroupAddress.peers(ofClusterAddress: "gcomm://").peers.isEmpty)
        let hostile = GroupAddress.peers(ofClusterAddress: "gcomm://a b,$(reboot):1,x;y,h:0,h:65536,h:-1,[::1,ok.example:4567,ok.example:4567")
        #expect(hostile.peers == [GroupAddress(host: "ok.example", port: 4567)])
        #expect(hostile.unreadable.count == 7)
        #expect(GroupAddress.peers(ofClusterAddress: "gcomm://" + (1...40).map { "10.0.0.\($0)" }.joined(separator: ",")).peers.count == GroupAddress.maxPeers)
        #expect(GroupAddress.peers(ofClusterAddress: "http://x").unreadable == ["http://x"])
        #expect(GaleraSettings.bootstrapArgv("/usr/bin/galera_new_cluster  --x") == ["/usr/bin/galera_new_cluster", "--x"])
        #expect(GaleraSettings.bootstrapArgv("galera_new_cluster") == nil)
        #expect(GaleraSettings.bootstrapArgv("/bin/x\n--y") == nil)
    }

    // MARK: readout bounds

    @Test func readoutValuesAreBoundedAndShapeChecked() throws {
        func rows(_ s: [String: String], _ v: [String: String] = ["WSREP_ON": "ON"]) -> [[String]] {
            s.map { ["S", $0.key, $0.value] } + v.map { ["V", $0.key, $0.value] }
        }
        let good = WsrepReadout(rows: rows(["WSREP_CLUSTER_SIZE": "3", "WSREP_CLUSTER_STATUS": "Primary", "WSREP_LOCAL_STATE_COMMENT": "Synced",
                                            "WSREP_READY": "ON", "WSREP_CONNECTED": "OFF", "WSREP_FLOW_CONTROL_PAUSED": "0.123456",
                                            "WSREP_CLUSTER_STATE_UUID": "04AAAD88-ebce-11f1-93d5-e6ceda60e39c", "WSREP_CLUSTER_CONF_ID": "7"]))
        #expect(good.wsrepOn && good.clusterSize == 3 && good.clusterStatus == "Primary" && good.localState == "Synced")
        #expect(good.ready == true && good.connected == false && good.flowControlPaused == 0.1235 && good.confID == 7)
        #expect(good.clusterStateUUID == "04aaad88-ebce-11f1-93d5-e6ceda60e39c")
        let bad = WsrepReadout(rows: rows(["WSREP_CLUSTER_SIZE": "-1", "WSREP_CLUSTER_STATUS": "Primary\u{1B}[2J", "WSREP_LOCAL_STATE_COMMENT": String(repeating: "S", count: 40),
                                           "WSREP_FLOW_CONTROL_PAUSED": "nan", "WSREP_CLUSTER_STATE_UUID": "not-a-uuid", "WSREP_CLUSTER_CONF_ID": "99999999999"]))
        #expect(bad.clusterSize == nil && bad.clusterStatus == nil && bad.localState == nil && bad.flowControlPaused == nil)
        #expect(bad.clusterStateUUID == nil && bad.confID == nil)
        #expect(WsrepReadout(rows: rows(["WSREP_FLOW_CONTROL_PAUSED": "1.5"])).flowControlPaused == nil)
        #expect(!WsrepReadout(rows: rows([:], ["WSREP_ON": "OFF"])).wsrepOn)
        // Every field at its longest still makes an entry under 1 KB.
        let long = String(repeating: "x", count: 5000)
        let big = WsrepReadout(rows: rows(["WSREP_CLUSTER_SIZE": "999999999", "WSREP_CLUSTER_STATUS": String(repeating: "P", count: 32),
                                           "WSREP_LOCAL_STATE_COMMENT": String(repeating: "J", count: 32), "WSREP_INCOMING_ADDRESSES": long,
                                           "WSREP_CLUSTER_STATE_UUID": "04aaad88-ebce-11f1-93d5-e6ceda60e39c", "WSREP_CLUSTER_CONF_ID": "999999999",
                                           "WSREP_LAST_COMMITTED": "9223372036854775807", "WSREP_FLOW_CONTROL_PAUSED": "0.99999"],
                                          ["WSREP_ON": "ON", "WSREP_NODE_NAME": long, "WSREP_CLUSTER_NAME": long, "WSREP_CLUSTER_ADDRESS": long]))
        var entry = big.json
        entry["up"] = .bool(true); entry["checkedAgeSec"] = .number(99999); entry["error"] = .string(String(repeating: "e", count: 200))
        let bytes = try JSONEncoder().encode(JSONValue.object(entry))
        #expect(bytes.count < 1024, "\(bytes.count)")
    }

    // MARK: parameters

    @Test func bootstrapParametersAreTypedBooleans() {
        typealias P = GaleraBootstrapHandler
        for bad: JSONValue in [.object(["confirm": .string("true")]), .object(["confirm": .number(1)]),
                               .object(["confirm": .bool(true), "force": .string("yes")]),
                               .object(["confirm": .bool(true), "forse": .bool(true)]), .object(["confirm": .array([.bool(true)])])] {
            #expect(throws: ParameterError.self, "\(bad)") { _ = try P.decodeParameters(bad) }
        }
        #expect((try? P.decodeParameters(.object(["confirm": .bool(true), "force": .bool(false)])))?.confirm == true)
        #expect(throws: ParameterError.self) { _ = try GaleraStatusHandler.decodeParameters(.object(["x": .bool(true)])) }
    }

    // MARK: hidden with a reason, through the agent's own heartbeat builder

    @Test func absentStacksAreHiddenWithTheirReasonInTheHeartbeat() async throws {
        let dir = try MariaDBServer.makeTempDirectory("balctl-galera-hidden")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var m = MariaDBSettings(stateDir: dir)
        m.server = "/nonexistent/mariadbd"; m.serverAlternatives = ["/nonexistent/mysqld"]
        let galera = GaleraPlugin(settings: GaleraSettings(mariadb: m))
        #expect(galera.periodicWork == nil)
        #expect(await galera.probe() == nil)
        let config = try AgentConfig.load(file: [:], environment: [
            "BALCTL_ENROLLMENT_SECRET": String(repeating: "ab", count: 24),
            "BALCTL_API_BASE": "https://127.0.0.1:9", "BALCTL_HOSTNAME": "db-1", "BALCTL_STATE_DIR": dir,
        ])
        let agent = try Agent(config: config, plugins: [MariaDBPlugin(settings: m), galera])
        let report = await agent.buildReport()
        #expect(report.stacks["mariadb"] == nil && report.stacks["galera"] == nil)
        let why = "MariaDB is not installed: no server binary at /nonexistent/mariadbd or /nonexistent/mysqld"
        #expect(report.hiddenStacks == ["mariadb": why, "galera": why])
        // On the wire (the agent's writer), and read back by Codable as the control plane does.
        let back = try JSONDecoder().decode(HostReport.self, from: Data(report.jsonBytes()))
        #expect(back.hiddenStacks == report.hiddenStacks)
        #expect(String(decoding: report.jsonBytes(), as: UTF8.self).contains(#""hiddenStacks":{"galera":"MariaDB is not installed"#))
        // An old agent's report (no field) still decodes.
        var old = report; old.hiddenStacks = nil
        let oldBytes = old.jsonBytes()
        #expect(!String(decoding: oldBytes, as: UTF8.self).contains("hiddenStacks"))
        #expect(try JSONDecoder().decode(HostReport.self, from: Data(oldBytes)).hiddenStacks == nil)
        // balctl members show's line, made printable.
        #expect(ClusterViewText.hiddenStacks(["mariadb": why, "x\u{1B}[31m": "a\u{7}b"]) ==
                ["mariadb: not detected — \(why)", "x?[31m: not detected — a?b"])
        // Status says the reason too.
        #expect(await jobError(galera.handlers.compactMap { $0 as? GaleraStatusHandler }.first!) == why)
        #expect(await jobError(GaleraBootstrapHandler(settings: galera.settings, probe: galera.prober), .object(["confirm": .bool(true)])) == why)
    }

    @Test func aReasonIsClippedAndPrintable() {
        let r = HiddenStacks.clip(String(repeating: "é", count: 500) + "\n")
        #expect(r.utf8.count <= HiddenStacks.maxReasonBytes)
        #expect(HiddenStacks.clip("a\nb\u{1B}c") == "a b c")
    }

    /// A server that does not answer and whose option files do not turn wsrep on: hidden with
    /// that reason. Real programs: the client is /bin/false, my_print_defaults /bin/true.
    @Test func aServerThatDoesNotAnswerAndIsNotConfiguredForGaleraIsHidden() async throws {
        let dir = try MariaDBServer.makeTempDirectory("balctl-galera-down")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var m = MariaDBSettings(stateDir: dir)
        m.server = "/bin/true"; m.client = "/bin/false"; m.socket = dir + "/nosock"
        var g = GaleraSettings(mariadb: m)
        g.printDefaults = "/bin/true"
        let p = GaleraPlugin(settings: g)
        #expect(await p.hiddenReason() == "wsrep state not read yet")
        await p.prober.refresh()
        #expect(await p.probe() == nil)
        #expect(await p.hiddenReason() == "MariaDB does not answer on \(dir)/nosock and its option files do not turn wsrep on")
    }

    // MARK: the pool evaluation

    static let u1 = "04aaad88-ebce-11f1-93d5-e6ceda60e39c", u2 = "7d1e0000-ebce-11f1-93d5-e6ceda60e39c"

    static func member(_ id: Int64, _ uuid: String?, up: Bool = true, status: String = "Primary", size: Int = 3, conf: Int = 5,
                       state: String = "Synced", age: Double = 5) -> GaleraPoolEvaluation.Member {
        var o: [String: JSONValue] = ["up": .bool(up), "clusterStatus": .string(status), "clusterSize": .number(Double(size)),
                                      "confID": .number(Double(conf)), "localState": .string(state)]
        if let uuid { o["clusterStateUUID"] = .string(uuid) }
        return .init(id: id, hostname: "db-\(id)", galera: .object(o), reportAgeSec: age)
    }

    @Test func poolEvaluationRules() {
        // Healthy: three Primary, Synced, size 3, same conf.
        let healthy = GaleraPoolEvaluation.evaluate(poolId: 1, members: [Self.member(1, Self.u1), Self.member(2, Self.u1), Self.member(3, Self.u1)])
        #expect(healthy.warnings.isEmpty)
        #expect(healthy.galera.map(\.status) == ["healthy"])
        #expect(healthy.galera.first?.warnings == [])

        // One down: named; the others see 2 of 3 → degraded.
        let oneDown = GaleraPoolEvaluation.evaluate(poolId: 1, members: [
            Self.member(1, Self.u1, size: 2, conf: 6), Self.member(2, Self.u1, size: 2, conf: 6), Self.member(3, Self.u1, up: false, status: "Disconnected")])
        #expect(oneDown.galera.first?.status == "degraded")
        #expect(oneDown.galera.first?.warnings == ["db-3: MariaDB is down (Disconnected)",
                                                  "db-1 sees 2 of the 3 nodes this pool has in the cluster",
                                                  "db-2 sees 2 of the 3 nodes this pool has in the cluster"])

        // A node that answers but is non-Primary has lost quorum.
        let split = GaleraPoolEvaluation.evaluate(poolId: 1, members: [
            Self.member(1, Self.u1, status: "non-Primary", size: 1), Self.member(2, Self.u1, status: "non-Primary", size: 1)])
        #expect(split.galera.first?.status == "no quorum")
        #expect(split.galera.first?.warnings.first == "db-1: non-Primary — lost quorum (not in a Primary component)")

        // A Primary node that is not Synced (a donor, a joiner) degrades the cluster.
        let donor = GaleraPoolEvaluation.evaluate(poolId: 1, members: [Self.member(1, Self.u1, size: 2), Self.member(2, Self.u1, size: 2, state: "Donor/Desynced")])
        #expect(donor.galera.first?.status == "degraded")
        #expect(donor.galera.first?.warnings == ["db-2: Donor/Desynced, not Synced (a state transfer or a desync)"])

        // Disagreement inside one UUID: sizes / conf ids differ.
        let disagree = GaleraPoolEvaluation.evaluate(poolId: 1, members: [Self.member(1, Self.u1, size: 3, conf: 5), Self.member(2, Self.u1, size: 3, conf: 6)])
        #expect(disagree.galera.first?.warnings.contains { $0.hasPrefix("nodes of cluster 04aaad88 disagree") } == true)

        // Two UUIDs in one pool: a pool-level warning naming both.
        let two = GaleraPoolEvaluation.evaluate(poolId: 1, members: [Self.member(1, Self.u1, size: 1), Self.member(2, Self.u2, size: 1)])
        #expect(two.galera.count == 2)
        #expect(two.warnings.count == 1)
        #expect(two.warnings.first?.contains("04aaad88 (db-1); 7d1e0000 (db-2)") == true)

        // A stale heartbeat is named, a member without galera ignored, hostile values bounded.
        let stale = GaleraPoolEvaluation.evaluate(poolId: 1, members: [
            Self.member(1, Self.u1, size: 2), Self.member(2, Self.u1, size: 2, age: 600),
            .init(id: 3, hostname: "web", galera: .string("x"), reportAgeSec: 1),
            .init(id: 4, hostname: "evil", galera: .object(["up": .bool(true), "clusterStatus": .string(String(repeating: "\u{1B}", count: 99) + "Primary"),
                                                            "clusterSize": .number(1e300), "clusterStateUUID": .string("../../x")]), reportAgeSec: 1)])
        #expect(stale.galera.count == 2)
        #expect(stale.galera[0].warnings.contains("db-2: no heartbeat for 600s"))
        let evil = stale.galera[1]
        #expect(evil.clusterStateUUID == nil && evil.status == "unknown")
        #expect(evil.nodes.first?.clusterSize == nil)
        #expect(evil.nodes.first?.clusterStatus == "Primary")
        // The CLI's rendering prints every warning.
        let text = ClusterViewText.lines(oneDown).joined(separator: "\n")
        #expect(text.contains("WARNING  db-3: MariaDB is down"))
        #expect(text.contains("galera   cluster \(Self.u1): degraded, 3 nodes"))
        #expect(ClusterViewText.lines(GaleraPoolEvaluation.evaluate(poolId: 1, members: [])) == ["galera   no member reports a Galera node"])
    }
}
