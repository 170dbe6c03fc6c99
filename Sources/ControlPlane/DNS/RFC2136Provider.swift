import AgentKernel
import BalctlProtocol

/// RFC 2136 dynamic update signed with TSIG HMAC-SHA256 (RFC 8945): the self-hosted provider for
/// BIND, Knot and PowerDNS. A write replaces the name's A RRset in one UPDATE (delete the RRset,
/// add the one record) so the server applies both or neither; the read-back is a plain query to
/// the same server. Names outside the zone are refused before anything is sent.
public struct RFC2136Provider: DNSProvider {
    public struct Configuration: Sendable {
        public var server: IPv4
        public var port: UInt16
        /// The zone the server is primary for (the UPDATE's zone section).
        public var zone: String
        public var key: TSIGKey
        /// Seconds per UDP try (and per TCP step).
        public var timeout: Double
        public var attempts: Int

        public init(server: IPv4, port: UInt16 = 53, zone: String, key: TSIGKey, timeout: Double = 2,
                    attempts: Int = 3) {
            self.server = server; self.port = port; self.zone = zone; self.key = key
            self.timeout = timeout; self.attempts = attempts
        }
    }

    let zone: DNSName
    let key: TSIGKey
    let transport: DNSTransport

    public init(_ c: Configuration) throws(DNSProviderError) {
        zone = try DNSName(c.zone)
        key = c.key
        guard c.timeout > 0, c.attempts >= 1 else {
            throw DNSProviderError(.invalidRequest, "timeout must be positive and attempts at least 1")
        }
        transport = DNSTransport(server: c.server, port: c.port, timeout: c.timeout, attempts: c.attempts)
    }

    public func currentAddresses(name: String) async throws -> [DNSAddress] {
        let owner = try DNSName.inZone(name, zone)
        let query = DNSMessage(id: UInt16.random(in: 0...UInt16.max), flags: DNSOpcode.query << 11,
                               questions: [DNSQuestion(name: owner, type: DNSType.a, rrClass: DNSClass.inet)])
        let parsed = try await send(query.encode(), id: query.id)
        let m = parsed.message
        let summary = DNSReplySummary(parsed)
        guard DNSFlags.opcode(m.flags) == DNSOpcode.query, m.questions == query.questions else {
            throw DNSProviderError(.badReply, "the reply does not answer the query for \(owner)", reply: summary.text)
        }
        let rcode = DNSFlags.rcode(m.flags)
        guard rcode == DNSRcode.noError || rcode == DNSRcode.nxDomain else {
            throw Self.rcodeError(rcode, doing: "reading \(owner) A", zone: zone, reply: summary.text)
        }
        // The read-back verifies a failover: only the zone's primary may vouch for it.
        guard m.flags & DNSFlags.authoritative != 0 else {
            throw DNSProviderError(.refused, "\(transport.endpoint) is not authoritative for \(owner)", reply: summary.text)
        }
        return try m.answers.compactMap { r throws(DNSProviderError) -> DNSAddress? in
            guard r.name == owner, r.type == DNSType.a, r.rrClass == DNSClass.inet else { return nil }
            guard r.rdata.count == 4 else {
                throw DNSProviderError(.badReply, "an A record of \(owner) has \(r.rdata.count) bytes of data", reply: summary.text)
            }
            let v = r.rdata.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            return DNSAddress(ip: IPv4(value: v), ttl: r.ttl)
        }
    }

    public func setA(name: String, ip: IPv4, ttl: UInt32, proxied: Bool, replacing: IPv4?) async throws -> ProviderReply {
        let owner = try DNSName.inZone(name, zone)
        guard ttl <= DNSAddress.maxTTL else { throw DNSProviderError(.invalidRequest, "TTL \(ttl) is above 2^31-1") }
        let v = ip.value
        let update = [
            // Delete the whole A RRset (class ANY, no data: RFC 2136 §2.5.2), then add the one record.
            DNSRecord(name: owner, type: DNSType.a, rrClass: DNSClass.any, ttl: 0, rdata: []),
            DNSRecord(name: owner, type: DNSType.a, rrClass: DNSClass.inet, ttl: ttl,
                      rdata: [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]),
        ]
        // "RRset exists (value dependent)", RFC 2136 §2.4.2: the A RRset is exactly {replacing}.
        let prerequisites = replacing.map { old in
            [DNSRecord(name: owner, type: DNSType.a, rrClass: DNSClass.inet, ttl: 0,
                       rdata: [UInt8(old.value >> 24), UInt8(old.value >> 16 & 0xff), UInt8(old.value >> 8 & 0xff), UInt8(old.value & 0xff)])]
        } ?? []
        let summary = try await sendUpdate(prerequisites: prerequisites, updates: update)
        if let old = replacing, DNSFlags.rcode(summary.flags) == DNSRcode.nxRRset {
            throw DNSProviderError(.preconditionFailed, "\(owner) A no longer holds exactly \(old); nothing was written", reply: summary.text)
        }
        if DNSFlags.rcode(summary.flags) != DNSRcode.noError {
            throw Self.rcodeError(DNSFlags.rcode(summary.flags), doing: "updating \(owner) A", zone: zone,
                                  reply: summary.text)
        }
        return ProviderReply("\(summary.text): \(owner) A \(ip) ttl \(ttl) written to \(transport.endpoint)")
    }

    /// A signed UPDATE whose only prerequisite is that a random name below the zone exists
    /// ("name is in use", RFC 2136 §2.4.4) and which has no update section: nothing can change.
    /// A server that accepts the key answers NXDOMAIN (the prerequisite failed, signed); a wrong
    /// key gets BADKEY/BADSIG, a zone the server does not serve NOTAUTH/REFUSED.
    /// BIND checks `allow-update` only after the prerequisites (as RFC 2136 §3.3 orders), so this
    /// proves the key and the zone, not that the key's policy covers every name.
    public func verifyCredentials() async throws -> ProviderReply {
        let probe = try zone.prepending("_balctl-drill-\(UInt64.random(in: 0...UInt64.max) | 1 << 63)")
        let summary = try await sendUpdate(
            prerequisites: [DNSRecord(name: probe, type: DNSType.any, rrClass: DNSClass.any, ttl: 0, rdata: [])],
            updates: [])
        let rcode = DNSFlags.rcode(summary.flags)
        guard rcode == DNSRcode.nxDomain || rcode == DNSRcode.noError else {
            throw Self.rcodeError(rcode, doing: "the credential check on \(zone)", zone: zone, reply: summary.text)
        }
        return ProviderReply("\(summary.text): \(transport.endpoint) accepted key '\(key.name)' for zone \(zone); nothing was changed")
    }

    // MARK: - helpers

    private struct UpdateOutcome { var flags: UInt16; var text: String }

    /// Sign, send and verify an UPDATE for the zone; the caller judges the RCODE.
    private func sendUpdate(prerequisites: [DNSRecord], updates: [DNSRecord]) async throws -> UpdateOutcome {
        let message = DNSMessage(id: UInt16.random(in: 0...UInt16.max), flags: DNSOpcode.update << 11,
                                 questions: [DNSQuestion(name: zone, type: DNSType.soa, rrClass: DNSClass.inet)],
                                 answers: prerequisites, authority: updates)
        let (signed, mac) = TSIG.sign(message.encode(), key: key, now: UInt64(unixNow()))
        let reply = try await transport.exchange(signed, id: message.id)
        let parsed = try Self.parse(reply, from: transport.endpoint)
        _ = try TSIG.verify(reply, parsed: parsed, requestMAC: mac, key: key, now: UInt64(unixNow()))
        let summary = DNSReplySummary(parsed)
        guard DNSFlags.opcode(parsed.message.flags) == DNSOpcode.update else {
            throw DNSProviderError(.badReply, "the reply is not an UPDATE response", reply: summary.text)
        }
        return UpdateOutcome(flags: parsed.message.flags, text: summary.text)
    }

    private func send(_ request: [UInt8], id: UInt16) async throws -> ParsedDNSMessage {
        try Self.parse(try await transport.exchange(request, id: id), from: transport.endpoint)
    }

    static func parse(_ bytes: [UInt8], from endpoint: String) throws(DNSProviderError) -> ParsedDNSMessage {
        var reader = DNSReader(bytes)
        do { return try reader.message() } catch {
            throw DNSProviderError(.badReply, "\(endpoint): \(error)")
        }
    }

    /// A failing RCODE in words an operator can act on.
    static func rcodeError(_ rcode: UInt16, doing what: String, zone: DNSName, reply: String) -> DNSProviderError {
        switch rcode {
        case DNSRcode.refused:
            DNSProviderError(.refused, "\(what): the server refused (is the key allowed to update \(zone)?)", reply: reply)
        case DNSRcode.notAuth:
            DNSProviderError(.refused, "\(what): the server is not authoritative for \(zone)", reply: reply)
        case DNSRcode.notZone:
            DNSProviderError(.refused, "\(what): the server says the name is not within \(zone)", reply: reply)
        case DNSRcode.nxDomain, DNSRcode.yxDomain, DNSRcode.yxRRset, DNSRcode.nxRRset:
            DNSProviderError(.providerError, "\(what): a prerequisite failed (\(DNSRcode.name(rcode)))", reply: reply)
        default:
            DNSProviderError(.providerError, "\(what): the server answered \(DNSRcode.name(rcode))", reply: reply)
        }
    }
}
