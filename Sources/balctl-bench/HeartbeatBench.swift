import ArgumentParser
import BalctlProtocol
import ControlPlane
import CurlClient
import Foundation
import SQLEngine
import ServiceLifecycle

/// Measures the control plane's authenticated heartbeat throughput against its no-op route, with
/// wrk as the load generator (on the same 2 cores), and the agent's memory and CPU per 1,000
/// heartbeats. Prints figures and ratios; asserts nothing (goals live here, not in tests).
/// The default mode of `balctl-bench`.
struct HeartbeatBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heartbeats",
        abstract: "Benchmark heartbeats/s (real auth, real SQLite writes) vs the no-op route, and the agent's footprint.")

    @Option(help: "Simulated agents, each with its own member and secret.") var agents = 1000
    @Option(help: "Seconds per wrk run.") var duration = 10
    @Option(help: "Rounds of (no-op run, heartbeat run); medians are reported.") var rounds = 3
    @Option(help: "wrk connections.") var connections = 64
    @Option(help: "wrk threads.") var threads = 2
    @Option(help: "Agent binary for the footprint run (default: next to this executable).") var agentBinary: String?
    @Option(help: "Heartbeats for the agent footprint run.") var agentHeartbeats = 1000
    @Flag(help: "Watch every member with pool threshold presets (cpu, memory, disk, load): the cost of evaluating them shows in the server CPU per heartbeat.")
    var thresholds = false

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
        if thresholds {
            for (metric, level) in [(ThresholdMetric.cpu, 99.0), (.memory, 99), (.disk, 99), (.load, 50)] {
                _ = try await server.store.setThreshold(pool: pool.id, metric, SetThresholdRequest(raiseAt: level), by: admin)
            }
            print("thresholds: every member watched (cpu, memory, disk, load presets on the pool)")
        }

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

        // Rounds alternate the two routes, so a burst of other load on the machine lands on both;
        // the figures are the medians (by requests/s) and the ratio is taken per round.
        _ = try await runWrk(base + "/healthz", script: nil, seconds: 2)  // warm-up
        var noops: [WrkResult] = [], hbs: [WrkResult] = []
        for round in 1...rounds {
            let noop = try await runWrk(base + "/healthz", script: nil, seconds: duration)
            let hb = try await runWrk(base + AgentWire.heartbeatPath, script: script.path, seconds: duration)
            print("round \(round): no-op \(fmt(noop.rps)) req/s, heartbeats \(fmt(hb.rps)) req/s (non-2xx \(hb.errors)), ratio \(String(format: "%.2f", hb.rps / max(noop.rps, 1))); server CPU per request \(String(format: "%.0f", noop.serverCPUMicros)) µs vs \(String(format: "%.0f", hb.serverCPUMicros)) µs")
            noops.append(noop); hbs.append(hb)
        }
        let stored = try await server.store.db.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM heartbeat_latest") ?? 0
        }
        func median(_ runs: [WrkResult]) -> WrkResult { runs.sorted { $0.rps < $1.rps }[runs.count / 2] }
        func median(_ runs: [WrkResult], by key: KeyPath<WrkResult, Double>) -> Double { runs.map { $0[keyPath: key] }.sorted()[runs.count / 2] }
        let ratios = zip(hbs, noops).map { $0.rps / max($1.rps, 1) }.sorted()
        let (noop, hb) = (median(noops), median(hbs))

        print("")
        print("medians of \(rounds) rounds of \(duration) s, wrk -t\(threads) -c\(connections):")
        print("no-op GET /healthz:          \(fmt(noop.rps)) req/s   p50 \(noop.p50)  p99 \(noop.p99)")
        print("authenticated heartbeats:    \(fmt(hb.rps)) req/s   p50 \(hb.p50)  p99 \(hb.p99)   non-2xx: \(hbs.map(\.errors).reduce(0, +))")
        print("ratio heartbeat / no-op:     \(String(format: "%.2f", ratios[ratios.count / 2])) (rounds: \(ratios.map { String(format: "%.2f", $0) }.joined(separator: " ")))")
        let cpuRatios = zip(noops, hbs).map { $0.serverCPUMicros / max($1.serverCPUMicros, 0.001) }.sorted()
        print("server CPU per request:      no-op \(String(format: "%.0f", median(noops, by: \.serverCPUMicros))) µs, heartbeat \(String(format: "%.0f", median(hbs, by: \.serverCPUMicros))) µs, ratio \(String(format: "%.2f", cpuRatios[cpuRatios.count / 2]))")
        // The store alone: the same writes without HTTP and TLS, to tell the two costs apart.
        let bodies = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ("bench-\($0.offset)", $0.element.body) })
        for batch in [1, 32] {
            let count = batch == 1 ? 5_000 : 50_000
            let seconds = try await server.measureStoreIngest(count: count, batch: batch) { bodies[$0]! }
            print("store ingest, \(batch) per transaction: \(fmt(Double(count) / seconds)) heartbeats/s (\(String(format: "%.1f", seconds / Double(count) * 1e6)) µs each)")
        }
        print("members with a stored heartbeat: \(stored) of \(agents)")
        if thresholds {
            // The monitor's pass alone: every member's report decoded and checked once.
            let members = try await server.store.listMembers(pool: pool.id, by: admin)
            var best = Double.infinity
            for round in 1...5 {
                for (m, e) in zip(members, entries) { server.thresholds.offer(member: m.id, report: e.body) }
                let start = Date()
                // An hour apart each time, so every member is due again (see minIntervalSec).
                _ = try await server.thresholds.evaluatePending(at: Date().timeIntervalSince1970 + Double(round) * 3600)
                best = min(best, Date().timeIntervalSince(start))
            }
            print("threshold pass over \(members.count) reports: \(String(format: "%.1f", best * 1000)) ms (\(String(format: "%.1f", best / Double(max(members.count, 1)) * 1e6)) µs per report; each member at most every 5 s, whatever its heartbeat rate)")
        }

        // The agent's footprint: the real binary, heartbeating as member 0.
        let exe = agentBinary ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("balctl-heartbeat").path
        if FileManager.default.isExecutableFile(atPath: exe) {
            let environment = [
                "BALCTL_ENROLLMENT_SECRET": entries[0].secret, "BALCTL_API_BASE": base,
                "BALCTL_CA_FILE": tls.caCert, "BALCTL_HOSTNAME": "bench-0",
                "BALCTL_STATE_DIR": dir.appendingPathComponent("agent").path,
                "BALCTL_ENV_FILE": "/nonexistent", "BALCTL_LOG_LEVEL": "warning",
            ]
            let data = try await runToEnd(exe, ["--bench-heartbeats", "\(agentHeartbeats)"], environment: environment)
            print("agent (\(exe)), \(agentHeartbeats) heartbeats back to back: \(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))")
            // The yardstick: a Python standard-library agent, same server, same member, same count.
            let peer = dir.appendingPathComponent("python-peer-agent.py")
            try PythonPeerAgent.script.write(to: peer, atomically: true, encoding: .utf8)
            let python = try? await runToEnd("/usr/bin/python3", [peer.path, base, entries[0].secret, "bench-0", tls.caCert, "\(agentHeartbeats)"],
                                             environment: nil)
            if let python {
                print("python stdlib peer agent (kept-alive HTTPS), \(agentHeartbeats) heartbeats: \(String(decoding: python, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            // The goals (issue 18), scaled to the heartbeats asked for; figures, not assertions.
            print("agent goals: ≤ \(String(format: "%.2f", 0.15 * Double(agentHeartbeats) / 1000)) s CPU (0.15 s per 1,000 heartbeats), RssAnon ≤ 4,096 KB")
            // The same goal against the yardstick that ran beside it: the issue's machine measured
            // the Python peer at 0.35 s per 1,000, so 0.15 s there is 0.43× the peer. Machines (and
            // one machine from hour to hour) differ by 2× in absolute figures; the ratio travels.
            func cpu(_ out: Data?) -> Double? {
                guard let out, let o = try? JSONSerialization.jsonObject(with: out) as? [String: Any] else { return nil }
                return (o["cpuSec"] as? NSNumber)?.doubleValue
            }
            if let ours = cpu(data), let theirs = cpu(python), theirs > 0 {
                print("agent CPU / Python peer CPU: \(String(format: "%.2f", ours / theirs))× (the issue's goal is 0.15 / 0.35 = 0.43×)")
            }
            if let attrs = try? FileManager.default.attributesOfItem(atPath: exe), let size = attrs[.size] as? Int {
                print("agent binary size: \(String(format: "%.1f", Double(size) / 1_048_576)) MiB")
            }
        } else {
            print("agent footprint skipped: no agent binary at \(exe) (pass --agent-binary)")
        }

        await group.triggerGracefulShutdown()
        _ = try? await serverTask.value
    }

    struct WrkResult {
        var rps: Double; var p50: String; var p99: String; var errors: Int
        /// This process's (the server's) CPU time per request, in µs: steadier than requests/s
        /// on a shared machine, as it does not count wrk or other load.
        var serverCPUMicros: Double
    }

    /// User + system CPU seconds of this process so far.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    func runWrk(_ url: String, script: String?, seconds: Int) async throws -> WrkResult {
        try await Self.runWrk(url, script: script, seconds: seconds, threads: threads, connections: connections)
    }

    static func runWrk(_ url: String, script: String?, seconds: Int, threads: Int, connections: Int) async throws -> WrkResult {
        let arguments = ["-t\(threads)", "-c\(connections)", "-d\(seconds)s", "--latency"]
            + (script.map { ["-s", $0] } ?? []) + [url]
        let cpuBefore = Self.processCPUSeconds()
        let text = String(decoding: try await runToEnd("/usr/bin/wrk", arguments, environment: nil), as: UTF8.self)
        let cpu = Self.processCPUSeconds() - cpuBefore
        func field(_ prefix: String) -> String? {
            text.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(prefix) }
                .map { $0.trimmingCharacters(in: .whitespaces).dropFirst(prefix.count).trimmingCharacters(in: .whitespaces) }
        }
        let rps = Double(field("Requests/sec:") ?? "0") ?? 0
        let errors = Int(field("Non-2xx or 3xx responses:") ?? "0") ?? 0
        let requests = Double(text.split(separator: "\n").first { $0.contains("requests in") }?
            .split(separator: " ").first.flatMap { Double($0) } ?? 0)
        return WrkResult(rps: rps, p50: field("50%") ?? "?", p99: field("99%") ?? "?", errors: errors,
                         serverCPUMicros: requests > 0 ? cpu / requests * 1e6 : 0)
    }

    /// Runs a program to its end and returns its standard output. The wait happens on a thread of
    /// its own: blocking one of Swift's cooperative threads (two on this machine) would halve the
    /// threads left for the server's handlers while wrk runs, and skew the figures.
    func runToEnd(_ exe: String, _ arguments: [String], environment: [String: String]?) async throws -> Data {
        try await Self.runToEnd(exe, arguments, environment: environment)
    }

    static func runToEnd(_ exe: String, _ arguments: [String], environment: [String: String]?) async throws -> Data {
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Data, any Error>) in
            Thread.detachNewThread {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: exe)
                p.arguments = arguments
                if let environment { p.environment = environment }
                let out = Pipe()
                p.standardOutput = out
                do { try p.run() } catch { return done.resume(throwing: error) }
                let data = out.fileHandleForReading.readDataToEndOfFile()
                p.waitUntilExit()
                done.resume(returning: data)
            }
        }
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
            -- Requests are formatted once per thread, so the load generator (on the same cores)
            -- spends its time sending, not building strings.
            local requests = {}
            function init(args)
              for k, m in ipairs(members) do
                requests[k] = wrk.format("POST", nil, {["Authorization"] = "Bearer " .. m[1], ["Content-Type"] = "application/json"}, m[2])
              end
            end
            local counter = 0
            request = function()
              counter = counter + 1
              return requests[((counter + (offset or 0)) % n) + 1]
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
