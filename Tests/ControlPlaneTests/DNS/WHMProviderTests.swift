import BalctlProtocol
@testable import ControlPlane
import ServiceLaunchers
import Foundation
import Testing
import TestSupport

/// Issue 12 (cPanel/WHM provider): create, update, TTL, read-back, drill, auth failure, rate
/// limit / 5xx, result-0 reasons, hostile answers and refusals before sending, against the WHM
/// API 1 contract emulator; every test also requires zero contract violations.
@Suite("WHM provider against the WHM API 1 contract emulator")
struct WHMProviderTests {
    let whm: WHMEmulator
    init() throws { whm = try WHMEmulator() }

    func provider(user: String? = nil, token: String? = nil, baseURL: String? = nil) throws -> WHMProvider {
        try WHMProvider(.init(baseURL: baseURL ?? whm.baseURL, user: user ?? whm.user, token: token ?? whm.token,
                              zone: "example.com", timeout: 5))
    }

    func ip(_ s: String) -> IPv4 { IPv4(s)! }

    static let parse = "GET /json-api/parse_dns_zone"
    static let edit = "GET /json-api/mass_edit_dns_zone"

    @Test("create: no A record yet → one mass edit that adds it, read back; other records untouched")  // issue 12: WHM create
    func create() async throws {
        let others = whm.otherRecords
        let serial = whm.serial
        let reply = try await provider().setA(name: "www.example.com", ip: ip("192.0.2.10"), ttl: 60, proxied: true)
        #expect(reply.text.contains("added") && reply.text.contains("www.example.com. A 192.0.2.10 ttl 60"), "\(reply)")
        #expect(reply.text.contains("serial \(serial) → \(serial + 1)") && reply.text.hasSuffix("(OK)"), "\(reply)")
        #expect(whm.aRecords("www.example.com").map(\.ip) == ["192.0.2.10"] && whm.aRecords("www.example.com")[0].ttl == 60)
        #expect(whm.otherRecords == others && whm.aRecords("example.com").map(\.ip) == ["198.51.100.80"])
        #expect(whm.log == [Self.parse, Self.edit, Self.parse])  // read, write, read back
        #expect(try await provider().currentAddresses(name: "WWW.example.com.") == [DNSAddress(ip: ip("192.0.2.10"), ttl: 60)])
        #expect(whm.violations == [])
    }

    @Test("update: the first A record is edited in place, duplicates removed in the same edit; TTL as asked")  // issue 12: WHM update
    func updateReplacesAndDedupes() async throws {
        whm.seedA("app", "198.51.100.1", ttl: 300)                 // relative, as cPanel writes it
        whm.seedA("app.example.com.", "198.51.100.2", ttl: 300)    // absolute
        whm.seedA("app.example.com.", "198.51.100.3", ttl: 300)
        whm.seedA("other.example.com.", "198.51.100.4")
        let reply = try await provider().setA(name: "app.example.com", ip: ip("203.0.113.7"), ttl: 120, proxied: false)
        #expect(reply.text.contains("edited line") && reply.text.contains("removed 2 other A record(s)"), "\(reply)")
        #expect(whm.aRecords("app.example.com").map(\.ip) == ["203.0.113.7"] && whm.aRecords("app.example.com")[0].ttl == 120)
        #expect(whm.aRecords("other.example.com").map(\.ip) == ["198.51.100.4"])
        #expect(whm.otherRecords.contains("app.example.com. TXT v=spf1 -all"))
        #expect(whm.log.filter { $0 == Self.edit }.count == 1)
        // Same address, new TTL: still one record, TTL changed.
        _ = try await provider().setA(name: "app.example.com", ip: ip("203.0.113.7"), ttl: 3600, proxied: false)
        #expect(whm.aRecords("app.example.com").map(\.ttl) == [3600])
        #expect(try await provider().currentAddresses(name: "app.example.com") == [DNSAddress(ip: ip("203.0.113.7"), ttl: 3600)])
        #expect(whm.violations == [])
    }

    @Test("read-back: WHM says OK but the zone did not change → the write is not trusted")  // issue 12: WHM read-back
    func readBackCatchesALyingServer() async throws {
        whm.seedA("app", "198.51.100.1")
        whm.faults { $0.ignoreEdits = true }
        let e = try await #require(throws: DNSProviderError.self) {
            try await provider().setA(name: "app.example.com", ip: ip("203.0.113.7"), ttl: 60, proxied: false)
        }
        #expect(e.kind == .badReply && e.message.contains("reads back as [198.51.100.1 ttl 14400]") && e.reply == "OK", "\(e)")
        #expect(whm.log == [Self.parse, Self.edit, Self.parse] && whm.violations == [])
    }

    @Test("a zone edited by someone else between read and write: WHM's serial refusal surfaces verbatim")  // issue 12: WHM result 0
    func staleSerialReasonSurfaced() async throws {
        whm.faults { $0.concurrentEdit = true }
        let before = whm.serial
        let e = try await #require(throws: DNSProviderError.self) {
            try await provider().setA(name: "www.example.com", ip: ip("192.0.2.1"), ttl: 60, proxied: false)
        }
        #expect(e.kind == .refused && e.reply == "The given serial number (\(before)) does not match the DNS zone’s serial number (\(before + 1)). Refresh your view of the DNS zone, then resubmit.", "\(e)")
        #expect(whm.aRecords("www.example.com").isEmpty)
        whm.faults { $0.refuseEdits = "Permission denied: the API token lacks the “edit-dns” privilege." }
        let d = try await #require(throws: DNSProviderError.self) {
            try await provider().setA(name: "www.example.com", ip: ip("192.0.2.1"), ttl: 60, proxied: false)
        }
        #expect(d.kind == .refused && d.reply == "Permission denied: the API token lacks the “edit-dns” privilege.", "\(d)")
        #expect(whm.violations == [])
    }

    @Test("a wrong token: .authentication with WHM's reason; nothing is written")  // issue 12: WHM auth failure
    func authFailure() async throws {
        let e = try await #require(throws: DNSProviderError.self) {
            try await provider(token: "WRONGTOKEN0000000000000000000000").setA(name: "www.example.com", ip: ip("192.0.2.1"), ttl: 60, proxied: false)
        }
        #expect(e.kind == .authentication && e.reply == "HTTP 403: Access denied", "\(e)")
        let d = try await #require(throws: DNSProviderError.self) { try await provider(user: "someoneelse").verifyCredentials() }
        #expect(d.kind == .authentication && d.reply == "HTTP 403: Access denied", "\(d)")
        #expect(whm.aRecords("www.example.com").isEmpty && whm.log.allSatisfy { !$0.contains("mass_edit") } && whm.violations == [])
    }

    @Test("rate limited (429 + Retry-After) and unavailable (503): the body reaches the caller verbatim")  // issue 12: WHM rate limit / 5xx
    func rateLimitAndUnavailable() async throws {
        whm.faults { $0.rateLimited = true }
        let e = try await #require(throws: DNSProviderError.self) {
            try await provider().setA(name: "www.example.com", ip: ip("192.0.2.1"), ttl: 60, proxied: false)
        }
        #expect(e.kind == .providerError && e.message.contains("rate limit") && e.message.contains("retry after 17 s"), "\(e)")
        #expect(e.reply == "HTTP 429: Too many requests from 127.0.0.1: try again later", "\(e)")
        whm.faults { $0.rateLimited = false; $0.unavailable = true }
        let d = try await #require(throws: DNSProviderError.self) { try await provider().currentAddresses(name: "www.example.com") }
        #expect(d.kind == .unreachable && d.reply == "HTTP 503: cpsrvd is restarting", "\(d)")
        #expect(whm.aRecords("www.example.com").isEmpty && whm.violations == [])
    }

    @Test("hostile answers: an oversized body and an unreadable SOA serial are refused, nothing is written")  // issue 12: WHM hostile replies
    func hostileAnswers() async throws {
        whm.faults { $0.oversized = true }
        let e = try await #require(throws: DNSProviderError.self) {
            try await provider().setA(name: "www.example.com", ip: ip("192.0.2.1"), ttl: 60, proxied: false)
        }
        #expect(e.kind == .badReply && e.message.contains("exceeds \(ProviderHTTP.maxResponseBytes) bytes"), "\(e)")
        whm.faults { $0.oversized = false; $0.garbledSOA = true }
        let d = try await #require(throws: DNSProviderError.self) {
            try await provider().setA(name: "www.example.com", ip: ip("192.0.2.1"), ttl: 60, proxied: false)
        }
        #expect(d.kind == .badReply && d.message.contains("no readable serial"), "\(d)")
        #expect(whm.log == [Self.parse, Self.parse] && whm.violations == [])
    }

    @Test("names outside the zone, bad TTLs, bad credentials and plain http to a remote host: refused with zero requests")  // issue 12: refuse before sending
    func refusedBeforeSending() async throws {
        for name in ["www.example.org", "notexample.com", "example.com.evil.net", "bad name.example.com"] {
            let e = try await #require(throws: DNSProviderError.self) {
                try await provider().setA(name: name, ip: ip("192.0.2.1"), ttl: 60, proxied: false)
            }
            #expect(e.kind == .invalidRequest, "\(e)")
            await #expect(throws: DNSProviderError.self) { try await provider().currentAddresses(name: name) }
        }
        for ttl: UInt32 in [0, 0x8000_0000, .max] {
            let e = try await #require(throws: DNSProviderError.self) {
                try await provider().setA(name: "www.example.com", ip: ip("192.0.2.1"), ttl: ttl, proxied: false)
            }
            #expect(e.kind == .invalidRequest, "\(e)")
        }
        for (user, token) in [("", whm.token), ("root:x", whm.token), ("root", ""), ("root", "abc def"), ("root", "abc\r\nX-Evil: 1")] {
            #expect(throws: DNSProviderError.self) { try provider(user: user, token: token) }
        }
        for url in ["http://whm.example.net:2086", "ftp://127.0.0.1/", "https://user:pw@whm.example.net:2087", "https://whm.example.net:2087/?x=1"] {
            let e = try #require(throws: DNSProviderError.self) { try provider(baseURL: url) }
            #expect(e.kind == .invalidRequest, "\(url): \(e)")
        }
        #expect(whm.log == [])
    }

    @Test("drill: version and a read of the zone, GETs only, nothing changed; a dead WHM is unreachable")  // issue 12: WHM drill
    func drill() async throws {
        let serial = whm.serial
        let ok = try await provider().verifyCredentials()
        #expect(ok.text.contains("WHM 11.118.0.12") && ok.text.contains("serial \(serial)") && ok.text.contains("nothing was changed"), "\(ok)")
        #expect(whm.log == ["GET /json-api/version", Self.parse] && whm.serial == serial)
        let closed = try Loopback.freePort()
        let e = try await #require(throws: DNSProviderError.self) {
            try await provider(baseURL: "http://127.0.0.1:\(closed)").verifyCredentials()
        }
        #expect(e.kind == .unreachable, "\(e)")
        #expect(whm.violations == [])
    }

    @Test("the configuration's description never shows the token")  // issue 12: secrets stay out of logs
    func descriptionHidesToken() {
        let c = WHMProvider.Configuration(baseURL: whm.baseURL, user: "reseller1", token: whm.token, zone: "example.com", timeout: 5)
        #expect(!"\(c)".contains(whm.token) && "\(c)".contains("reseller1") && "\(c)".contains("example.com"))
    }
}
