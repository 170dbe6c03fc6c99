#if canImport(Glibc)
import Glibc
#endif
import AgentKernel
import FirewallPlugin
import TestSupport

/// Real ufw in a throwaway network + mount namespace for ssh.enable / ssh.disable, the same
/// way the firewall plugin's own tests run it: a private copy of /etc/ufw and /etc/default
/// bind-mounted inside the namespace, ufw reached through an `nsenter` wrapper, the holder
/// process killed at the end. The host's firewall is never touched.
final class UFWNamespace: Sendable {
    let root: String
    let holder: pid_t

    var ufwDir: String { root + "/ufw" }

    func settings() -> FirewallSettings {
        FirewallSettings(ufw: root + "/bin/ufw", ufwDir: ufwDir, defaultsFile: root + "/default/ufw",
                         sshd: root + "/no-sshd", stateDir: root + "/state", apiBase: "https://198.51.100.7:8443",
                         agentEnvFile: root + "/no-agent.env", firewalldMarkers: [], tool: .ufw)
    }

    static func start() async throws -> UFWNamespace {
        guard Files.isExecutable("/usr/sbin/ufw") else { throw Failure("ufw is not installed (apt-get install -y ufw)") }
        var template = Array("/tmp/balctl-sshufw-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw Failure("mkdtemp failed") }
        let root = String(cString: p)
        try await SSHFixture.sh("cp -a /etc/ufw \(root)/ufw && cp -a /etc/default \(root)/default && mkdir -p \(root)/bin \(root)/state && chmod 700 \(root)/state")
        let script = "mount --bind \(root)/ufw /etc/ufw && mount --bind \(root)/default /etc/default && ip link set lo up && touch \(root)/ready && exec sleep 3600"
        var pid = pid_t()
        let args = ["unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", script]
        let argv = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawnp(&pid, "unshare", nil, nil, argv, environ) == 0 else { throw Failure("cannot run unshare") }
        let ns = UFWNamespace(root: root, holder: pid)
        let deadline = monotonicNow() + 10
        while !Files.exists(root + "/ready") {
            guard monotonicNow() < deadline else { ns.stop(); throw Failure("the namespace did not come up") }
            try await Task.sleep(for: .milliseconds(20))
        }
        let enter = "nsenter --net=/proc/\(pid)/ns/net --mount=/proc/\(pid)/ns/mnt"
        try SafeFile.write(root + "/bin/ufw", Array("#!/bin/sh\nexec \(enter) /usr/sbin/ufw \"$@\"\n".utf8), mode: 0o755)
        try SafeFile.write(root + "/bin/inns", Array("#!/bin/sh\nexec \(enter) \"$@\"\n".utf8), mode: 0o755)
        return ns
    }

    private init(root: String, holder: pid_t) { self.root = root; self.holder = holder }

    func stop() {
        kill(holder, SIGKILL)
        var status: Int32 = 0
        waitpid(holder, &status, 0)
        _ = try? SSHFixture.runSync("rm -rf \(root)")
    }

    /// `ufw status` inside the namespace.
    func status() async throws -> String {
        let r = try await ProcessRunner().run(root + "/bin/inns", ["/usr/sbin/ufw", "status"], timeoutSec: 60)
        guard r.succeeded else { throw Failure("ufw status: \(r.output)") }
        return r.output
    }

    func iptables() async throws -> String {
        let r = try await ProcessRunner().run(root + "/bin/inns", ["iptables", "-S"], timeoutSec: 60)
        return r.output
    }
}
