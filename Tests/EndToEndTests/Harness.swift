import ServiceLaunchers
import BalctlProtocol
import ControlPlane
import CurlClient
import Foundation
import Testing

/// Real processes for end-to-end tests: `balctl-server serve` over TLS with a CA made here, and
/// `balctl-heartbeat` agents against it. Binaries come from the build directory (`swift build`
/// first), or from $BALCTL_BIN_DIR.
final class Harness: @unchecked Sendable {
    let dir: URL
    let tls: LocalCA.Files
    let port: Int
    var server: Process?
    var agents: [Process] = []
    var adminToken = ""
    var extraServerArgs: [String]
    /// Extra environment for the server process (e.g. BALCTL_S3_* for the S3 snapshot store).
    var serverEnv: [String: String] = [:]
    let leaseSec: Int
    /// `serve --plain-http` (for tests that speak raw HTTP on sockets).
    let plainHTTP: Bool

    static let binDir: URL = {
        if let d = ProcessInfo.processInfo.environment["BALCTL_BIN_DIR"] { return URL(fileURLWithPath: d) }
        // The test bundle lives in the build directory next to the executables.
        var candidates: [URL] = []
        if let exe = Bundle.main.executableURL { candidates.append(exe.deletingLastPathComponent()) }
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        let root = repoRoot
        candidates.append(root.appendingPathComponent(".build/debug"))
        for c in candidates {
            var d = c
            for _ in 0..<4 {
                if FileManager.default.isExecutableFile(atPath: d.appendingPathComponent("balctl-server").path) { return d }
                d = d.deletingLastPathComponent()
            }
        }
        return root.appendingPathComponent(".build/debug")
    }()

    static func binary(_ name: String) throws -> String {
        let path = binDir.appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw HarnessError("\(path) is missing: run `swift build` before `swift test`")
        }
        // Binaries handed in from elsewhere are taken as they are; the build's own must be current.
        if ProcessInfo.processInfo.environment["BALCTL_BIN_DIR"] == nil {
            try checkFresh(binary: path, sources: (sourceDirs[name] ?? ["Sources", "Plugins"]).map { repoRoot.appendingPathComponent($0).path })
        }
        return path
    }

    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The source directories each binary is built from (its targets and their dependencies in
    /// Package.swift). Only these count: a change to, say, the bench does not relink the server,
    /// so comparing against every file would call a fresh build stale.
    static let sourceDirs: [String: [String]] = {
        let agent = ["Sources/AgentKernel", "Sources/BalctlPlugins", "Sources/BalctlProtocol", "Sources/CurlClient",
                     "Sources/CCurl", "Sources/CSystemd", "Plugins"]
        return [
            "balctl-server": ["Sources/balctl-server", "Sources/ControlPlane"] + agent,
            "balctl-heartbeat": ["Sources/balctl-heartbeat"] + agent,
            "balctl": ["Sources/balctl", "Sources/OperatorClient", "Sources/BalctlProtocol", "Sources/CurlClient", "Sources/CCurl"],
        ]
    }()

    /// Throws unless `binary` is newer than every source file (Swift, C, headers, module maps)
    /// under `sources`: `swift test` alone rebuilds the tests, not the binaries they run.
    static func checkFresh(binary: String, sources: [String]) throws {
        let fm = FileManager.default
        let built = try fm.attributesOfItem(atPath: binary)[.modificationDate] as? Date ?? .distantPast
        for dir in sources {
            guard let walk = fm.enumerator(atPath: dir) else { continue }
            for case let relative as String in walk where ["swift", "c", "h", "modulemap"].contains((relative as NSString).pathExtension) {
                let file = (dir as NSString).appendingPathComponent(relative)
                if let changed = try? fm.attributesOfItem(atPath: file)[.modificationDate] as? Date, changed > built {
                    throw HarnessError("\(binary) is older than \(file): run `swift build` before `swift test` (the end-to-end tests run the built binaries)")
                }
            }
        }
    }

    struct CLIResult { var status: Int32; var signalled: Bool; var stdout: String; var stderr: String }

    /// A running `balctl` (argv, no shell, no BALCTL_* from the test's environment).
    final class CLIRun: @unchecked Sendable {
        let process = Process()
        private let out: Drain, err: Drain

        /// `stdin`: written to the child's standard input (a pipe, closed after it); nil: inherited.
        init(_ args: [String], env: [String: String] = [:], stdin: String? = nil) throws {
            process.executableURL = URL(fileURLWithPath: try Harness.binary("balctl"))
            process.arguments = args
            process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BALCTL_") }
                .merging(env) { $1 }
            let o = Pipe(), e = Pipe()
            process.standardOutput = o
            process.standardError = e
            let input = stdin.map { _ in Pipe() }
            if let input { process.standardInput = input }
            try process.run()
            if let input, let stdin {
                input.fileHandleForWriting.write(Data(stdin.utf8))
                try input.fileHandleForWriting.close()
            }
            out = Drain(o.fileHandleForReading)
            err = Drain(e.fileHandleForReading)
        }

        /// Waits for the exit (killing it and failing after `timeout` seconds).
        func finish(timeout: Double = 30) async throws -> CLIResult {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                throw HarnessError("balctl \(process.arguments ?? []) did not finish within \(timeout) s; stderr: \(String(decoding: err.wait(), as: UTF8.self))")
            }
            process.waitUntilExit()
            return CLIResult(status: process.terminationStatus, signalled: process.terminationReason == .uncaughtSignal,
                             stdout: String(decoding: out.wait(), as: UTF8.self), stderr: String(decoding: err.wait(), as: UTF8.self))
        }

        /// Reads a pipe on its own thread, so a chatty child never blocks on a full pipe. `wait`
        /// gives what was read once the pipe ends, or after 5 s (should another child have
        /// inherited the pipe and hold it open).
        final class Drain: @unchecked Sendable {
            private let lock = NSLock()
            private var data = Data()
            private let done = DispatchSemaphore(value: 0)
            init(_ handle: FileHandle) {
                Thread { [self] in
                    while case let chunk = handle.availableData, !chunk.isEmpty { lock.withLock { data += chunk } }
                    done.signal()
                }.start()
            }
            func wait() -> Data {
                if done.wait(timeout: .now() + 5) == .success { done.signal() }
                return lock.withLock { data }
            }
        }
    }

    /// Runs the `balctl` CLI to completion.
    static func cli(_ args: [String], env: [String: String] = [:], stdin: String? = nil, timeout: Double = 30) async throws -> CLIResult {
        try await CLIRun(args, env: env, stdin: stdin).finish(timeout: timeout)
    }

    struct HarnessError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    init(leaseSec: Int = 30, extraServerArgs: [String] = [], plainHTTP: Bool = false) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-e2e-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        tls = try LocalCA.create(in: dir.appendingPathComponent("tls").path)
        port = try Self.freePort()
        self.leaseSec = leaseSec
        self.extraServerArgs = extraServerArgs
        self.plainHTTP = plainHTTP
    }

    deinit {
        for p in agents where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        if let s = server, s.isRunning { kill(s.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: dir)
    }

    var base: String { "\(plainHTTP ? "http" : "https")://127.0.0.1:\(port)" }

    /// A client session for this server (plain HTTP allowed only when the server speaks it).
    func session(timeoutMs: Int = 30_000) throws -> CurlSession {
        var options = CurlSession.Options(caFile: tls.caCert, requireHTTPS: !plainHTTP)
        options.timeoutMs = timeoutMs
        return try CurlSession(options: options)
    }
    var dataDir: String { dir.appendingPathComponent("data").path }

    static func freePort() throws -> Int { Int(try Loopback.freePort()) }

    // MARK: processes

    func run(_ exe: String, _ args: [String], env: [String: String] = [:], log: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BALCTL_") }
        environment.merge(env) { $1 }
        p.environment = environment
        let logURL = dir.appendingPathComponent(log)
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logURL)
        handle.seekToEndOfFile()
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        return p
    }

    func log(_ name: String) -> String {
        (try? String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)) ?? ""
    }

    /// `init` once (admin token), then `serve`; waits until /healthz answers over TLS.
    func startServer() async throws {
        if adminToken.isEmpty {
            let initProc = Process()
            initProc.executableURL = URL(fileURLWithPath: try Self.binary("balctl-server"))
            initProc.arguments = ["init", "--data-dir", dataDir, "--json"]
            let pipe = Pipe()
            initProc.standardOutput = pipe
            try initProc.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            initProc.waitUntilExit()
            adminToken = try JSONDecoder().decode(TokenIssued.self, from: data).token
        }
        let transport = plainHTTP ? ["--plain-http"] : ["--tls-cert", tls.serverCert, "--tls-key", tls.serverKey]
        server = try run(try Self.binary("balctl-server"), [
            "serve", "--data-dir", dataDir, "--port", "\(port)", "--lease-sec", "\(leaseSec)", "--heartbeat-interval", "1",
        ] + transport + extraServerArgs, env: serverEnv, log: "server.log")
        let probe = try session()
        for _ in 0..<200 {
            if let r = try? await probe.request("GET", base + "/healthz"), r.status == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError("server did not come up:\n\(log("server.log"))")
    }

    func stopServer(signal sig: Int32 = SIGTERM) {
        guard let s = server else { return }
        kill(s.processIdentifier, sig)
        s.waitUntilExit()
        server = nil
    }

    func agentEnv(secret: String, hostname: String, stateDir: String) -> [String: String] {
        [
            "BALCTL_ENROLLMENT_SECRET": secret,
            "BALCTL_API_BASE": base,
            "BALCTL_CA_FILE": tls.caCert,
            "BALCTL_HOSTNAME": hostname,
            "BALCTL_STATE_DIR": stateDir,
            "BALCTL_ENV_FILE": dir.appendingPathComponent("no-such-agent.env").path,
            "BALCTL_SHUTDOWN_GRACE_SEC": "5",
        ]
    }

    @discardableResult
    func startAgent(_ e: MemberEnrollment, stateDir: String? = nil, log: String = "agent.log") throws -> Process {
        let state = stateDir ?? dir.appendingPathComponent("agent-state-\(e.member.id)").path
        let p = try run(try Self.binary("balctl-heartbeat"), [],
                        env: agentEnv(secret: e.enrollmentSecret, hostname: e.member.hostname, stateDir: state),
                        log: log)
        agents.append(p)
        return p
    }

    // MARK: operator API

    func api(token: String? = nil) throws -> Operator {
        try Operator(base: base, token: token ?? adminToken, session: try session())
    }

    struct Operator {
        let base: String
        let token: String
        let session: CurlSession

        init(base: String, token: String, session: CurlSession) throws {
            self.base = base; self.token = token; self.session = session
        }

        func raw(_ method: String, _ path: String, _ body: Data? = nil) async throws -> HTTPResponse {
            try await session.request(method, base + OperatorAPI.prefix + path,
                                      headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                                      body: body.map(Array.init))
        }

        func call<T: Decodable>(_ method: String, _ path: String, _ body: (some Encodable)? = Optional<String>.none,
                                as: T.Type = T.self) async throws -> T {
            let data = try body.map { try JSONEncoder().encode($0) }
            let r = try await raw(method, path, data ?? (method == "POST" ? Data("{}".utf8) : nil))
            guard (200..<300).contains(r.status) else {
                throw HarnessError("\(method) \(path) → \(r.status): \(r.text)")
            }
            return try JSONDecoder().decode(T.self, from: Data(r.body))
        }

        func pool(_ name: String) async throws -> PoolView {
            try await call("POST", "/pools", CreatePoolRequest(name: name, template: .generic))
        }

        func member(pool: Int64, hostname: String, ips: [String] = ["127.0.0.1"]) async throws -> MemberEnrollment {
            try await call("POST", "/pools/\(pool)/members",
                           CreateMemberRequest(hostname: hostname, allowedIPs: ips, family: .debian, role: nil))
        }

        func enqueue(_ member: Int64, _ command: String, _ params: JSONValue, maxAttempts: Int? = nil) async throws -> JobView {
            try await call("POST", "/members/\(member)/jobs",
                           EnqueueJobRequest(command: command, params: params, maxAttempts: maxAttempts))
        }

        func job(_ id: Int64) async throws -> JobView { try await call("GET", "/jobs/\(id)") }

        func memberView(_ id: Int64) async throws -> MemberView { try await call("GET", "/members/\(id)") }

        /// Poll a recipe run until it is no longer running (or fail after `timeout` seconds).
        func waitForRecipeRun(_ id: Int64, timeout: Double = 30) async throws -> RecipeRunView {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                let run: RecipeRunView = try await call("GET", "/recipe-runs/\(id)")
                if run.state != .running { return run }
                try await Task.sleep(for: .milliseconds(200))
            }
            throw Harness.HarnessError("recipe run \(id) did not end")
        }

        /// Poll until `predicate` holds (or fail after `timeout` seconds).
        func waitForJob(_ id: Int64, timeout: Double = 30, _ predicate: (JobView) -> Bool) async throws -> JobView {
            let deadline = Date().addingTimeInterval(timeout)
            var last: JobView? = nil
            while Date() < deadline {
                if let j = try? await job(id) {
                    last = j
                    if predicate(j) { return j }
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw HarnessError("job \(id) never reached the expected state; last: \(last.map { "\($0.state) attempt \($0.attempt) events \($0.events?.map(\.kind) ?? [])" } ?? "none")")
        }

        func waitForHeartbeat(_ member: Int64, timeout: Double = 20) async throws -> HeartbeatSummary {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if let hb = try? await memberView(member).heartbeat { return hb }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw HarnessError("member \(member) never sent a heartbeat")
        }
    }

    /// A raw agent request, as a hostile or misconfigured client would send it.
    func agentPost(_ path: String, secret: String, body: Data, headers: [(String, String)] = []) async throws -> HTTPResponse {
        return try await session().request("POST", base + path,
                                         headers: [("Authorization", "Bearer \(secret)"), ("Content-Type", "application/json")] + headers,
                                         body: Array(body))
    }

    /// The operator CLI against this server, as the admin: exit status and stdout+stderr.
    func balctl(_ args: [String]) throws -> (status: Int32, text: String) {
        let cli = Process()
        cli.executableURL = URL(fileURLWithPath: try Self.binary("balctl"))
        cli.arguments = args + ["--server", base, "--token", adminToken, "--ca-file", tls.caCert]
        cli.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BALCTL_") }
        let pipe = Pipe()
        cli.standardOutput = pipe
        cli.standardError = pipe
        try cli.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        cli.waitUntilExit()
        return (cli.terminationStatus, text)
    }

    static func report(hostname: String, commands: [String] = ["host.echo"], jobs: [JobRef] = []) -> HostReport {
        HostReport(hostname: hostname, agentVersion: BalctlVersion.current,
                   os: OSInfo(family: "debian", id: "debian", versionID: "12", prettyName: "Debian", kernel: "6"),
                   uptimeSec: 1, load: [0, 0, 0], cpuPercent: nil, cpuCount: 1,
                   memory: MemoryInfo(totalBytes: 1, availableBytes: 1), disks: [], publicIPv4: nil,
                   publicIPSource: nil, stacks: [:], commands: commands, jobsInFlight: jobs)
    }
}
