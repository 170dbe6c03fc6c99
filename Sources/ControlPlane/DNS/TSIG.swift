import Crypto
import Foundation

/// A TSIG key (RFC 8945) for HMAC-SHA256, the algorithm `tsig-keygen` uses by default. Its
/// description names the key and never shows the secret (keys end up in logs and errors).
public struct TSIGKey: Sendable, Equatable, CustomStringConvertible {
    let name: DNSName
    let secret: [UInt8]

    public var keyName: String { name.description }
    public var description: String { "TSIG key \(name) (hmac-sha256, secret hidden)" }

    /// `name` as in the server's `key "NAME" { … }`; `secretBase64` as in its `secret "…";`.
    public init(name: String, secretBase64: String) throws(DNSProviderError) {
        self.name = try DNSName(name)
        guard let raw = Data(base64Encoded: secretBase64), !raw.isEmpty else {
            throw DNSProviderError(.invalidRequest, "the TSIG secret of key '\(name)' is not base64")
        }
        secret = Array(raw)
    }

    /// The text `tsig-keygen -a hmac-sha256 NAME` prints (the file BIND includes).
    public init(bindKeyFile text: String) throws(DNSProviderError) {
        func quoted(after marker: String) -> String? {
            guard let r = text.range(of: marker) else { return nil }
            let rest = text[r.upperBound...].drop { $0 == " " || $0 == "\t" || $0 == "\n" }
            guard rest.first == "\"" else { return nil }
            return rest.dropFirst().prefix { $0 != "\"" }.description
        }
        guard let name = quoted(after: "key"), let secret = quoted(after: "secret") else {
            throw DNSProviderError(.invalidRequest, "not a BIND key file (expected key \"NAME\" { … secret \"…\"; })")
        }
        if let r = text.range(of: "algorithm") {
            let algorithm = text[r.upperBound...].drop { $0 == " " || $0 == "\t" }.prefix { $0 != ";" }
            guard algorithm.lowercased() == "hmac-sha256" else {
                throw DNSProviderError(.invalidRequest, "key '\(name)' uses \(algorithm); only hmac-sha256 is supported")
            }
        }
        try self.init(name: name, secretBase64: secret)
    }
}

/// The TSIG record's RDATA (RFC 8945 §4.2).
struct TSIGRecord: Sendable, Equatable {
    var algorithm: DNSName
    var timeSigned: UInt64
    var fudge: UInt16
    var mac: [UInt8]
    var originalID: UInt16
    var error: UInt16
    var other: [UInt8]

    init(algorithm: DNSName, timeSigned: UInt64, fudge: UInt16, mac: [UInt8], originalID: UInt16,
         error: UInt16, other: [UInt8]) {
        self.algorithm = algorithm; self.timeSigned = timeSigned; self.fudge = fudge; self.mac = mac
        self.originalID = originalID; self.error = error; self.other = other
    }

    init(rdata: [UInt8]) throws(DNSParseError) {
        var r = DNSReader(rdata)
        algorithm = try r.name(allowPointers: false)
        timeSigned = try r.u48()
        fudge = try r.u16()
        mac = try r.take(Int(try r.u16()))
        originalID = try r.u16()
        error = try r.u16()
        other = try r.take(Int(try r.u16()))
        guard r.atEnd else { throw DNSParseError(offset: r.pos, reason: "bytes after the TSIG RDATA") }
    }

    var rdata: [UInt8] {
        var w = DNSWriter()
        w.bytes(algorithm.wire); w.u48(timeSigned); w.u16(fudge)
        w.u16(UInt16(mac.count)); w.bytes(mac)
        w.u16(originalID); w.u16(error); w.u16(UInt16(other.count)); w.bytes(other)
        return w.out
    }

    /// The "TSIG variables" that follow the message in the MAC input (RFC 8945 §4.3.3).
    func variables(keyName: DNSName) -> [UInt8] {
        var w = DNSWriter()
        w.bytes(keyName.wire); w.u16(DNSClass.any); w.u32(0)
        w.bytes(algorithm.wire); w.u48(timeSigned); w.u16(fudge)
        w.u16(error); w.u16(UInt16(other.count)); w.bytes(other)
        return w.out
    }
}

/// Signing requests and verifying responses with HMAC-SHA256 (RFC 8945 §5).
enum TSIG {
    static let algorithm = try! DNSName("hmac-sha256")
    static let macSize = SHA256.byteCount
    /// Seconds of clock difference tolerated either way (BIND and nsupdate use 300).
    static let fudge: UInt16 = 300

    /// `message` (encoded, without TSIG) with a TSIG record appended; returns the MAC too, since
    /// the response's MAC covers it.
    static func sign(_ message: [UInt8], key: TSIGKey, now: UInt64) -> (signed: [UInt8], mac: [UInt8]) {
        let id = UInt16(message[0]) << 8 | UInt16(message[1])
        var record = TSIGRecord(algorithm: algorithm, timeSigned: now, fudge: fudge, mac: [], originalID: id,
                                error: 0, other: [])
        var input = message
        input.append(contentsOf: record.variables(keyName: key.name))
        record.mac = hmac(input, key: key)
        var signed = message
        let arcount = UInt16(signed[10]) << 8 | UInt16(signed[11])
        signed[10] = UInt8((arcount + 1) >> 8); signed[11] = UInt8((arcount + 1) & 0xff)
        var w = DNSWriter()
        w.record(DNSRecord(name: key.name, type: DNSType.tsig, rrClass: DNSClass.any, ttl: 0, rdata: record.rdata))
        signed.append(contentsOf: w.out)
        return (signed, record.mac)
    }

    /// Check a response's TSIG against our request's MAC and return the record. A reply with no
    /// TSIG, another key, a wrong MAC or a stale time is refused; a TSIG error (BADSIG, BADKEY,
    /// BADTIME — sent unsigned or signed as RFC 8945 §5.3.2 says) becomes an authentication error.
    static func verify(_ bytes: [UInt8], parsed: ParsedDNSMessage, requestMAC: [UInt8], key: TSIGKey,
                       now: UInt64) throws(DNSProviderError) -> TSIGRecord {
        let summary = DNSReplySummary(parsed)
        guard let offset = parsed.tsigOffset, let rr = parsed.message.additional.last else {
            let rcode = DNSFlags.rcode(parsed.message.flags)
            throw DNSProviderError(.badReply, "the server answered \(DNSRcode.name(rcode)) without signing its reply, so it cannot be trusted",
                                   reply: summary.text)
        }
        let record: TSIGRecord
        do { record = try TSIGRecord(rdata: rr.rdata) } catch {
            throw DNSProviderError(.badReply, "unreadable TSIG record: \(error)", reply: summary.text)
        }
        guard rr.name == key.name else {
            throw DNSProviderError(.badReply, "the reply is signed with key '\(rr.name)', not '\(key.name)'",
                                   reply: summary.text)
        }
        switch record.error {
        case DNSRcode.badKey:
            throw DNSProviderError(.authentication, "the server does not know TSIG key '\(key.name)' (or not for this algorithm)",
                                   reply: summary.text)
        case DNSRcode.badSig:
            throw DNSProviderError(.authentication, "the server rejected the signature: the secret of key '\(key.name)' does not match the server's",
                                   reply: summary.text)
        case DNSRcode.badTime:
            let serverTime = record.other.count == 6 ? record.other.reduce(UInt64(0)) { $0 << 8 | UInt64($1) } : nil
            throw DNSProviderError(.authentication, "the server's clock and ours differ by more than \(record.fudge) s"
                                   + (serverTime.map { " (server time \($0), ours \(now))" } ?? ""), reply: summary.text)
        case 0:
            break
        default:
            throw DNSProviderError(.authentication, "TSIG error \(DNSRcode.name(record.error))", reply: summary.text)
        }
        guard record.algorithm == algorithm, record.mac.count == macSize else {
            throw DNSProviderError(.badReply, "the reply is signed with \(record.algorithm) (\(record.mac.count)-byte MAC), not hmac-sha256",
                                   reply: summary.text)
        }
        // MAC input: request MAC, the message as it was before TSIG was added (original ID,
        // ARCOUNT without TSIG), then the TSIG variables.
        var message = Array(bytes[..<offset])
        message[0] = UInt8(record.originalID >> 8); message[1] = UInt8(record.originalID & 0xff)
        let arcount = UInt16(message[10]) << 8 | UInt16(message[11])
        message[10] = UInt8((arcount - 1) >> 8); message[11] = UInt8((arcount - 1) & 0xff)
        var input: [UInt8] = []
        input.reserveCapacity(2 + requestMAC.count + message.count + 64)
        input.append(UInt8(requestMAC.count >> 8)); input.append(UInt8(requestMAC.count & 0xff))
        input.append(contentsOf: requestMAC)
        input.append(contentsOf: message)
        input.append(contentsOf: record.variables(keyName: key.name))
        guard HMAC<SHA256>.isValidAuthenticationCode(record.mac, authenticating: input,
                                                     using: SymmetricKey(data: key.secret)) else {
            throw DNSProviderError(.badReply, "the reply's TSIG MAC does not verify with key '\(key.name)'",
                                   reply: summary.text)
        }
        let skew = now > record.timeSigned ? now - record.timeSigned : record.timeSigned - now
        guard skew <= UInt64(record.fudge) else {
            throw DNSProviderError(.badReply, "the reply was signed \(skew) s away from our clock (fudge \(record.fudge) s)",
                                   reply: summary.text)
        }
        return record
    }

    static func hmac(_ input: [UInt8], key: TSIGKey) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: input, using: SymmetricKey(data: key.secret)))
    }
}

/// A reply in dig's words ("opcode UPDATE, status NOTAUTH, id 4711, TSIG error BADSIG"): what
/// errors and provider replies quote verbatim.
struct DNSReplySummary: Sendable {
    let text: String

    init(_ parsed: ParsedDNSMessage) {
        let m = parsed.message
        let opcode = DNSFlags.opcode(m.flags)
        var parts = ["opcode \(opcode == DNSOpcode.update ? "UPDATE" : opcode == DNSOpcode.query ? "QUERY" : "\(opcode)")",
                     "status \(DNSRcode.name(DNSFlags.rcode(m.flags)))", "id \(m.id)"]
        if parsed.tsigOffset != nil, let rr = m.additional.last {
            if let t = try? TSIGRecord(rdata: rr.rdata) {
                parts.append(t.error == 0 ? "TSIG key \(rr.name)" : "TSIG error \(DNSRcode.name(t.error))")
            } else {
                parts.append("unreadable TSIG")
            }
        } else {
            parts.append("unsigned")
        }
        text = parts.joined(separator: ", ")
    }
}
