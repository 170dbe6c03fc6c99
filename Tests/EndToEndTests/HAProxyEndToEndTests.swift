import BalctlProtocol
import ControlPlane
import CurlClient
import Foundation
import Testing

/// The HAProxy path end to end with real processes: a real haproxy (Debian's package, started
/// here unprivileged on loopback with its admin socket in a temp dir), a real `balctl-heartbeat`
/// pointed at its config, `balctl-server` storing the heartbeats, and the `balctl` CLI reading
/// them back. Run with `swift test --filter HAProxyEndToEnd`.
@Suite(.serialized)
struct HAProxyEndToEndTests {
    /// haproxy with frontend fe → backend be1 (s1, s2) in front of one python http.server.
    final class EdgeHAProxy: @unchecked Sendable {
        let dir: URL
        let config: String
        let socket: String
        var processes: [Process] = []

        init(in parent: URL) throws {
            dir = parent.appendingPathComponent("haproxy")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            config = dir.appendingPathComponent("haproxy.cfg").path
            socket = dir.appendingPathComponent("admin.sock").path
            let www = dir.appendingPathComponent("www")
            try FileManager.default.createDirectory(at: www, withIntermediateDirectories: true)
            try Data("ok".utf8).write(to: www.appendingPathComponent("index.html"))
            let backendPort = try Harness.freePort()
            let frontendPort = try Harness.freePort()
            let backend = Process()
            backend.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            backend.arguments = ["-m", "http.server", "\(backendPort)", "--bind", "127.0.0.1", "--directory", www.path]
            backend.standardOutput = FileHandle.nullDevice
            backend.standardError = FileHandle.nullDevice
            try backend.run()
            processes.append(backend)
            try """
            global
                stats socket \(socket) mode 600 level admin

            defaults
                mode http
                timeout connect 2s
                timeout client 10s
                timeout server 10s

            frontend fe
                bind 127.0.0.1:\(frontendPort)
                default_backend be1

            backend be1
                server s1 127.0.0.1:\(backendPort) check inter 200ms
                server s2 127.0.0.1:\(backendPort) check inter 200ms

            """.write(toFile: config, atomically: true, encoding: .utf8)
            try startHAProxy()
        }

        /// The haproxy process (the last one started).
        var haproxy: Process? { processes.last { $0.executableURL?.path == "/usr/sbin/haproxy" } }

        func startHAProxy() throws {
            let haproxy = Process()
            haproxy.executableURL = URL(fileURLWithPath: "/usr/sbin/haproxy")
            haproxy.arguments = ["-f", config, "-db"]
            haproxy.standardOutput = FileHandle.nullDevice
            haproxy.standardError = FileHandle.nullDevice
            try haproxy.run()
            processes.append(haproxy)
        }

        func stopHAProxy() {
            guard let p = haproxy, p.isRunning else { return }
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }

        deinit {
            // SIGKILL: Foundation's Process starts children with SIGTERM blocked (the spawning
            // thread's mask), so terminate() would never end the python backend.
            for p in processes where p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        }
    }

    /// The latest report's haproxy entry, once `predicate` holds for it.
    func waitForHAProxy(_ api: Harness.Operator, member: Int64, timeout: Double = 30,
                        _ predicate: (JSONValue) -> Bool) async throws -> JSONValue {
        let deadline = Date().addingTimeInterval(timeout)
        var last: JSONValue? = nil
        while Date() < deadline {
            if let record: HeartbeatRecord = try? await api.call("GET", "/members/\(member)/report"),
               let h = record.report.stacks["haproxy"] {
                last = h
                if predicate(h) { return h }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw Harness.HarnessError("the stored report never matched; last haproxy entry: \(last?.jsonString() ?? "none")")
    }

    /// The status of `server` in a haproxy entry's column-wise stats.
    static func status(_ h: JSONValue, _ proxy: String, _ server: String) -> String? {
        guard case .array(let cols)? = h["stats"]?["columns"], case .array(let rows)? = h["stats"]?["rows"] else { return nil }
        let names = cols.compactMap(\.stringValue)
        guard let px = names.firstIndex(of: "pxname"), let sv = names.firstIndex(of: "svname"),
              let st = names.firstIndex(of: "status") else { return nil }
        for case .array(let r) in rows where r.count > st && r[px].stringValue == proxy && r[sv].stringValue == server {
            return r[st].stringValue
        }
        return nil
    }

    @Test("the agent's heartbeat carries haproxy stats; the control plane stores and serves them; a drain job shows up in them; the CLI prints them")
    func heartbeatCarriesStats() async throws {
        let h = try Harness()
        let edge = try EdgeHAProxy(in: h.dir)
        try await h.startServer()
        let api = try h.api()
        let pool: PoolView = try await api.call("POST", "/pools", CreatePoolRequest(name: "edge", template: .haproxy))
        let e = try await api.member(pool: pool.id, hostname: "edge-1")
        var env = h.agentEnv(secret: e.enrollmentSecret, hostname: "edge-1",
                             stateDir: h.dir.appendingPathComponent("agent-state").path)
        env["BALCTL_HAPROXY_CONFIG"] = edge.config
        env["BALCTL_HAPROXY_BIN"] = "/usr/sbin/haproxy"
        h.agents.append(try h.run(try Harness.binary("balctl-heartbeat"), [], env: env, log: "agent.log"))

        let hb = try await api.waitForHeartbeat(e.member.id)
        #expect(hb.stacks.contains("haproxy"))
        #expect(hb.commands.contains("haproxy.server_drain") && hb.commands.contains("haproxy.reload"))
        let up = try await waitForHAProxy(api, member: e.member.id) {
            Self.status($0, "be1", "s1") == "UP" && Self.status($0, "be1", "s2") == "UP"
        }
        #expect(up["active"] == .bool(true))
        #expect(up["activeSource"]?.stringValue == "process")
        #expect(up["adminSocket"]?.stringValue == edge.socket)
        #expect(up["adminSocketAnswers"] == .bool(true))
        #expect(up["version"]?.stringValue?.hasPrefix("2.") == true)
        #expect(Self.status(up, "fe", "FRONTEND") == "OPEN")

        // A job changes haproxy; the next heartbeats carry the new state to the control plane.
        let job = try await api.enqueue(e.member.id, "haproxy.server_drain",
                                        .object(["backend": .string("be1"), "server": .string("s1")]))
        let done = try await api.waitForJob(job.id) { $0.state.isTerminal }
        #expect(done.state == .completed, "\(done.error ?? "")")
        #expect(done.changed == true)
        #expect(done.result?["statusAfter"]?.stringValue == "DRAIN")
        _ = try await waitForHAProxy(api, member: e.member.id) { Self.status($0, "be1", "s1") == "DRAIN" }

        // The control plane refuses an injection at enqueue time, from the plugin's own declaration.
        let refused = try await api.raw("POST", "/members/\(e.member.id)/jobs", try JSONEncoder().encode(
            EnqueueJobRequest(command: "haproxy.server_ready", params: .object(["backend": .string("be1"), "server": .string("s1; shutdown")]), maxAttempts: nil)))
        #expect(refused.status == 400)
        #expect(refused.text.contains("haproxy names use only letters"), "\(refused.text)")

        // The operator CLI shows the stored stats as a table.
        let cli = Process()
        cli.executableURL = URL(fileURLWithPath: try Harness.binary("balctl"))
        cli.arguments = ["members", "stats", "\(e.member.id)", "--server", h.base, "--token", h.adminToken, "--ca-file", h.tls.caCert]
        cli.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BALCTL_") }
        let pipe = Pipe()
        cli.standardOutput = pipe
        cli.standardError = pipe
        try cli.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        cli.waitUntilExit()
        #expect(cli.terminationStatus == 0, "\(text)")
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.first?.contains("on edge-1 · active (process) · socket \(edge.socket)") == true, "\(text)")
        #expect(lines.contains { $0.hasPrefix("PROXY") && $0.contains("STATUS") && $0.contains("CHECK") }, "\(text)")
        #expect(lines.contains { $0.hasPrefix("be1") && $0.contains(" s1 ") && $0.contains("DRAIN") && $0.contains("L4OK") }, "\(text)")
        #expect(lines.contains { $0.hasPrefix("be1") && $0.contains(" s2 ") && $0.contains(" UP ") }, "\(text)")
    }
}
