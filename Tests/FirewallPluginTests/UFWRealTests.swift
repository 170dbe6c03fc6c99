#if canImport(Glibc)
import Glibc
#endif
import AgentKernel
import BalctlProtocol
@testable import FirewallPlugin
import Testing
import TestSupport

/// The firewall.* handlers against real ufw in a private network namespace (see UFWNamespace).
@Suite(.serialized, .ufwNamespace)
struct UFWRealTests {
    func fresh(sshd: String? = nil) async throws -> (UFWNamespace, FirewallSettings) {
        let ns = try UFWSuite.shared()
        try await ns.reset()
        return (ns, ns.settings(sshd: sshd))
    }

    func rules(_ s: FirewallSettings) async throws -> [JSONValue] {
        let (out, _) = try await runJob(RulesHandler(settings: s))
        guard case .array(let a)? = out.result?["rules"] else { throw Failure("no rules array") }
        return a
    }

    @Test func addListDeleteRule() async throws {
        let (ns, s) = try await fresh()
        let (added, _) = try await runJob(AllowHandler(settings: s), .object([
            "port": .number(22), "protocol": .string("tcp"), "comment": .string("ssh from anywhere")]))
        #expect(added.changed)
        let (ranged, _) = try await runJob(AllowHandler(settings: s), .object([
            "port": .string("8000:8010"), "protocol": .string("udp"), "source": .string("10.1.2.3/8")]))
        #expect(ranged.changed)
        var list = try await rules(s)
        // 22/tcp from anywhere gets an IPv6 twin; the 10.0.0.0/8 rule does not.
        #expect(list.count == 3)
        #expect(list[0]["port"] == .string("22") && list[0]["protocol"] == .string("tcp")
                && list[0]["comment"] == .string("ssh from anywhere") && list[0]["number"] == .number(1))
        #expect(list[1]["port"] == .string("8000:8010") && list[1]["source"] == .string("10.0.0.0/8"))
        #expect(list[2]["ipv6"] == .bool(true))
        #expect(try await ns.status().contains("inactive"))

        // The same rule again: unchanged, nothing added.
        let (again, _) = try await runJob(AllowHandler(settings: s), .object(["port": .number(22), "protocol": .string("tcp")]))
        #expect(!again.changed)
        #expect(try await rules(s).count == 3)

        // Check mode: says what it would run, changes nothing.
        let (checked, _) = try await runJob(AllowHandler(settings: s), .object(["port": .number(443), "protocol": .string("tcp")]), checkMode: true)
        #expect(checked.changed && checked.summary.contains("would"))
        #expect(try await rules(s).count == 3)

        // Active: the rules are in this namespace's iptables.
        _ = try await runJob(EnableHandler(settings: s))
        #expect(try await ns.status().contains("8000:8010/udp"))
        let ipt = try await ns.iptables()
        #expect(ipt.contains("-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT") || ipt.contains("--dport 22 -j ACCEPT"))

        let (deleted, _) = try await runJob(DeleteHandler(settings: s), .object([
            "port": .string("8000:8010"), "protocol": .string("udp"), "source": .string("10.0.0.0/8")]))
        #expect(deleted.changed)
        list = try await rules(s)
        #expect(list.count == 2)
        #expect(!(try await ns.status().contains("8000:8010")))
        let (gone, _) = try await runJob(DeleteHandler(settings: s), .object([
            "port": .string("8000:8010"), "protocol": .string("udp"), "source": .string("10.0.0.0/8")]))
        #expect(!gone.changed)
    }

    @Test func enableDisable() async throws {
        let (ns, s) = try await fresh()
        _ = try await runJob(AllowHandler(settings: s), .object(["port": .number(22), "protocol": .string("tcp")]))
        // Check mode first: nothing happens.
        let (checked, _) = try await runJob(EnableHandler(settings: s), checkMode: true)
        #expect(checked.changed)
        #expect(try await ns.status().contains("Status: inactive"))

        let (on, _) = try await runJob(EnableHandler(settings: s))
        #expect(on.changed)
        #expect(try await ns.status().contains("Status: active"))
        #expect(try await ns.iptables().contains("-P INPUT DROP"))
        let (onAgain, _) = try await runJob(EnableHandler(settings: s))
        #expect(!onAgain.changed)
        let (status, _) = try await runJob(StatusHandler(settings: s))
        #expect(status.result?["active"] == .bool(true))
        #expect(status.result?["lockoutProblems"] == .array([]))
        // The probe sees it from the files.
        let probe = FirewallProbe(settings: s).report()
        #expect(probe?["tool"] == .string("ufw") && probe?["active"] == .bool(true) && probe?["rules"] == .number(2)
                && probe?["defaultIncoming"] == .string("deny"))

        let (off, _) = try await runJob(DisableHandler(settings: s))
        #expect(off.changed)
        #expect(try await ns.status().contains("Status: inactive"))
        let (offAgain, _) = try await runJob(DisableHandler(settings: s))
        #expect(!offAgain.changed)

        // The host's own firewall was never touched.
        let host = try await ProcessRunner().run("/usr/sbin/ufw", ["status"], timeoutSec: 30)
        #expect(host.output.contains("Status: inactive"))
    }

    @Test func backupThenRestoreReproducesRulesAndIptables() async throws {
        let (ns, s) = try await fresh()
        _ = try await runJob(AllowHandler(settings: s), .object(["port": .number(22), "protocol": .string("tcp"), "comment": .string("ssh")]))
        _ = try await runJob(AllowHandler(settings: s), .object(["port": .string("6000-6010"), "protocol": .string("tcp"), "source": .string("192.0.2.0/24")]))
        _ = try await runJob(DenyHandler(settings: s), .object(["port": .number(3306)]))
        _ = try await runJob(EnableHandler(settings: s))
        let statusBefore = try await ns.status()
        let iptBefore = try await ns.iptables()

        let (made, _) = try await runJob(BackupHandler(settings: s))
        guard let name = made.result?["backup"]?.stringValue, let path = made.result?["path"]?.stringValue else {
            Issue.record("no backup name"); return
        }
        #expect(path == s.backupDir + "/" + name)
        let info = try #require(Files.info(path))
        #expect(info.isRegular && info.mode == 0o600)
        #expect(Files.info(s.backupDir)?.mode == 0o700)

        // Change everything: a rule gone, one new, the firewall off.
        _ = try await runJob(DeleteHandler(settings: s), .object(["port": .number(3306)]))
        _ = try await runJob(AllowHandler(settings: s), .object(["port": .number(8080), "protocol": .string("tcp")]))
        _ = try await runJob(DisableHandler(settings: s))
        #expect(try await ns.status() != statusBefore)

        // Check mode: reports, changes nothing.
        let (checked, _) = try await runJob(RestoreHandler(settings: s), .object(["backup": .string(name)]), checkMode: true)
        #expect(checked.changed && checked.summary.contains("would restore"))
        #expect(try await ns.status().contains("inactive"))

        let (restored, _) = try await runJob(RestoreHandler(settings: s), .object(["backup": .string(name)]))
        #expect(restored.changed)
        #expect(try await ns.status() == statusBefore)
        #expect(try await ns.iptables() == iptBefore)
        let (again, _) = try await runJob(RestoreHandler(settings: s), .object(["backup": .string(name)]))
        #expect(!again.changed)

        // A tampered backup is refused before any file is touched.
        let userRulesBefore = try Files.readBytes(ns.ufwDir + "/user.rules")
        let bad = try SafeFile.writeUnique(in: s.backupDir, prefix: "ufw-20260101T000000Z-",
                                           Array(#"{"format":"balctl-ufw-backup","version":1,"files":{"user.rules":"*filter\n-A x\nCOMMIT\n","ufw.conf":"ENABLED=yes\n","default-ufw":"IPT_MODULES=\"$(id)\"\n"}}"#.utf8), mode: 0o600)
        let err = await jobError(RestoreHandler(settings: s), .object(["backup": .string(Files.basename(bad))]))
        #expect(err?.contains("not a plain KEY=VALUE") == true)
        #expect(try Files.readBytes(ns.ufwDir + "/user.rules") == userRulesBefore)
        // A link in place of a backup is not followed.
        let link = s.backupDir + "/ufw-20260101T000000Z-00000000000000aa"
        symlink(path, link)
        let linkErr = await jobError(RestoreHandler(settings: s), .object(["backup": .string(Files.basename(link))]))
        #expect(linkErr?.contains("cannot read backup") == true)
    }

    @Test func lockoutGuard() async throws {
        let (ns, s) = try await fresh()
        // Fresh install: default incoming deny, no rules. Enabling would cut SSH off.
        let enableErr = await jobError(EnableHandler(settings: s))
        #expect(enableErr?.contains("SSH (port 22/tcp) would not be allowed in") == true)
        #expect(try await ns.status().contains("inactive"))
        // A deny of the SSH port is refused too.
        let denyErr = await jobError(DenyHandler(settings: s), .object(["port": .number(22), "protocol": .string("tcp")]))
        #expect(denyErr?.contains("refusing") == true)
        #expect(try await rules(s).isEmpty)
        // force: true passes both.
        let (denied, _) = try await runJob(DenyHandler(settings: s), .object(["port": .number(22), "protocol": .string("tcp"), "force": .bool(true)]))
        #expect(denied.changed)
        let (forced, _) = try await runJob(EnableHandler(settings: s), .object(["force": .bool(true)]))
        #expect(forced.changed)
        #expect(try await ns.status().contains("Status: active"))
        _ = try await runJob(DeleteHandler(settings: s), .object(["port": .number(22), "protocol": .string("tcp"), "force": .bool(true)]))

        // With SSH allowed, unrelated denies pass; deleting the SSH allow does not.
        _ = try await runJob(AllowHandler(settings: s), .object(["port": .number(22), "protocol": .string("tcp")]))
        let (db, _) = try await runJob(DenyHandler(settings: s), .object(["port": .number(3306)]))
        #expect(db.changed)
        // ufw replaces a rule with the same match in place: a deny of 22/tcp now would turn the
        // allow into a deny, and is refused.
        let replaceErr = await jobError(DenyHandler(settings: s), .object(["port": .number(22), "protocol": .string("tcp")]))
        #expect(replaceErr?.contains("SSH (port 22/tcp)") == true)
        #expect(try await rules(s).first?["action"] == .string("allow"))
        let delErr = await jobError(DeleteHandler(settings: s), .object(["port": .number(22), "protocol": .string("tcp")]))
        #expect(delErr?.contains("SSH") == true)
        // Egress to the control plane (198.51.100.7:8443): a deny out on its port is refused,
        // one to a range that does not hold it passes.
        let outErr = await jobError(DenyHandler(settings: s), .object(["port": .number(8443), "protocol": .string("tcp"), "direction": .string("out")]))
        #expect(outErr?.contains("control plane") == true)
        let (other, _) = try await runJob(DenyHandler(settings: s), .object([
            "port": .number(8443), "protocol": .string("tcp"), "direction": .string("out"), "destination": .string("203.0.113.0/24")]))
        #expect(other.changed)
    }

    @Test func sshPortFromSshd() async throws {
        let ns = try UFWSuite.shared()
        let fake = ns.root + "/bin/fake-sshd"
        try UFWNamespace.write(fake, "#!/bin/sh\n[ \"$1\" = -T ] || exit 1\necho 'port 2222'\necho 'permitrootlogin no'\n", mode: 0o755)
        let (_, s) = try await fresh(sshd: fake)
        _ = try await runJob(AllowHandler(settings: s), .object(["port": .number(2222), "protocol": .string("tcp")]))
        // sshd listens on 2222 only: a deny of 22 is no lock-out, removing the 2222 allow is.
        let (d22, _) = try await runJob(DenyHandler(settings: s), .object(["port": .number(22), "protocol": .string("tcp")]))
        #expect(d22.changed)
        let err = await jobError(DeleteHandler(settings: s), .object(["port": .number(2222), "protocol": .string("tcp")]))
        #expect(err?.contains("port 2222/tcp") == true)
        let (st, _) = try await runJob(StatusHandler(settings: s))
        #expect(st.result?["sshPorts"] == .array([.number(2222)]))
    }
}
