#if canImport(Glibc)
import Glibc
#endif
import AgentKernel
import Testing

/// Real ufw in a throwaway network + mount namespace (the firewall and SSH plugin tests and the
/// end-to-end recipe runs share it), one per suite: a private copy of
/// /etc/ufw and /etc/default is bind-mounted over the originals inside the namespace, whose
/// holder process (`unshare --net --mount … sleep`) the suite kills at the end. Handlers reach
/// it through `bin/ufw`, a wrapper that `nsenter`s the namespace; they read and write the
/// copies directly (`ufwDir`, `defaultsFile`), which is what ufw sees inside. The host's own
/// firewall, /etc/ufw and iptables are never touched.
public final class UFWNamespace: Sendable {
    public let root: String
    let holder: pid_t

    public var ufwDir: String { root + "/ufw" }
    public var defaultsFile: String { root + "/default/ufw" }
    public var stateDir: String { root + "/state" }

    /// The wrapper that runs ufw inside the namespace: give it to the plugin as its ufw.
    public var ufwWrapper: String { root + "/bin/ufw" }

    public static func start() async throws -> UFWNamespace {
        guard Files.isExecutable("/usr/sbin/ufw") else { throw UFWNamespace.Failure("ufw is not installed (apt-get install -y ufw)") }
        var template = Array("/tmp/balctl-ufwns-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw UFWNamespace.Failure("mkdtemp failed") }
        let root = String(cString: p)
        try await sh("cp -a /etc/ufw \(root)/ufw && cp -a /etc/default \(root)/default && mkdir -p \(root)/bin \(root)/state && chmod 700 \(root)/state")
        let script = "mount --bind \(root)/ufw /etc/ufw && mount --bind \(root)/default /etc/default && ip link set lo up && touch \(root)/ready && exec sleep 3600"
        var pid = pid_t()
        let args = ["unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", script]
        let argv = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let rc = posix_spawnp(&pid, "unshare", nil, nil, argv, environ)
        guard rc == 0 else { throw UFWNamespace.Failure("cannot run unshare: \(rc)") }
        let ns = UFWNamespace(root: root, holder: pid)
        let deadline = monotonicNow() + 10
        while !Files.exists(root + "/ready") {
            guard monotonicNow() < deadline else { ns.stop(); throw UFWNamespace.Failure("the namespace did not come up") }
            try await Task.sleep(for: .milliseconds(20))
        }
        let enter = "nsenter --net=/proc/\(pid)/ns/net --mount=/proc/\(pid)/ns/mnt"
        try write(root + "/bin/ufw", "#!/bin/sh\nexec \(enter) /usr/sbin/ufw \"$@\"\n", mode: 0o755)
        try write(root + "/bin/inns", "#!/bin/sh\nexec \(enter) \"$@\"\n", mode: 0o755)
        return ns
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(_ d: String) { description = d }
    }

    private init(root: String, holder: pid_t) { self.root = root; self.holder = holder }

    public func stop() {
        kill(holder, SIGKILL)
        var status: Int32 = 0
        waitpid(holder, &status, 0)
        _ = try? Self.runSync("rm -rf \(root)")
    }

    /// Back to a fresh install: ufw stopped in the namespace, the package's files copied back.
    public func reset() async throws {
        _ = try await inNamespace(["/usr/sbin/ufw", "--force", "disable"])
        for f in ["user.rules", "user6.rules", "ufw.conf", "before.rules", "after.rules", "before6.rules", "after6.rules"] {
            try await Self.sh("cp /etc/ufw/\(f) \(ufwDir)/\(f)")
        }
        try await Self.sh("cp /etc/default/ufw \(defaultsFile) && rm -rf \(stateDir)/* && rm -f \(root)/ufw/*.balctl-tmp-*")
    }

    /// A program run inside the namespace; its output.
    @discardableResult
    public func inNamespace(_ argv: [String]) async throws -> String {
        let r = try await ProcessRunner().run(root + "/bin/inns", argv, timeoutSec: 60)
        guard r.succeeded else { throw UFWNamespace.Failure("\(argv.joined(separator: " ")) failed: \(r.output)") }
        return r.output
    }

    public func status() async throws -> String { try await inNamespace(["/usr/sbin/ufw", "status", "numbered"]) }
    public func iptables() async throws -> String { try await inNamespace(["iptables", "-S"]) }

    public static func sh(_ command: String) async throws {
        let r = try await ProcessRunner().run("/bin/sh", ["-c", command], timeoutSec: 60)
        guard r.succeeded else { throw UFWNamespace.Failure("\(command): \(r.output)") }
    }

    public static func runSync(_ command: String) throws -> Int32 {
        var pid = pid_t()
        let args: [String] = ["/bin/sh", "-c", command]
        let argv = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return status
    }

    public static func write(_ path: String, _ text: String, mode: mode_t) throws {
        try SafeFile.write(path, Array(text.utf8), mode: mode)
    }
}

public enum UFWSuite {
    @TaskLocal public static var current: UFWNamespace?
    public static func shared() throws -> UFWNamespace {
        guard let s = current else { throw UFWNamespace.Failure("the suite needs the .ufwNamespace trait") }
        return s
    }
}

/// One namespace for the whole suite (≈ 0.1 s to start), reset between tests.
public struct UFWNamespaceTrait: SuiteTrait, TestScoping {
    public init() {}
    public func provideScope(for test: Test, testCase: Test.Case?,
                      performing function: @Sendable () async throws -> Void) async throws {
        let ns = try await UFWNamespace.start()
        defer { ns.stop() }
        try await UFWSuite.$current.withValue(ns) { try await function() }
    }
}

extension Trait where Self == UFWNamespaceTrait {
    public static var ufwNamespace: Self { Self() }
}
