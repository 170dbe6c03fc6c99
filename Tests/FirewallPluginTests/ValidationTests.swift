#if canImport(Glibc)
import Glibc
#endif
import AgentKernel
import BalctlProtocol
@testable import FirewallPlugin
import Testing
import TestSupport

/// Parameters are refused before anything runs: a fake ufw and a fake sshd on the settings'
/// paths record every call, and after each refused job their log is still missing.
@Suite(.serialized)
struct ValidationTests {
    final class Fakes: Sendable {
        let root: String
        init() throws {
            var template = Array("/tmp/balctl-fwfake-XXXXXX".utf8CString)
            guard let p = mkdtemp(&template) else { throw Failure("mkdtemp") }
            root = String(cString: p)
            for name in ["ufw", "sshd"] {
                try SafeFile.write(root + "/" + name, Array("#!/bin/sh\necho \"\(name) $*\" >> \(root)/calls.log\n".utf8), mode: 0o755)
            }
            try Files.makeDirectories(root + "/etc-ufw")
            try SafeFile.write(root + "/etc-ufw/ufw.conf", Array("ENABLED=no\n".utf8), mode: 0o644)
            try SafeFile.write(root + "/etc-ufw/user.rules", Array("*filter\nCOMMIT\n".utf8), mode: 0o640)
            try SafeFile.write(root + "/default-ufw", Array("DEFAULT_INPUT_POLICY=\"DROP\"\n".utf8), mode: 0o644)
        }
        var settings: FirewallSettings {
            FirewallSettings(ufw: root + "/ufw", ufwDir: root + "/etc-ufw", defaultsFile: root + "/default-ufw",
                             sshd: root + "/sshd", stateDir: root + "/state", apiBase: "https://192.0.2.1",
                             firewalldMarkers: [])
        }
        var calls: Bool { Files.exists(root + "/calls.log") }
        deinit { _ = system("rm -rf '\(root)'") }
    }

    static let injections = ["22; rm -rf /", "$(id)", "22\nid", "--", "-1", "--force", "`id`", "22 ",
                             "10.0.0.0/8; id", "10.0.0.1\n", "-h"]

    @Test func injectionInEveryParameterIsRefusedBeforeAnythingRuns() async throws {
        let fakes = try Fakes()
        let s = fakes.settings
        let good: [String: JSONValue] = ["port": .number(80), "protocol": .string("tcp")]
        var cases: [(String, [String: JSONValue])] = []
        for bad in Self.injections {
            for key in ["port", "protocol", "direction", "source", "comment"] {
                var p = good; p[key] = .string(bad); cases.append((key, p))
            }
            var out = good; out["direction"] = .string("out"); out["destination"] = .string(bad)
            cases.append(("destination", out))
            var act = good; act["action"] = .string(bad)
            cases.append(("action", act))
            var unknown = good; unknown[bad] = .string("x")
            cases.append(("key", unknown))
        }
        for (key, p) in cases {
            let params = JSONValue.object(p)
            if key != "action" {
                let a = await jobError(AllowHandler(settings: s), params)
                #expect(a?.hasPrefix("firewall.allow: ") == true, "\(key): \(params.jsonString()) → \(a ?? "ran")")
                let d = await jobError(DenyHandler(settings: s), params)
                #expect(d?.hasPrefix("firewall.deny: ") == true, "\(key): \(params.jsonString()) → \(d ?? "ran")")
            }
            if key != "comment" {
                let e = await jobError(DeleteHandler(settings: s), params)
                #expect(e?.hasPrefix("firewall.delete: ") == true, "\(key): \(params.jsonString()) → \(e ?? "ran")")
            }
        }
        for bad in Self.injections + ["../../etc/shadow", "/etc/ufw/user.rules", "ufw-1/../x"] {
            #expect(await jobError(RestoreHandler(settings: s), .object(["backup": .string(bad)]))?.hasPrefix("firewall.restore: ") == true)
            #expect(await jobError(EnableHandler(settings: s), .object(["force": .string(bad)]))?.hasPrefix("firewall.enable: ") == true)
        }
        #expect(await jobError(DisableHandler(settings: s), .object(["x": .string("$(id)")])) != nil)
        #expect(await jobError(DeleteHandler(settings: s), .object(["port": .number(80), "rule": .object([:])])) != nil)
        #expect(!fakes.calls, "a refused job ran a program")

        // The same fakes do run for good parameters (the proof above is not vacuous).
        _ = try await runJob(StatusHandler(settings: s))
        #expect(fakes.calls)
    }

    @Test func parameterRules() async throws {
        func err(_ p: [String: JSONValue]) async -> String? { await jobError(AllowHandler(settings: FirewallSettings()), .object(p)) }
        #expect(await err(["port": .string("8000:8010")])?.contains("a port range needs protocol tcp or udp") == true)
        #expect(await err(["port": .number(0)])?.contains("between 1 and 65535") == true)
        #expect(await err(["port": .number(70000)]) != nil)
        #expect(await err(["port": .string("9:8"), "protocol": .string("tcp")]) != nil)
        #expect(await err(["port": .number(22), "source": .string("10.0.0.0/33")]) != nil)
        #expect(await err(["port": .number(22), "source": .string("2001:db8::/129")]) != nil)
        #expect(await err(["port": .number(22), "source": .string("1:2:3:4:5:6:7:8:9")]) != nil)
        #expect(await err(["port": .number(22), "destination": .string("10.0.0.1")])?.contains("only for direction out") == true)
        #expect(await err(["port": .number(22), "comment": .string(String(repeating: "a", count: 65))]) != nil)
        #expect(await err(["port": .number(22), "comment": .string("a--b")]) != nil)

        // Good values and how they reach ufw: one argv element each, normalised.
        let p = try AllowHandler.decodeParameters(.object(["port": .string("8000-8010"), "protocol": .string("udp"),
                                                           "source": .string("10.1.2.3/8"), "comment": .string("app servers")]))
        #expect(p.spec(.allow).ufwArguments() == ["allow", "in", "from", "10.0.0.0/8", "to", "any", "port", "8000:8010",
                                                 "proto", "udp", "comment", "app servers"])
        let v6 = try AllowHandler.decodeParameters(.object(["port": .number(80), "source": .string("2001:DB8::/32")]))
        #expect(v6.spec(.allow).ufwArguments() == ["allow", "in", "from", "2001:db8::/32", "to", "any", "port", "80"])
        let d = try DeleteHandler.decodeParameters(.object(["port": .number(53), "action": .string("deny"), "direction": .string("out")]))
        #expect(d.rule.spec(d.action!).ufwArguments(delete: true) == ["delete", "deny", "out", "from", "any", "to", "any", "port", "53"])
    }

    @Test func tupleParsingAndGuard() {
        let text = """
        ### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=7373682066726f6d20616e797768657265
        ### tuple ### deny any 3306 0.0.0.0/0 any 0.0.0.0/0 in
        ### tuple ### deny tcp 443 192.0.2.0/24 any 0.0.0.0/0 out
        ### tuple ### allow any 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in
        ### tuple ### route:allow tcp 80 0.0.0.0/0 any 0.0.0.0/0 in_eth0!out_eth1
        """
        let rules = UFWState.parseRules(text, ipv6: false)
        #expect(rules.count == 5)
        #expect(rules[0].comment == "ssh from anywhere")
        #expect(rules[2].direction == .out && rules[2].destination == "192.0.2.0/24")
        #expect(rules[3].destinationApp == "OpenSSH" && !rules[3].isSimple)
        #expect(rules[4].route)
        #expect(LockoutGuard.sshReachable(rules, defaultIncoming: "deny", port: 22))
        #expect(!LockoutGuard.sshReachable(Array(rules.dropFirst()).filter { $0.destinationApp == nil }, defaultIncoming: "deny", port: 22))
        #expect(LockoutGuard.egressAllowed(rules, defaultOutgoing: "allow", port: 443, ip: IPv4("198.51.100.1")))
        #expect(!LockoutGuard.egressAllowed(rules, defaultOutgoing: "allow", port: 443, ip: IPv4("192.0.2.9")))
        // A name's address is unknown: a deny to any range might hold it.
        #expect(!LockoutGuard.egressAllowed(rules, defaultOutgoing: "allow", port: 443, ip: nil))
        #expect(LockoutGuard.parseOrigin("https://cp.example.com:8443/api") == ("cp.example.com", 8443))
        #expect(LockoutGuard.parseOrigin("https://[2001:db8::1]/") == ("2001:db8::1", 443))
        #expect(LockoutGuard.parseOrigin(nil) == (nil, 443))
    }

    @Test func probeIsCachedAndDetectsFirewalld() async throws {
        let fakes = try Fakes()
        let probe = FirewallProbe(settings: fakes.settings)
        let r = probe.report()
        #expect(r?["tool"] == .string("ufw") && r?["active"] == .bool(false) && r?["rules"] == .number(0))
        // Cached by file stamp once the files are older than FileCache.settleSec: a beat is then
        // four stats (printed for the README's figure).
        try await Task.sleep(for: .milliseconds(2100))
        _ = probe.report()
        let started = monotonicNow()
        for _ in 0..<10_000 { _ = probe.report() }
        let perBeat = (monotonicNow() - started) / 10_000
        print("firewall probe: \(Int(perBeat * 1e6)) µs per report (debug)")
        #expect(perBeat < 0.002)
        // A changed file is seen at once.
        try SafeFile.write(fakes.root + "/etc-ufw/ufw.conf", Array("ENABLED=yes\n".utf8), mode: 0o644)
        #expect(probe.report()?["active"] == .bool(true))
        var s = fakes.settings
        s.ufwDir = fakes.root + "/none"
        s.firewalldMarkers = [fakes.root + "/ufw"]
        #expect(FirewallProbe(settings: s).report()?["tool"] == .string("firewalld"))
        s.firewalldMarkers = []
        #expect(FirewallProbe(settings: s).report() == nil)
    }
}

extension JSONValue {
    func without(_ key: String) -> JSONValue {
        guard case .object(var o) = self else { return self }
        o[key] = nil
        return .object(o)
    }
}
