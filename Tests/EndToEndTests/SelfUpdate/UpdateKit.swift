import BalctlProtocol
import ControlPlane
import Foundation
import Testing

/// What the self-update tests share: signing keys, bundles built by the real builder from a copy
/// of the built agent (stamped with another version), an "installed" agent in a bin directory of
/// its own, an HTTPS file server for bundles the control plane would never serve (tampered,
/// unsigned, hostile), and a way to run the installed agent's `--update`.
final class UpdateKit: @unchecked Sendable {
    let dir: URL
    let tls: LocalCA.Files
    let keyFile: String
    let publicKey: String
    let otherKeyFile: String
    let agentBytes: Data
    private var fileServer: Process?
    private(set) var fileServerPort = 0

    init(tls: LocalCA.Files? = nil) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-update-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        self.tls = try tls ?? LocalCA.create(in: dir.appendingPathComponent("tls").path)
        publicKey = try AgentSigningKey.create(in: dir.appendingPathComponent("keys").path)
        keyFile = dir.appendingPathComponent("keys/\(AgentSigningKey.privateName)").path
        _ = try AgentSigningKey.create(in: dir.appendingPathComponent("other-keys").path)
        otherKeyFile = dir.appendingPathComponent("other-keys/\(AgentSigningKey.privateName)").path
        agentBytes = try Data(contentsOf: URL(fileURLWithPath: try Harness.binary("balctl-heartbeat")))
    }

    deinit {
        if let p = fileServer, p.isRunning { kill(p.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: dir)
    }

    static let bundleFiles = ["balctl-agent.sh", "balctl-heartbeat.service", "balctl-heartbeat.env.example",
                              "INSTALL_VM.txt", "README.md"].map { Harness.repoRoot.appendingPathComponent("bundle/\($0)").path }

    /// A signed bundle directory (agent.zip, manifest.json, manifest.sig, agent-signing.pub).
    @discardableResult
    func bundle(_ name: String, version: String, binary: String? = nil, key: String? = nil, validDays: Int = 30,
                now: Date = Date(), minAgentVersion: String? = nil) throws -> URL {
        let out = dir.appendingPathComponent("bundles/\(name)")
        var b = AgentBundleBuilder(binary: try binary ?? Harness.binary("balctl-heartbeat"), version: version,
                                   files: Self.bundleFiles, signingKey: key ?? keyFile)
        b.validDays = validDays
        b.now = now
        b.minAgentVersion = minAgentVersion
        try b.build(into: out.path)
        return out
    }

    /// The bytes of the agent binary inside a bundle.
    func bundledBinary(_ bundle: URL) throws -> Data {
        let x = dir.appendingPathComponent("unzip-\(UUID().uuidString.prefix(6))")
        try run("/usr/bin/unzip", ["-q", bundle.appendingPathComponent("agent.zip").path, "balctl-heartbeat", "-d", x.path])
        return try Data(contentsOf: x.appendingPathComponent("balctl-heartbeat"))
    }

    /// A copy of `zip` changed by a small Python zipfile script (which, unlike our builder, writes
    /// whatever it is told: `..` names, symlinks, files the manifest does not list).
    func rezip(_ bundle: URL, as name: String, _ spec: [String: Any]) throws -> URL {
        let out = dir.appendingPathComponent("bundles/\(name)")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let script = """
            import json, sys, zipfile
            src, dst, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
            with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
                for info in zin.infolist():
                    if info.filename in spec.get("drop", []): continue
                    data = zin.read(info.filename)
                    if info.filename in spec.get("replace", {}): data = spec["replace"][info.filename].encode()
                    if info.filename in spec.get("append", {}): data += spec["append"][info.filename].encode()
                    zout.writestr(info, data)
                for name, text in spec.get("add", {}).items():
                    zout.writestr(name, text)
                for name, target in spec.get("symlinks", {}).items():
                    zi = zipfile.ZipInfo(name)
                    zi.create_system = 3
                    zi.external_attr = (0o120777 << 16)
                    zout.writestr(zi, target)
            """
        let json = String(decoding: try JSONSerialization.data(withJSONObject: spec), as: UTF8.self)
        try run("/usr/bin/python3", ["-c", script, bundle.appendingPathComponent("agent.zip").path,
                                     out.appendingPathComponent("agent.zip").path, json])
        return out
    }

    /// Serve `dir/bundles` over HTTPS (the test CA's server certificate) from a Python process.
    func startFileServer() throws {
        let root = dir.appendingPathComponent("bundles")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let script = """
            import http.server, ssl, sys, os, functools, threading, time
            # Ends with the test process even when the kit is never deinitialised (a crash, a
            # kill): it watches for being re-parented.
            parent = os.getppid()
            def watch():
                while os.getppid() == parent: time.sleep(1)
                os._exit(0)
            threading.Thread(target=watch, daemon=True).start()
            class Quiet(http.server.SimpleHTTPRequestHandler):
                def log_message(self, *a): pass
            handler = functools.partial(Quiet, directory=sys.argv[1])
            httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(sys.argv[2], sys.argv[3])
            httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
            print(httpd.server_address[1], flush=True)
            httpd.serve_forever()
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = ["-c", script, root.path, tls.serverCert, tls.serverKey]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        fileServer = p
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { throw Harness.HarnessError("the bundle file server did not start") }
            line += chunk
        }
        fileServerPort = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    func url(_ bundle: URL) -> String {
        "https://127.0.0.1:\(fileServerPort)/\(bundle.lastPathComponent)/agent.zip"
    }

    /// A fresh "installed" agent (the built one, version BalctlVersion.current) in a bin
    /// directory of its own, and a state directory.
    func install(_ name: String) throws -> (binary: String, state: String) {
        let bin = dir.appendingPathComponent("hosts/\(name)/bin")
        let state = dir.appendingPathComponent("hosts/\(name)/state")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        let path = bin.appendingPathComponent("balctl-heartbeat").path
        try agentBytes.write(to: URL(fileURLWithPath: path))
        chmod(path, 0o755)
        return (path, state.path)
    }

    /// The environment of an installed agent (settings as agent.env would hold them).
    func env(state: String, url: String, apiBase: String = "https://127.0.0.1:1", secret: String = String(repeating: "ab", count: 24),
             hostname: String = "vm1") -> [String: String] {
        ["BALCTL_ENROLLMENT_SECRET": secret, "BALCTL_API_BASE": apiBase, "BALCTL_HOSTNAME": hostname,
         "BALCTL_CA_FILE": tls.caCert, "BALCTL_STATE_DIR": state, "BALCTL_UPDATE_URL": url,
         "BALCTL_UPDATE_PUBKEY": publicKey, "BALCTL_ENV_FILE": dir.appendingPathComponent("no-agent.env").path,
         "BALCTL_SHUTDOWN_GRACE_SEC": "2"]
    }

    struct Run { var status: Int32; var output: String }

    /// Run a program to the end (output to a file, so a chatty child never blocks on a pipe).
    @discardableResult
    func run(_ exe: String, _ args: [String], env: [String: String]? = nil, check: Bool = true, timeout: Double = 120) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        if let env {
            var e = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BALCTL_") }
            e.merge(env) { $1 }
            p.environment = e
        }
        let log = dir.appendingPathComponent("run-\(UUID().uuidString.prefix(8)).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let h = try FileHandle(forWritingTo: log)
        p.standardOutput = h
        p.standardError = h
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        if check && p.terminationStatus != 0 {
            throw Harness.HarnessError("\(exe) \(args.prefix(2)) exited \(p.terminationStatus): \(text)")
        }
        return Run(status: p.terminationStatus, output: text)
    }

    /// Names in a directory (scratch files an update must not leave behind).
    static func entries(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }
}
