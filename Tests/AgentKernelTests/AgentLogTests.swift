@testable import AgentKernel
import Foundation
import Testing

/// The agent's log lines: journald priority prefixes by default, JSON objects with
/// `BALCTL_LOG_FORMAT=json`.
@Suite struct AgentLogTests {
    @Test("a JSON line parses, keeps hostile text inside its string, and carries time and level")
    func jsonLines() throws {
        let hostile = "job 7: \"quoted\" \\ back\nnext line \t\u{1} \u{2029} ü"
        let line = AgentLog.jsonLine(.warning, hostile, at: 1_796_000_000.5)
        #expect(line.hasSuffix("}\n") && line.filter { $0 == "\n" }.count == 1)
        let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(o == ["time": "2026-11-30T00:53:20.500Z", "level": "warning", "message": hostile])
    }

    @Test("BALCTL_LOG_FORMAT: text (default) or json; anything else is refused with the reason")
    func format() throws {
        let base = ["BALCTL_ENROLLMENT_SECRET": AgentConfigTests.secret, "BALCTL_API_BASE": "https://cp.example:8443"]
        #expect(try AgentConfig.load(file: base, environment: [:]).logJSON == false)
        #expect(try AgentConfig.load(file: base, environment: ["BALCTL_LOG_FORMAT": "json"]).logJSON == true)
        #expect(try AgentConfig.load(file: base.merging(["BALCTL_LOG_FORMAT": "text"]) { $1 }, environment: [:]).logJSON == false)
        #expect(throws: (any Error).self) { try AgentConfig.load(file: base, environment: ["BALCTL_LOG_FORMAT": "xml"]) }
    }
}
