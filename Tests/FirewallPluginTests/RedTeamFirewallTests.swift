#if canImport(Glibc)
import Glibc
#endif
import AgentKernel
import BalctlProtocol
@testable import FirewallPlugin
import Testing
import TestSupport

/// Red team of the firewall plugin (helper): each test reproduces a finding — it failed before
/// the fix named in its comment — or pins down what held.
@Suite(.serialized)
struct RedTeamFirewallTests {
    func rules(_ lines: [String]) -> [UFWRule] {
        UFWState.parseRules(lines.joined(separator: "\n"), ipv6: false)
    }

    /// F1: /etc/default/ufw and ufw.conf are sourced by ufw-init (`. "$s"`, as root). The
    /// restore validator let a space through unquoted, and `KEY=x prog` in a sourced file runs
    /// `prog`. Shown with sh, then the validator must refuse it (quoted spaces stay fine).
    @Test func unquotedSpaceInShellSourcedFileIsRefused() throws {
        var template = Array("/tmp/balctl-fwred-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw Failure("mkdtemp") }
        let dir = String(cString: p)
        defer { for f in ["pwned", "prog", "default-ufw"] { unlink(dir + "/" + f) }; rmdir(dir) }
        let marker = dir + "/pwned"
        try SafeFile.write(dir + "/prog", Array("#!/bin/sh\ntouch \(marker)\n".utf8), mode: 0o755)
        let line = "IPT_MODULES=x \(dir)/prog"
        try SafeFile.write(dir + "/default-ufw", Array((line + "\n").utf8), mode: 0o644)
        // What ufw-init does with the file: the line runs a program.
        let pid = try spawnAndWait("/bin/sh", ["-c", ". \(dir)/default-ufw"])
        #expect(pid == 0)
        #expect(Files.exists(marker), "the sourced line ran the program (the danger is real)")

        #expect(!UFWBackup.isPlainAssignment(Substring(line)))
        #expect(!UFWBackup.isPlainAssignment("DEFAULT_INPUT_POLICY=DROP touch"))
        #expect(UFWBackup.isPlainAssignment("IPT_MODULES=\"nf_conntrack_ftp nf_nat_ftp\""))
        #expect(UFWBackup.isPlainAssignment("IPT_SYSCTL=/etc/ufw/sysctl.conf"))
        // sysctl.conf goes to `sysctl -p` as root: network keys only (kernel/core_pattern names
        // a program the kernel runs on a crash).
        #expect(UFWBackup.isSysctl("net/ipv4/conf/all/accept_redirects=0"))
        #expect(UFWBackup.isSysctl("net.ipv4.ip_forward = 1"))
        #expect(!UFWBackup.isSysctl("kernel/core_pattern=core"))
        #expect(!UFWBackup.isSysctl("kernel.modprobe=/tmp/x"))
        let backup = UFWBackup(createdAt: "x", files: [
            ("user.rules", "*filter\nCOMMIT\n"), ("ufw.conf", "ENABLED=no\n"),
            (FirewallSettings.defaultsName, line + "\n"),
        ])
        #expect(throws: JobFailure.self) { try backup.validate() }
    }

    /// F2: a multiport rule (`ufw allow 80,443/tcp`) has no single port; the guard read it as
    /// "any port" and so as an SSH allow: deleting the real SSH allow (or a deny after it) was
    /// let through while only 80 and 443 stayed open.
    @Test func multiportAllowIsNotAnSSHAllow() {
        let web = "### tuple ### allow tcp 80,443 0.0.0.0/0 any 0.0.0.0/0 in"
        #expect(!LockoutGuard.sshReachable(rules([web]), defaultIncoming: "deny", port: 22))
        #expect(LockoutGuard.sshReachable(rules(["### tuple ### allow tcp 22,80 0.0.0.0/0 any 0.0.0.0/0 in"]),
                                          defaultIncoming: "deny", port: 22))
        #expect(LockoutGuard.sshReachable(rules(["### tuple ### allow tcp 8000:8010,20:30 0.0.0.0/0 any 0.0.0.0/0 in"]),
                                          defaultIncoming: "deny", port: 22))
        // A multiport deny covering 22 still counts as one.
        #expect(!LockoutGuard.sshReachable(rules(["### tuple ### deny tcp 21,22 0.0.0.0/0 any 0.0.0.0/0 in",
                                                  "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in"]),
                                           defaultIncoming: "deny", port: 22))
        // The same through the guard delete uses: removing the SSH allow with only the web rule left.
        let g = LockoutGuard(sshPorts: [22], controlPlanePort: 443, controlPlaneIP: nil, controlPlaneHost: nil)
        let ssh = RuleSpec(action: .allow, port: PortSpec(22), proto: .tcp, direction: .in, remote: nil, comment: nil)
        let before = rules([web, "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in"])
        #expect(!g.problems(ssh.removed(from: before, actions: [.allow]), defaultIncoming: "deny",
                            defaultOutgoing: "allow").isEmpty)
    }

    /// F3: denies "from a particular source" are skipped, so two denies that together cover all
    /// of IPv4 (each passing the guard alone) locked SSH out ahead of the SSH allow.
    @Test func denialsThatTogetherCoverEveryoneAreADenyFromAnywhere() {
        let allow = "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in"
        let halfA = "### tuple ### deny tcp 22 0.0.0.0/0 any 0.0.0.0/1 in"
        let halfB = "### tuple ### deny any 22 0.0.0.0/0 any 128.0.0.0/1 in"
        #expect(LockoutGuard.sshReachable(rules([halfA, allow]), defaultIncoming: "deny", port: 22))
        #expect(!LockoutGuard.sshReachable(rules([halfA, halfB, allow]), defaultIncoming: "deny", port: 22))
        // Through applied(to:), as firewall.deny evaluates the second call.
        let deny2 = RuleSpec(action: .deny, port: PortSpec(22), proto: .any, direction: .in,
                             remote: FirewallAddress("128.0.0.0/1"), comment: nil)
        let after = deny2.applied(to: rules([halfA]))
        #expect(!LockoutGuard.sshReachable(after, defaultIncoming: "allow", port: 22))
        // Many small ones covering everything, in any order.
        var many: [String] = []
        for i in stride(from: 255, through: 0, by: -1) { many.append("### tuple ### deny tcp 22 0.0.0.0/0 any \(i).0.0.0/8 in") }
        let allEight = LockoutGuard.sshReachable(rules(many + [allow]), defaultIncoming: "deny", port: 22)
        let oneMissing = LockoutGuard.sshReachable(rules(Array(many.dropFirst()) + [allow]), defaultIncoming: "deny", port: 22)
        #expect(!allEight)
        #expect(oneMissing)
        let top = UInt64(UInt32.max)
        let whole: [(low: UInt64, high: UInt64)] = [(0, top)]
        let gap: [(low: UInt64, high: UInt64)] = [(0, 10), (12, top)]
        #expect(LockoutGuard.coversAllIPv4(whole))
        #expect(!LockoutGuard.coversAllIPv4(gap))
    }

    /// Held: the parsers the heartbeat and the commands use on hostile files finish, with work
    /// bounded by the input (prefixes and random mutations of real content).
    @Test func hostileRuleAndSettingsFilesParseInBoundedTime() {
        let seed = """
        *filter
        :ufw-user-input - [0:0]
        ### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=737368
        -A ufw-user-input -p tcp --dport 22 -j ACCEPT
        ### tuple ### deny_log-all udp 80,443,8000:8010 10.0.0.0/8 any 192.0.2.0/24 out_eth0
        ### tuple ### route:allow any any ::/0 any fe80::/10 in
        COMMIT
        ENABLED=yes
        DEFAULT_INPUT_POLICY="DROP"
        IPT_MODULES="a b"
        """
        let bytes = Array(seed.utf8)
        var rng = SystemRandomNumberGenerator()
        let start = monotonicSeconds()
        for n in 0...bytes.count {
            let prefix = Array(bytes[..<n])
            _ = FirewallProbe.countRules(prefix)
            _ = UFWState.keyValues(String(decoding: prefix, as: UTF8.self))
        }
        let alphabet = Array("#/:=,_ \n\"'\\$`0123456789abcdef-".utf8) + [0, 0xff, 0xc3]
        for _ in 0..<3000 {
            var m = bytes
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                let i = Int.random(in: 0..<m.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: m[i] = alphabet.randomElement(using: &rng)!
                case 1: m.remove(at: i)
                default: m.insert(alphabet.randomElement(using: &rng)!, at: i)
                }
            }
            _ = FirewallProbe.countRules(m)
            let text = String(decoding: m, as: UTF8.self)
            _ = UFWState(conf: text, defaults: text, userRules: text, user6Rules: text)
            _ = try? UFWBackup.decode(Array("{\"format\":\"balctl-ufw-backup\",\"version\":1,\"files\":{\"user.rules\":\(JSONValue.string(text).jsonString())}}".utf8))
        }
        // A big file: 4 MiB of tuple lines counts linearly.
        let line = Array("### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n".utf8)
        var big: [UInt8] = []
        while big.count < 4 << 20 { big += line }
        #expect(FirewallProbe.countRules(big) == big.count / line.count)
        #expect(monotonicSeconds() - start < 60)
    }

    /// F4: restore's rollback only put back files it had a copy of. A file the restore created
    /// (user6.rules absent before) stayed with the backup's content after ufw failed, and a file
    /// too big to copy would have stayed half-written. A fake ufw that fails `enable`.
    @Test func failedRestoreLeavesNoFileOfTheBackupBehind() async throws {
        var template = Array("/tmp/balctl-fwred-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw Failure("mkdtemp") }
        let root = String(cString: p)
        defer { _ = system("rm -rf '\(root)'") }
        try SafeFile.write(root + "/ufw", Array("#!/bin/sh\n[ \"$1\" = status ] && { echo 'Status: inactive'; exit 0; }\necho boom; exit 1\n".utf8), mode: 0o755)
        try SafeFile.write(root + "/sshd", Array("#!/bin/sh\necho 'port 22'\n".utf8), mode: 0o755)
        try Files.makeDirectories(root + "/etc-ufw")
        let oldRules = "*filter\nCOMMIT\n"
        try SafeFile.write(root + "/etc-ufw/ufw.conf", Array("ENABLED=no\n".utf8), mode: 0o644)
        try SafeFile.write(root + "/etc-ufw/user.rules", Array(oldRules.utf8), mode: 0o640)
        try SafeFile.write(root + "/default-ufw", Array("DEFAULT_OUTPUT_POLICY=\"ACCEPT\"\n".utf8), mode: 0o644)
        let settings = FirewallSettings(ufw: root + "/ufw", ufwDir: root + "/etc-ufw", defaultsFile: root + "/default-ufw",
                                        sshd: root + "/sshd", stateDir: root + "/state", apiBase: "https://192.0.2.1",
                                        firewalldMarkers: [])
        let rules = "*filter\n### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n-A ufw-user-input -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"
        let rules6 = "*filter\n### tuple ### allow tcp 22 ::/0 any ::/0 in\nCOMMIT\n"
        let backup = UFWBackup(createdAt: "20260101T000000Z", files: [
            ("user.rules", rules), ("user6.rules", rules6), ("ufw.conf", "ENABLED=yes\n"),
            (FirewallSettings.defaultsName, "DEFAULT_OUTPUT_POLICY=\"ACCEPT\"\n"),
        ])
        try Files.makeDirectories(root + "/state")
        try SafeFile.makeDirectory(settings.backupDir, mode: 0o700)
        let name = "ufw-20260101T000000Z-0123456789abcdef"
        try SafeFile.write(settings.backupDir + "/" + name, Array(backup.json.jsonString().utf8), mode: 0o600)

        let err = await jobError(RestoreHandler(settings: settings), .object(["backup": .string(name)]))
        #expect(err?.contains("failed") == true, "\(err ?? "no error")")
        #expect(!Files.exists(root + "/etc-ufw/user6.rules"), "a file the failed restore created is left behind")
        #expect(String(decoding: try Files.readBytes(root + "/etc-ufw/user.rules", limit: 1 << 20), as: UTF8.self) == oldRules)

        // A current file with no copy to put back (over the 1 MiB a copy holds): refused before
        // anything is written.
        let huge = "*filter\n" + String(repeating: "# pad\n", count: 200_000) + "COMMIT\n"
        try SafeFile.write(root + "/etc-ufw/user.rules", Array(huge.utf8), mode: 0o640)
        let err2 = await jobError(RestoreHandler(settings: settings), .object(["backup": .string(name)]))
        #expect(err2?.contains("cannot keep a copy") == true, "\(err2 ?? "no error")")
        #expect(!Files.exists(root + "/etc-ufw/user6.rules"))
        #expect(try Files.readBytes(root + "/etc-ufw/user.rules", limit: 4 << 20).count == huge.utf8.count)
    }

    func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// fork/exec without a shell string for the test's own use: posix_spawn of argv.
    func spawnAndWait(_ path: String, _ args: [String]) throws -> Int32 {
        var pid: pid_t = 0
        let argv = ([path] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        guard posix_spawn(&pid, path, nil, nil, argv, environ) == 0 else { throw Failure("posix_spawn") }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return (status >> 8) & 0xff
    }
}
