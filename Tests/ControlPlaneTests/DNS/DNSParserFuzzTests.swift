import ServiceLaunchers
import BalctlProtocol
@testable import ControlPlane
import Foundation
import Testing
import TestSupport

/// The reader's provable bound: each name costs at most maxNameSteps, and every name, question
/// and record consumes at least one fresh byte.
func parseWorkBound(_ count: Int) -> Int { (DNSReader.maxNameSteps + 3) * (count + 1) }

/// Parse as the provider does, then everything that reads a parsed reply; returns the work done.
@discardableResult
func parseEverything(_ bytes: [UInt8], key: TSIGKey) -> (work: Int, parsed: Bool) {
    var reader = DNSReader(bytes)
    guard let parsed = try? reader.message() else { return (reader.work, false) }
    _ = DNSReplySummary(parsed)
    _ = try? TSIG.verify(bytes, parsed: parsed, requestMAC: [1, 2, 3], key: key, now: 0)
    return (reader.work, true)
}

extension RFC2136ProviderTests {
    @Test("response parser: every prefix and 60,000 seeded mutations of named's real replies end within the work bound")  // issue 12: parser fuzz
    func parserFuzz() async throws {
        _ = try await provider.setA(name: "fuzz.test.example", ip: ip("192.0.2.70"), ttl: 60, proxied: false)
        try bind.nsupdate((1...40).map { "update add big.test.example 60 A 198.18.1.\($0)" })
        var corpus: [[UInt8]] = [
            try await DNSCapture.update(bind, name: "fuzz.test.example").reply,                     // signed UPDATE reply
            try await DNSCapture.query(bind, name: "fuzz.test.example", type: DNSType.a),           // answer, compressed
            try await DNSCapture.query(bind, name: "missing.test.example", type: DNSType.a),        // NXDOMAIN + SOA
            try await DNSCapture.query(bind, name: BINDServer.zone, type: 2),                        // NS + glue
            try await DNSCapture.query(bind, name: "big.test.example", type: DNSType.a),            // truncated → TCP
        ]
        let badKey = try TSIGKey(name: BINDServer.keyName, secretBase64: Data(repeating: 9, count: 32).base64EncodedString())
        let zone = try DNSName(BINDServer.zone)
        let m = DNSMessage(id: 0x5151, flags: DNSOpcode.update << 11,
                           questions: [DNSQuestion(name: zone, type: DNSType.soa, rrClass: DNSClass.inet)])
        corpus.append(try await DNSCapture.transport(bind).exchange(TSIG.sign(m.encode(), key: badKey, now: UInt64(Date().timeIntervalSince1970)).signed,
                                                                    id: m.id))  // BADSIG, unsigned TSIG
        for (i, reply) in corpus.enumerated() {
            #expect(parseEverything(reply, key: bind.key).parsed, "captured reply \(i) must parse")
            // Every proper prefix lacks bytes the header's counts promise: it must be refused.
            for n in 0..<reply.count {
                let r = parseEverything(Array(reply[..<n]), key: bind.key)
                #expect(!r.parsed && r.work <= parseWorkBound(n), "prefix \(n) of reply \(i)")
            }
        }
        var rng = SplitMix64(seed: 12)  // HeartbeatEnvelopeTests' generator
        var overBound = 0, parsedCount = 0
        let rounds = 60_000
        for round in 0..<rounds {
            var b = corpus[round % corpus.count]
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let at = Int.random(in: 0..<b.count, using: &rng)
                switch Int.random(in: 0..<6, using: &rng) {
                case 0: b[at] = UInt8.random(in: 0...255, using: &rng)
                case 1: b[at] = 0xc0 | UInt8.random(in: 0...0x3f, using: &rng)  // a compression pointer
                        if at + 1 < b.count { b[at + 1] = UInt8.random(in: 0...255, using: &rng) }
                case 2: b[at] = UInt8.random(in: 0...63, using: &rng)  // a label length
                case 3: b.insert(UInt8.random(in: 0...255, using: &rng), at: at)
                case 4: b.removeSubrange(at..<min(b.count, at + Int.random(in: 1...8, using: &rng)))
                default: if b.count > 12 { b[4 + 2 * Int.random(in: 0...3, using: &rng)] = 0xff }  // huge count
                }
                if b.isEmpty { b = [0] }
            }
            let r = parseEverything(b, key: bind.key)
            if r.parsed { parsedCount += 1 }
            if r.work > parseWorkBound(b.count) { overBound += 1 }
        }
        #expect(overBound == 0)
        // The mutations reach past the header: some still parse, most do not.
        #expect(parsedCount > 0 && parsedCount < rounds, "\(parsedCount) of \(rounds) parsed")
    }
}

/// Hand-made hostile names: loops, forward pointers and long chains are refused, in bounded work.
@Suite("DNS message reader")
struct DNSReaderTests {
    func header(an: UInt16 = 0) -> [UInt8] { [0, 1, 0x80, 0, 0, 1, 0, UInt8(an), 0, 0, 0, 0] }

    func refuses(_ bytes: [UInt8], _ why: String, _ sourceLocation: SourceLocation = #_sourceLocation) {
        var r = DNSReader(bytes)
        let e = #expect(throws: DNSParseError.self, sourceLocation: sourceLocation) { try r.message() }
        #expect(e?.reason.contains(why) == true, "\(String(describing: e))", sourceLocation: sourceLocation)
        #expect(r.work <= parseWorkBound(bytes.count), sourceLocation: sourceLocation)
    }

    @Test("a pointer to itself, a forward pointer and a two-pointer loop are refused")  // issue 12: bounded decompression
    func pointerLoops() {
        refuses(header() + [0xc0, 12, 0, 1, 0, 1], "does not point back")                       // itself
        refuses(header() + [0xc0, 14, 0, 1, 0, 1], "does not point back")                       // forward
        refuses(header() + [1, 0x61, 0xc0, 14, 0, 1, 0, 1], "does not point back")              // into its own label
        // "a" + a pointer to 16, where a pointer leads back to 12: the loop needs a forward jump.
        refuses(header() + [1, 0x61, 0xc0, 16, 0xc0, 12, 0, 1, 0, 1], "does not point back")
    }

    @Test("names over 255 bytes, even built from backward pointers, are refused")  // issue 12: bounded decompression
    func longNames() {
        // 128 one-byte labels written out: 257 bytes of name.
        refuses(header() + Array(repeating: [UInt8(1), 0x61], count: 128).flatMap { $0 } + [0, 0, 1, 0, 1], "255")
        // A chain of 200 answers, each name one label in front of a pointer to the previous
        // answer's name: every pointer points back, yet the names grow past 255 bytes.
        var b = header() + [1, 0x61, 0, 0, 1, 0, 1]  // question "a." A IN
        var prev = 12
        for _ in 0..<200 {
            let at = b.count
            b += [1, 0x62, 0xc0 | UInt8(prev >> 8), UInt8(prev & 0xff), 0, 1, 0, 1, 0, 0, 0, 60, 0, 0]
            prev = at
        }
        b[6] = 0; b[7] = 200
        refuses(b, "255")
    }

    @Test("reserved label types, trailing bytes and rdata past the end are refused")
    func otherMalformations() {
        refuses(header() + [0x40, 0, 0, 1, 0, 1], "unknown label type")
        refuses(header() + [0, 0, 1, 0, 1, 9], "after the last record")
        refuses([0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0] + [0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3], "truncated")
    }

    @Test("names: zone membership, case, length limits")  // issue 12: outside-zone rule
    func names() throws {
        let zone = try DNSName("Test.Example.")
        #expect(try DNSName("www.test.example").isWithin(zone))
        #expect(try DNSName("test.example").isWithin(zone))
        #expect(try !DNSName("eviltest.example").isWithin(zone))
        #expect(try !DNSName("test.example.evil").isWithin(zone))
        #expect(throws: DNSProviderError.self) { try DNSName(String(repeating: "a", count: 64) + ".example") }
        #expect(throws: DNSProviderError.self) { try DNSName("a b.example") }
        #expect(throws: DNSProviderError.self) { try DNSName(Array(repeating: "abcdefghi", count: 26).joined(separator: ".")) }
        #expect(zone.description == "test.example.")
    }

    @Test("a BIND key file from tsig-keygen is read; other algorithms and junk are refused")
    func keyFile() throws {
        let k = try TSIGKey(bindKeyFile: "key \"upd-key\" {\n\talgorithm hmac-sha256;\n\tsecret \"AAECAwQ=\";\n};\n")
        #expect(k.keyName == "upd-key." && k.secret == [0, 1, 2, 3, 4])
        #expect("\(k)" == "TSIG key upd-key. (hmac-sha256, secret hidden)")
        #expect(!"\(RFC2136Provider.Configuration(server: IPv4("127.0.0.1")!, zone: "z", key: k))".contains("AAECAwQ"))
        #expect(!"\(CloudflareProvider.Configuration(apiToken: "tok-secret", zone: "example.com"))".contains("tok-secret"))
        #expect(throws: DNSProviderError.self) {
            try TSIGKey(bindKeyFile: "key \"k\" {\n\talgorithm hmac-md5;\n\tsecret \"AAECAwQ=\";\n};\n")
        }
        #expect(throws: DNSProviderError.self) { try TSIGKey(bindKeyFile: "nonsense") }
        #expect(throws: DNSProviderError.self) { try TSIGKey(name: "k", secretBase64: "%%%") }
    }
}
