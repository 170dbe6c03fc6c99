import Foundation
import Testing

/// `bundle/balctl-server.service`: systemd's own assessment of its sandbox stays "OK" (exposure
/// ≤ 2.0 of 10), read by `systemd-analyze security --offline` (no running systemd needed).
@Suite struct ServerUnitTests {
    @Test("systemd-analyze security rates bundle/balctl-server.service at exposure 2.0 or lower")
    func theServerUnitIsHardened() throws {
        let unit = Harness.repoRoot.appendingPathComponent("bundle/balctl-server.service").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/systemd-analyze")
        // --threshold is on a 0–100 scale: the command fails above 20 (2.0).
        p.arguments = ["security", "--offline=true", "--no-pager", "--threshold=20", unit]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let overall = text.split(separator: "\n").first { $0.contains("Overall exposure level") } ?? "no overall line"
        print(overall)
        #expect(p.terminationStatus == 0, "\(overall)\n\(text.suffix(2000))")
        #expect(overall.contains("OK") || overall.contains("SAFE"), "\(overall)")
        // The unit runs the server without root: a user of its own, no capabilities.
        let content = try String(contentsOfFile: unit, encoding: .utf8)
        for line in ["DynamicUser=yes", "CapabilityBoundingSet=\n", "ProtectSystem=strict", "NoNewPrivileges=yes", "StateDirectory=balctl-server"] {
            #expect(content.contains(line), "missing \(line)")
        }
    }
}
