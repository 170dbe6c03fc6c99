@testable import ControlPlane
import Foundation
import Logging
import Testing

/// `--log-format json`: every line one JSON object a log shipper can parse, fields intact.
@Suite struct JSONLogHandlerTests {
    @Test("a line is one JSON object: time, level, logger, message, then metadata; hostile text stays inside its string")
    func linesParseAsJSON() throws {
        let hostile = "quote \" backslash \\ newline \n tab \t bell \u{7} sep \u{2028} é 🙂"
        let line = JSONLogHandler.line(time: Date(timeIntervalSince1970: 1_796_000_000.25), level: .notice, label: "balctl-server",
                                       message: hostile, metadata: ["hb.request.id": .stringConvertible(42), "message": "clash",
                                                                    "nested": .dictionary(["a": .array(["x", "y"])])])
        #expect(line.hasSuffix("}\n") && line.filter { $0 == "\n" }.count == 1)
        let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(o["message"] as? String == hostile)
        #expect(o["level"] as? String == "notice")
        #expect(o["logger"] as? String == "balctl-server")
        #expect(o["hb.request.id"] as? String == "42")
        #expect(o["meta.message"] as? String == "clash")
        #expect(o["time"] as? String == "2026-11-30T00:53:20.250Z")
        #expect(((o["nested"] as? [String: Any])?["a"] as? [String]) == ["x", "y"])
    }
}
