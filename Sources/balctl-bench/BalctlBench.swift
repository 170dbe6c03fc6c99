import ArgumentParser
import BalctlProtocol
import ControlPlane
import CurlClient
import Foundation
import ServiceLifecycle

/// Measures the control plane's authenticated heartbeat throughput against its no-op route, with
/// wrk as the load generator (on the same 2 cores), and the agent's memory and CPU per 1,000
/// heartbeats. Prints figures and ratios; asserts nothing (goals live here, not in tests).
@main
struct BalctlBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "balctl-bench",
        abstract: "Benchmark heartbeats/s (real auth, real SQLite writes) vs the no-op route, and the agent's footprint.")

    @Option(help: "Simulated agents, each with its own member and secret.") var agents = 1000
    @Option(help: "Seconds per wrk run.") var duration = 10
    @Option(help: "wrk connections.") var connections = 64
    @Option(help: "wrk threads.") var threads = 2
    @Option(help: "Agent binary for the footprint run (default: next to this executable).") var agentBinary: String?
    @Option(help: "Heartbeats for the agent footprint run.") var agentHeartbeats = 1000

    func run() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-bench-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let tls = try LocalCA.create(in: dir.appendingPathComponent("tls").path)
        var config = ServerConfig(dataDir: dir.appendingPathComponent("data").path)
        config.port = 0
        config.tlsCertFile = tls.serverCert
        config.tlsKeyFile = tls.serverKey
        let server = try ControlPlane(config: config)
        _ = try server.store.bootstrapAdminIfNeeded()
        let admin = try await server.store.adminOperator()!
        let pool = try await server.store.createPool(CreatePoolRequest(name: "bench", template: .generic), by: admin)

        print("setting up \(agents) members…")
        var entries: [(secret: String, body: String)] = []
        for i in 0..<agents {
            let host = "bench-\(i)"
            let e = try await server.store.addMember(
                pool: pool.id, CreateMemberRequest(hostname: host, allowedIPs: ["127.0.0.1"], family: .debian, role: nil),
                publicURL: config.publicURL, by: admin)
            let body = String(decoding: try JSONEncoder().encode(Self.report(hostname: host)), as: UTF8.self)
            entries.append((e.enrollmentSecret, body))
        }

        let (ports, sink) = AsyncStream.makeStream(of: Int.self)
        let group = try await server.serviceGroup { sink.yield($0) }
        let serverTask = Task { try await group.run() }
        var it = ports.makeAsyncIterator()
        let port = await it.next()!
        let base = "https://127.0.0.1:\(port)"
        print("server on \(base); body ≈ \(entries[0].body.utf8.count) bytes per heartbeat")

        let script = dir.appendingPathComponent("heartbeat.lua")
        try Self.luaScript(entries).write(to: script, atomically: true, encoding: .utf8)

        _ = try runWrk(base + "/healthz", script: nil, seconds: 2)  // warm-up
        let noop = try runWrk(base + "/healthz", script: nil, seconds: duration)
        let hb = try runWrk(base + AgentWire.heartbeatPath, script: script.path, seconds: duration)
        let stored = try await server.store.db.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM heartbeat_latest") ?? 0
        }

        print("")
        print("no-op GET /healthz:          \(fmt(noop.rps)) req/s   p50 \(noop.p50)  p99 \(noop.p99)")
        print("authenticated heartbeats:    \(fmt(hb.rps)) req/s   p50 \(hb.p50)  p99 \(hb.p99)   non-2xx: \(hb.errors)")
        print("ratio heartbeat / no-op:     \(String(format: "%.2f", hb.rps / max(noop.rps, 1)))")
        print("members with a stored heartbeat: \(stored) of \(agents)")

        // The agent's footprint: the real binary, heartbeating as member 0.
        let exe = agentBinary ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("balctl-heartbeat").path
        if FileManager.default.isExecutableFile(atPath: exe) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = ["--bench-heartbeats", "\(agentHeartbeats)"]
            p.environment = [
                "BALCTL_ENROLLMENT_SECRET": entries[0].secret, "BALCTL_API_BASE": base,
                "BALCTL_CA_FILE": tls.caCert, "BALCTL_HOSTNAME": "bench-0",
                "BALCTL_STATE_DIR": dir.appendingPathComponent("agent").path,
                "BALCTL_ENV_FILE": "/nonexistent", "BALCTL_LOG_LEVEL": "warning",
            ]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            print("agent (\(exe)), \(agentHeartbeats) heartbeats back to back: \(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))")
            if let attrs = try? FileManager.default.attributesOfItem(atPath: exe), let size = attrs[.size] as? Int {
                print("agent binary size: \(String(format: "%.1f", Double(size) / 1_048_576)) MiB")
            }
        } else {
            print("agent footprint skipped: no agent binary at \(exe) (pass --agent-binary)")
        }

        await group.triggerGracefulShutdown()
        _ = try? await serverTask.value
    }

    struct WrkResult { var rps: Double; var p50: String; var p99: String; var errors: Int }

    func runWrk(_ url: String, script: String?, seconds: Int) throws -> WrkResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/wrk")
        p.arguments = ["-t\(threads)", "-c\(connections)", "-d\(seconds)s", "--latency"]
            + (script.map { ["-s", $0] } ?? []) + [url]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        func field(_ prefix: String) -> String? {
            text.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(prefix) }
                .map { $0.trimmingCharacters(in: .whitespaces).dropFirst(prefix.count).trimmingCharacters(in: .whitespaces) }
        }
        let rps = Double(field("Requests/sec:") ?? "0") ?? 0
        let errors = Int(field("Non-2xx or 3xx responses:") ?? "0") ?? 0
        return WrkResult(rps: rps, p50: field("50%") ?? "?", p99: field("99%") ?? "?", errors: errors)
    }

    func fmt(_ v: Double) -> String { String(format: "%8.0f", v) }

    /// Each wrk request is the next member's heartbeat: its own secret, its own hostname.
    static func luaScript(_ entries: [(secret: String, body: String)]) -> String {
        var lua = "local members = {\n"
        for e in entries {
            let body = e.body.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            lua += "  {\"\(e.secret)\", \"\(body)\"},\n"
        }
        lua += """
            }
            local n = #members
            local i = 0
            function setup(thread)
              thread:set("offset", i * 7919)
              i = i + 1
            end
            local counter = 0
            request = function()
              counter = counter + 1
              local m = members[((counter + (offset or 0)) % n) + 1]
              return wrk.format("POST", nil, {["Authorization"] = "Bearer " .. m[1], ["Content-Type"] = "application/json"}, m[2])
            end
            """
        return lua
    }

    /// A heartbeat the size of a real agent's.
    static func report(hostname: String) -> HostReport {
        HostReport(
            hostname: hostname, agentVersion: BalctlVersion.current,
            os: OSInfo(family: "debian", id: "debian", versionID: "12", prettyName: "Debian GNU/Linux 12 (bookworm)", kernel: "6.1.0-26-amd64"),
            uptimeSec: 86_400.5, load: [0.12, 0.2, 0.18], cpuPercent: 3.4, cpuCount: 2,
            memory: MemoryInfo(totalBytes: 4_100_000_000, availableBytes: 3_000_000_000),
            disks: [DiskInfo(mount: "/", fsType: "ext4", totalBytes: 40_000_000_000, availableBytes: 30_000_000_000)],
            publicIPv4: "203.0.113.10", publicIPSource: "declared", stacks: [:],
            commands: ["host.collect_facts", "host.echo"], jobsInFlight: [])
    }
}
