import AgentKernel
import BalctlProtocol
import FirewallPlugin
@testable import SSHPlugin
import Testing
import TestSupport

/// ssh.enable / ssh.disable: the service through the recording systemctl, the firewall rule
/// through the firewall plugin's commands against real ufw in a private namespace, the ports
/// from the real sshd -T.
@Suite(.serialized) struct AccessTests {
    @Test func enableThenDisableWithUFW() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        let ns = try await UFWNamespace.start()
        defer { ns.stop() }
        let s = f.settings(firewall: ns.settings())
        _ = try await ProcessRunner().run(ns.root + "/bin/ufw", ["--force", "enable"], timeoutSec: 60)

        // Check mode: says what it would do, changes nothing.
        let checked = try await run(EnableHandler(settings: s), checkMode: true)
        #expect(checked.changed && checked.summary.contains("would run \(f.root)/bin/systemctl enable --now ssh.service"))
        #expect(!f.systemctlCalls().contains { $0.hasPrefix("enable") })
        #expect(!(try await ns.status()).contains("22/tcp"))

        let out = try await run(EnableHandler(settings: s))
        #expect(out.changed)
        #expect(f.systemctlCalls().contains("enable --now ssh.service"))
        #expect(out.result?["active"] == .string("active") && out.result?["enabled"] == .string("enabled"))
        let status = try await ns.status()
        #expect(status.contains("22/tcp") && status.contains("2222/tcp"), "\(status)")
        #expect(try await ns.iptables().contains("--dport 2222 -j ACCEPT"))

        let again = try await run(EnableHandler(settings: s))
        #expect(!again.changed && again.summary.hasPrefix("unchanged"), "\(again.summary)")
        #expect(f.systemctlCalls().filter { $0.hasPrefix("enable") }.count == 1)

        // Disable: SSH is the only way in (no other console listens): refused without confirm,
        // in check mode too; nothing changed.
        for check in [false, true] {
            let e = await jobError(DisableHandler(settings: s), checkMode: check)
            #expect(e?.contains("refusing to disable SSH") == true && e?.contains("confirm: true") == true, "\(e ?? "")")
        }
        #expect(!f.systemctlCalls().contains { $0.hasPrefix("disable") })
        #expect((try await ns.status()).contains("2222/tcp"))

        let checkedOff = try await run(DisableHandler(settings: s), .object(["confirm": .bool(true)]), checkMode: true)
        #expect(checkedOff.changed && !f.systemctlCalls().contains { $0.hasPrefix("disable") })
        #expect((try await ns.status()).contains("2222/tcp"))

        let off = try await run(DisableHandler(settings: s), .object(["confirm": .bool(true)]))
        #expect(off.changed)
        #expect(f.systemctlCalls().contains("disable --now ssh.service"))
        let after = try await ns.status()
        #expect(!after.contains("22/tcp") && !after.contains("2222/tcp"), "\(after)")
        // Already off: unchanged, and no confirm needed for that.
        let offAgain = try await run(DisableHandler(settings: s))
        #expect(!offAgain.changed, "\(offAgain.summary)")
    }

    @Test func sourceRestrictedRule() async throws {
        let f = try await SSHFixture(ports: [22])
        defer { f.stop() }
        let ns = try await UFWNamespace.start()
        defer { ns.stop() }
        let s = f.settings(firewall: ns.settings())
        let out = try await run(EnableHandler(settings: s), .object(["source": .string("203.0.113.0/24")]))
        #expect(out.changed)
        let (rules, _) = try await runJob(RulesHandler(settings: ns.settings()))
        guard case .array(let list)? = rules.result?["rules"] else { throw Failure("no rules") }
        #expect(list.count == 1 && list[0]["source"] == .string("203.0.113.0/24") && list[0]["port"] == .string("22"))
        _ = try await run(DisableHandler(settings: s), .object(["source": .string("203.0.113.0/24"), "confirm": .bool(true)]))
        let (left, _) = try await runJob(RulesHandler(settings: ns.settings()))
        #expect(left.result?["rules"] == .array([]))
    }

    /// Another remote console listening (RDP on 0.0.0.0:3389): disable needs no confirm.
    @Test func otherWayInLetsDisableRunWithoutConfirm() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        try f.setService(active: "active", enabled: "enabled")
        try f.write(f.procNet + "/tcp", """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 00000000:0D3D 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0

            """)
        let out = try await run(DisableHandler(settings: f.settings()))
        #expect(out.changed && out.result?["otherAccessPorts"] == .array([.number(3389)]))
        #expect(out.result?["firewall"] == .string("no firewall installed"))
        #expect(f.systemctlCalls().contains("disable --now ssh.service"))
    }

    @Test func withoutFirewallOrWithFirewallFalse() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        // Neither ufw nor firewalld on the host (as the firewall plugin's probe sees it): no rule.
        let out = try await run(EnableHandler(settings: f.settings()))
        #expect(out.changed && out.result?["firewall"] == .string("no firewall installed"))
        let ns = try await UFWNamespace.start()
        defer { ns.stop() }
        try f.setService(active: "inactive", enabled: "disabled")
        let s = f.settings(firewall: ns.settings())
        let noFw = try await run(EnableHandler(settings: s), .object(["firewall": .bool(false)]))
        #expect(noFw.changed && noFw.result?["firewall"] == .string("firewall: false"))
        #expect(!(try await ns.status()).contains("22"))
        #expect(await jobError(EnableHandler(settings: s), .object(["firewall": .bool(false), "source": .string("10.0.0.0/8")]))?.contains("source:") == true)
        #expect(await jobError(EnableHandler(settings: s), .object(["confirm": .bool(true)]))?.contains("only ssh.disable") == true)
    }

    /// systemctl failing (systemd not running, a masked unit) fails the job with its words.
    @Test func systemctlFailureIsReported() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        try f.write(f.root + "/bin/systemctl", "#!/bin/sh\necho 'System has not been booted with systemd as init system (PID 1). Can'\"'\"'t operate.' >&2\nexit 1\n", mode: 0o755)
        let e = await jobError(EnableHandler(settings: f.settings()))
        #expect(e?.contains("systemctl enable --now ssh.service failed") == true && e?.contains("booted with systemd") == true, "\(e ?? "")")
        // State unknown counts as running for the guard.
        let d = await jobError(DisableHandler(settings: f.settings()))
        #expect(d?.contains("refusing to disable SSH") == true)
    }
}
