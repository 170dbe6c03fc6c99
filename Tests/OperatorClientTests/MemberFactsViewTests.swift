import BalctlProtocol
@testable import OperatorClient
import Testing

/// `balctl members show`'s host facts: updates, firewall, SSH, certificates within 30 days.
@Suite struct MemberFactsViewTests {
    static let now = 1_800_000_000.0
    static let day = 86_400.0

    static let full: [String: JSONValue] = [
        "host": .object([
            "updates": .object(["pending": .number(12), "security": .number(3), "manager": .string("apt"),
                                "rebootRequired": .bool(true), "checkedAt": .string("2027-01-15T07:40:00.000Z")]),
            "certificates": .object(["soonestDays": .number(5), "soonestPath": .string("/etc/ssl/mail.pem"),
                                     "expiringWithin30Days": .number(2), "count": .number(4),
                                     "checkedAt": .string("2027-01-15T00:00:00.000Z")]),
        ]),
        "firewall": .object(["tool": .string("ufw"), "active": .bool(true), "defaultIncoming": .string("deny"),
                             "defaultOutgoing": .string("allow"), "defaultRouted": .string("disabled"),
                             "ipv6": .bool(true), "rules": .number(7)]),
        "ssh": .object(["service": .string("ssh"), "active": .bool(true), "ports": .array([.number(22), .number(2222)]),
                        "passwordAuthentication": .bool(false), "permitRootLogin": .string("prohibit-password")]),
        "haproxy": .object(["certificates": .array([
            .object(["path": .string("/etc/haproxy/certs/shop.pem"), "notAfter": .number(now + 12.5 * day)]),
            .object(["path": .string("/etc/haproxy/certs/old.pem"), "notAfter": .number(now - 2.5 * day)]),
            .object(["path": .string("/etc/haproxy/certs/fine.pem"), "notAfter": .number(now + 200 * day)]),
            .object(["path": .string("/etc/haproxy/certs/broken.pem"), "error": .string("no PEM certificate could be read")]),
        ])]),
    ]

    @Test("every fact present: one line each, certificates soonest first")
    func full() {
        // checkedAt 2027-01-15T07:40Z is 20 minutes before `now` (2027-01-15T08:00Z).
        let lines = MemberFactsView.lines(stacks: Self.full, now: Self.now)
        #expect(lines == [
            "updates  12 pending, 3 security (apt) · REBOOT REQUIRED · checked 20m00s ago",
            "firewall ufw active · default incoming deny, outgoing allow, routed disabled · 7 rules",
            "ssh      ssh active · ports 22,2222 · password login no · root login prohibit-password",
            "certs    3 expiring within 30 days (host paths checked 8h00m ago)",
            "         haproxy /etc/haproxy/certs/old.pem: EXPIRED 3 days ago",
            "         host /etc/ssl/mail.pem: 5 days left (and 1 more of the configured paths)",
            "         haproxy /etc/haproxy/certs/shop.pem: 12 days left",
        ], "\(lines.joined(separator: "\n"))")
    }

    @Test("no facts: nothing printed; a stack without them changes nothing")
    func absent() {
        #expect(MemberFactsView.lines(stacks: [:], now: Self.now).isEmpty)
        #expect(MemberFactsView.lines(stacks: ["haproxy": .object(["version": .string("2.6")]), "host": .object([:])], now: Self.now).isEmpty)
        // Wrong shapes (an older or odd agent) print nothing rather than junk.
        #expect(MemberFactsView.lines(stacks: ["host": .object(["updates": .string("x"), "certificates": .array([])]),
                                             "firewall": .number(1), "ssh": .null], now: Self.now).isEmpty)
    }

    @Test("partial facts: errors, firewalld, inactive, no certificate soon")
    func partial() {
        let lines = MemberFactsView.lines(stacks: [
            "host": .object([
                "updates": .object(["manager": .string("dnf"), "error": .string("dnf check-update failed with exit code 1")]),
                "certificates": .object(["count": .number(2), "expiringWithin30Days": .number(0), "soonestDays": .number(80)]),
            ]),
            "firewall": .object(["tool": .string("firewalld"), "active": .bool(false), "defaultZone": .string("public"),
                                 "defaultIncoming": .string("reject"), "rules": .number(1)]),
            "ssh": .object(["service": .string("sshd"), "active": .bool(false)]),
        ], now: Self.now)
        #expect(lines == [
            "updates  check failed (dnf): dnf check-update failed with exit code 1",
            "firewall firewalld INACTIVE · zone public · default incoming reject · 1 rule",
            "ssh      sshd INACTIVE",
            "certs    none of 2 expiring within 30 days",
        ], "\(lines.joined(separator: "\n"))")
        #expect(MemberFactsView.lines(stacks: ["host": .object(["certificates": .object(["error": .string("BALCTL_CERT_PATHS: 'x' is not an absolute path")])])], now: Self.now)
                == ["certs    none of 0 expiring within 30 days (host: BALCTL_CERT_PATHS: 'x' is not an absolute path)"])
    }

    @Test("a hostile report cannot drive the terminal or flood the output")
    func hostile() {
        let esc = "\u{1b}]0;pwned\u{07}\u{202e}evil\n"
        let certs = (0..<300).map { JSONValue.object(["path": .string("/c/\($0)\(esc)"), "notAfter": .number(Self.now + Double($0))]) }
        let lines = MemberFactsView.lines(stacks: [
            "ssh": .object(["service": .string(esc + String(repeating: "x", count: 500)), "active": .bool(true)]),
            "x\u{1b}": .object(["certificates": .array(certs)]),
            "host": .object(["updates": .object(["pending": .number(1e300), "security": .number(-5), "manager": .string(esc)])]),
        ], now: Self.now)
        let text = lines.joined(separator: "\n")
        #expect(!text.unicodeScalars.contains { $0.value == 0x1b || $0.value == 0x07 || $0.value == 0x202e })
        #expect(lines.count == 1 + 1 + 1 + 10 + 1, "\(text)")
        #expect(lines.last == "         … and 246 more")
        #expect(lines.allSatisfy { $0.count < 260 })
        #expect(lines[0].hasPrefix("updates  1000000000 pending, 0 security"))
    }
}
