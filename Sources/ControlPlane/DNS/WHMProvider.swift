import BalctlProtocol
import Foundation

/// cPanel/WHM zone editing through WHM API 1 with an API token (root or a reseller that owns
/// the zone, with the DNS zone editing privilege):
///
/// - read: `parse_dns_zone` (https://api.docs.cpanel.net/openapi/whm/operation/parse_dns_zone/)
///   lists the zone's lines: `type` "record" entries carry `line_index`, `record_type`, `ttl`,
///   `dname_b64` and `data_b64` (base64); the SOA's third data field is the zone's serial.
/// - write: one `mass_edit_dns_zone` call
///   (https://api.docs.cpanel.net/openapi/whm/operation/mass_edit_dns_zone/) with the serial
///   just read: the name's first A record is edited in place, any further A records at the name
///   removed, or one added when there is none. WHM applies the whole edit or none of it and
///   refuses it when the serial no longer matches (someone changed the zone meanwhile), so a
///   concurrent edit is never overwritten blindly.
/// - every write is read back with `parse_dns_zone`: exactly one A record with the address and
///   TTL asked for, or the call fails.
/// - the drill: `version` (https://api.docs.cpanel.net/openapi/whm/operation/version/) proves the
///   token, `parse_dns_zone` that it may read the zone; nothing is written.
///
/// WHM's answers are read as hostile: the transport caps their size, every field is checked
/// (base64, line indexes, addresses, serial), and nothing loops on what WHM sends beyond one pass
/// over the (capped) zone listing.
public struct WHMProvider: DNSProvider {
    public struct Configuration: Sendable, CustomStringConvertible {
        /// WHM itself, e.g. "https://server.example.com:2087"; plain http only to a loopback host
        /// (the tests' emulator), as `ProviderHTTP` enforces.
        public var baseURL: String
        /// The WHM user the token belongs to ("root" or a reseller).
        public var user: String
        public var token: String
        /// The zone's name as WHM lists it ("example.com").
        public var zone: String
        public var timeout: Double

        public init(baseURL: String, user: String, token: String, zone: String, timeout: Double = 15) {
            self.baseURL = baseURL; self.user = user; self.token = token; self.zone = zone; self.timeout = timeout
        }

        /// Never the token: configurations end up in logs.
        public var description: String { "WHM zone \(zone) at \(baseURL) as \(user) (token hidden)" }
    }

    let zone: DNSName
    let client: WHMClient

    public init(_ c: Configuration) throws(DNSProviderError) {
        zone = try DNSName(c.zone)
        // Both go into one header line, "whm USER:TOKEN": no separators, spaces or control bytes.
        guard !c.user.isEmpty, c.user.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
            throw DNSProviderError(.invalidRequest, "the WHM user '\(c.user)' is empty or has characters other than letters, digits, '.', '_' and '-'")
        }
        guard !c.token.isEmpty, c.token.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw DNSProviderError(.invalidRequest, "the WHM API token is empty or has characters other than letters and digits")
        }
        client = try WHMClient(baseURL: c.baseURL, user: c.user, token: c.token, timeout: c.timeout)
    }

    public func currentAddresses(name: String) async throws -> [DNSAddress] {
        let owner = try DNSName.inZone(name, zone)
        return try await snapshot(of: owner).records.map { r throws(DNSProviderError) in
            guard let ip = IPv4(r.data) else {
                throw DNSProviderError(.badReply, "WHM lists an A record of \(owner) at line \(r.line) with data '\(r.data)'")
            }
            return DNSAddress(ip: ip, ttl: r.ttl)
        }
    }

    public func setA(name: String, ip: IPv4, ttl: UInt32, proxied: Bool, replacing: IPv4?) async throws -> ProviderReply {
        let owner = try DNSName.inZone(name, zone)
        guard (1...DNSAddress.maxTTL).contains(ttl) else {
            throw DNSProviderError(.invalidRequest, "WHM TTL must be 1–\(DNSAddress.maxTTL) s, not \(ttl)")
        }
        let before = try await snapshot(of: owner)
        // The edit carries the serial read here: WHM refuses it if the zone changed since, so
        // this comparison and the write are one atomic step.
        if let old = replacing, before.records.map(\.data) != [old.description] {
            throw DNSProviderError(.preconditionFailed, "\(owner) A holds [\(before.records.map(\.data).joined(separator: ", "))], not \(old); nothing was written")
        }
        var params = [("zone", zone.withoutTrailingDot), ("serial", String(before.serial))]
        let record = RecordEdit(line_index: before.records.first?.line, dname: owner.description, ttl: ttl, data: [ip.description])
        let json = String(decoding: try Self.encoder.encode(record), as: UTF8.self)
        params.append((before.records.isEmpty ? "add" : "edit", json))
        for extra in before.records.dropFirst() { params.append(("remove", String(extra.line))) }
        let (edited, reason) = try await client.call("mass_edit_dns_zone", params, as: Edited.self)

        // Read back: the one A record asked for, nothing else at the name.
        let after = try await snapshot(of: owner)
        guard after.records.count == 1, IPv4(after.records[0].data) == ip, after.records[0].ttl == ttl else {
            let served = after.records.map { "\($0.data) ttl \($0.ttl)" }.joined(separator: ", ")
            throw DNSProviderError(.badReply, "WHM accepted the edit but \(owner) A reads back as [\(served)], not \(ip) ttl \(ttl)",
                                   reply: reason)
        }
        let verb = before.records.isEmpty ? "added" : "edited line \(before.records[0].line)"
        let removed = before.records.count > 1 ? ", removed \(before.records.count - 1) other A record(s)" : ""
        let serial = edited.new_serial.map { " → \($0)" } ?? ""
        return ProviderReply("WHM \(verb): \(owner) A \(ip) ttl \(ttl)\(removed); serial \(before.serial)\(serial) (\(reason))")
    }

    /// `version` proves the token; reading the zone proves the user may see it. Nothing is written.
    public func verifyCredentials() async throws -> ProviderReply {
        let (v, _) = try await client.call("version", as: Version.self)
        let zoneNow = try await snapshot(of: zone)
        return ProviderReply("WHM \(v.version): token of '\(client.user)' accepted; zone \(zone) readable (serial \(zoneNow.serial)); nothing was changed")
    }

    // MARK: - parsing parse_dns_zone

    struct RecordEdit: Encodable {
        var line_index: Int?
        var dname: String
        var ttl: UInt32
        var record_type = "A"
        var data: [String]
    }
    struct Edited: Decodable { var new_serial: Int64? }
    struct Version: Decodable { var version: String }
    struct Parsed: Decodable { var payload: [Line] }
    struct Line: Decodable {
        var line_index: Int?
        var type: String?
        var record_type: String?
        var ttl: UInt32?
        var dname_b64: String?
        var data_b64: [String]?
    }

    /// One A record of the name as WHM lists it: its first line, data (text) and TTL.
    struct ARecord: Equatable { var line: Int; var data: String; var ttl: UInt32 }
    struct Snapshot { var serial: UInt32; var records: [ARecord] }

    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    /// The zone's serial and `owner`'s A records, in zone order.
    func snapshot(of owner: DNSName) async throws(DNSProviderError) -> Snapshot {
        let (parsed, _) = try await client.call("parse_dns_zone", [("zone", zone.withoutTrailingDot)], as: Parsed.self)
        return try Self.read(parsed.payload, zone: zone, owner: owner)
    }

    /// One pass over the listing; anything malformed about the SOA or the owner's A records is a
    /// bad reply (other lines are not ours to judge and are left alone).
    static func read(_ lines: [Line], zone: DNSName, owner: DNSName) throws(DNSProviderError) -> Snapshot {
        var serial: UInt32?
        var records: [ARecord] = []
        var seenLines = Set<Int>()
        for l in lines where l.type == "record" {
            guard let b64 = l.dname_b64, let name = name(b64, in: zone) else { continue }
            switch l.record_type {
            case "SOA" where name == zone:
                guard let data = l.data_b64, data.count >= 3, let text = decode(data[2]), let s = UInt32(text) else {
                    throw DNSProviderError(.badReply, "WHM's SOA record for \(zone) has no readable serial")
                }
                guard serial == nil else { throw DNSProviderError(.badReply, "WHM lists two SOA records for \(zone)") }
                serial = s
            case "A" where name == owner:
                guard let line = l.line_index, line >= 0, seenLines.insert(line).inserted else {
                    throw DNSProviderError(.badReply, "WHM lists an A record of \(owner) with a missing or repeated line index")
                }
                guard let data = l.data_b64, data.count == 1, let text = decode(data[0]), let ttl = l.ttl else {
                    throw DNSProviderError(.badReply, "WHM lists the A record of \(owner) at line \(line) without one address and a TTL")
                }
                records.append(ARecord(line: line, data: text, ttl: ttl))
            default:
                continue
            }
        }
        guard let serial else { throw DNSProviderError(.badReply, "WHM lists no SOA record (serial) for \(zone)") }
        return Snapshot(serial: serial, records: records)
    }

    /// A zone-file owner name as WHM lists it: absolute ("www.example.com."), "@" for the apex,
    /// or relative to the zone ("www"). nil when it is not a hostname (wildcards, garbage).
    static func name(_ b64: String, in zone: DNSName) -> DNSName? {
        guard let text = decode(b64) else { return nil }
        if text == "@" { return zone }
        if text.hasSuffix(".") { return try? DNSName(text) }
        return try? DNSName(text + "." + zone.description)
    }

    /// Base64 to text; nil when it is not base64 or not UTF-8.
    static func decode(_ b64: String) -> String? {
        guard b64.utf8.count <= 4096, let d = Data(base64Encoded: b64) else { return nil }
        return String(bytes: d, encoding: .utf8)
    }
}
