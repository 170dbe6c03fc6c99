import BalctlProtocol
import Foundation
import TestSupport
import Testing

/// `balctl members show` against a real control plane: the facts of the member's latest
/// heartbeat (updates, firewall, SSH, certificates within 30 days) are printed; a member whose
/// report lacks them prints none of those lines.
@Suite(.serialized)
struct MemberFactsEndToEndTests {
    @Test("members show prints the host facts from the latest report, and nothing of them when absent")
    func membersShow() async throws {
        let h = try Harness()
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("facts")
        let with = try await api.member(pool: pool.id, hostname: "facts-1")
        let without = try await api.member(pool: pool.id, hostname: "bare-1")
        let now = Date().timeIntervalSince1970
        var report = Harness.report(hostname: "facts-1")
        report.stacks = [
            "host": .object([
                "updates": .object(["pending": .number(4), "security": .number(1), "manager": .string("apt"),
                                    "rebootRequired": .bool(true), "checkedAt": .string(JSONText.timestamp(unixTime: now - 600))]),
                "certificates": .object(["soonestDays": .number(9), "soonestPath": .string("/etc/ssl/mail.pem"),
                                         "expiringWithin30Days": .number(1), "count": .number(3),
                                         "checkedAt": .string(JSONText.timestamp(unixTime: now - 60))]),
            ]),
            "firewall": .object(["tool": .string("ufw"), "active": .bool(true), "defaultIncoming": .string("deny"),
                                 "defaultOutgoing": .string("allow"), "rules": .number(3)]),
            "ssh": .object(["service": .string("ssh"), "active": .bool(true), "ports": .array([.number(22)]),
                            "passwordAuthentication": .bool(false), "permitRootLogin": .string("prohibit-password")]),
            "haproxy": .object(["certificates": .array([
                .object(["path": .string("/etc/haproxy/certs/shop.pem"), "notAfter": .number(now + 20.5 * 86_400)]),
                .object(["path": .string("/etc/haproxy/certs/far.pem"), "notAfter": .number(now + 300 * 86_400)]),
            ])]),
        ]
        for (e, r) in [(with, report), (without, Harness.report(hostname: "bare-1"))] {
            let posted = try await h.agentPost(AgentWire.heartbeatPath, secret: e.enrollmentSecret, body: try JSONEncoder().encode(r))
            #expect(posted.status == 200, "\(posted.text)")
        }

        let shown = try h.balctl(["members", "show", "\(with.member.id)"])
        #expect(shown.status == 0, "\(shown.text)")
        for line in [
            "updates  4 pending, 1 security (apt) · REBOOT REQUIRED · checked 10m",
            "firewall ufw active · default incoming deny, outgoing allow · 3 rules",
            "ssh      ssh active · port 22 · password login no · root login prohibit-password",
            "certs    2 expiring within 30 days (host paths checked 1m",
            "         host /etc/ssl/mail.pem: 9 days left",
            "         haproxy /etc/haproxy/certs/shop.pem: 20 days left",
        ] {
            #expect(shown.text.contains(line), "missing '\(line)' in:\n\(shown.text)")
        }
        #expect(!shown.text.contains("far.pem"))

        let bare = try h.balctl(["members", "show", "\(without.member.id)"])
        #expect(bare.status == 0, "\(bare.text)")
        #expect(bare.text.contains("stacks   none detected"), "\(bare.text)")
        for prefix in ["updates ", "firewall ", "ssh ", "certs "] {
            #expect(!bare.text.split(separator: "\n").contains { $0.hasPrefix(prefix) }, "\(prefix) in:\n\(bare.text)")
        }
        // --json carries the same report, facts included.
        let json = try h.balctl(["members", "show", "\(with.member.id)", "--json"])
        #expect(json.status == 0 && json.text.contains("\"rebootRequired\""), "\(json.text)")
    }

    @Test("a real agent with BALCTL_CERT_PATHS reports stacks.host.certificates (periodic work, not the beat) and members show prints it")
    func realAgentCertificates() async throws {
        let h = try Harness()
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("certs")
        let e = try await api.member(pool: pool.id, hostname: "certs-1")
        let certs = h.dir.appendingPathComponent("certs").path
        try FileManager.default.createDirectory(atPath: certs, withIntermediateDirectories: true)
        try TestCertificate.pem.write(toFile: certs + "/site.pem", atomically: true, encoding: .utf8)
        var env = h.agentEnv(secret: e.enrollmentSecret, hostname: "certs-1", stateDir: h.dir.appendingPathComponent("state-certs").path)
        env["BALCTL_CERT_PATHS"] = certs + "/site.pem, " + certs + "/missing.pem"
        // No update check in this test's lifetime (the first is 60 s after the start anyway).
        env["BALCTL_UPDATES_INTERVAL_SEC"] = "0"
        h.agents.append(try h.run(try Harness.binary("balctl-heartbeat"), [], env: env, log: "agent-certs.log"))
        var fact: JSONValue?
        let deadline = Date().addingTimeInterval(30)
        while fact == nil && Date() < deadline {
            let record: HeartbeatRecord? = try? await api.call("GET", "/members/\(e.member.id)/report")
            fact = record?.report.stacks["host"]?["certificates"]
            if fact == nil { try await Task.sleep(for: .milliseconds(200)) }
        }
        let c = try #require(fact, "no stacks.host.certificates in 30 s: \(h.log("agent-certs.log"))")
        #expect(c["count"] == .number(1) && c["unreadable"] == .number(1) && c["soonestPath"] == .string(certs + "/site.pem"))
        #expect(c["soonestNotAfter"] == .number(TestCertificate.notAfter))
        let record: HeartbeatRecord = try await api.call("GET", "/members/\(e.member.id)/report")
        #expect(record.report.stacks["host"]?["updates"] == nil)
        let shown = try h.balctl(["members", "show", "\(e.member.id)"])
        #expect(shown.status == 0 && shown.text.contains("certs    "), "\(shown.text)")
    }
}
