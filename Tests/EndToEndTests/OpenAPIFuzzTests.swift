import BalctlProtocol
import ControlPlane
import CurlClient
import Foundation
import Testing

/// Issue 18: schemathesis (PyPI) against a live `balctl-server` over TLS, with a valid operator
/// token, a member's agent secret for the agent routes and the scrape token for /metrics. Every
/// operation of /api/v1/openapi.json is exercised (positive and negative data, the coverage
/// phase's boundary cases, the stateful phase following the document's links), and the run fails
/// on any 5xx, any status, content type, header or body the document does not list. Bounded: a
/// fixed example count and seed, and the run is killed (and the test fails) past `timeLimitSec`.
@Suite("OpenAPI: schemathesis against a live server", .serialized)
struct OpenAPIFuzzTests {
    static let examples = 10
    static let seed = 18
    static let timeLimitSec = 170.0

    @Test("the served document is the embedded one, public and application/json")
    func served() async throws {
        let h = try Harness()
        try await h.startServer()
        defer { h.stopServer() }
        let r = try await h.session().request("GET", h.base + "/api/v1/openapi.json")
        #expect(r.status == 200)
        #expect(r.headers["content-type"] == "application/json")
        #expect(r.body == Array(OpenAPIDocument.json.utf8))
    }

    @Test("schemathesis finds no 5xx and no response the document does not describe", .timeLimit(.minutes(4)))
    func schemathesis() async throws {
        try Self.requireSchemathesis()
        let h = try Harness()
        let scrapeToken = "scrape-\(UUID().uuidString)"
        let tokenFile = h.dir.appendingPathComponent("metrics-token").path
        try Data(scrapeToken.utf8).write(to: URL(fileURLWithPath: tokenFile))
        h.extraServerArgs = ["--metrics-token-file", tokenFile]
        try await h.startServer()
        defer { h.stopServer() }

        // Real resources for the fixed ids the run uses, so operations reach their logic instead
        // of answering 404: a pool with a member that has heartbeated (its commands are known),
        // a job and a schedule on it; a second pool, member and schedule that DELETEs target
        // (so deletes do not take the rest's data away); a member whose secret the agent routes use.
        let api = try h.api()
        let main = try await api.call("POST", "/pools", CreatePoolRequest(name: "fuzz-main", template: .haproxy), as: PoolView.self)
        let spare = try await api.call("POST", "/pools", CreatePoolRequest(name: "fuzz-spare", template: .generic), as: PoolView.self)
        let member = try await api.member(pool: main.id, hostname: "fuzz-1")
        let doomed = try await api.member(pool: spare.id, hostname: "fuzz-2")
        let agent = try await api.member(pool: main.id, hostname: "fuzz-agent")
        let beat = try await h.agentPost(AgentWire.heartbeatPath, secret: member.enrollmentSecret,
                                         body: try JSONEncoder().encode(Harness.report(hostname: "fuzz-1", commands: ["host.echo", "host.collect_facts"])))
        try #require(beat.status == 200, "seed heartbeat: \(beat.status) \(beat.text)")
        let job = try await api.enqueue(member.member.id, "host.echo", .object(["message": .string("fuzz")]))
        let schedule = CreateScheduleRequest(name: "nightly", cron: "0 3 * * *", command: "host.echo", recipe: nil,
                                             params: .object(["message": .string("fuzz")]), enabled: true, missed: nil)
        let kept = try await api.call("POST", "/members/\(member.member.id)/schedules", schedule, as: ScheduleView.self)
        let gone = try await api.call("POST", "/members/\(doomed.member.id)/schedules", schedule, as: ScheduleView.self)
        let whoami = try await api.call("GET", "/whoami", as: AccountView.self)

        // Secrets reach schemathesis through its environment, not its argv.
        let config = """
            headers = { Authorization = "Bearer ${BALCTL_FUZZ_OPERATOR_TOKEN}" }
            request-timeout = 10
            [parameters]
            "path.pool" = "\(main.id)"
            "path.member" = "\(member.member.id)"
            "path.job" = "\(job.id)"
            "path.schedule" = "\(kept.id)"
            "path.account" = "\(whoami.id)"

            [[operations]]
            include-method = "DELETE"
            parameters = { "path.pool" = "\(spare.id)", "path.member" = "\(doomed.member.id)", "path.schedule" = "\(gone.id)" }

            [[operations]]
            include-path-regex = "^/api/agents/"
            headers = { Authorization = "Bearer ${BALCTL_FUZZ_AGENT_SECRET}" }

            [[operations]]
            include-path = "/metrics"
            headers = { Authorization = "Bearer ${BALCTL_FUZZ_SCRAPE_TOKEN}" }

            # Held ~25 s per request by design (the long poll); its shape is in the document.
            [[operations]]
            include-path = "/api/agents/wait"
            enabled = false

            """
        let configFile = h.dir.appendingPathComponent("schemathesis.toml")
        try Data(config.utf8).write(to: configFile)

        let checks = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
                      "response_schema_conformance", "response_headers_conformance"]
        let output = h.dir.appendingPathComponent("schemathesis.log")
        let started = Date()
        let (status, timedOut) = try await Self.run(
            ["python3", "-m", "schemathesis.cli", "--config-file", configFile.path, "run", h.base + "/api/v1/openapi.json",
             "--tls-verify", h.tls.caCert, "--checks", checks.joined(separator: ","),
             "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", "\(Self.examples)", "--seed", "\(Self.seed)",
             "--workers", "1", "--no-color", "--output-truncate", "true"],
            env: ["BALCTL_FUZZ_OPERATOR_TOKEN": h.adminToken, "BALCTL_FUZZ_AGENT_SECRET": agent.enrollmentSecret,
                  "BALCTL_FUZZ_SCRAPE_TOKEN": scrapeToken],
            cwd: h.dir, output: output, timeLimit: Self.timeLimitSec)
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        let seconds = Int(Date().timeIntervalSince(started))
        #expect(!timedOut, "schemathesis did not finish within \(Int(Self.timeLimitSec)) s:\n\(text.suffix(4000))")
        #expect(status == 0, "schemathesis failed (exit \(status), \(seconds) s):\n\(text.suffix(12000))\nserver log:\n\(h.log("server.log").suffix(3000))")
        // It really ran every operation it loaded but the long poll (schemathesis leaves out the
        // document's own route when it loads the document from it).
        let selected = text.firstMatch(of: /Selected: (\d+)\/(\d+)/).map { (Int($0.1) ?? 0, Int($0.2) ?? 0) }
        #expect(selected.map { $0.0 == $0.1 - 1 && $0.0 > 70 } == true,
                "schemathesis did not select every operation but /api/agents/wait: \(String(describing: selected))\n\(text.suffix(3000))")
        print("schemathesis: exit \(status) in \(seconds) s")
    }

    /// Fails with the install command when schemathesis is missing.
    static func requireSchemathesis() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import schemathesis"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch {
            throw Harness.HarnessError("python3 is missing (apt-get install python3-pip; python3 -m pip install schemathesis): \(error)")
        }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw Harness.HarnessError("schemathesis is not installed: python3 -m pip install --break-system-packages schemathesis (the README's test command installs it)")
        }
    }

    /// Runs argv (through env) with stdout and stderr into `output`; kills it past `timeLimit`.
    static func run(_ argv: [String], env: [String: String], cwd: URL, output: URL, timeLimit: Double) async throws -> (Int32, Bool) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = argv
        p.currentDirectoryURL = cwd
        p.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BALCTL_") }.merging(env) { $1 }
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        defer { try? handle.close() }
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        let deadline = Date().addingTimeInterval(timeLimit)
        while p.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(200)) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            return (p.terminationStatus, true)
        }
        p.waitUntilExit()
        return (p.terminationStatus, false)
    }
}
