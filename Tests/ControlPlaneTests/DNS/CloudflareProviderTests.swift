import ServiceLaunchers
import BalctlProtocol
@testable import ControlPlane
import Foundation
import Testing
import TestSupport

/// Issue 12 (Cloudflare provider): create, update, proxied flag, TTL, auth failure and rate
/// limit against the contract emulator; every test also requires zero contract violations.
@Suite("Cloudflare provider against the API v4 contract emulator")
struct CloudflareProviderTests {
    let cf: CloudflareEmulator
    init() throws { cf = try CloudflareEmulator() }

    func provider(token: String? = nil, baseURL: String? = nil) throws -> CloudflareProvider {
        try CloudflareProvider(.init(apiToken: token ?? cf.token, zone: "example.com", baseURL: baseURL ?? cf.baseURL, timeout: 5))
    }

    func ip(_ s: String) -> IPv4 { IPv4(s)! }

    @Test("create: no A record yet → POST; the read-back lists it")  // issue 12: Cloudflare create
    func create() async throws {
        let reply = try await provider().setA(name: "www.example.com", ip: ip("192.0.2.10"), ttl: 60, proxied: false)
        #expect(reply.text.contains("created") && reply.text.contains("www.example.com A 192.0.2.10 ttl 60"), "\(reply)")
        #expect(cf.records.map(\.content) == ["192.0.2.10"] && cf.records[0].name == "www.example.com")
        #expect(cf.log == ["GET /client/v4/zones", "GET /client/v4/zones/\(CloudflareEmulator.zoneID)/dns_records",
                           "POST /client/v4/zones/\(CloudflareEmulator.zoneID)/dns_records"])
        #expect(try await provider().currentAddresses(name: "www.example.com") == [DNSAddress(ip: ip("192.0.2.10"), ttl: 60)])
        #expect(cf.violations == [])
    }

    @Test("update: the existing record is overwritten, extra A records deleted; proxied and TTL as asked")  // issue 12: Cloudflare update
    func updateProxiedTTL() async throws {
        cf.seed("app.example.com", "198.51.100.1")
        cf.seed("app.example.com", "198.51.100.2")
        cf.seed("other.example.com", "198.51.100.3")
        let reply = try await provider().setA(name: "app.example.com", ip: ip("203.0.113.7"), ttl: 1, proxied: true)
        #expect(reply.text.contains("updated") && reply.text.contains("1 other A record(s) deleted"), "\(reply)")
        let app = cf.records.filter { $0.name == "app.example.com" }
        #expect(app.count == 1 && app[0].content == "203.0.113.7" && app[0].ttl == 1 && app[0].proxied)
        #expect(cf.records.contains { $0.name == "other.example.com" })
        _ = try await provider().setA(name: "app.example.com", ip: ip("203.0.113.7"), ttl: 120, proxied: false)
        let again = cf.records.filter { $0.name == "app.example.com" }
        #expect(again.count == 1 && again[0].ttl == 120 && !again[0].proxied)
        #expect(try await provider().currentAddresses(name: "app.example.com") == [DNSAddress(ip: ip("203.0.113.7"), ttl: 120)])
        #expect(cf.violations == [])
    }

    @Test("a wrong token: Cloudflare's error reaches the caller verbatim; nothing is written")  // issue 12: Cloudflare auth failure
    func authFailure() async throws {
        let e = try await #require(throws: DNSProviderError.self) {
            try await provider(token: "wrong-token").setA(name: "www.example.com", ip: ip("192.0.2.1"), ttl: 60, proxied: false)
        }
        #expect(e.kind == .authentication && e.reply == "HTTP 403: [9109] Invalid access token", "\(e)")
        let d = try await #require(throws: DNSProviderError.self) { try await provider(token: "wrong-token").verifyCredentials() }
        #expect(d.kind == .authentication && d.reply == "HTTP 401: [1000] Invalid API Token", "\(d)")
        #expect(cf.records == [] && cf.violations == [])
    }

    @Test("rate limited: the 429, its code and Retry-After are surfaced")  // issue 12: Cloudflare rate limit
    func rateLimit() async throws {
        cf.rateLimit(true)
        let e = try await #require(throws: DNSProviderError.self) {
            try await provider().setA(name: "www.example.com", ip: ip("192.0.2.1"), ttl: 60, proxied: false)
        }
        #expect(e.kind == .providerError && e.message.contains("rate limit") && e.message.contains("retry after 30 s"), "\(e)")
        #expect(e.reply == "HTTP 429: [971] Please wait and consider throttling your request speed", "\(e)")
        #expect(cf.records == [] && cf.violations == [])
    }

    @Test("names outside the zone and TTLs Cloudflare refuses are stopped before any request")  // issue 12: refuse before sending
    func refusedBeforeSending() async throws {
        await #expect(throws: DNSProviderError.self) {
            try await provider().setA(name: "www.example.org", ip: ip("192.0.2.1"), ttl: 60, proxied: false)
        }
        await #expect(throws: DNSProviderError.self) {
            try await provider().setA(name: "notexample.com", ip: ip("192.0.2.1"), ttl: 60, proxied: false)
        }
        for ttl: UInt32 in [0, 2, 29, 86401] {
            let e = try await #require(throws: DNSProviderError.self) {
                try await provider().setA(name: "www.example.com", ip: ip("192.0.2.1"), ttl: ttl, proxied: false)
            }
            #expect(e.kind == .invalidRequest, "\(e)")
        }
        #expect(cf.log == [])
    }

    @Test("base URL policy shared with WHM: https anywhere, plain http only to loopback, no user info or query")  // issue 12: provider URL policy
    func baseURLPolicy() async throws {
        for url in ["http://api.cloudflare.example/client/v4", "ftp://127.0.0.1/client/v4",
                    "https://user:secret@api.cloudflare.com/client/v4", "https://api.cloudflare.com/client/v4?x=1"] {
            let e = try #require(throws: DNSProviderError.self) { try provider(baseURL: url) }
            #expect(e.kind == .invalidRequest && !e.message.contains("secret"), "\(url): \(e)")
        }
        _ = try provider(baseURL: "https://api.cloudflare.com/client/v4")
        #expect(cf.log == [])
    }

    @Test("drill: an active token that sees the zone passes with GETs only; a dead API is unreachable")  // issue 12: Cloudflare drill
    func drill() async throws {
        let ok = try await provider().verifyCredentials()
        #expect(ok.text.contains("This API Token is valid and active") && ok.text.contains(CloudflareEmulator.zoneID), "\(ok)")
        #expect(cf.log.allSatisfy { $0.hasPrefix("GET ") } && cf.log.count == 2)
        let closed = try Loopback.freePort()
        let e = try await #require(throws: DNSProviderError.self) {
            try await provider(baseURL: "http://127.0.0.1:\(closed)/client/v4").verifyCredentials()
        }
        #expect(e.kind == .unreachable, "\(e)")
        #expect(cf.violations == [])
    }
}
