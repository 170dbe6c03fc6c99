#if canImport(Glibc)
import Glibc
#endif
import ServiceLaunchers
import BalctlProtocol
@testable import ControlPlane
import Foundation
import Testing
import TestSupport

/// Issue 12 (provider foundation): the RFC 2136 + TSIG provider against a real BIND9.
@Suite("RFC 2136 provider against a real named", .serialized, .bindServer)
struct RFC2136ProviderTests {
    let bind: BINDServer
    let provider: RFC2136Provider

    init() throws {
        bind = try BINDServer.shared()
        provider = try bind.provider()
    }

    func ip(_ s: String) -> IPv4 { IPv4(s)! }

    @Test("setA writes the record: dig and the provider's own read-back see it")  // issue 12: RFC 2136 write + read-back
    func setAIsVisible() async throws {
        let reply = try await provider.setA(name: "www.test.example", ip: ip("192.0.2.10"), ttl: 60, proxied: false)
        #expect(reply.text.contains("status NOERROR"), "\(reply)")
        #expect(try bind.dig("www.test.example") == ["192.0.2.10"])
        #expect(try await provider.currentAddresses(name: "www.test.example") == [DNSAddress(ip: ip("192.0.2.10"), ttl: 60)])
        // Case and the trailing dot do not matter.
        #expect(try await provider.currentAddresses(name: "WWW.Test.Example.") == [DNSAddress(ip: ip("192.0.2.10"), ttl: 60)])
    }

    @Test("setA replaces an RRset of several addresses with the one address")  // issue 12: replace A RRset
    func setAReplacesRRset() async throws {
        try bind.nsupdate(["update add app.test.example 60 A 198.51.100.1", "update add app.test.example 60 A 198.51.100.2"])
        #expect(Set(try bind.dig("app.test.example")) == ["198.51.100.1", "198.51.100.2"])
        _ = try await provider.setA(name: "app.test.example", ip: ip("203.0.113.7"), ttl: 60, proxied: false)
        #expect(try bind.dig("app.test.example") == ["203.0.113.7"])
        #expect(try await provider.currentAddresses(name: "app.test.example").map(\.ip) == [ip("203.0.113.7")])
        // Other types at the name survive (only the A RRset is replaced).
        try bind.nsupdate(["update add app.test.example 60 TXT \"keep\""])
        _ = try await provider.setA(name: "app.test.example", ip: ip("203.0.113.8"), ttl: 60, proxied: false)
        #expect(try bind.dig("app.test.example", "TXT") == ["\"keep\""])
        #expect(try bind.dig("app.test.example") == ["203.0.113.8"])
    }

    @Test("the TTL asked for is the TTL served, also when only the TTL changes")  // issue 12: TTL
    func ttlHonoured() async throws {
        _ = try await provider.setA(name: "ttl.test.example", ip: ip("192.0.2.20"), ttl: 300, proxied: false)
        #expect(try bind.dig("ttl.test.example", answer: true).first?.split(whereSeparator: { $0 == " " || $0 == "\t" })[1] == "300")
        _ = try await provider.setA(name: "ttl.test.example", ip: ip("192.0.2.20"), ttl: 45, proxied: false)
        #expect(try bind.dig("ttl.test.example", answer: true).first?.split(whereSeparator: { $0 == " " || $0 == "\t" })[1] == "45")
        #expect(try await provider.currentAddresses(name: "ttl.test.example") == [DNSAddress(ip: ip("192.0.2.20"), ttl: 45)])
    }

    @Test("a name with no A record reads back as empty; a large RRset comes back over TCP")  // issue 12: TCP fallback
    func readBackEmptyAndTruncated() async throws {
        #expect(try await provider.currentAddresses(name: "nothing-here.test.example") == [])
        // 60 addresses do not fit a 512-byte UDP reply: named sets TC and the provider asks over TCP.
        let adds = (1...60).map { "update add many.test.example 60 A 198.18.0.\($0)" }
        try bind.nsupdate(adds)
        let got = try await provider.currentAddresses(name: "many.test.example")
        #expect(Set(got.map(\.ip)) == Set((1...60).map { ip("198.18.0.\($0)") }))
    }

    @Test("a wrong secret gets BADSIG and an unknown key BADKEY from named; the error says so, nothing changes")  // issue 12: TSIG wrong key
    func wrongKeyRefused() async throws {
        _ = try await provider.setA(name: "keyed.test.example", ip: ip("192.0.2.30"), ttl: 60, proxied: false)
        let updatesBefore = try await bind.opcodeCount("UPDATE")
        let wrongSecret = try TSIGKey(name: BINDServer.keyName, secretBase64: Data((0..<32).map { UInt8($0) }).base64EncodedString())
        let e1 = try await #require(throws: DNSProviderError.self) {
            try await bind.provider(key: wrongSecret).setA(name: "keyed.test.example", ip: ip("192.0.2.31"), ttl: 60, proxied: false)
        }
        #expect(e1.kind == .authentication)
        #expect(e1.reply?.contains("status NOTAUTH") == true && e1.reply?.contains("TSIG error BADSIG") == true, "\(e1)")
        let unknown = try TSIGKey(name: "nobody-key", secretBase64: Data(wrongSecret.secret).base64EncodedString())
        let e2 = try await #require(throws: DNSProviderError.self) {
            try await bind.provider(key: unknown).setA(name: "keyed.test.example", ip: ip("192.0.2.32"), ttl: 60, proxied: false)
        }
        #expect(e2.kind == .authentication)
        #expect(e2.reply?.contains("TSIG error BADKEY") == true, "\(e2)")
        #expect(e2.description.contains("nobody-key"), "\(e2)")
        // named did receive both updates (the refusal is named's) and the record is unchanged.
        #expect(try await bind.opcodeCount("UPDATE") == updatesBefore + 2)
        #expect(try bind.dig("keyed.test.example") == ["192.0.2.30"])
    }

    @Test("a zone named does not serve is refused by named with NOTAUTH")  // issue 12: RCODE mapping
    func otherZoneNotAuthoritative() async throws {
        let elsewhere = try bind.provider(zone: "elsewhere.example")
        let e = try await #require(throws: DNSProviderError.self) {
            try await elsewhere.setA(name: "www.elsewhere.example", ip: ip("192.0.2.40"), ttl: 60, proxied: false)
        }
        #expect(e.kind == .refused, "\(e)")
        #expect(e.reply?.contains("status NOTAUTH") == true, "\(e)")
    }

    @Test("a name outside the zone is refused before anything is sent: named receives nothing")  // issue 12: outside zone
    func outsideZoneNeverSent() async throws {
        let queries = try await bind.opcodeCount("QUERY"), updates = try await bind.opcodeCount("UPDATE")
        for name in ["www.other.example", "test.example.evil", "eviltest.example", "example"] {
            let e = try await #require(throws: DNSProviderError.self) {
                try await provider.setA(name: name, ip: ip("192.0.2.50"), ttl: 60, proxied: false)
            }
            #expect(e.kind == .invalidRequest && e.message.contains("not in zone test.example."), "\(e)")
            await #expect(throws: DNSProviderError.self) { try await provider.currentAddresses(name: name) }
        }
        await #expect(throws: DNSProviderError.self) {
            try await provider.setA(name: "bad..test.example", ip: ip("192.0.2.50"), ttl: 60, proxied: false)
        }
        #expect(try await bind.opcodeCount("UPDATE") == updates)
        #expect(try await bind.opcodeCount("QUERY") == queries)
    }

    @Test("drill: a good key passes, a wrong key and an unreachable server fail, and the zone never changes")  // issue 12: drill
    func drillVerifyCredentials() async throws {
        _ = try await provider.setA(name: "drill.test.example", ip: ip("192.0.2.60"), ttl: 60, proxied: false)
        let serial = try bind.serial()
        let updates = try await bind.opcodeCount("UPDATE")

        let ok = try await provider.verifyCredentials()
        #expect(ok.text.contains("status NXDOMAIN") && ok.text.contains("nothing was changed"), "\(ok)")

        let bad = try TSIGKey(name: BINDServer.keyName, secretBase64: Data(repeating: 7, count: 32).base64EncodedString())
        let e = try await #require(throws: DNSProviderError.self) { try await bind.provider(key: bad).verifyCredentials() }
        #expect(e.kind == .authentication && e.reply?.contains("BADSIG") == true, "\(e)")

        // A UDP port that never answers: the drill times out (2 tries of 1 s) instead of hanging.
        let silent = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(silent) }
        let silentPort = try #require(Loopback.bind(silent, port: 0))
        let unreachable = try RFC2136Provider(.init(server: ip("127.0.0.1"), port: silentPort, zone: BINDServer.zone,
                                                    key: bind.key, timeout: 1, attempts: 2))
        let t = try await #require(throws: DNSProviderError.self) { try await unreachable.verifyCredentials() }
        #expect(t.kind == .unreachable && t.message.contains("no reply within"), "\(t)")

        // named got the two drills (good and bad key), and nothing in the zone changed.
        #expect(try await bind.opcodeCount("UPDATE") == updates + 2)
        #expect(try bind.serial() == serial)
        #expect(try bind.dig("drill.test.example") == ["192.0.2.60"])
    }

    @Test("unsigned, tampered or mis-keyed replies from named are rejected")  // issue 12: verify the server's TSIG
    func responseSignatureVerified() async throws {
        let c = try await DNSCapture.update(bind, name: "sig.test.example")
        // The genuine reply verifies.
        _ = try TSIG.verify(c.reply, parsed: try RFC2136Provider.parse(c.reply, from: "t"), requestMAC: c.mac,
                            key: bind.key, now: UInt64(Date().timeIntervalSince1970))
        func rejects(_ bytes: [UInt8], mac: [UInt8]? = nil, key: TSIGKey? = nil, now: UInt64? = nil,
                     _ sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(throws: DNSProviderError.self, sourceLocation: sourceLocation) {
                try TSIG.verify(bytes, parsed: try RFC2136Provider.parse(bytes, from: "t"), requestMAC: mac ?? c.mac,
                                key: key ?? bind.key, now: now ?? UInt64(Date().timeIntervalSince1970))
            }
        }
        // Unsigned: the TSIG record cut off and ARCOUNT lowered.
        let parsed = try RFC2136Provider.parse(c.reply, from: "t")
        var unsigned = Array(c.reply[..<parsed.tsigOffset!])
        unsigned[11] -= 1
        rejects(unsigned)
        // The record ends MAC (32 bytes), original ID, error, other length (2 each, no other data):
        // a flipped bit in the MAC or in the original ID.
        var flippedMAC = c.reply
        flippedMAC[c.reply.count - 10] ^= 0x40
        rejects(flippedMAC)
        var flippedID = c.reply
        flippedID[c.reply.count - 5] ^= 0x01
        rejects(flippedID)
        var flippedHeader = c.reply
        flippedHeader[3] ^= 0x01  // an RCODE bit
        rejects(flippedHeader)
        rejects(c.reply, mac: [UInt8](repeating: 0, count: 32))
        // Another secret, and a clock far from the signing time.
        rejects(c.reply, key: try TSIGKey(name: BINDServer.keyName, secretBase64: Data(repeating: 1, count: 32).base64EncodedString()))
        rejects(c.reply, now: UInt64(Date().timeIntervalSince1970) + 3600)
    }
}

/// Real exchanges with named, kept as bytes (for signature and parser tests).
enum DNSCapture {
    struct Exchange { var reply: [UInt8]; var mac: [UInt8] }

    /// A signed UPDATE (replace `name`'s A) and named's signed reply.
    static func update(_ bind: BINDServer, name: String) async throws -> Exchange {
        let zone = try DNSName(BINDServer.zone), owner = try DNSName(name)
        let m = DNSMessage(id: 0x4242, flags: DNSOpcode.update << 11,
                           questions: [DNSQuestion(name: zone, type: DNSType.soa, rrClass: DNSClass.inet)],
                           authority: [DNSRecord(name: owner, type: DNSType.a, rrClass: DNSClass.any, ttl: 0, rdata: []),
                                       DNSRecord(name: owner, type: DNSType.a, rrClass: DNSClass.inet, ttl: 60, rdata: [192, 0, 2, 99])])
        let (signed, mac) = TSIG.sign(m.encode(), key: bind.key, now: UInt64(Date().timeIntervalSince1970))
        return Exchange(reply: try await transport(bind).exchange(signed, id: m.id), mac: mac)
    }

    /// named's reply to a plain query (answers, NXDOMAIN with an SOA in authority, and so on).
    static func query(_ bind: BINDServer, name: String, type: UInt16) async throws -> [UInt8] {
        let m = DNSMessage(id: 0x1717, flags: 0,
                           questions: [DNSQuestion(name: try DNSName(name), type: type, rrClass: DNSClass.inet)])
        return try await transport(bind).exchange(m.encode(), id: m.id)
    }

    static func transport(_ bind: BINDServer) -> DNSTransport {
        DNSTransport(server: IPv4("127.0.0.1")!, port: bind.port, timeout: 1, attempts: 2)
    }
}
