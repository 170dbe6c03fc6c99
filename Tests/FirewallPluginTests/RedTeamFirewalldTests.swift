import AgentKernel
import BalctlProtocol
@testable import FirewallPlugin
import Testing
import TestSupport

/// Red team of the firewalld half (helper): each test reproduces a finding — it failed before
/// the fix named in its comment — or pins down what held. The zone files below were checked
/// with firewalld's own reader (`firewall.core.io.zone.zone_reader`): it loads each of them
/// and reads the priorities and addresses as the comments say.
@Suite(.serialized)
struct RedTeamFirewalldTests {
    func state(_ zoneXML: String) throws -> FirewalldState {
        let zone = try FirewalldZone(name: "public", xml: try MiniXML.parse(zoneXML), path: "public.xml")
        return FirewalldState(zone: zone, servicePorts: [:], outRules: [], defaultOutgoing: "allow")
    }

    func sshReachable(_ zoneXML: String) throws -> Bool {
        let s = try state(zoneXML)
        return LockoutGuard.sshReachable(s.inRules, defaultIncoming: s.zone.defaultIncoming, port: 22)
    }

    /// FD1: firewalld reads `priority` with Python's int(), which takes surrounding whitespace
    /// and `_`: `" -10"` is -10, so this drop comes before the -5 accept and SSH is shut. The
    /// guard read it with Int() → nil → 0 (after the accept) and let it pass.
    @Test func priorityWithSpacesIsReadAsFirewalldReadsIt() throws {
        let xml = """
            <zone target="ACCEPT">
              <rule priority="-5"><port port="22" protocol="tcp"/><accept/></rule>
              <rule priority=" -10"><port port="22" protocol="tcp"/><drop/></rule>
            </zone>
            """
        #expect(try state(xml).zone.rich.map(\.priority) == [-5, -10])
        #expect(try sshReachable(xml) == false)
        #expect(FirewalldRichRule.pythonInt("-1_0") == -10)
        #expect(FirewalldRichRule.pythonInt("\t+3\n") == 3)
        #expect(FirewalldRichRule.pythonInt("1 0") == nil)
        #expect(FirewalldRichRule.pythonInt("_1") == nil)
        // The control: the same drop at priority -1 after the accept at -5 leaves SSH open.
        #expect(try sshReachable(xml.replacing("\" -10\"", with: "\"-1\"")) == true)
    }

    /// FD2: firewalld's checkIPnMask takes a dotted netmask and an int()-style prefix:
    /// `0.0.0.0/0.0.0.0` and `0.0.0.0/ 0` are everyone. The guard could not parse either and
    /// dropped the rule from its reading, so a drop of SSH from everyone passed it.
    @Test func netmaskAndOddPrefixAddressesAreEveryone() throws {
        for address in ["0.0.0.0/0.0.0.0", "0.0.0.0/ 0", "0.0.0.0/00"] {
            let xml = """
                <zone target="ACCEPT">
                  <rule family="ipv4"><source address="\(address)"/><port port="22" protocol="tcp"/><drop/></rule>
                </zone>
                """
            #expect(try sshReachable(xml) == false, "drop from \(address)")
        }
        #expect(FirewalldRichRule.address("10.0.0.0/255.255.255.0") == "10.0.0.0/24")
        #expect(FirewalldRichRule.address("10.0.0.1/255.255.255.255") == "10.0.0.1")
        // Non-contiguous mask: kept as written, and a drop from it is read as from anywhere.
        #expect(FirewalldRichRule.address("10.0.0.0/255.0.255.0") == "10.0.0.0/255.0.255.0")
        let odd = """
            <zone target="ACCEPT">
              <rule family="ipv4"><source address="10.0.0.0/255.0.255.0"/><port port="22" protocol="tcp"/><drop/></rule>
            </zone>
            """
        #expect(try sshReachable(odd) == false)
        // The control: a drop from one /24 leaves SSH open to the rest.
        let narrow = odd.replacing("255.0.255.0", with: "255.255.255.0")
        #expect(try sshReachable(narrow) == true)
    }

    /// Held: MiniXML over hostile inputs — every prefix of a real zone file and seeded
    /// mutations either parse or throw, within a work bound (a parse of n bytes finishes), and
    /// the constructs firewalld never writes are refused.
    @Test func miniXMLOverHostileInputs() {
        for bad in ["<!DOCTYPE z [<!ENTITY a \"b\">]><zone/>", "<zone><![CDATA[x]]></zone>", "<zone>&ent;</zone>",
                    "<zone a=\"" + String(repeating: "x", count: 1 << 20), "<zone>", "<zone><!-- x -- y",
                    String(repeating: "<a>", count: 100) + String(repeating: "</a>", count: 100),
                    "<zone a='1' a='2'/>", "<zone>&#xD800;</zone>", "<zone/><zone/>"] {
            #expect(throws: XMLError.self) { try MiniXML.parse(bad) }
        }
        let real = """
            <?xml version="1.0" encoding="utf-8"?>
            <!-- a -- comment -->
            <zone target="DROP"><short>P</short><service name="ssh"/><port port="80" protocol="tcp"/>
            <rule family="ipv4" priority="-1"><source address="10.0.0.0/8" invert="true"/><port port="22" protocol="tcp"/><reject type="icmp-host-prohibited"/></rule>
            </zone>
            """
        #expect((try? MiniXML.parse(real)) != nil)
        let bytes = Array(real.utf8)
        for n in 0..<bytes.count { _ = try? MiniXML.parse(String(decoding: bytes[0..<n], as: UTF8.self)) }
        var rng = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = Array("<>/=\"'&;#x!?-[] \0\u{FF}azAZ".utf8)
        for _ in 0..<3000 {
            var m = bytes
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                let k = Int.random(in: 0..<m.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: m[k] = alphabet.randomElement(using: &rng)!
                case 1: m.insert(alphabet.randomElement(using: &rng)!, at: k)
                default: m.remove(at: k)
                }
            }
            if let root = try? MiniXML.parse(String(decoding: m, as: UTF8.self)), root.name == "zone" {
                _ = try? FirewalldZone(name: "public", xml: root, path: "x")
            }
        }
    }
}
