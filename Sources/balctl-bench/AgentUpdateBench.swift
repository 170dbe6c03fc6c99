import ArgumentParser
import BalctlProtocol
import ControlPlane
import Foundation

/// `balctl-bench agent-update`: time from `agent.update` enqueued to the first heartbeat of the
/// new version (issue 13, target ≤ 5 s on loopback). Each round serves a bundle one version
/// above what the agent runs (the agent binary stamped by the real bundle builder), enqueues the
/// job and watches the member's latest heartbeat; the agent is the real binary, as a service.
struct AgentUpdateBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent-update",
        abstract: "Benchmark agent.update: enqueue → first heartbeat of the new version.")

    @Option(help: "Agent binary to install and update (default: next to this executable).") var agentBinary: String?
    @Option(help: "Updates to time.") var rounds = 5

    func run() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-bench-update-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let exe = agentBinary ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("balctl-heartbeat").path
        let tls = try LocalCA.create(in: dir.appendingPathComponent("tls").path)
        _ = try AgentSigningKey.create(in: dir.appendingPathComponent("keys").path)
        let key = dir.appendingPathComponent("keys/\(AgentSigningKey.privateName)").path
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let files = ["balctl-agent.sh", "balctl-heartbeat.service", "balctl-heartbeat.env.example", "INSTALL_VM.txt", "README.md"]
            .map { repo.appendingPathComponent("bundle/\($0)").path }
        let bin = dir.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let installed = bin.appendingPathComponent("balctl-heartbeat").path
        try FileManager.default.copyItem(atPath: exe, toPath: installed)

        let dataDir = dir.appendingPathComponent("data").path
        var port = 0
        var secret = "", memberID: Int64 = 0
        var agent: Process? = nil
        defer { if let a = agent, a.isRunning { kill(a.processIdentifier, SIGKILL) } }
        var timings: [Double] = []
        for round in 1...rounds {
            let version = "90.0.\(round)"
            let bundle = dir.appendingPathComponent("bundle-\(round)").path
            var builder = AgentBundleBuilder(binary: exe, version: version, files: files, signingKey: key)
            builder.validDays = 1
            try builder.build(into: bundle)

            // A control plane serving this round's bundle, on the same port each round.
            var config = ServerConfig(dataDir: dataDir)
            config.port = port
            config.tlsCertFile = tls.serverCert
            config.tlsKeyFile = tls.serverKey
            config.agentBundleDir = bundle
            let server = try ControlPlane(config: config)
            _ = try server.store.bootstrapAdminIfNeeded()
            let admin = try await server.store.adminOperator()!
            let (ports, sink) = AsyncStream.makeStream(of: Int.self)
            let group = try await server.serviceGroup { sink.yield($0) }
            let serverTask = Task { try await group.run() }
            var it = ports.makeAsyncIterator()
            port = await it.next()!

            if agent == nil {
                let pool = try await server.store.createPool(CreatePoolRequest(name: "bench", template: .generic), by: admin)
                let e = try await server.store.addMember(
                    pool: pool.id, CreateMemberRequest(hostname: "bench-update", allowedIPs: ["127.0.0.1"], family: .debian, role: nil),
                    publicURL: config.publicURL, by: admin)
                secret = e.enrollmentSecret; memberID = e.member.id
                let p = Process()
                p.executableURL = URL(fileURLWithPath: installed)
                p.environment = [
                    "BALCTL_ENROLLMENT_SECRET": secret, "BALCTL_API_BASE": "https://127.0.0.1:\(port)",
                    "BALCTL_CA_FILE": tls.caCert, "BALCTL_HOSTNAME": "bench-update",
                    "BALCTL_STATE_DIR": dir.appendingPathComponent("state").path, "BALCTL_ENV_FILE": "/nonexistent",
                    "BALCTL_LOG_LEVEL": "warning", "BALCTL_UPDATE_PUBKEY": server.agentBundle!.publicKey,
                ]
                p.standardOutput = FileHandle.nullDevice
                p.standardError = FileHandle.nullDevice
                try p.run()
                agent = p
            }
            func runningVersion() async throws -> String? {
                try await server.store.member(memberID, by: admin).heartbeat?.agentVersion
            }
            // The agent is back (it backs off while the server restarts) and heartbeats.
            let ready = Date().addingTimeInterval(30)
            while Date() < ready {
                if let hb = try await server.store.member(memberID, by: admin).heartbeat, hb.ageSec < 0.5 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            let started = Date()
            _ = try await server.store.enqueue(member: memberID, EnqueueJobRequest(command: "agent.update", params: .emptyObject),
                                               catalogue: server.catalogue, policy: server.config.queue, by: admin)
            let deadline = started.addingTimeInterval(60)
            while try await runningVersion() != version && Date() < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            let seconds = Date().timeIntervalSince(started)
            guard try await runningVersion() == version else { throw ValidationError("round \(round): the agent never came back at \(version)") }
            print("round \(round): enqueued → first heartbeat of \(version): \(String(format: "%.2f", seconds)) s")
            timings.append(seconds)
            await group.triggerGracefulShutdown()
            _ = try? await serverTask.value
        }
        let sorted = timings.sorted()
        print("agent.update → new version heartbeating: median \(String(format: "%.2f", sorted[sorted.count / 2])) s, max \(String(format: "%.2f", sorted.last!)) s over \(rounds) updates (target ≤ 5 s)")
    }
}
