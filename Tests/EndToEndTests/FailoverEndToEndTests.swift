#if canImport(Glibc)
import Glibc
#endif
import ServiceLaunchers
import BalctlProtocol
import ControlPlane
import CurlClient
import Foundation
import GRDB
import Crypto
import Synchronization
import Testing
import TestSupport

/// Issue 12 end to end: real `balctl-server` and `balctl-heartbeat` processes, a real BIND9
/// (`named`, one for the suite) that the control plane updates with RFC 2136 + TSIG, real
/// haproxy processes for the haproxy pools, and `dig` to see what clients would see.
/// Delays are short (5 s, accepted with a warning) to keep the suite fast; the rules are the same.
@Suite("Failover end to end: real agents, real named", .serialized, .bindServer)
struct FailoverEndToEndTests {
    let bind: BINDServer
    init() throws { bind = try BINDServer.shared() }

    static let delay = 5

    /// One control plane with an rfc2136 provider on the suite's named.
    final class Rig: @unchecked Sendable {
        let h: Harness
        let bind: BINDServer
        let api: Harness.Operator
        let providerID: Int64
        var serverStartedAt = Date()
        var edges: [String: HAProxyEndToEndTests.EdgeHAProxy] = [:]
        var agentsByHost: [String: Process] = [:]

        init(bind: BINDServer, keySecret: String? = nil, serverArgs: [String] = [], serverEnv: [String: String] = [:]) async throws {
            h = try Harness(extraServerArgs: serverArgs)
            h.serverEnv = serverEnv
            self.bind = bind
            try await h.startServer()
            serverStartedAt = Date()
            api = try h.api()
            let p: DNSProviderView = try await api.call("POST", "/dns/providers", CreateDNSProviderRequest(
                name: "named", kind: .rfc2136,
                settings: ["server": "127.0.0.1", "port": "\(bind.port)", "zone": BINDServer.zone, "keyName": BINDServer.keyName],
                secret: keySecret ?? bind.keySecretBase64))
            providerID = p.id
        }

        /// A pool whose failover hostname is `label`.test.example, automatic failover on.
        func pool(_ label: String, template: PoolTemplate, auto: Bool = true) async throws -> (pool: PoolView, name: String) {
            let pool: PoolView = try await api.call("POST", "/pools", CreatePoolRequest(name: label, template: template))
            let name = "\(label).\(BINDServer.zone)"
            let _: FailoverSettingsView = try await api.call("PATCH", "/pools/\(pool.id)/failover", UpdateFailoverSettingsRequest(
                hostname: name, providerId: providerID, ttl: 30, autoFailover: auto, delaySec: FailoverEndToEndTests.delay,
                minSpacingSec: 300))
            return (pool, name)
        }

        /// An agent declaring `ip`; in a haproxy pool it watches a haproxy of its own.
        @discardableResult
        func agent(_ pool: PoolView, _ hostname: String, ip: String) async throws -> MemberEnrollment {
            let e = try await api.member(pool: pool.id, hostname: hostname)
            try start(e, ip: ip)
            return e
        }

        func start(_ e: MemberEnrollment, ip: String) throws {
            let hostname = e.member.hostname
            var env = h.agentEnv(secret: e.enrollmentSecret, hostname: hostname,
                                 stateDir: h.dir.appendingPathComponent("state-\(hostname)").path)
            env["BALCTL_DECLARE_IP"] = ip
            if e.member.role == "haproxy-balancer" {
                if edges[hostname] == nil {
                    let dir = h.dir.appendingPathComponent("edge-\(hostname)")
                    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                    edges[hostname] = try HAProxyEndToEndTests.EdgeHAProxy(in: dir)
                }
                env["BALCTL_HAPROXY_CONFIG"] = edges[hostname]!.config
                env["BALCTL_HAPROXY_BIN"] = "/usr/sbin/haproxy"
            }
            let p = try h.run(try Harness.binary("balctl-heartbeat"), [], env: env, log: "agent-\(hostname).log")
            h.agents.append(p)
            agentsByHost[hostname] = p
        }

        func kill9(_ hostname: String) {
            guard let p = agentsByHost[hostname], p.isRunning else { return }
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }

        func status(_ pool: PoolView) async throws -> FailoverStatusView {
            try await api.call("GET", "/pools/\(pool.id)/failover")
        }

        /// Until every member of the pool is ok (active healthy, standbys ready).
        func waitReady(_ pool: PoolView, timeout: Double = 30) async throws {
            let deadline = Date().addingTimeInterval(timeout)
            var last: FailoverStatusView?
            while Date() < deadline {
                last = try? await status(pool)
                if let s = last, !s.members.isEmpty, s.members.allSatisfy(\.ok) { return }
                try await Task.sleep(for: .milliseconds(200))
            }
            throw Harness.HarnessError("pool \(pool.name) never became ready: \(last.map { $0.members.map { "\($0.hostname) \($0.role.rawValue): \($0.reason)" } } ?? [])")
        }

        func makeActive(_ e: MemberEnrollment) async throws -> FailoverEventView {
            try await api.call("POST", "/members/\(e.member.id)/make-active", MakeActiveRequest())
        }

        func events(_ pool: PoolView) async throws -> [FailoverEventView] {
            try await api.call("GET", "/pools/\(pool.id)/failover/events?limit=100")
        }

        /// Past the startup guard (one delay after the server started).
        func waitPastStartup() async throws {
            let wait = Double(FailoverEndToEndTests.delay) + 0.5 - Date().timeIntervalSince(serverStartedAt)
            if wait > 0 { try await Task.sleep(for: .seconds(wait)) }
        }

        /// Seconds until `dig` shows `ip` for `name` (polled every 100 ms), or nil at the timeout.
        func secondsUntil(_ name: String, shows ip: String, timeout: Double) async throws -> Double? {
            let start = Date()
            while Date().timeIntervalSince(start) < timeout {
                if try bind.dig(name) == [ip] { return Date().timeIntervalSince(start) }
                try await Task.sleep(for: .milliseconds(100))
            }
            return nil
        }

        func outbox(_ kind: String) throws -> Int {
            let db = try DatabaseQueue(path: h.dataDir + "/balctl.sqlite", configuration: { var c = Configuration(); c.readonly = true; return c }())
            return try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM alert_outbox WHERE kind = ?", arguments: [kind]) ?? 0 }
        }
    }

    @Test("SIGKILL the active member: dig shows the standby within delay + 2 s in a haproxy and a generic pool; one UPDATE each; timings recorded")
    func killActive() async throws {
        let rig = try await Rig(bind: bind)
        let (edge, edgeName) = try await rig.pool("edge", template: .haproxy)
        let (web, webName) = try await rig.pool("web", template: .generic)
        let e1 = try await rig.agent(edge, "lb-1", ip: "81.2.69.21")
        let e2 = try await rig.agent(edge, "lb-2", ip: "81.2.69.22")
        let w1 = try await rig.agent(web, "web-1", ip: "81.2.69.31")
        try await rig.agent(web, "web-2", ip: "81.2.69.32")
        try await rig.waitReady(edge)
        try await rig.waitReady(web)
        #expect(try await rig.makeActive(e1).verified == true)
        #expect(try await rig.makeActive(w1).verified == true)
        #expect(try bind.dig(edgeName) == ["81.2.69.21"] && bind.dig(webName) == ["81.2.69.31"])
        try await rig.waitReady(edge)
        try await rig.waitPastStartup()

        let updates = try await bind.opcodeCount("UPDATE")
        let killedAt = Date().timeIntervalSince1970
        rig.kill9("lb-1")
        rig.kill9("web-1")
        let budget = Double(Self.delay) + 2
        async let edgeSeconds = rig.secondsUntil(edgeName, shows: "81.2.69.22", timeout: budget + 5)
        async let webSeconds = rig.secondsUntil(webName, shows: "81.2.69.32", timeout: budget + 5)
        let (es, ws) = try await (edgeSeconds, webSeconds)
        #expect(es != nil && es! <= budget, "haproxy pool: \(String(describing: es)) s")
        #expect(ws != nil && ws! <= budget, "generic pool: \(String(describing: ws)) s")
        try await Task.sleep(for: .seconds(2))
        #expect(try await bind.opcodeCount("UPDATE") == updates + 2)

        let e = try #require(try await rig.events(edge).first { $0.kind == "failover" })
        #expect(e.fromMemberId == e1.member.id && e.toMemberId == e2.member.id && e.verified == true)
        let since = try #require(e.unhealthySince), detected = try #require(e.detectedAt), written = try #require(e.dnsWrittenAt)
        #expect(since <= killedAt && detected - since >= Double(Self.delay) && detected <= written)
        #expect(written - detected < 1, "DNS write took \(written - detected) s")
        // The CLI shows the event with its timings.
        let cli = try rig.h.balctl(["failover", "events", "\(edge.id)", "--verbose"])
        #expect(cli.status == 0 && cli.text.contains("failover") && cli.text.contains("DNS written"), "\(cli.text)")
    }

    @Test("alerts: a dead SMTP server does not delay the DNS write; the signed webhook arrives with the failover")
    func alertsDuringFailover() async throws {
        let deadSMTP = try DeadPeerListener(.silent)
        defer { deadSMTP.stop() }
        let received = Mutex<[TinyHTTPServer.Request]>([])
        let hook = try TinyHTTPServer { r in
            received.withLock { $0.append(r) }
            return .init(status: 200, body: Data())
        }
        defer { hook.stop() }
        let rig = try await Rig(bind: bind, serverArgs: ["--smtp-url", "smtp://127.0.0.1:\(deadSMTP.port)", "--smtp-from", "balctl@example.com",
                                                         "--allow-loopback-http"])
        let (web, name) = try await rig.pool("alerts", template: .generic)
        let secret = "webhook-secret-0123456789"
        let _: FailoverSettingsView = try await rig.api.call("PATCH", "/pools/\(web.id)/failover", UpdateFailoverSettingsRequest(
            alertEmails: ["ops@example.com"], webhookURL: "http://127.0.0.1:\(hook.port)/balctl", webhookSecret: secret))
        let a = try await rig.agent(web, "al-1", ip: "81.2.69.121")
        try await rig.agent(web, "al-2", ip: "81.2.69.122")
        try await rig.waitReady(web)
        _ = try await rig.makeActive(a)
        try await rig.waitPastStartup()
        rig.kill9("al-1")
        let seconds = try await rig.secondsUntil(name, shows: "81.2.69.122", timeout: Double(Self.delay) + 5)
        #expect(seconds != nil && seconds! <= Double(Self.delay) + 2, "\(String(describing: seconds))")
        // The webhook for the failover arrives, signed over "timestamp.body" with the pool's secret.
        let deadline = Date().addingTimeInterval(15)
        var failover: TinyHTTPServer.Request?
        while Date() < deadline, failover == nil {
            // The automatic failover's webhook (make-active sent one too, with facts.kind "make_active").
            failover = received.withLock {
                $0.first { r in
                    r.headers["x-balctl-event"] == "failover"
                        && (try? JSONDecoder().decode(JSONValue.self, from: r.body))?["facts"]?["kind"]?.stringValue == "failover"
                }
            }
            if failover == nil { try await Task.sleep(for: .milliseconds(200)) }
        }
        let r = try #require(failover)
        let ts = try #require(r.headers["x-balctl-timestamp"])
        let delivery = try #require(r.headers["x-balctl-delivery"])
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(ts).\(delivery).".utf8) + r.body, using: SymmetricKey(data: Data(secret.utf8)))
        #expect(r.headers["x-balctl-signature"] == "sha256=" + mac.map { String(format: "%02x", $0) }.joined())
        let body = try JSONDecoder().decode(JSONValue.self, from: r.body)
        #expect(body["kind"]?.stringValue == "failover" && body["facts"]?["to"]?.stringValue == "al-2", "\(body)")
        // The mail to the dead server is still being tried, not lost.
        let pendingMail = try rig.outbox("failover")
        #expect(pendingMail >= 2)
        #expect(deadSMTP.connections >= 1)
    }

    @Test("haproxy stopped on the active member fails over; a standby whose haproxy is down is not promoted")
    func haproxyStopped() async throws {
        let rig = try await Rig(bind: bind)
        let (edge, name) = try await rig.pool("hap", template: .haproxy)
        let a = try await rig.agent(edge, "hap-1", ip: "81.2.69.41")
        let b = try await rig.agent(edge, "hap-2", ip: "81.2.69.42")
        try await rig.waitReady(edge)
        _ = try await rig.makeActive(a)
        try await rig.waitPastStartup()
        rig.edges["hap-2"]!.stopHAProxy()
        rig.edges["hap-1"]!.stopHAProxy()
        // Not promoted while its haproxy is down: "no ready standby", once.
        try await Task.sleep(for: .seconds(Double(Self.delay) + 3))
        #expect(try bind.dig(name) == ["81.2.69.41"])
        let status = try await rig.status(edge)
        #expect(status.members.first { $0.memberId == b.member.id }?.reason == "haproxy inactive", "\(status.members)")
        #expect(try await rig.events(edge).filter { $0.kind == "no_ready_standby" }.count == 1)
        #expect(try rig.outbox("no_ready_standby") == 0)  // no recipients configured: nothing queued
        // The standby's haproxy comes back: it is promoted.
        try rig.edges["hap-2"]!.startHAProxy()
        #expect(try await rig.secondsUntil(name, shows: "81.2.69.42", timeout: 15) != nil)
        #expect(try await rig.events(edge).first { $0.kind == "failover" }?.reason?.contains("haproxy inactive") == true)
    }

    @Test("a flapping active member (stopped and resumed every 2 s for 60 s) causes at most one failover and no failback")
    func flapping() async throws {
        let rig = try await Rig(bind: bind)
        let (web, name) = try await rig.pool("flap", template: .generic)
        let a = try await rig.agent(web, "flap-1", ip: "81.2.69.51")
        try await rig.agent(web, "flap-2", ip: "81.2.69.52")
        try await rig.waitReady(web)
        _ = try await rig.makeActive(a)
        try await rig.waitPastStartup()
        let pid = rig.agentsByHost["flap-1"]!.processIdentifier
        let start = Date()
        var seen: [String] = []
        while Date().timeIntervalSince(start) < 60 {
            kill(pid, SIGSTOP)
            try await Task.sleep(for: .seconds(2))
            kill(pid, SIGCONT)
            try await Task.sleep(for: .seconds(2))
            if let ip = try bind.dig(name).first, seen.last != ip { seen.append(ip) }
        }
        let failovers = try await rig.events(web).filter { $0.kind == "failover" }
        #expect(failovers.count <= 1)
        #expect(seen.count <= 2 && (seen.count < 2 || seen == ["81.2.69.51", "81.2.69.52"]), "\(seen)")
    }

    @Test("every agent silent at once: no DNS write, one alert 'control plane cannot hear any member'")
    func allSilent() async throws {
        let rig = try await Rig(bind: bind)
        let (web, name) = try await rig.pool("quiet", template: .generic)
        let _: FailoverSettingsView = try await rig.api.call("PATCH", "/pools/\(web.id)/failover",
                                                             UpdateFailoverSettingsRequest(alertEmails: ["ops@example.com"]))
        let a = try await rig.agent(web, "quiet-1", ip: "81.2.69.61")
        try await rig.agent(web, "quiet-2", ip: "81.2.69.62")
        try await rig.waitReady(web)
        _ = try await rig.makeActive(a)
        try await rig.waitPastStartup()
        let updates = try await bind.opcodeCount("UPDATE")
        for p in rig.agentsByHost.values { kill(p.processIdentifier, SIGSTOP) }
        try await Task.sleep(for: .seconds(Double(Self.delay) * 2 + 3))
        #expect(try await bind.opcodeCount("UPDATE") == updates)
        #expect(try bind.dig(name) == ["81.2.69.61"])
        #expect(try rig.outbox("all_silent") == 1)
        #expect(try rig.outbox("heartbeat_lost") == 0)
        #expect(try await rig.events(web).contains { $0.kind == "all_silent" })
        // They come back: still no failover (the silence ended; the active member is fine).
        for p in rig.agentsByHost.values { kill(p.processIdentifier, SIGCONT) }
        try await Task.sleep(for: .seconds(Double(Self.delay) + 2))
        #expect(try await bind.opcodeCount("UPDATE") == updates)
    }

    @Test("control plane restarted: no failover within one delay after the start, then a real one")
    func restart() async throws {
        let rig = try await Rig(bind: bind)
        let (web, name) = try await rig.pool("restart", template: .generic)
        let a = try await rig.agent(web, "rs-1", ip: "81.2.69.71")
        try await rig.agent(web, "rs-2", ip: "81.2.69.72")
        try await rig.waitReady(web)
        _ = try await rig.makeActive(a)
        rig.h.stopServer()
        rig.kill9("rs-1")
        try await Task.sleep(for: .seconds(Double(Self.delay) + 1))  // dead for longer than the delay already
        // Taken before the launch: the control plane's own "one delay after the start" clock
        // starts after this, while `startServer` returns only once it answers (taken after, the
        // bound was short by the start-up time: 4.997 s against 5 once).
        let startedAt = Date()
        try await rig.h.startServer()
        let seconds = try await rig.secondsUntil(name, shows: "81.2.69.72", timeout: Double(Self.delay) + 10)
        let moved = try #require(seconds)
        #expect(Date().timeIntervalSince(startedAt) >= Double(Self.delay), "moved \(moved) s after the restart")
    }

    @Test("two control planes on one database: one DNS write per failover")
    func twoControlPlanes() async throws {
        let rig = try await Rig(bind: bind)
        let (web, name) = try await rig.pool("pair", template: .generic)
        let a = try await rig.agent(web, "pair-1", ip: "81.2.69.81")
        try await rig.agent(web, "pair-2", ip: "81.2.69.82")
        try await rig.waitReady(web)
        _ = try await rig.makeActive(a)
        let port2 = try Harness.freePort()
        let second = try rig.h.run(try Harness.binary("balctl-server"), [
            "serve", "--data-dir", rig.h.dataDir, "--port", "\(port2)", "--heartbeat-interval", "1",
            "--tls-cert", rig.h.tls.serverCert, "--tls-key", rig.h.tls.serverKey], log: "server-2.log")
        defer { kill(second.processIdentifier, SIGKILL); second.waitUntilExit() }
        try await Task.sleep(for: .seconds(Double(Self.delay) + 1))  // both past their startup guard
        #expect(second.isRunning, "\(rig.h.log("server-2.log"))")
        let updates = try await bind.opcodeCount("UPDATE")
        rig.kill9("pair-1")
        #expect(try await rig.secondsUntil(name, shows: "81.2.69.82", timeout: Double(Self.delay) + 5) != nil)
        try await Task.sleep(for: .seconds(2))
        #expect(try await bind.opcodeCount("UPDATE") == updates + 1)
        let failovers = try await rig.events(web).filter { $0.kind == "failover" }
        #expect(failovers.count == 1, "\(failovers.map(\.decidedBy))")
    }

    @Test("CLI: make-active refuses a standby that is not ready with its reason; cut and make-active move DNS; drill reports and changes nothing")
    func manualAndDrill() async throws {
        let rig = try await Rig(bind: bind)
        let (web, name) = try await rig.pool("manual", template: .generic, auto: false)
        let a = try await rig.agent(web, "man-1", ip: "81.2.69.91")
        let b = try await rig.agent(web, "man-2", ip: "10.9.9.9")
        // b declares a private address: it heartbeats but is never ready.
        _ = try await rig.api.waitForHeartbeat(a.member.id)
        _ = try await rig.api.waitForHeartbeat(b.member.id)
        let refused = try rig.h.balctl(["failover", "make-active", "\(b.member.id)"])
        #expect(refused.status == 1 && refused.text.contains("not ready: IPv4 10.9.9.9 in heartbeat is not public"), "\(refused.text)")
        let first = try rig.h.balctl(["failover", "make-active", "\(a.member.id)"])
        #expect(first.status == 0 && first.text.contains("make_active"), "\(first.text)")
        #expect(try bind.dig(name) == ["81.2.69.91"])

        let status = try rig.h.balctl(["failover", "status", "\(web.id)"])
        #expect(status.text.contains("man-2") && status.text.contains("is not public") && status.text.contains("NONE READY"), "\(status.text)")
        let noCut = try rig.h.balctl(["failover", "cut", "\(web.id)"])
        #expect(noCut.status == 1 && noCut.text.contains("no ready standby"), "\(noCut.text)")

        // The standby is restarted with a public address: cut moves DNS to it.
        rig.kill9("man-2")
        try rig.start(b, ip: "81.2.69.92")
        try await rig.waitReady(web)
        let cut = try rig.h.balctl(["failover", "cut", "\(web.id)"])
        #expect(cut.status == 0 && cut.text.contains("verified"), "\(cut.text)")
        #expect(try bind.dig(name) == ["81.2.69.92"])

        let updates = try await bind.opcodeCount("UPDATE")
        let serial = try bind.serial()
        let drill = try rig.h.balctl(["failover", "drill", "\(web.id)"])
        #expect(drill.text.contains("winner") && drill.text.contains("man-1") && drill.text.contains("accepted"), "\(drill.text)")
        #expect(try bind.serial() == serial)
        // The drill's credential check is an UPDATE whose prerequisite cannot hold: named refuses
        // it, nothing changes (the serial above); no other UPDATE was sent.
        #expect(try await bind.opcodeCount("UPDATE") <= updates + 1)

        let bad = try await Rig(bind: bind, keySecret: Data(repeating: 3, count: 32).base64EncodedString())
        let (badPool, _) = try await bad.pool("badkey", template: .generic, auto: false)
        let x = try await bad.agent(badPool, "bad-1", ip: "81.2.69.93")
        try await bad.waitReady(badPool)
        let badDrill = try bad.h.balctl(["failover", "drill", "\(badPool.id)"])
        #expect(badDrill.status == 1 && badDrill.text.contains("REFUSED"), "\(badDrill.text)")
        let badMove = try bad.h.balctl(["failover", "make-active", "\(x.member.id)"])
        #expect(badMove.status == 1 && badMove.text.contains("authentication"), "\(badMove.text)")
    }

    @Test("dynamic DNS: the active member's declared IP changes, the record follows once")
    func dynamicDNS() async throws {
        let rig = try await Rig(bind: bind)
        let (web, name) = try await rig.pool("dyn", template: .generic)
        let _: FailoverSettingsView = try await rig.api.call("PATCH", "/pools/\(web.id)/failover", UpdateFailoverSettingsRequest(dynamicDNS: true))
        let a = try await rig.agent(web, "dyn-1", ip: "81.2.69.101")
        try await rig.agent(web, "dyn-2", ip: "81.2.69.102")
        try await rig.waitReady(web)
        _ = try await rig.makeActive(a)
        let updates = try await bind.opcodeCount("UPDATE")
        rig.kill9("dyn-1")
        try rig.start(a, ip: "81.2.69.111")
        #expect(try await rig.secondsUntil(name, shows: "81.2.69.111", timeout: 10) != nil)
        try await Task.sleep(for: .seconds(3))
        #expect(try await bind.opcodeCount("UPDATE") == updates + 1)
        #expect(try await rig.events(web).filter { $0.kind == "dynamic_dns" }.count == 1)
    }
}
