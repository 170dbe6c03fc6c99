import AgentKernel
import ArgumentParser
import BalctlPlugins
import BalctlProtocol
import ControlPlane
import Foundation
import ServiceLifecycle

/// `balctl-server demo`: the whole path in one command, on the embedded default (SQLite, local
/// CA): a data dir, an admin, a pool and a member; an agent (the real kernel and plugins, in this
/// process) heartbeating over HTTPS; jobs run to completion and their timeline printed.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the end-to-end demo on the embedded default, then keep serving.")

    @Option(help: "Data directory for the demo (database, CA, agent state).")
    var dataDir: String = "./balctl-demo"

    @Option(help: "Port for the demo server (0 picks a free one).")
    var port: Int = 8443

    @Flag(help: "Exit after the demo: status 0 when every job completed.")
    var once = false

    func run() async throws {
        let dir = URL(fileURLWithPath: dataDir).standardizedFileURL.path
        let tlsDir = dir + "/tls"
        let tls: LocalCA.Files
        if FileManager.default.fileExists(atPath: tlsDir + "/server.pem") {
            tls = .init(caCert: tlsDir + "/ca.pem", serverCert: tlsDir + "/server.pem", serverKey: tlsDir + "/server-key.pem")
        } else {
            tls = try LocalCA.create(in: tlsDir)
            say("• local CA and server certificate in \(tlsDir)")
        }
        var config = ServerConfig(dataDir: dir)
        config.port = port
        config.tlsCertFile = tls.serverCert
        config.tlsKeyFile = tls.serverKey
        config.heartbeat.intervalSec = 1
        config.recipesDir = ["recipes", "/etc/balctl/recipes"].first { FileManager.default.fileExists(atPath: $0) }
        let server = try ControlPlane(config: config)
        if let issued = try server.store.bootstrapAdminIfNeeded() {
            say("• admin account created; API token (shown once): \(issued.token)")
        }
        guard let admin = try await server.store.adminOperator() else { throw ValidationError("no admin account") }
        // The dashboard's first user, as `serve` makes it on a fresh data directory (shown once).
        let webPassword = try await server.store.bootstrapAdminWebUserIfNeeded(hasher: server.dashboard.hasher)

        // Pool and member (a re-run reuses them and rotates the member's secret).
        var pool: PoolView
        if let existing = try await server.store.listPools(by: admin).first(where: { $0.name == "demo" }) {
            pool = existing
        } else {
            pool = try await server.store.createPool(CreatePoolRequest(name: "demo", template: .generic), by: admin)
        }
        let hostname = "demo-agent"
        let enrollment: MemberEnrollment
        if let existing = try await server.store.listMembers(pool: pool.id, by: admin).first(where: { $0.hostname == hostname }) {
            enrollment = try await server.store.rotateSecret(existing.id, publicURL: config.publicURL, by: admin)
        } else {
            enrollment = try await server.store.addMember(
                pool: pool.id, CreateMemberRequest(hostname: hostname, allowedIPs: ["127.0.0.1"], family: .debian, role: nil),
                publicURL: config.publicURL, by: admin)
        }
        say("• pool '\(pool.name)' (id \(pool.id)), member '\(hostname)' (id \(enrollment.member.id)) allowed from 127.0.0.1")

        // The server, in the background.
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let group = try await server.serviceGroup { port in portSink.yield(port) }
        let serverTask = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let boundPort = await iterator.next() else { throw ValidationError("the server did not start") }
        let base = "https://127.0.0.1:\(boundPort)"
        say("• control plane listening on \(base) (TLS, local CA)")

        // The agent, in this process, against the server over HTTPS.
        let agentConfig = try AgentConfig.load(file: [:], environment: [
            "BALCTL_ENROLLMENT_SECRET": enrollment.enrollmentSecret,
            "BALCTL_API_BASE": base,
            "BALCTL_CA_FILE": tls.caCert,
            "BALCTL_HOSTNAME": hostname,
            "BALCTL_STATE_DIR": dir + "/agent-state",
            "BALCTL_LOG_LEVEL": "warning",
        ])
        let agent = try Agent(config: agentConfig, plugins: AllPlugins.list)
        let agentTask = Task { await agent.run() }

        let ok = await runDemoJobs(server: server, admin: admin, memberID: enrollment.member.id)
        if once {
            agentTask.cancel()
            await agentTask.value
            await group.triggerGracefulShutdown()
            _ = try? await serverTask.value
            say(ok ? "demo: OK" : "demo: FAILED")
            if !ok { throw ExitCode.failure }
            return
        }
        say("""

            The control plane keeps serving at \(base) with the demo agent heartbeating.
            Dashboard:    \(base)/ — \(webPassword.map { "sign in as 'admin' with password \($0) (shown once)" } ?? "sign in as 'admin' (its password was shown on the first run; balctl users add makes others)")
            Try the CLI:  BALCTL_SERVER=\(base) BALCTL_CA_FILE=\(tls.caCert) BALCTL_TOKEN=<admin token> balctl members list
            Press Ctrl-C to stop.
            """)
        _ = try? await serverTask.value
        agentTask.cancel()
        await agentTask.value
    }

    /// Wait for the first heartbeat, run two jobs, print their timelines. True when both completed.
    func runDemoJobs(server: ControlPlane, admin: Operator, memberID: Int64) async -> Bool {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let hb = try? await server.store.member(memberID, by: admin).heartbeat {
                say("• first heartbeat: agent \(hb.agentVersion) on \(hb.osPretty), load \(hb.load1), memory \(hb.memoryUsedPercent)% used, \(hb.commands.count) commands")
                break
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        var jobIDs: [Int64] = []
        for req in [EnqueueJobRequest(command: "host.collect_facts", params: nil),
                    EnqueueJobRequest(command: "host.echo",
                                      params: .object(["message": .string("hello from balctl"), "delaySeconds": .number(2)]))] {
            do {
                let job = try await server.store.enqueue(member: memberID, req, catalogue: server.catalogue,
                                                         policy: server.config.queue, by: admin)
                say("• enqueued job \(job.id): \(job.command)")
                jobIDs.append(job.id)
            } catch {
                say("✗ enqueue \(req.command) failed: \(error)")
                return false
            }
        }
        var finished: [JobView] = []
        while Date() < deadline.addingTimeInterval(30) {
            finished = []
            for id in jobIDs {
                if let job = try? await server.store.job(id, by: admin), job.state.isTerminal { finished.append(job) }
            }
            if finished.count == jobIDs.count { break }
            try? await Task.sleep(for: .milliseconds(100))
        }
        say("\nTimeline:")
        for job in finished { say(Render.timeline(job)) }
        if let facts = finished.first(where: { $0.command == "host.collect_facts" })?.result,
           let pretty = facts["osPretty"]?.stringValue, let kernel = facts["kernel"]?.stringValue {
            say("\nFacts collected by the agent: \(pretty), kernel \(kernel)")
        }
        return finished.count == jobIDs.count && finished.allSatisfy { $0.state == .completed }
    }
}
