import ArgumentParser
import ServiceLaunchers
import BalctlProtocol
import ControlPlane
import CurlClient
import Foundation
import OperatorClient

/// Issue 12: how long automatic failover takes, end to end, with real processes on loopback: a
/// real `named` (ServiceLaunchers), a real `balctl-server` updating it over RFC 2136 + TSIG, and two
/// real `balctl-heartbeat` agents per pool declaring public-looking addresses. The active agent
/// of every pool is SIGKILLed (kills staggered, so failovers overlap as in a real outage of
/// several hosts) while `dig` watches every name; each failover event gives when the control
/// plane decided and when it wrote DNS.
///
/// Figures are "minus the delay": detection is kill → decision, DNS-visible is kill → `dig`
/// answers the standby's address. Goals (issue 12): p99 detection ≤ delay + 1 heartbeat interval,
/// DNS-visible ≤ delay + 2 s. Detection can come *before* kill + delay: the evaluator counts the
/// delay from the member's last heartbeat, which is up to one interval before the kill.
struct FailoverTimingBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failover-timing",
        abstract: "Automatic failover timings with real named, balctl-server and agents on loopback (SIGKILL the active member of each pool).")

    @Option(help: "Pools, each failed over once (two agents each).") var failovers = 20
    @Option(help: "Failover delay, s (10–120).") var delay = 10
    @Option(help: "Heartbeat interval, s.") var interval = 1
    @Option(help: "Milliseconds between two kills (the kills spread over the heartbeat phase).") var staggerMs = 530
    @Option(help: "Milliseconds between two dig polls (one dig process asks for every name still to move).") var pollMs = 50
    @Option(help: "Directory with balctl-server and balctl-heartbeat (default: next to this executable).") var binDir: String?

    struct Pool {
        let id: Int64
        let name: String
        let active: (member: Int64, ip: String, process: Process)
        let standby: (member: Int64, ip: String, process: Process)
        var killedAt: Double?
        var visibleAt: Double?
    }

    func run() async throws {
        let bin = URL(fileURLWithPath: binDir ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path)
        let serverExe = bin.appendingPathComponent("balctl-server").path, agentExe = bin.appendingPathComponent("balctl-heartbeat").path
        for exe in [serverExe, agentExe] where !FileManager.default.isExecutableFile(atPath: exe) {
            throw BenchError("\(exe) is missing: build balctl-server and balctl-heartbeat in the same configuration (or pass --bin-dir)")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-bench-failover-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let processes = ProcessSet(dir: dir)
        let bind = try await BINDServer.start()
        defer {
            processes.stopAll()
            bind.stop()
            try? FileManager.default.removeItem(at: dir)
        }

        // The control plane, as an operator runs it.
        let tls = try LocalCA.create(in: dir.appendingPathComponent("tls").path)
        let dataDir = dir.appendingPathComponent("data").path
        let initOut = try processes.runToEnd(serverExe, ["init", "--data-dir", dataDir, "--json"])
        let token = try JSONDecoder().decode(TokenIssued.self, from: initOut).token
        let port = try Loopback.freePort()
        let base = "https://127.0.0.1:\(port)"
        _ = try processes.start(serverExe, ["serve", "--data-dir", dataDir, "--port", "\(port)", "--heartbeat-interval", "\(interval)",
                                            "--tls-cert", tls.serverCert, "--tls-key", tls.serverKey], log: "server.log")
        let serverStartedAt = now()
        try await processes.waitForHealth(base, caFile: tls.caCert)
        let api = try APIClient(server: base, token: token, caFile: tls.caCert)

        print("named on 127.0.0.1:\(bind.port), balctl-server on \(base); setting up \(failovers) pools × 2 agents (delay \(delay) s, interval \(interval) s)…")
        let provider: DNSProviderView = try api.send("POST", APIPath("dns", "providers"), CreateDNSProviderRequest(
            name: "named", kind: .rfc2136,
            settings: ["server": "127.0.0.1", "port": "\(bind.port)", "zone": BINDServer.zone, "keyName": BINDServer.keyName],
            secret: bind.keySecretBase64))
        var pools: [Pool] = []
        for i in 0..<failovers {
            let pool: PoolView = try api.send("POST", APIPath("pools"), CreatePoolRequest(name: "fo-\(i)", template: .generic))
            let name = "fo-\(i).\(BINDServer.zone)"
            let _: FailoverSettingsView = try api.send("PATCH", APIPath("pools", pool.id, "failover"), UpdateFailoverSettingsRequest(
                hostname: name, providerId: provider.id, ttl: 30, autoFailover: true, delaySec: delay, minSpacingSec: 300))
            var agents: [(member: Int64, ip: String, process: Process)] = []
            for j in 0..<2 {
                let k = 2 * i + j
                let ip = "81.2.\(69 + k / 250).\(k % 250 + 1)"
                let e: MemberEnrollment = try api.send("POST", APIPath("pools", pool.id, "members"), CreateMemberRequest(
                    hostname: "fo-\(i)-\(j)", allowedIPs: ["127.0.0.1"], family: .debian, role: nil))
                let p = try processes.start(agentExe, [], env: [
                    "BALCTL_ENROLLMENT_SECRET": e.enrollmentSecret, "BALCTL_API_BASE": base, "BALCTL_CA_FILE": tls.caCert,
                    "BALCTL_HOSTNAME": e.member.hostname, "BALCTL_STATE_DIR": dir.appendingPathComponent("state-\(k)").path,
                    "BALCTL_ENV_FILE": dir.appendingPathComponent("no-such.env").path, "BALCTL_DECLARE_IP": ip,
                    "BALCTL_LOG_LEVEL": "warning",
                ], log: "agent-\(e.member.hostname).log")
                agents.append((e.member.id, ip, p))
            }
            pools.append(Pool(id: pool.id, name: name, active: agents[0], standby: agents[1]))
        }
        try await waitReady(api, pools, timeout: 60)
        for p in pools {
            let e: FailoverEventView = try api.send("POST", APIPath("members", p.active.member, "make-active"), MakeActiveRequest())
            guard e.verified == true else { throw BenchError("make-active on \(p.name) not verified: \(e.error ?? "?")") }
        }
        try await waitReady(api, pools, timeout: 30)
        // Past the startup guard (no automatic failover within one delay of the server's start).
        let guardLeft = Double(delay) + 1 - (now() - serverStartedAt)
        if guardLeft > 0 { try await Task.sleep(for: .seconds(guardLeft)) }

        let updatesBefore = try await bind.opcodeCount("UPDATE")
        print("killing the \(failovers) active agents, one every \(staggerMs) ms; dig every \(pollMs) ms…")
        let firstKill = now()
        var next = 0
        let deadline = firstKill + Double(failovers * staggerMs) / 1000 + Double(delay) + 30
        while pools.contains(where: { $0.visibleAt == nil }) && now() < deadline {
            while next < pools.count, now() >= firstKill + Double(next * staggerMs) / 1000 {
                pools[next].killedAt = now()
                kill(pools[next].active.process.processIdentifier, SIGKILL)
                next += 1
            }
            let watched = pools.indices.filter { pools[$0].killedAt != nil && pools[$0].visibleAt == nil }
            if !watched.isEmpty {
                let answers = try bind.addresses(of: watched.map { pools[$0].name })
                let seenAt = now()
                for i in watched where answers[pools[i].name] == [pools[i].standby.ip] { pools[i].visibleAt = seenAt }
            }
            try await Task.sleep(for: .milliseconds(pollMs))
        }
        try await Task.sleep(for: .seconds(1))  // a late second write would show in the count below
        let updates = try await bind.opcodeCount("UPDATE") - updatesBefore

        var detection: [Double] = [], written: [Double] = [], visible: [Double] = [], lag: [Double] = [], missed: [String] = []
        for p in pools {
            let events: [FailoverEventView] = try api.get(APIPath("pools", p.id, "failover", "events").query("limit", 100))
            guard let killed = p.killedAt, let seen = p.visibleAt,
                  let e = events.first(where: { $0.kind == "failover" }), let detected = e.detectedAt else {
                missed.append("\(p.name) (events: \(events.map(\.kind).joined(separator: ", ")))")
                continue
            }
            detection.append(detected - killed - Double(delay))
            if let w = e.dnsWrittenAt { written.append(w - killed - Double(delay)) }
            visible.append(seen - killed - Double(delay))
            if let since = e.unhealthySince { lag.append(detected - since - Double(delay)) }
            if e.toMemberId != p.standby.member || e.verified != true {
                missed.append("\(p.name) (moved to member \(e.toMemberId.map(String.init) ?? "?"), verified \(e.verified.map(String.init) ?? "?"))")
            }
        }

        print("")
        print("\(detection.count) of \(failovers) automatic failovers (delay \(delay) s, heartbeat interval \(interval) s, evaluator tick 0.25 s, dig every \(pollMs) ms; p99 of \(detection.count) = the largest):")
        line("detection (kill → decision) − delay", detection, goal: Double(interval), goalText: "≤ 1 interval (\(interval) s)")
        line("DNS written (kill → UPDATE answered) − delay", written, goal: nil, goalText: "")
        line("DNS visible (kill → dig shows standby) − delay", visible, goal: 2, goalText: "≤ 2 s")
        line("evaluator lag (decision − last heartbeat − delay)", lag, goal: nil, goalText: "")
        print("UPDATEs that reached named during the kills: \(updates) (one per failover: \(failovers))")
        if !missed.isEmpty { print("NOT failed over as expected: \(missed.joined(separator: "; "))") }
    }

    func line(_ what: String, _ seconds: [Double], goal: Double?, goalText: String) {
        let s = Percentiles(seconds)
        var text = "  \(what): p50 \(fixed(s(50))) s, p99 \(fixed(s(99))) s (min \(fixed(s.smallest)), max \(fixed(s.largest)))"
        if let goal { text += "; goal \(goalText): p99 / goal = \(fixed(s(99) / goal, 2))" }
        print(text)
    }

    /// Until every member of every pool is ok (active healthy, standbys ready).
    func waitReady(_ api: APIClient, _ pools: [Pool], timeout: Double) async throws {
        let deadline = now() + timeout
        var waiting: [String] = []
        repeat {
            waiting = []
            for p in pools {
                let s: FailoverStatusView = try api.get(APIPath("pools", p.id, "failover"))
                for m in s.members where !m.ok { waiting.append("\(m.hostname): \(m.reason)") }
                if s.members.count < 2 { waiting.append("\(p.name): \(s.members.count) members") }
            }
            if waiting.isEmpty { return }
            try await Task.sleep(for: .milliseconds(250))
        } while now() < deadline
        throw BenchError("pools not ready after \(Int(timeout)) s: \(waiting.prefix(5).joined(separator: "; "))")
    }
}
