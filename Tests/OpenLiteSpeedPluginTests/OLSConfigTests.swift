import AgentKernel
import BalctlProtocol
import Foundation
import Testing
import TestSupport
@testable import OpenLiteSpeedPlugin

/// The configuration format: byte-identical round trips, the structure read from OLS's own
/// example files, and refusal (never a hang or a crash) of what is not that format.
struct OLSConfigTests {
    @Test(arguments: OLSFixture.all)
    func everyFixtureRoundTripsByteIdentical(_ name: String) throws {
        let bytes = try OLSFixture.bytes(name)
        let file = try OLSConfigFile(bytes: bytes)
        #expect(file.bytes == bytes)
        #expect(!file.nodes.isEmpty)
    }

    @Test func theShippedExampleReadsAsOLSReadsIt() throws {
        let file = try OLSConfigFile(bytes: OLSFixture.bytes("httpd_config.conf"))
        let vh = try #require(file.first("virtualhost"))
        #expect(vh.kind == .block && vh.value == "Example" && vh.name == "virtualHost")
        #expect(vh.value("configFile") == "$SERVER_ROOT/conf/vhosts/Example/vhconf.conf")
        // A setting with no value is a directive of its own, not the next line's name.
        #expect(vh.first("maxKeepAliveReq")?.value == "")
        let listener = try #require(file.first("listener"))
        #expect(listener.all("map").map(\.value) == ["Example *"])
        #expect(file.first("extprocessor")?.value("path") == "$SERVER_ROOT/fcgi-bin/lsphp")
        #expect(file.all("vhTemplate").map(\.value) == ["centralConfigLog", "PHP_SuEXEC", "EasyRailsWithSuEXEC"])
        // `accessControl{ allow ALL / deny }`: tab-indented, a value-less `deny`.
        #expect(file.first("accessControl")?.children.map(\.name) == ["allow", "deny"])
    }

    @Test func aMultiLineValueIsOneValueAndItsBracesAreText() throws {
        let file = try OLSConfigFile(bytes: OLSFixture.bytes("shop_vhconf.conf"))
        let rules = try #require(file.first("rewrite")?.first("rules"))
        #expect(rules.value.contains("RewriteRule ^/old/(.*)$ /new/$1"))
        #expect(rules.value.contains("not a block { here }"))
        #expect(file.first("scripthandler")?.first("add")?.value == "lsapi:lsphp81 php")
        #expect(file.lines.first?.hasSuffix("\r\n") == true)
    }

    @Test(arguments: [
        ("a {\n  b 1\n", "never closed"),
        ("}\n", "without an open block"),
        ("a\n{\n}\n", "on a line of its own"),
        ("rules <<<END\nx\n", "never ends"),
        ("a b {\n}\n}\n", "without an open block"),
        ("\"quoted\" 1\n", "not a directive name"),
        ("{\n", "on a line of its own"),
    ])
    func malformedFilesAreRefusedWithTheLine(_ text: String, _ why: String) {
        #expect(throws: OLSParseError.self) { try OLSConfigFile(text) }
        do { _ = try OLSConfigFile(text) } catch { #expect("\(error)".contains(why), "\(error)") }
    }

    @Test func nestingAndSizeAreBounded() throws {
        let deep = String(repeating: "a {\n", count: 40) + String(repeating: "}\n", count: 40)
        #expect(throws: OLSParseError.self) { try OLSConfigFile(deep) }
        let ok = String(repeating: "a {\n", count: 30) + String(repeating: "}\n", count: 30)
        #expect(try OLSConfigFile(ok).bytes == Array(ok.utf8))
        #expect(throws: OLSParseError.self) { try OLSConfigFile(bytes: [UInt8](repeating: 0x20, count: OLSConfigFile.maxBytes + 1)) }
        #expect(throws: OLSParseError.self) { try OLSConfigFile(bytes: [0x61, 0x20, 0xff, 0x0a]) }
    }

    /// Every prefix of every fixture, and seeded byte mutations: parsing ends (each line is
    /// consumed once), never crashes, and whatever parses prints back to the same bytes.
    @Test func prefixesAndMutationsNeverHangAndRoundTrip() throws {
        var rng = SplitMix64(seed: 0x015)
        var parsed = 0, refused = 0
        let noise: [UInt8] = [0x7b, 0x7d, 0x0a, 0x0d, 0x23, 0x3c, 0x20, 0x09, 0x24, 0x00, 0xc3, 0x41]
        for name in OLSFixture.all {
            let bytes = try OLSFixture.bytes(name)
            var inputs: [[UInt8]] = stride(from: 0, through: bytes.count, by: 7).map { Array(bytes[..<$0]) }
            for _ in 0..<300 {
                var m = bytes
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    let at = Int(rng.next() % UInt64(m.count))
                    switch rng.next() % 3 {
                    case 0: m[at] = noise[Int(rng.next() % UInt64(noise.count))]
                    case 1: m.insert(noise[Int(rng.next() % UInt64(noise.count))], at: at)
                    default: m.remove(at: at)
                    }
                }
                inputs.append(m)
            }
            for input in inputs {
                if let file = try? OLSConfigFile(bytes: input) { #expect(file.bytes == input); parsed += 1 } else { refused += 1 }
            }
        }
        #expect(parsed > 100 && refused > 100, "parsed \(parsed), refused \(refused)")
    }

    @Test func editsTouchOnlyTheirLines() throws {
        let original = try OLSFixture.bytes("httpd_config.conf")
        let file = try OLSConfigFile(bytes: original)
        let listener = try #require(file.first("listener"))
        let added = try file.inserting(["    map                      shop a.example\n"], at: listener.endLine)
        #expect(added.first("listener")?.all("map").count == 2)
        let removed = try added.removing(listener.endLine...listener.endLine)
        #expect(removed.bytes == original)
    }
}
