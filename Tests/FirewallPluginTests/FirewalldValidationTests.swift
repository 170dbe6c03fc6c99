#if canImport(Glibc)
import Glibc
#endif
import AgentKernel
import BalctlProtocol
@testable import FirewallPlugin
import Testing
import TestSupport

/// The injection proof of ValidationTests on a firewalld host: fake firewall-cmd,
/// firewall-offline-cmd, systemctl, dnf and sshd record every call; every refused job leaves
/// the log missing, and a good job does write it (so the proof is not vacuous).
@Suite(.serialized)
struct FirewalldValidationTests {
    final class Fakes: Sendable {
        let root: String
        init() throws {
            var template = Array("/tmp/balctl-fwdfake-XXXXXX".utf8CString)
            guard let p = mkdtemp(&template) else { throw Failure("mkdtemp") }
            root = String(cString: p)
            for name in ["firewall-cmd", "firewall-offline-cmd", "systemctl", "dnf", "sshd"] {
                try SafeFile.write(root + "/" + name, Array("#!/bin/sh\necho \"\(name) $*\" >> \(root)/calls.log\nexit 1\n".utf8), mode: 0o755)
            }
            try Files.makeDirectories(root + "/fw/zones")
            try SafeFile.write(root + "/fw/firewalld.conf", Array("DefaultZone=public\n".utf8), mode: 0o644)
            try SafeFile.write(root + "/fw/zones/public.xml", Array("<zone><service name=\"ssh\"/></zone>\n".utf8), mode: 0o644)
        }
        var settings: FirewallSettings {
            FirewallSettings(ufw: root + "/no-ufw", sshd: root + "/sshd", stateDir: root + "/state", apiBase: "https://192.0.2.1",
                             firewalldMarkers: [], firewallCmd: root + "/firewall-cmd", firewallOfflineCmd: root + "/firewall-offline-cmd",
                             firewalldDir: root + "/fw", firewalldLibDir: "/usr/lib/firewalld", firewalldPidFile: root + "/no-pid",
                             systemctl: root + "/systemctl", dnf: root + "/dnf", osReleaseFile: root + "/no-os-release", tool: .firewalld)
        }
        var calls: Bool { Files.exists(root + "/calls.log") }
        deinit { _ = system("rm -rf '\(root)'") }
    }

    @Test func injectionInEveryParameterIsRefusedBeforeAnythingRuns() async throws {
        let fakes = try Fakes()
        let s = fakes.settings
        let good: [String: JSONValue] = ["port": .number(80), "protocol": .string("tcp")]
        for bad in ValidationTests.injections + ["22\" accept rule port port=\"1", "10.0.0.0/8\" drop"] {
            var cases: [(String, [String: JSONValue])] = []
            for key in ["port", "protocol", "direction", "source", "comment", "force"] {
                var p = good; p[key] = .string(bad); cases.append((key, p))
            }
            var act = good; act["action"] = .string(bad); cases.append(("action", act))
            var unknown = good; unknown[bad] = .string("x"); cases.append(("key", unknown))
            for (key, p) in cases {
                let params = JSONValue.object(p)
                if key != "action" {
                    #expect(await jobError(AllowHandler(settings: s), params)?.hasPrefix("firewall.allow: ") == true, "\(key): \(params.jsonString())")
                    #expect(await jobError(DenyHandler(settings: s), params)?.hasPrefix("firewall.deny: ") == true, "\(key): \(params.jsonString())")
                }
                if key != "comment" {
                    #expect(await jobError(DeleteHandler(settings: s), params)?.hasPrefix("firewall.delete: ") == true, "\(key): \(params.jsonString())")
                }
            }
            #expect(await jobError(RestoreHandler(settings: s), .object(["backup": .string(bad)]))?.hasPrefix("firewall.restore: ") == true)
            #expect(await jobError(RestoreHandler(settings: s), .object(["backup": .string("firewalld-" + bad)]))?.hasPrefix("firewall.restore: ") == true)
            #expect(await jobError(EnableHandler(settings: s), .object(["force": .string(bad)]))?.hasPrefix("firewall.enable: ") == true)
            #expect(await jobError(StatusHandler(settings: s), .object([bad: .string("x")])) != nil)
            #expect(await jobError(BackupHandler(settings: s), .object(["x": .string(bad)])) != nil)
        }
        #expect(!fakes.calls, "a refused job ran a program")

        // What reaches firewalld for good values: one argv element each, in check mode.
        let (c, _) = try await runJob(DenyHandler(settings: s), .object(["port": .string("8000-8010"), "protocol": .string("udp"),
                                                                       "source": .string("10.1.2.3/8")]), checkMode: true)
        #expect(c.result?["wouldRun"] == .array([.array([.string(s.firewallOfflineCmd), .string("--zone=public"),
            .string(#"--add-rich-rule=rule family="ipv4" source address="10.0.0.0/8" port port="8000-8010" protocol="udp" drop"#)])]))
        #expect(fakes.calls)
    }

    @Test func probeIsCachedAndRunsNothing() async throws {
        let fakes = try Fakes()
        let probe = FirewallProbe(settings: fakes.settings)
        #expect(probe.report() == .object(["tool": .string("firewalld"), "active": .bool(false), "defaultZone": .string("public"),
                                           "target": .string("default"), "defaultIncoming": .string("reject"), "rules": .number(1)]))
        // Once the files have settled (FileCache.settleSec), a beat is a few stats.
        try await Task.sleep(for: .milliseconds(2100))
        _ = probe.report()
        let started = monotonicNow()
        for _ in 0..<10_000 { _ = probe.report() }
        let perBeat = (monotonicNow() - started) / 10_000
        print("firewalld probe: \(Int(perBeat * 1e6)) µs per report (debug)")
        #expect(perBeat < 0.002)
        // A changed zone file is seen at once; a live pid in the pid file reads as active.
        try SafeFile.write(fakes.root + "/fw/zones/public.xml", Array("<zone target=\"DROP\"><service name=\"ssh\"/><port port=\"80\" protocol=\"tcp\"/></zone>\n".utf8), mode: 0o644)
        try SafeFile.write(fakes.root + "/no-pid", Array("\(getpid())\n".utf8), mode: 0o644)
        let r = probe.report()
        #expect(r?["rules"] == .number(2) && r?["target"] == .string("DROP") && r?["defaultIncoming"] == .string("deny") && r?["active"] == .bool(true))
        #expect(!fakes.calls)
    }

    @Test func zoneNameFromFirewalldConfIsChecked() async throws {
        let fakes = try Fakes()
        try SafeFile.write(fakes.root + "/fw/firewalld.conf", Array("DefaultZone=--help\n".utf8), mode: 0o644)
        let e = await jobError(AllowHandler(settings: fakes.settings), .object(["port": .number(80), "protocol": .string("tcp")]))
        #expect(e?.contains("is not a zone name") == true)
        #expect(!fakes.calls)
    }
}
