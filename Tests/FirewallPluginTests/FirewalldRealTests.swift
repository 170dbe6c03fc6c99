#if canImport(Glibc)
import Glibc
#endif
import AgentKernel
import BalctlProtocol
@testable import FirewallPlugin
import Testing
import TestSupport

/// The firewall.* handlers against real firewalld in a private namespace (see
/// FirewalldNamespace): `firewall-offline-cmd` while the daemon is stopped, `firewall-cmd
/// --permanent` + `--reload` against the real daemon on a private bus while it runs.
@Suite(.serialized, .firewalldNamespace)
struct FirewalldRealTests {
    func fresh(sshd: String? = nil) async throws -> (FirewalldNamespace, FirewallSettings) {
        let ns = try FirewalldSuite.shared()
        try await ns.reset()
        return (ns, ns.settings(sshd: sshd))
    }

    func rules(_ s: FirewallSettings) async throws -> [JSONValue] {
        let (out, _) = try await runJob(RulesHandler(settings: s))
        guard case .array(let a)? = out.result?["rules"] else { throw Failure("no rules array") }
        return a
    }

    @Test func offlineAddListDelete() async throws {
        let (ns, s) = try await fresh()
        #expect(s.selectedTool() == .firewalld)
        let (st, _) = try await runJob(StatusHandler(settings: s))
        #expect(st.result?["tool"] == .string("firewalld") && st.result?["active"] == .bool(false)
                && st.result?["defaultZone"] == .string("public") && st.result?["lockoutProblems"] == .array([]))

        let (added, _) = try await runJob(AllowHandler(settings: s), .object(["port": .number(8080), "protocol": .string("tcp")]))
        #expect(added.changed)
        #expect(try await ns.offline(["--zone=public", "--list-ports"]).contains("8080/tcp"))
        let (ranged, _) = try await runJob(AllowHandler(settings: s), .object([
            "port": .string("8000:8010"), "protocol": .string("udp"), "source": .string("10.1.2.3/8")]))
        #expect(ranged.changed)
        let rich = try await ns.offline(["--zone=public", "--list-rich-rules"])
        #expect(rich.contains(#"rule family="ipv4" source address="10.0.0.0/8" port port="8000-8010" protocol="udp" accept"#))

        // Listed, structured: the package's services first, then the port, then the rich rule.
        let list = try await rules(s)
        #expect(list.contains { $0["kind"] == .string("service") && $0["service"] == .string("ssh") && $0["ports"] == .array([.string("22/tcp")]) })
        #expect(list.contains { $0["kind"] == .string("port") && $0["port"] == .string("8080") && $0["protocol"] == .string("tcp") })
        #expect(list.contains { $0["kind"] == .string("rich") && $0["source"] == .string("10.0.0.0/8") && $0["port"] == .string("8000-8010") && $0["action"] == .string("allow") })

        // Idempotent; check mode says what it would run and changes nothing.
        let (again, _) = try await runJob(AllowHandler(settings: s), .object(["port": .number(8080), "protocol": .string("tcp")]))
        #expect(!again.changed)
        let (checked, _) = try await runJob(AllowHandler(settings: s), .object(["port": .number(443), "protocol": .string("tcp")]), checkMode: true)
        #expect(checked.changed && checked.result?["wouldRun"] == .array([.array([.string(s.firewallOfflineCmd), .string("--zone=public"), .string("--add-port=443/tcp")])]))
        #expect(!(try await ns.offline(["--zone=public", "--list-ports"]).contains("443")))

        // A deny from anywhere of protocol any: two rich rules (tcp, udp), no family.
        let (denied, _) = try await runJob(DenyHandler(settings: s), .object(["port": .number(3306)]))
        #expect(denied.changed)
        let rich2 = try await ns.offline(["--zone=public", "--list-rich-rules"])
        #expect(rich2.contains(#"rule port port="3306" protocol="tcp" drop"#) && rich2.contains(#"rule port port="3306" protocol="udp" drop"#))
        // allow of the same match replaces the deny (as ufw updates a rule in place).
        let (flipped, _) = try await runJob(AllowHandler(settings: s), .object(["port": .number(3306), "protocol": .string("tcp")]))
        #expect(flipped.changed && flipped.result?["replaced"] == .array([.string(#"rule port port="3306" protocol="tcp" drop"#)]))
        #expect(!(try await ns.offline(["--zone=public", "--list-rich-rules"]).contains(#"port="3306" protocol="tcp" drop"#)))
        #expect(try await ns.offline(["--zone=public", "--list-ports"]).contains("3306/tcp"))

        let (deleted, _) = try await runJob(DeleteHandler(settings: s), .object([
            "port": .string("8000-8010"), "protocol": .string("udp"), "source": .string("10.0.0.0/8")]))
        #expect(deleted.changed)
        #expect(!(try await ns.offline(["--zone=public", "--list-rich-rules"]).contains("8000-8010")))
        let (gone, _) = try await runJob(DeleteHandler(settings: s), .object([
            "port": .string("8000-8010"), "protocol": .string("udp"), "source": .string("10.0.0.0/8")]))
        #expect(!gone.changed)
        // A hand-written rule (host bits set, elements in another order) is matched by what it
        // means: allowing it again is "unchanged", deleting it removes it with its own text.
        let zonePath = s.firewalldDir + "/zones/public.xml"
        let zoneText = String(decoding: try Files.readBytes(zonePath), as: UTF8.self)
        let handRule = "  <rule family=\"ipv4\">\n    <port port=\"5432\" protocol=\"tcp\"/>\n    <source address=\"10.1.2.3/8\"/>\n    <accept/>\n  </rule>\n</zone>"
        try SafeFile.write(zonePath, Array(zoneText.replacingFirst("</zone>", with: handRule).utf8), mode: 0o644)
        let (handAgain, _) = try await runJob(AllowHandler(settings: s), .object(["port": .number(5432), "protocol": .string("tcp"), "source": .string("10.0.0.0/8")]))
        #expect(!handAgain.changed)
        let (handDeleted, _) = try await runJob(DeleteHandler(settings: s), .object(["port": .number(5432), "protocol": .string("tcp"), "source": .string("10.0.0.0/8")]))
        #expect(handDeleted.changed)
        #expect(!(try await ns.offline(["--zone=public", "--list-rich-rules"]).contains("5432")))

        // Outbound rules have no place in a zone: refused with the reason, nothing run.
        let out = await jobError(AllowHandler(settings: s), .object(["port": .number(53), "direction": .string("out")]))
        #expect(out?.contains("outbound rules are not supported") == true)

        // The heartbeat reads the same from files: services ssh + dhcpv6-client, ports 8080 +
        // 3306/tcp, the udp drop of 3306.
        let probe = FirewallProbe(settings: s).report()
        let listed = try await rules(s).count
        let raws = try await rules(s).map { $0["raw"]?.stringValue ?? "" }
        #expect(listed == 5, "\(raws)")
        #expect(probe?["tool"] == .string("firewalld") && probe?["active"] == .bool(false)
                && probe?["defaultZone"] == .string("public") && probe?["target"] == .string("default")
                && probe?["rules"] == .number(Double(listed)))
        #expect(ns.systemctlCalls.allSatisfy { $0 == "is-enabled firewalld" })
    }

    @Test func lockoutGuard() async throws {
        let (ns, s) = try await fresh()
        // A drop rich rule is applied before the ssh service's allow: a deny of 22 is refused.
        let denyErr = await jobError(DenyHandler(settings: s), .object(["port": .number(22), "protocol": .string("tcp")]))
        #expect(denyErr?.contains("SSH (port 22/tcp) would not be allowed in") == true)
        // Particular sources that together cover IPv4 are a deny from anywhere (as with ufw).
        _ = try await runJob(DenyHandler(settings: s), .object(["port": .number(22), "protocol": .string("tcp"), "source": .string("0.0.0.0/1")]))
        let halfErr = await jobError(DenyHandler(settings: s), .object(["port": .number(22), "protocol": .string("tcp"), "source": .string("128.0.0.0/1")]))
        #expect(halfErr?.contains("SSH") == true)
        _ = try await runJob(DeleteHandler(settings: s), .object(["port": .number(22), "protocol": .string("tcp"), "source": .string("0.0.0.0/1")]))

        // Without the ssh service (removed by hand), enabling would cut SSH off: refused, and
        // systemctl is not asked to start anything.
        try await ns.offline(["--zone=public", "--remove-service-from-zone=ssh"])
        let enableErr = await jobError(EnableHandler(settings: s))
        let zoneText = String(decoding: try Files.readBytes(s.firewalldDir + "/zones/public.xml"), as: UTF8.self)
        #expect(enableErr?.contains("refusing to enable the firewall: SSH (port 22/tcp)") == true, "\(enableErr ?? "ran") \(zoneText)")
        #expect(!ns.systemctlCalls.contains { $0.hasPrefix("enable") })
        // An allow of 22 from some source is enough (the operator's address is unknown).
        _ = try await runJob(AllowHandler(settings: s), .object(["port": .number(22), "protocol": .string("tcp"), "source": .string("192.0.2.0/24")]))
        let (st, _) = try await runJob(StatusHandler(settings: s))
        #expect(st.result?["lockoutProblems"] == .array([]))
        // Deleting that allow is refused; force passes.
        let delErr = await jobError(DeleteHandler(settings: s), .object(["port": .number(22), "protocol": .string("tcp"), "source": .string("192.0.2.0/24")]))
        #expect(delErr?.contains("SSH") == true)
        let (forced, _) = try await runJob(DeleteHandler(settings: s), .object(["port": .number(22), "protocol": .string("tcp"), "source": .string("192.0.2.0/24"), "force": .bool(true)]))
        #expect(forced.changed)

        // Egress: a policy filtering the host's output (ingress zone HOST) that rejects
        // everything cuts the control plane (198.51.100.7:8443) off; an accept for it mends it.
        _ = try await runJob(AllowHandler(settings: s), .object(["port": .number(22), "protocol": .string("tcp")]))
        try await ns.offline(["--new-policy=balctl-out"])
        try await ns.offline(["--policy=balctl-out", "--add-ingress-zone=HOST"])
        try await ns.offline(["--policy=balctl-out", "--add-egress-zone=ANY"])
        try await ns.offline(["--policy=balctl-out", "--set-target=REJECT"])
        let (st2, _) = try await runJob(StatusHandler(settings: s))
        #expect(st2.result?["defaultOutgoing"] == .string("reject"))
        #expect(st2.result?["lockoutProblems"] == .array([.string("the control plane (198.51.100.7, port 8443/tcp) would not be allowed out")]))
        try await ns.offline(["--policy=balctl-out", #"--add-rich-rule=rule family="ipv4" destination address="198.51.100.0/24" port port="8443" protocol="tcp" accept"#])
        let (st3, _) = try await runJob(StatusHandler(settings: s))
        #expect(st3.result?["lockoutProblems"] == .array([]))

        // The agent's configured origin (JobContext.controlPlaneBase) wins over the settings'.
        let out = OutputTail(limit: 4096)
        let ctx = JobContext(jobID: 1, attempt: 1, command: "t", checkMode: false, timeoutSec: 60, output: out,
                             processes: ProcessRunner(), host: HostProbe(), controlPlaneBase: "https://203.0.113.5:9443",
                             progress: { _, _ in })
        let g = await LockoutGuard.make(s, context: ctx)
        #expect(g.controlPlaneHost == "203.0.113.5" && g.controlPlanePort == 9443)
    }

    @Test func daemonEnableAddDisable() async throws {
        let (ns, s) = try await fresh()
        let (checked, _) = try await runJob(EnableHandler(settings: s), checkMode: true)
        #expect(checked.changed && checked.summary.contains("would run systemctl enable --now firewalld"))
        #expect(!ns.systemctlCalls.contains { $0.hasPrefix("enable") })

        let (on, _) = try await runJob(EnableHandler(settings: s))
        #expect(on.changed)
        #expect(ns.systemctlCalls.contains("enable --now firewalld"))
        #expect(try await ns.online(["--state"]).contains("running"))
        let (onAgain, _) = try await runJob(EnableHandler(settings: s))
        #expect(!onAgain.changed)

        // While the daemon runs: firewall-cmd --permanent + --reload — the rule is in the
        // runtime configuration and in the namespace's nftables, and in the permanent files.
        let (added, _) = try await runJob(AllowHandler(settings: s), .object(["port": .number(9090), "protocol": .string("tcp")]))
        #expect(added.changed && added.summary.contains("reloaded"))
        #expect(try await ns.online(["--zone=public", "--list-ports"]).contains("9090/tcp"))
        #expect(try await ns.inNamespace(["nft", "list", "ruleset"]).contains("tcp dport 9090 accept"))
        #expect(try await ns.offline(["--zone=public", "--list-ports"]).contains("9090/tcp"))
        let (rich, _) = try await runJob(AllowHandler(settings: s), .object(["port": .number(5432), "protocol": .string("tcp"), "source": .string("203.0.113.0/24")]))
        #expect(rich.changed)
        #expect(try await ns.online(["--zone=public", "--list-rich-rules"]).contains(#"source address="203.0.113.0/24" port port="5432""#))
        let (st, _) = try await runJob(StatusHandler(settings: s))
        #expect(st.result?["active"] == .bool(true) && st.result?["enabledAtBoot"] == .bool(true))
        #expect(FirewallProbe(settings: s).report()?["active"] == .bool(true))
        let (del, _) = try await runJob(DeleteHandler(settings: s), .object(["port": .number(9090), "protocol": .string("tcp")]))
        #expect(del.changed)
        #expect(!(try await ns.online(["--zone=public", "--list-ports"]).contains("9090")))
        // The host's own nftables never saw it.
        let host = try await ProcessRunner().run("/usr/sbin/nft", ["list", "ruleset"], timeoutSec: 30)
        #expect(!host.output.contains("dport 9090") && !host.output.contains("203.0.113.0/24"))

        // Restore while the daemon runs: files back, --check-config, --reload — the runtime
        // loses a port added after the backup.
        let (made, _) = try await runJob(BackupHandler(settings: s))
        let name = try #require(made.result?["backup"]?.stringValue)
        _ = try await runJob(AllowHandler(settings: s), .object(["port": .number(7070), "protocol": .string("tcp")]))
        #expect(try await ns.online(["--zone=public", "--list-ports"]).contains("7070/tcp"))
        let (restored, _) = try await runJob(RestoreHandler(settings: s), .object(["backup": .string(name)]))
        #expect(restored.changed && restored.summary.contains("reloaded"))
        #expect(!(try await ns.online(["--zone=public", "--list-ports"]).contains("7070")))
        #expect(try await ns.online(["--state"]).contains("running"))

        let (off, _) = try await runJob(DisableHandler(settings: s))
        #expect(off.changed)
        #expect(ns.systemctlCalls.contains("disable --now firewalld"))
        #expect(FirewallProbe(settings: s).report()?["active"] == .bool(false))
        let (offAgain, _) = try await runJob(DisableHandler(settings: s))
        #expect(!offAgain.changed)
        // Stopped: the permanent rules are kept, and changes go through firewall-offline-cmd.
        #expect(try await ns.offline(["--zone=public", "--list-rich-rules"]).contains("5432"))
    }

    @Test func backupThenRestore() async throws {
        let (ns, s) = try await fresh()
        _ = try await runJob(AllowHandler(settings: s), .object(["port": .number(8443), "protocol": .string("tcp")]))
        _ = try await runJob(DenyHandler(settings: s), .object(["port": .number(3306), "protocol": .string("tcp"), "source": .string("198.51.100.0/24")]))
        let before = try await ns.offline(["--list-all-zones"])
        let zonesBefore = try await ns.offline(["--get-zones"])

        let (made, _) = try await runJob(BackupHandler(settings: s))
        let name = try #require(made.result?["backup"]?.stringValue)
        #expect(name.hasPrefix("firewalld-"))
        let path = try #require(made.result?["path"]?.stringValue)
        #expect(Files.info(path)?.mode == 0o600 && Files.info(s.backupDir)?.mode == 0o700)
        guard case .array(let files)? = made.result?["files"] else { Issue.record("no files"); return }
        #expect(files.contains(.string("firewalld.conf")) && files.contains(.string("zones/public.xml")))

        // Change things: a rule gone, one new, a new zone.
        _ = try await runJob(DeleteHandler(settings: s), .object(["port": .number(8443), "protocol": .string("tcp")]))
        _ = try await runJob(AllowHandler(settings: s), .object(["port": .number(25), "protocol": .string("tcp")]))
        try await ns.offline(["--new-zone=extra"])
        #expect(try await ns.offline(["--list-all-zones"]) != before)

        let (checked, _) = try await runJob(RestoreHandler(settings: s), .object(["backup": .string(name)]), checkMode: true)
        #expect(checked.changed && checked.result?["removedFiles"] == .array([.string("zones/extra.xml")]))
        #expect(try await ns.offline(["--get-zones"]).contains("extra"))

        let (restored, _) = try await runJob(RestoreHandler(settings: s), .object(["backup": .string(name)]))
        #expect(restored.changed)
        #expect(try await ns.offline(["--list-all-zones"]) == before)
        #expect(try await ns.offline(["--get-zones"]) == zonesBefore)
        let (again, _) = try await runJob(RestoreHandler(settings: s), .object(["backup": .string(name)]))
        #expect(!again.changed)

        // Well-formed but refused by firewalld's own --check-config (a port above 65535): the
        // files are put back as they were.
        let zoneBefore = try Files.readBytes(s.firewalldDir + "/zones/public.xml")
        let badZone = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<zone>\n  <port port=\"99999\" protocol=\"tcp\"/>\n</zone>\n"
        let conf = String(decoding: try Files.readBytes(s.firewalldDir + "/firewalld.conf"), as: UTF8.self)
        let doc = JSONValue.object(["format": .string("balctl-firewalld-backup"), "version": .number(1),
                                    "files": .object(["firewalld.conf": .string(conf), "zones/public.xml": .string(badZone)])])
        let bad = try SafeFile.writeUnique(in: s.backupDir, prefix: "firewalld-20260101T000000Z-", Array(doc.jsonString().utf8), mode: 0o600)
        let err = await jobError(RestoreHandler(settings: s), .object(["backup": .string(Files.basename(bad))]))
        #expect(err?.contains("--check-config failed") == true, "\(err ?? "ran")")
        #expect(try Files.readBytes(s.firewalldDir + "/zones/public.xml") == zoneBefore)
        #expect(try await ns.offline(["--list-all-zones"]) == before)

        // Refused before anything is written: a path outside the managed set, not XML, the
        // wrong root element, and a ufw backup name on a firewalld host.
        for (files, want) in [(["../../etc/shadow": "x"], "unexpected file"), (["zones/public.xml": "<zone>"], "zones/public.xml"),
                              (["zones/public.xml": "<service/>"], "not <zone>"), (["firewalld.conf": "DefaultZone=$(id)"], "not a plain Key=value")] as [([String: String], String)] {
            var all = files
            if all["firewalld.conf"] == nil { all["firewalld.conf"] = conf }
            let d = JSONValue.object(["format": .string("balctl-firewalld-backup"), "version": .number(1),
                                      "files": .object(all.mapValues(JSONValue.string))])
            let p = try SafeFile.writeUnique(in: s.backupDir, prefix: "firewalld-20260101T000000Z-", Array(d.jsonString().utf8), mode: 0o600)
            let e = await jobError(RestoreHandler(settings: s), .object(["backup": .string(Files.basename(p))]))
            #expect(e?.contains(want) == true, "\(want): \(e ?? "ran")")
        }
        let wrong = await jobError(RestoreHandler(settings: s), .object(["backup": .string("ufw-20260101T000000Z-0123456789abcdef")]))
        #expect(wrong?.contains("cannot read backup") == true || wrong?.contains("ufw backup") == true)
        #expect(try await ns.offline(["--list-all-zones"]) == before)
    }

    @Test func installedOnFirstStatus() async throws {
        let (ns, base) = try await fresh()
        // firewalld "not installed": its programs are missing until the fake dnf puts them there.
        var s = base
        s.firewallCmd = ns.root + "/pkg/firewall-cmd"
        s.firewallOfflineCmd = ns.root + "/pkg/firewall-offline-cmd"
        try UFWNamespace.write(ns.root + "/bin/dnf", """
        #!/bin/sh
        echo "$*" >> \(ns.root)/dnf.log
        [ "$*" = "install -y firewalld" ] || exit 1
        mkdir -p \(ns.root)/pkg && cp \(ns.root)/bin/firewall-cmd \(ns.root)/bin/firewall-offline-cmd \(ns.root)/pkg/

        """, mode: 0o755)
        #expect(s.selectedTool() == .firewalld)
        let (checked, _) = try await runJob(StatusHandler(settings: s), checkMode: true)
        #expect(checked.changed && checked.summary.contains("would install firewalld"))
        #expect(!Files.exists(ns.root + "/dnf.log"))
        let (st, _) = try await runJob(StatusHandler(settings: s))
        #expect(st.changed && st.result?["installed"] == .bool(true) && st.result?["tool"] == .string("firewalld"))
        #expect(String(decoding: try Files.readBytes(ns.root + "/dnf.log"), as: UTF8.self) == "install -y firewalld\n")
        let (again, _) = try await runJob(StatusHandler(settings: s))
        #expect(!again.changed)
        // Not the RHEL family: nothing is installed.
        var debian = s
        debian.firewallCmd = ns.root + "/none/firewall-cmd"; debian.firewallOfflineCmd = ns.root + "/none/firewall-offline-cmd"
        debian.osReleaseFile = ns.root + "/debian-os-release"
        debian.tool = .firewalld
        try UFWNamespace.write(debian.osReleaseFile, "ID=debian\nVERSION_ID=\"12\"\n", mode: 0o644)
        #expect(await jobError(StatusHandler(settings: debian)) == "firewalld is not installed")
        #expect(String(decoding: try Files.readBytes(ns.root + "/dnf.log"), as: UTF8.self) == "install -y firewalld\n")
    }
}

/// Tool selection from os-release and what is installed (no namespace needed).
@Suite struct FirewallToolSelectionTests {
    @Test func selection() throws {
        var template = Array("/tmp/balctl-fwsel-XXXXXX".utf8CString)
        let root = String(cString: try #require(mkdtemp(&template)))
        defer { _ = system("rm -rf '\(root)'") }
        try UFWNamespace.write(root + "/ufw", "#!/bin/sh\n", mode: 0o755)
        try UFWNamespace.write(root + "/firewall-cmd", "#!/bin/sh\n", mode: 0o755)
        try UFWNamespace.write(root + "/rocky", FirewalldNamespace.rockyOSRelease, mode: 0o644)
        try UFWNamespace.write(root + "/alma", "ID=\"almalinux\"\nID_LIKE=\"rhel centos fedora\"\n", mode: 0o644)
        try UFWNamespace.write(root + "/fedora", "ID=fedora\n", mode: 0o644)
        try UFWNamespace.write(root + "/ubuntu", "ID=ubuntu\nID_LIKE=debian\n", mode: 0o644)
        func s(os: String, ufw: Bool, firewalld: Bool) -> FirewallSettings {
            FirewallSettings(ufw: ufw ? root + "/ufw" : root + "/none", ufwDir: root + "/no-ufw",
                             firewalldMarkers: firewalld ? [root + "/firewall-cmd"] : [],
                             firewallCmd: firewalld ? root + "/firewall-cmd" : root + "/none",
                             firewallOfflineCmd: root + "/none", firewalldDir: root + "/no-fw", osReleaseFile: root + "/" + os)
        }
        #expect(s(os: "rocky", ufw: true, firewalld: true).selectedTool() == .firewalld)
        #expect(s(os: "alma", ufw: false, firewalld: false).selectedTool() == .firewalld)  // installed on first status
        #expect(s(os: "fedora", ufw: false, firewalld: true).selectedTool() == .firewalld)
        #expect(s(os: "ubuntu", ufw: true, firewalld: true).selectedTool() == .ufw)
        #expect(s(os: "ubuntu", ufw: false, firewalld: true).selectedTool() == .firewalld)
        #expect(s(os: "ubuntu", ufw: false, firewalld: false).selectedTool() == nil)
        #expect(s(os: "missing", ufw: true, firewalld: false).selectedTool() == .ufw)
        // Settings that say "no firewalld" (no markers) never reach a firewall-cmd in PATH.
        var noMarkers = s(os: "ubuntu", ufw: false, firewalld: true)
        noMarkers.firewalldMarkers = []
        #expect(noMarkers.selectedTool() == nil)
        var pinned = s(os: "rocky", ufw: true, firewalld: true)
        pinned.tool = .ufw
        #expect(pinned.selectedTool() == .ufw)
    }

    @Test func xmlAndRichRules() throws {
        let zone = try MiniXML.parse("""
        <?xml version="1.0" encoding="utf-8"?>
        <!-- a comment -->
        <zone target="DROP">
          <short>Public &amp; more</short>
          <service name="ssh"/>
          <port port="8000-8010" protocol="udp"/>
          <rule family="ipv4" priority="-5">
            <source address="10.0.0.0/8" invert="True"/>
            <port port="22" protocol="tcp"/>
            <log prefix="x" level="info"><limit value="1/m"/></log>
            <reject type="icmp-host-prohibited"/>
          </rule>
          <rule><port port='3306' protocol='tcp'/><drop/></rule>
        </zone>
        """)
        let z = try FirewalldZone(name: "public", xml: zone, path: "p")
        #expect(z.target == "DROP" && z.defaultIncoming == "deny" && z.ruleCount == 4)
        #expect(zone.first("short")?.text == "Public & more")
        #expect(z.rich[0].text == #"rule family="ipv4" priority="-5" source NOT address="10.0.0.0/8" port port="22" protocol="tcp" log prefix="x" level="info" limit value="1/m" reject type="icmp-host-prohibited""#)
        #expect(!z.rich[0].isSimple && z.rich[1].isSimple && z.rich[1].text == #"rule port port="3306" protocol="tcp" drop"#)
        for bad in ["<zone>", "<zone></service>", "<!DOCTYPE x><zone/>", "<zone a=b/>", "<zone/><zone/>", "<zone>&bogus;</zone>",
                    String(repeating: "<a>", count: 20) + String(repeating: "</a>", count: 20)] {
            #expect(throws: XMLError.self) { try MiniXML.parse(bad) }
        }
    }
}

extension String {
    func replacingFirst(_ needle: String, with replacement: String) -> String {
        guard let r = range(of: needle) else { return self }
        return String(self[..<r.lowerBound]) + replacement + String(self[r.upperBound...])
    }
}
