import BalctlProtocol

/// Cloudflare API v4 with an API token (Zone:DNS:Edit on the zone): the zone is looked up by
/// name, the name's A records are listed, the first is overwritten (PUT) or one is created
/// (POST), and any further A records at the name are deleted, so one address remains. TTL 1 is
/// Cloudflare's "automatic"; otherwise 30–86400 s (below 60 only on Enterprise plans, where
/// Cloudflare itself refuses it otherwise). `proxied` is the orange cloud.
public struct CloudflareProvider: DNSProvider {
    public struct Configuration: Sendable, CustomStringConvertible {
        public var apiToken: String
        /// The zone's name as Cloudflare lists it ("example.com").
        public var zone: String
        /// https://…; plain http only to a loopback host (the tests' emulator), as `ProviderHTTP` enforces.
        public var baseURL: String
        public var timeout: Double

        public init(apiToken: String, zone: String, baseURL: String = "https://api.cloudflare.com/client/v4",
                    timeout: Double = 15) {
            self.apiToken = apiToken; self.zone = zone; self.baseURL = baseURL; self.timeout = timeout
        }

        /// Never the token: configurations end up in logs.
        public var description: String { "Cloudflare zone \(zone) at \(baseURL) (token hidden)" }
    }

    let zone: DNSName
    let client: CloudflareClient

    public init(_ c: Configuration) throws(DNSProviderError) {
        zone = try DNSName(c.zone)
        guard !c.apiToken.isEmpty, c.apiToken.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
            throw DNSProviderError(.invalidRequest, "the Cloudflare API token is empty or has spaces")
        }
        client = try CloudflareClient(baseURL: c.baseURL, token: c.apiToken, timeout: c.timeout)
    }

    struct Zone: Decodable, Sendable { var id: String; var name: String }
    struct Record: Decodable, Sendable {
        var id: String; var type: String; var name: String; var content: String
        var ttl: UInt32; var proxied: Bool?
    }
    struct RecordBody: Encodable, Sendable {
        var type = "A"; var name: String; var content: String; var ttl: UInt32; var proxied: Bool
    }
    struct Deleted: Decodable, Sendable { var id: String }
    struct TokenStatus: Decodable, Sendable { var id: String?; var status: String }

    public func currentAddresses(name: String) async throws -> [DNSAddress] {
        let owner = try DNSName.inZone(name, zone)
        let zoneID = try await zoneID()
        return try await aRecords(zoneID, owner).map { r throws(DNSProviderError) in
            guard let ip = IPv4(r.content) else {
                throw DNSProviderError(.badReply, "Cloudflare lists A record \(r.id) of \(owner) with content '\(r.content)'")
            }
            return DNSAddress(ip: ip, ttl: r.ttl)
        }
    }

    public func setA(name: String, ip: IPv4, ttl: UInt32, proxied: Bool, replacing: IPv4?) async throws -> ProviderReply {
        let owner = try DNSName.inZone(name, zone)
        guard ttl == 1 || (30...86400).contains(ttl) else {
            throw DNSProviderError(.invalidRequest, "Cloudflare TTL must be 1 (automatic) or 30–86400 s, not \(ttl)")
        }
        let zoneID = try await zoneID()
        let existing = try await aRecords(zoneID, owner)
        if let old = replacing, existing.map(\.content) != [old.description] {
            throw DNSProviderError(.preconditionFailed, "\(owner) A holds [\(existing.map(\.content).joined(separator: ", "))], not \(old); nothing was written")
        }
        let body = RecordBody(name: owner.withoutTrailingDot, content: ip.description, ttl: ttl, proxied: proxied)
        let written: Record
        let verb: String
        if let first = existing.first {
            written = try await client.call("PUT", "/zones/\(zoneID)/dns_records/\(first.id)", body: body, as: Record.self).result
            verb = "updated"
        } else {
            written = try await client.call("POST", "/zones/\(zoneID)/dns_records", body: body, as: Record.self).result
            verb = "created"
        }
        for extra in existing.dropFirst() {
            _ = try await client.call("DELETE", "/zones/\(zoneID)/dns_records/\(extra.id)", as: Deleted.self)
        }
        let removed = existing.count > 1 ? ", \(existing.count - 1) other A record(s) deleted" : ""
        return ProviderReply("Cloudflare \(verb) record \(written.id): \(written.name) A \(written.content) ttl \(written.ttl) "
                             + "proxied \(written.proxied ?? false)\(removed)")
    }

    /// The token is active (`/user/tokens/verify`) and can see the zone; nothing is written.
    public func verifyCredentials() async throws -> ProviderReply {
        let (token, messages) = try await client.call("GET", "/user/tokens/verify", as: TokenStatus.self)
        let said = messages.compactMap(\.message).joined(separator: "; ")
        guard token.status == "active" else {
            throw DNSProviderError(.authentication, "the Cloudflare API token is \(token.status)", reply: said)
        }
        let id = try await zoneID()
        return ProviderReply("Cloudflare: \(said.isEmpty ? "token active" : said); zone \(zone.withoutTrailingDot) is \(id); nothing was changed")
    }

    // MARK: - helpers

    private func zoneID() async throws -> String {
        let name = zone.withoutTrailingDot
        let zones = try await client.call("GET", "/zones", query: [("name", name)], as: [Zone].self).result
        guard let z = zones.first(where: { $0.name.lowercased() == name }) else {
            throw DNSProviderError(.refused, "Cloudflare has no zone \(name) this token can see")
        }
        return z.id
    }

    private func aRecords(_ zoneID: String, _ owner: DNSName) async throws -> [Record] {
        let name = owner.withoutTrailingDot
        let records = try await client.call(
            "GET", "/zones/\(zoneID)/dns_records",
            query: [("type", "A"), ("name", name), ("per_page", "100")],
            as: [Record].self).result
        return records.filter { $0.type == "A" && $0.name.lowercased() == name }
    }
}
