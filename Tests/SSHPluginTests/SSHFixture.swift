#if canImport(Glibc)
import Glibc
#endif
import AgentKernel
import BalctlProtocol
import FirewallPlugin
@testable import SSHPlugin
import Testing
import TestSupport

struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A private sshd configuration for one test: throwaway host keys (ssh-keygen), a main config
/// that Includes its own sshd_config.d, the real sshd run as `nobody` through a wrapper (as root
/// sshd -T would want /run/sshd on this machine; as nobody it does not, and reads only what we
/// made readable), a recording `systemctl` that keeps the unit's state in two files, and test
/// accounts whose homes are under the temp dir (uid/gid 4242, a uid no one on the machine has).
final class SSHFixture: Sendable {
    let root: String
    var configDir: String { root + "/etc-ssh" }
    var systemdDir: String { root + "/systemd" }
    var callsFile: String { systemdDir + "/calls" }
    var homes: String { root + "/home" }
    var procNet: String { root + "/proc-net" }

    static let testUID: uid_t = 4242
    static let testGID: gid_t = 4242

    init(mainConfig: String? = nil, ports: [Int] = [22, 2222]) async throws {
        var template = Array("/tmp/balctl-ssh-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw Failure("mkdtemp failed") }
        root = String(cString: p)
        chmod(root, 0o755)
        try await Self.sh("""
            mkdir -p \(configDir)/sshd_config.d \(root)/bin \(systemdDir) \(homes)/alice \(homes)/bob \(procNet) \(root)/units &&
            chmod 755 \(configDir) \(configDir)/sshd_config.d &&
            ssh-keygen -q -t ed25519 -N '' -f \(configDir)/host_ed25519 &&
            chown nobody \(configDir)/host_ed25519 &&
            chown 4242:4242 \(homes)/alice \(homes)/bob && chmod 755 \(homes)/alice \(homes)/bob &&
            : > \(procNet)/tcp && : > \(procNet)/tcp6 && touch \(root)/units/ssh.service
            """)
        let main = mainConfig ?? """
            # test sshd_config
            Include \(configDir)/sshd_config.d/*.conf
            HostKey \(configDir)/host_ed25519
            \(ports.map { "Port \($0)" }.joined(separator: "\n"))
            PidFile \(root)/sshd.pid
            KbdInteractiveAuthentication no
            UsePAM yes

            """
        try write(configDir + "/sshd_config", main)
        try write(root + "/bin/sshd", """
            #!/bin/sh
            [ -e \(root)/fail-t ] && [ "$1" = "-t" ] && { echo "\(root)/fail-t: simulated sshd -t refusal"; exit 255; }
            echo "$*" >> \(root)/sshd-calls
            exec setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/sbin/sshd "$@"
            """, mode: 0o755)
        try write(root + "/bin/systemctl", """
            #!/bin/sh
            d=\(systemdDir)
            echo "$*" >> $d/calls
            case "$1" in
            is-active) s=$(cat $d/active 2>/dev/null || echo inactive); echo "$s"; [ "$s" = active ];;
            is-enabled) s=$(cat $d/enabled 2>/dev/null || echo disabled); echo "$s"; [ "$s" = enabled ];;
            enable) echo enabled > $d/enabled; if [ "$2" = --now ]; then echo active > $d/active; fi;;
            disable) echo disabled > $d/enabled; if [ "$2" = --now ]; then echo inactive > $d/active; fi;;
            try-reload-or-restart) exit 0;;
            *) echo "fake systemctl: unknown verb $1" >&2; exit 1;;
            esac
            """, mode: 0o755)
    }

    func stop() { _ = try? Self.runSync("rm -rf \(root)") }

    func write(_ path: String, _ text: String, mode: mode_t = 0o644) throws {
        try SafeFile.write(path, Array(text.utf8), mode: mode)
    }

    /// The accounts the tests use: alice and bob (homes under the temp dir, uid 4242).
    var accounts: AccountLookup {
        let homes = self.homes
        let list = [Account(name: "alice", uid: Self.testUID, gid: Self.testGID, home: homes + "/alice", shell: "/bin/bash"),
                    Account(name: "bob", uid: Self.testUID, gid: Self.testGID, home: homes + "/bob", shell: "/bin/bash"),
                    Account(name: "daemonish", uid: 2, gid: 2, home: homes + "/none", shell: "/usr/sbin/nologin")]
        return AccountLookup(byName: { n in list.first { $0.name == n } }, all: { list })
    }

    func settings(firewall: FirewallSettings? = nil) -> SSHSettings {
        SSHSettings(sshd: root + "/bin/sshd", systemctl: root + "/bin/systemctl", configDir: configDir,
                    unitDirs: [root + "/units"], osReleaseFile: root + "/no-os-release", privsepDir: root + "/privsep",
                    procRoot: "/proc", procNetDir: procNet,
                    firewall: firewall ?? FirewallSettings(ufw: root + "/no-ufw", ufwDir: root + "/no-ufw-dir",
                                                           defaultsFile: root + "/no-default-ufw", sshd: root + "/no-sshd",
                                                           stateDir: root + "/state", agentEnvFile: root + "/no-agent.env",
                                                           firewalldMarkers: [], firewallCmd: root + "/no-firewall-cmd",
                                                           firewallOfflineCmd: root + "/no-firewall-offline-cmd",
                                                           firewalldDir: root + "/no-firewalld", firewalldLibDir: root + "/no-firewalld-lib",
                                                           firewalldPidFile: root + "/no-firewalld.pid", systemctl: root + "/no-systemctl",
                                                           dnf: root + "/no-dnf",
                                                           // A host os-release naming the RHEL family would select firewalld.
                                                           osReleaseFile: root + "/no-os-release"),
                    accounts: accounts)
    }

    /// What the fake systemctl was asked, one call per line.
    func systemctlCalls() -> [String] {
        guard let b = try? Files.readBytes(callsFile) else { return [] }
        return String(decoding: b, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    func setService(active: String, enabled: String) throws {
        try write(systemdDir + "/active", active + "\n")
        try write(systemdDir + "/enabled", enabled + "\n")
    }

    func text(_ path: String) -> String? {
        (try? Files.readBytes(path)).map { String(decoding: $0, as: UTF8.self) }
    }

    // Shell helpers: TestSupport's (one copy for the firewall, SSH and end-to-end tests).
    static func sh(_ command: String) async throws { try await UFWNamespace.sh(command) }

    @discardableResult
    static func runSync(_ command: String) throws -> Int32 { try UFWNamespace.runSync(command) }

    /// A fresh key from the real ssh-keygen: (public line, fingerprint as ssh-keygen prints it).
    static func newKey(_ type: String = "ed25519", bits: Int? = nil, comment: String = "test@balctl") async throws -> (line: String, fingerprint: String) {
        var template = Array("/tmp/balctl-sshkey-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw Failure("mkdtemp failed") }
        let dir = String(cString: p)
        defer { _ = try? runSync("rm -rf \(dir)") }
        var args = ["-q", "-t", type, "-N", "", "-C", comment, "-f", dir + "/k"]
        if let bits { args += ["-b", String(bits)] }
        let r = try await ProcessRunner().run("/usr/bin/ssh-keygen", args, timeoutSec: 60)
        guard r.succeeded else { throw Failure("ssh-keygen: \(r.output)") }
        let line = String(decoding: try Files.readBytes(dir + "/k.pub"), as: UTF8.self).trimmingWhitespace
        let l = try await ProcessRunner().run("/usr/bin/ssh-keygen", ["-l", "-E", "sha256", "-f", dir + "/k.pub"], timeoutSec: 60)
        let fp = l.output.split(separator: " ").first { $0.hasPrefix("SHA256:") }.map(String.init) ?? ""
        return (line, fp)
    }
}

/// Run a handler with a given context (for tests that read the job's output).
func run<H: CommandHandler>(_ h: H, _ params: JSONValue = .emptyObject, checkMode: Bool = false) async throws -> JobOutcome {
    try await runJob(h, params, checkMode: checkMode).0
}
