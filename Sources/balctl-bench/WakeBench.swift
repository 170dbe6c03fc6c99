import ArgumentParser
import BalctlProtocol
import ControlPlane
import Foundation
import SQLEngine
import ServiceLifecycle

/// The wake path (`GET /api/agents/wait`): enqueue → claim with the real agent binary at several
/// heartbeat intervals; the agent's footprint with the wait parked; and the control plane with
/// many parked waits (its memory, and heartbeats/s with and without them, wrk as the load).
/// Prints figures and ratios; asserts nothing.
struct WakeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wake",
        abstract: "Benchmark enqueue → claim latency with the long poll, the agent's footprint with it, and many parked waits.")

    @Option(help: "Jobs per interval, one after another.") var jobs = 50
    @Option(help: "Heartbeat intervals to measure, in seconds (comma-separated).") var intervals = "1,10"
    @Option(help: "Parked waits for the capacity run (0: skip it).") var waiters = 10_000
    @Option(help: "Seconds per wrk run in the capacity run.") var duration = 10
    @Option(help: "Capacity rounds, each a wrk run without parked waits then one with them; medians are reported.") var rounds = 3
    @Option(help: "How long the server holds a wait (the production default is 25 s: each member asks again that often, and those requests are part of the load).") var waitSec = 25.0
    @Option(help: "Heartbeats for the agent footprint run (with the wait parked).") var agentHeartbeats = 1000
    @Option(help: "Agent binary (default: next to this executable).") var agentBinary: String?

    func run() async throws {
        let exe = agentBinary ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("balctl-heartbeat").path
        guard FileManager.default.isExecutableFile(atPath: exe) else { throw ValidationError("no agent binary at \(exe) (pass --agent-binary)") }
        for interval in intervals.split(separator: ",").compactMap({ Int($0) }) {
            try await latency(interval: interval, exe: exe)
        }
        if waiters > 0 { try await capacity(exe: exe) }
    }

    /// A server in this process, one real agent; jobs enqueued one at a time, each timed from its
    /// commit to its claim (both server clock).
    func latency(interval: Int, exe: String) async throws {
        let rig = try await Rig(intervalSec: interval, members: 1)
        defer { rig.remove() }
        let agent = try rig.startAgent(exe, member: 0)
        try await rig.waitForHeartbeat(member: 0)
        try await Task.sleep(for: .milliseconds(300))  // the agent parks its wait
        var delays: [Double] = []
        for i in 0..<jobs {
            let job = try await rig.server.store.enqueue(member: rig.members[0].id,
                                                         EnqueueJobRequest(command: "host.echo", params: .object(["message": .string("\(i)")])),
                                                         catalogue: rig.server.catalogue, policy: rig.server.config.queue, by: rig.admin)
            var view = job
            let deadline = Date().addingTimeInterval(Double(interval) + 30)
            while !view.state.isTerminal && Date() < deadline {
                try await Task.sleep(for: .milliseconds(2))
                view = try await rig.server.store.job(job.id, by: rig.admin)
            }
            delays.append(((view.startedAt ?? .nan) - view.createdAt) * 1000)
        }
        agent.terminate()
        agent.waitUntilExit()
        let p = Percentiles(delays)
        say("interval \(interval) s: enqueue → claim over \(jobs) jobs: p50 \(fixed(p(50), 1)) ms, p99 \(fixed(p(99), 1)) ms, max \(fixed(p.largest, 1)) ms (without the wake the expected wait is half the interval: \(interval * 500) ms)")
        await rig.stop()
    }

    /// Many parked waits (a Python asyncio client holds them over TLS): the server's memory for
    /// them, and heartbeats/s (wrk) with them parked vs without; then the agent's footprint.
    func capacity(exe: String) async throws {
        let rig = try await Rig(intervalSec: 1, members: waiters, waitSec: waitSec)
        defer { rig.remove() }
        let script = rig.dir.appendingPathComponent("heartbeat.lua")
        try HeartbeatBench.luaScript(rig.members.map { ($0.secret, $0.body) }).write(to: script, atomically: true, encoding: .utf8)
        let hbURL = rig.base + AgentWire.heartbeatPath
        // First (before thousands of descriptors are open) the agent: heartbeats back to back with its wait parked (as in service).
        let data = try await HeartbeatBench.runToEnd(exe, ["--bench-heartbeats", "\(agentHeartbeats)", "--bench-wait"],
                                                     environment: rig.agentEnvironment(member: 0))
        say("agent, \(agentHeartbeats) heartbeats with the wait parked: \(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))")

        _ = try await HeartbeatBench.runWrk(hbURL, script: script.path, seconds: 2, threads: 2, connections: 64)
        let secrets = rig.dir.appendingPathComponent("secrets.txt")
        try rig.members.map(\.secret).joined(separator: "\n").write(to: secrets, atomically: true, encoding: .utf8)

        // Rounds alternate (without, with, without, with, …): on a shared two-core machine one
        // wrk run differs from the next by several percent, and measuring "without" only first
        // would charge that drift (and the warm-up) to the parked waits.
        var withoutRPS: [Double] = [], withRPS: [Double] = [], withoutCPU: [Double] = [], withCPU: [Double] = []
        for round in 1...max(rounds, 1) {
            let rssBefore = Self.rssKB()
            var cpuBefore = HeartbeatBench.processCPUSeconds()
            let without = try await Self.wrkSpawned(hbURL, script: script.path, seconds: duration)
            withoutRPS.append(without.rps)
            withoutCPU.append((HeartbeatBench.processCPUSeconds() - cpuBefore) / max(without.rps * Double(duration), 1) * 1e6)

            let client = Process()
            client.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            client.arguments = ["-c", Self.waitClient, "127.0.0.1", "\(rig.port)", rig.tls.caCert, secrets.path]
            client.standardOutput = FileHandle.nullDevice
            try client.run()
            // SIGKILL, not terminate(): the service group ignores SIGTERM in this process to handle it
            // itself, and an ignored signal stays ignored across exec — the client would never end.
            defer { if client.isRunning { kill(client.processIdentifier, SIGKILL) }; client.waitUntilExit() }
            let started = Date()
            while rig.server.wakes.waiting < waiters * 99 / 100 && Date().timeIntervalSince(started) < 300 && client.isRunning {
                try await Task.sleep(for: .milliseconds(200))
            }
            let parked = rig.server.wakes.waiting
            let rssParked = Self.rssKB()
            say("round \(round): parked waits \(parked) of \(waiters) in \(fixed(Date().timeIntervalSince(started), 1)) s; server RSS \(rssBefore / 1024) → \(rssParked / 1024) MiB (\(fixed(Double(rssParked - rssBefore) / Double(max(parked, 1)), 1)) KiB per parked wait, TLS connection included)")
            // Foundation's Process crashes launching a program from a process with thousands of open
            // descriptors; wrk is started with posix_spawn instead (the server's sockets are CLOEXEC).
            cpuBefore = HeartbeatBench.processCPUSeconds()
            let with = try await Self.wrkSpawned(hbURL, script: script.path, seconds: duration)
            withRPS.append(with.rps)
            withCPU.append((HeartbeatBench.processCPUSeconds() - cpuBefore) / max(with.rps * Double(duration), 1) * 1e6)
            say("round \(round): heartbeats/s without parked waits \(Int(without.rps)), with \(parked) parked \(Int(with.rps)) (\(fixed((1 - with.rps / max(without.rps, 1)) * 100, 1)) % drop; non-2xx \(without.errors)/\(with.errors)); server CPU per heartbeat \(fixed(withoutCPU.last!, 0)) → \(fixed(withCPU.last!, 0)) µs")
            kill(client.processIdentifier, SIGKILL)
            client.waitUntilExit()
            // A wait whose client went away stays parked until it times out (the server notices
            // the closed connection only when it answers): the next "without" run starts once
            // none is parked.
            let closing = Date()
            while rig.server.wakes.waiting > 0 && Date().timeIntervalSince(closing) < waitSec + 30 {
                try await Task.sleep(for: .milliseconds(200))
            }
            if rig.server.wakes.waiting > 0 { say("round \(round): \(rig.server.wakes.waiting) waits still parked \(Int(waitSec + 30)) s after their client was killed") }
        }
        func median(_ v: [Double]) -> Double { let s = v.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
        let (a, b) = (median(withoutRPS), median(withRPS))
        say("heartbeats/s (\(waiters) members, wrk -t2 -c64, \(duration) s, median of \(withoutRPS.count) alternating rounds): without parked waits \(Int(a)), with \(Int(b)) (\(fixed((1 - b / max(a, 1)) * 100, 1)) % drop; goal ≤ 10 %)")
        let (c, d) = (median(withoutCPU), median(withCPU))
        say("server CPU per heartbeat (median): without parked waits \(fixed(c, 0)) µs, with \(fixed(d, 0)) µs (\(fixed((d / max(c, 0.001) - 1) * 100, 1)) % more)")

        await rig.stop()
    }

    /// `wrk` through posix_spawn: requests/s and non-2xx count from its output.
    static func wrkSpawned(_ url: String, script: String, seconds: Int) async throws -> (rps: Double, errors: Int) {
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<(rps: Double, errors: Int), any Error>) in
            Thread.detachNewThread {
                var fds: [Int32] = [0, 0]
                guard pipe(&fds) == 0 else { return done.resume(throwing: ValidationError("pipe failed")) }
                var actions = posix_spawn_file_actions_t()
                posix_spawn_file_actions_init(&actions)
                posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
                posix_spawn_file_actions_addclose(&actions, fds[0])
                let argv = ["/usr/bin/wrk", "-t2", "-c64", "-d\(seconds)s", "-s", script, url]
                var cargs = argv.map { strdup($0) } + [nil]
                var pid: pid_t = 0
                let rc = posix_spawn(&pid, argv[0], &actions, nil, &cargs, environ)
                for a in cargs { free(a) }
                posix_spawn_file_actions_destroy(&actions)
                close(fds[1])
                guard rc == 0 else { close(fds[0]); return done.resume(throwing: ValidationError("cannot start wrk: \(rc)")) }
                var out: [UInt8] = []
                var buf = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = read(fds[0], &buf, buf.count)
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    out += buf[0..<n]
                }
                close(fds[0])
                var status: Int32 = 0
                waitpid(pid, &status, 0)
                let text = String(decoding: out, as: UTF8.self)
                func field(_ prefix: String) -> String? {
                    text.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(prefix) }
                        .map { $0.trimmingCharacters(in: .whitespaces).dropFirst(prefix.count).trimmingCharacters(in: .whitespaces) }
                }
                done.resume(returning: (Double(field("Requests/sec:") ?? "0") ?? 0, Int(field("Non-2xx or 3xx responses:") ?? "0") ?? 0))
            }
        }
    }

    static func rssKB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }

    /// Holds one `GET /api/agents/wait` per secret over its own TLS connection (200 handshakes
    /// at a time), asking again whenever one is answered.
    static let waitClient = #"""
    import asyncio, ssl, sys
    host, port, ca, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    secrets = [s for s in open(path).read().split("\n") if s]
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    gate = asyncio.Semaphore(200)
    async def hold(secret):
        async with gate:
            r, w = await asyncio.open_connection(host, port, ssl=ctx)
        req = ("GET /api/agents/wait HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n" % (host, secret)).encode()
        while True:
            w.write(req)
            await w.drain()
            head = await r.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await r.readexactly(length)
    async def main():
        await asyncio.gather(*(hold(s) for s in secrets), return_exceptions=True)
    asyncio.run(main())
    """#
}

/// A control plane in this process on a free port with `members` enrolled members.
final class Rig: @unchecked Sendable {
    let dir: URL
    let tls: LocalCA.Files
    let server: ControlPlane
    let admin: Operator
    var members: [(id: Int64, secret: String, body: String)] = []
    let base: String
    let port: Int
    private let group: ServiceGroupHandle

    init(intervalSec: Int, members count: Int, waitSec: Double = 25) async throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-bench-wake-\(getpid())-\(intervalSec)-\(count)")
        tls = try LocalCA.create(in: dir.appendingPathComponent("tls").path)
        var config = ServerConfig(dataDir: dir.appendingPathComponent("data").path)
        config.port = 0
        config.tlsCertFile = tls.serverCert
        config.tlsKeyFile = tls.serverKey
        config.heartbeat.intervalSec = intervalSec
        config.agentWaitSec = waitSec
        server = try ControlPlane(config: config)
        _ = try server.store.bootstrapAdminIfNeeded()
        admin = try await server.store.adminOperator()!
        let pool = try await server.store.createPool(CreatePoolRequest(name: "bench", template: .generic), by: admin)
        if count > 1 { say("setting up \(count) members…") }
        for i in 0..<count {
            let host = "bench-\(i)"
            let e = try await server.store.addMember(
                pool: pool.id, CreateMemberRequest(hostname: host, allowedIPs: ["127.0.0.1"], family: .debian, role: nil),
                publicURL: config.publicURL, by: admin)
            members.append((e.member.id, e.enrollmentSecret, String(decoding: try JSONEncoder().encode(HeartbeatBench.report(hostname: host)), as: UTF8.self)))
        }
        group = try await ServiceGroupHandle.start(server)
        port = group.port
        base = "https://127.0.0.1:\(port)"
    }

    func agentEnvironment(member i: Int) -> [String: String] {
        ["BALCTL_ENROLLMENT_SECRET": members[i].secret, "BALCTL_API_BASE": base, "BALCTL_CA_FILE": tls.caCert,
         "BALCTL_HOSTNAME": "bench-\(i)", "BALCTL_STATE_DIR": dir.appendingPathComponent("agent-\(i)").path,
         "BALCTL_ENV_FILE": "/nonexistent", "BALCTL_LOG_LEVEL": "warning"]
    }

    func startAgent(_ exe: String, member i: Int) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.environment = agentEnvironment(member: i)
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        return p
    }

    func waitForHeartbeat(member i: Int) async throws {
        for _ in 0..<400 {
            if try await server.store.member(members[i].id, by: admin).heartbeat != nil { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ValidationError("the agent never heartbeated")
    }

    func stop() async { await group.stop() }
    func remove() { try? FileManager.default.removeItem(at: dir) }
}

/// A running service group and the port it listens on.
struct ServiceGroupHandle: Sendable {
    let port: Int
    let group: ServiceGroup
    let task: Task<Void, any Error>

    static func start(_ server: ControlPlane) async throws -> ServiceGroupHandle {
        let (ports, sink) = AsyncStream.makeStream(of: Int.self)
        let group = try await server.serviceGroup { sink.yield($0) }
        let task = Task { try await group.run() }
        var it = ports.makeAsyncIterator()
        guard let port = await it.next() else { throw ValidationError("the server did not start") }
        return ServiceGroupHandle(port: port, group: group, task: task)
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

/// A line straight to standard output (unbuffered: the figures survive a crash later in the run).
func say(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
}
