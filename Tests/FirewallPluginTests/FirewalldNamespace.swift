#if canImport(Glibc)
import Glibc
#endif
import AgentKernel
import BalctlProtocol
import FirewallPlugin
import Testing
import TestSupport

/// Real firewalld in a throwaway network + mount namespace, one per suite. A private copy of
/// /etc/firewalld is bind-mounted over the original, a private directory over /run (so
/// /run/dbus and firewalld's pid file are the namespace's own) and over /var/log; a private
/// system bus (`dbus-daemon --config-file`, the socket at the namespace's
/// /run/dbus/system_bus_socket) runs from the start. The handlers reach the programs through
/// wrappers in `bin/` that `nsenter` the namespace: `firewall-offline-cmd` edits the copy,
/// `firewall-cmd` talks to the daemon over the private bus, and a fake `systemctl` records its
/// argv and starts or stops the real daemon inside the namespace. /usr/lib/firewalld is read
/// as it is (read-only). The host's /etc/firewalld, bus and nftables are never touched.
/// Processes are ended by their pids (holder, bus, daemon) when the suite ends.
final class FirewalldNamespace: Sendable {
    let root: String
    let holder: pid_t

    var fwDir: String { root + "/fw" }
    var stateDir: String { root + "/state" }
    var systemctlLog: String { root + "/systemctl.log" }

    static let rockyOSRelease = """
    NAME="Rocky Linux"
    VERSION="9.4 (Blue Onyx)"
    ID="rocky"
    ID_LIKE="rhel centos fedora"
    VERSION_ID="9.4"
    PLATFORM_ID="platform:el9"
    PRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"

    """

    /// Settings pointing the plugin at the namespace; the tool is chosen from the Rocky
    /// os-release fixture (not pinned), so selection is exercised too.
    func settings(sshd: String? = nil, apiBase: String = "https://198.51.100.7:8443") -> FirewallSettings {
        FirewallSettings(ufw: root + "/no-ufw", ufwDir: root + "/no-ufw-dir", defaultsFile: root + "/no-default-ufw",
                         sshd: sshd ?? root + "/no-sshd", stateDir: stateDir, apiBase: apiBase,
                         agentEnvFile: root + "/no-agent.env", firewalldMarkers: [],
                         firewallCmd: root + "/bin/firewall-cmd", firewallOfflineCmd: root + "/bin/firewall-offline-cmd",
                         firewalldDir: fwDir, firewalldLibDir: "/usr/lib/firewalld",
                         firewalldPidFile: root + "/run/firewalld.pid", systemctl: root + "/bin/systemctl",
                         dnf: root + "/bin/dnf", osReleaseFile: root + "/os-release")
    }

    static func start() async throws -> FirewalldNamespace {
        guard Files.isExecutable("/usr/sbin/firewalld"), Files.isExecutable("/usr/bin/firewall-offline-cmd") else {
            throw Failure("firewalld is not installed (apt-get install -y firewalld)")
        }
        var template = Array("/tmp/balctl-fwdns-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw Failure("mkdtemp failed") }
        let root = String(cString: p)
        try await UFWNamespace.sh("cp -a /etc/firewalld \(root)/fw-pristine && rm -rf \(root)/fw-pristine/zones/* \(root)/fw-pristine/policies/* && cp -a \(root)/fw-pristine \(root)/fw && mkdir -p \(root)/bin \(root)/run/dbus \(root)/log \(root)/state && chmod 700 \(root)/state")
        try UFWNamespace.write(root + "/os-release", rockyOSRelease, mode: 0o644)
        try UFWNamespace.write(root + "/bus.conf", """
        <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
        <busconfig>
          <type>system</type>
          <listen>unix:path=/run/dbus/system_bus_socket</listen>
          <auth>EXTERNAL</auth>
          <policy context="default">
            <allow user="root"/>
            <allow own="*"/>
            <allow send_destination="*"/>
            <allow receive_sender="*"/>
          </policy>
        </busconfig>

        """, mode: 0o644)
        let script = "mount --bind \(root)/fw /etc/firewalld && mount --bind \(root)/run /run && mount --bind \(root)/log /var/log && ip link set lo up && dbus-daemon --config-file=\(root)/bus.conf --fork --print-pid=3 3>\(root)/dbus.pid && touch \(root)/ready && exec sleep 3600"
        var pid = pid_t()
        let args = ["unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", script]
        let argv = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let rc = posix_spawnp(&pid, "unshare", nil, nil, argv, environ)
        guard rc == 0 else { throw Failure("cannot run unshare: \(rc)") }
        let ns = FirewalldNamespace(root: root, holder: pid)
        let deadline = monotonicNow() + 10
        while !Files.exists(root + "/ready") {
            guard monotonicNow() < deadline else { ns.stop(); throw Failure("the namespace did not come up") }
            try await Task.sleep(for: .milliseconds(20))
        }
        let enter = "nsenter --net=/proc/\(pid)/ns/net --mount=/proc/\(pid)/ns/mnt"
        try UFWNamespace.write(root + "/bin/inns", "#!/bin/sh\nexec \(enter) \"$@\"\n", mode: 0o755)
        try UFWNamespace.write(root + "/bin/firewall-cmd", "#!/bin/sh\nexec \(enter) /usr/bin/firewall-cmd \"$@\"\n", mode: 0o755)
        try UFWNamespace.write(root + "/bin/firewall-offline-cmd", "#!/bin/sh\nexec \(enter) /usr/bin/firewall-offline-cmd \"$@\"\n", mode: 0o755)
        // The daemon as systemd would run it, inside the namespace (its pid file lands in the
        // namespace's /run, which is \(root)/run).
        try UFWNamespace.write(root + "/bin/start-firewalld", "#!/bin/sh\n\(enter) setsid /usr/sbin/firewalld --nofork >>\(root)/firewalld.out 2>&1 </dev/null &\n", mode: 0o755)
        try UFWNamespace.write(root + "/bin/stop-firewalld", "#!/bin/sh\n[ -s \(root)/run/firewalld.pid ] && kill $(cat \(root)/run/firewalld.pid)\nexit 0\n", mode: 0o755)
        try UFWNamespace.write(root + "/bin/systemctl", """
        #!/bin/sh
        echo "$*" >> \(root)/systemctl.log
        case "$*" in
          "is-enabled firewalld") if [ -f \(root)/enabled ]; then echo enabled; else echo disabled; exit 1; fi ;;
          "enable --now firewalld") touch \(root)/enabled; exec \(root)/bin/start-firewalld ;;
          "disable --now firewalld") rm -f \(root)/enabled; exec \(root)/bin/stop-firewalld ;;
          *) echo "fake systemctl: unexpected $*" >&2; exit 1 ;;
        esac

        """, mode: 0o755)
        return ns
    }

    private init(root: String, holder: pid_t) { self.root = root; self.holder = holder }

    func pid(_ file: String) -> pid_t? {
        (try? Files.readBytes(root + "/" + file)).flatMap { pid_t(String(decoding: $0, as: UTF8.self).trimmingWhitespace) }
    }

    func stop() {
        // Ours, by pid: the daemon (if running), the bus, the namespace's holder.
        for p in [pid("run/firewalld.pid"), pid("dbus.pid")].compactMap({ $0 }) where p > 1 { kill(p, SIGKILL) }
        kill(holder, SIGKILL)
        var status: Int32 = 0
        waitpid(holder, &status, 0)
        _ = try? UFWNamespace.runSync("rm -rf \(root)")
    }

    /// The daemon stopped, the pristine copy of /etc/firewalld back, no backups, no records.
    func reset() async throws {
        if let p = pid("run/firewalld.pid"), p > 1 {
            kill(p, SIGTERM)
            let deadline = monotonicNow() + 10
            while kill(p, 0) == 0, monotonicNow() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        }
        // Contents replaced in place: /etc/firewalld in the namespace is bound to this directory.
        try await UFWNamespace.sh("rm -rf \(fwDir)/* && cp -a \(root)/fw-pristine/. \(fwDir)/ && rm -rf \(stateDir)/* \(root)/enabled \(root)/systemctl.log \(root)/run/firewalld.pid")
    }

    @discardableResult
    func inNamespace(_ argv: [String]) async throws -> String {
        let r = try await ProcessRunner().run(root + "/bin/inns", argv, timeoutSec: 60)
        guard r.succeeded else { throw Failure("\(argv.joined(separator: " ")) failed: \(r.output)") }
        return r.output
    }

    @discardableResult
    func offline(_ args: [String]) async throws -> String { try await inNamespace(["/usr/bin/firewall-offline-cmd"] + args) }
    func online(_ args: [String]) async throws -> String { try await inNamespace(["/usr/bin/firewall-cmd"] + args) }
    var systemctlCalls: [String] {
        ((try? Files.readBytes(systemctlLog)).map { String(decoding: $0, as: UTF8.self) } ?? "").split(separator: "\n").map(String.init)
    }
}

enum FirewalldSuite {
    @TaskLocal static var current: FirewalldNamespace?
    static func shared() throws -> FirewalldNamespace {
        guard let s = current else { throw Failure("the suite needs the .firewalldNamespace trait") }
        return s
    }
}

struct FirewalldNamespaceTrait: SuiteTrait, TestScoping {
    func provideScope(for test: Test, testCase: Test.Case?,
                      performing function: @Sendable () async throws -> Void) async throws {
        let ns = try await FirewalldNamespace.start()
        defer { ns.stop() }
        try await FirewalldSuite.$current.withValue(ns) { try await function() }
    }
}

extension Trait where Self == FirewalldNamespaceTrait {
    static var firewalldNamespace: Self { Self() }
}
