import BalctlProtocol
@testable import OperatorClient
import Testing

/// `balctl members show` / `balctl pools show` over a hostile agent's report: nothing the agent
/// wrote reaches the terminal as a control sequence, and the output stays bounded.
@Suite struct RedTeamClusterViewTextTests {
    static let esc = "\u{1B}]0;pwned\u{07}\u{1B}[2J\u{9B}31m\u{202E}"

    static func report(_ e: String) -> HostReport {
        HostReport(hostname: "h", agentVersion: "1", os: OSInfo(family: "debian" + e, id: "debian", versionID: "12", prettyName: "Debian" + e, kernel: "6.1" + e),
                   uptimeSec: 10, load: [0.1], cpuPercent: nil, cpuCount: 2, memory: MemoryInfo(totalBytes: 1 << 30, availableBytes: 1 << 29),
                   disks: (0..<1000).map { DiskInfo(mount: "/m\($0)" + e, fsType: "ext4" + e, totalBytes: 10, availableBytes: 5) },
                   publicIPv4: nil, publicIPSource: nil,
                   stacks: Dictionary(uniqueKeysWithValues: (0..<500).map { ("stack\($0)" + e, JSONValue.object([:])) }),
                   commands: (0..<5000).map { "cmd\($0)" + e }, jobsInFlight: [],
                   hiddenStacks: Dictionary(uniqueKeysWithValues: (0..<1000).map { ("s\($0)" + e, "reason" + e + String(repeating: "x", count: 10_000)) }))
    }

    /// C1: the stack names, commands, os, kernel and mounts were printed raw (only the hidden
    /// stacks' reasons were made printable): ESC ] / ESC [ / CSI / bidi from the agent reached the terminal.
    @Test func aHostileReportPrintsNoControlsAndStaysBounded() {
        let lines = ClusterViewText.reportLines(Self.report(Self.esc), now: 1_800_000_000)
        let text = lines.joined(separator: "\n")
        for bad: Unicode.Scalar in ["\u{1B}", "\u{07}", "\u{9B}", "\u{202E}"] {
            #expect(!text.unicodeScalars.contains(bad), "U+\(String(bad.value, radix: 16)) reached the terminal")
        }
        #expect(text.utf8.count < 64_000, "\(text.utf8.count) bytes")
        #expect(lines.count < 200)
        #expect(text.contains("5000 more") == false && text.contains("more)"))
    }

    /// C2: `Int(_:)` traps on a number out of its range; an agent's uptime of 1e300 stopped
    /// `balctl members show`, a firewall rule count or SSH port of 1e300 the facts view, a
    /// HAProxy cell of 1e300 `balctl members stats`. Numbers are clamped instead.
    @Test func hugeNumbersDoNotStopTheCLI() {
        var r = Self.report("")
        r.uptimeSec = 1e300
        let lines = ClusterViewText.reportLines(r, now: 1_800_000_000)
        #expect(lines.contains { $0.hasPrefix("uptime") })
        let facts = MemberFactsView.lines(stacks: [
            "firewall": .object(["backend": .string("ufw"), "active": .bool(true), "rules": .number(1e300)]),
            "ssh": .object(["active": .bool(true), "ports": .array([.number(1e300), .number(-1e300), .number(.nan), .number(22)])]),
        ], now: 1_800_000_000)
        #expect(facts.joined().contains("22"))
        #expect(Render.integer(1e300) == 9_000_000_000_000_000 && Render.integer(-.infinity) == -9_000_000_000_000_000)
        #expect(Render.integer(.nan) == 0 && Render.integer(41.9) == 41)
        #expect(Render.age(1e300).hasSuffix("h") || Render.age(1e300).contains("d"))
    }
}
