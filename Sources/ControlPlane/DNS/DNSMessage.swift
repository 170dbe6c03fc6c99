/// The DNS wire format (RFC 1035 §4) as far as RFC 2136 updates, plain queries and TSIG need it.
enum DNSType {
    static let a: UInt16 = 1, soa: UInt16 = 6, tsig: UInt16 = 250, any: UInt16 = 255
}

enum DNSClass {
    static let inet: UInt16 = 1, none: UInt16 = 254, any: UInt16 = 255
}

enum DNSOpcode {
    static let query: UInt16 = 0, update: UInt16 = 5
}

/// Response codes (RFC 1035, RFC 2136) and TSIG errors (RFC 8945), with the names dig prints.
enum DNSRcode {
    static let noError: UInt16 = 0, formErr: UInt16 = 1, servFail: UInt16 = 2, nxDomain: UInt16 = 3
    static let notImp: UInt16 = 4, refused: UInt16 = 5, yxDomain: UInt16 = 6, yxRRset: UInt16 = 7
    static let nxRRset: UInt16 = 8, notAuth: UInt16 = 9, notZone: UInt16 = 10
    static let badSig: UInt16 = 16, badKey: UInt16 = 17, badTime: UInt16 = 18, badTrunc: UInt16 = 22

    static func name(_ code: UInt16) -> String {
        switch code {
        case noError: "NOERROR"
        case formErr: "FORMERR"
        case servFail: "SERVFAIL"
        case nxDomain: "NXDOMAIN"
        case notImp: "NOTIMP"
        case refused: "REFUSED"
        case yxDomain: "YXDOMAIN"
        case yxRRset: "YXRRSET"
        case nxRRset: "NXRRSET"
        case notAuth: "NOTAUTH"
        case notZone: "NOTZONE"
        case badSig: "BADSIG"
        case badKey: "BADKEY"
        case badTime: "BADTIME"
        case badTrunc: "BADTRUNC"
        default: "RCODE\(code)"
        }
    }
}

/// Header flag bits (RFC 1035 §4.1.1).
enum DNSFlags {
    static let response: UInt16 = 0x8000, authoritative: UInt16 = 0x0400, truncated: UInt16 = 0x0200
    static func opcode(_ flags: UInt16) -> UInt16 { flags >> 11 & 0xf }
    static func rcode(_ flags: UInt16) -> UInt16 { flags & 0xf }
}

struct DNSQuestion: Sendable, Equatable {
    var name: DNSName
    var type: UInt16
    var rrClass: UInt16
}

struct DNSRecord: Sendable, Equatable {
    var name: DNSName
    var type: UInt16
    var rrClass: UInt16
    var ttl: UInt32
    var rdata: [UInt8]
}

/// A message: for an UPDATE the four sections are zone, prerequisite, update and additional
/// (RFC 2136 §2), in the same places as question, answer, authority and additional.
struct DNSMessage: Sendable, Equatable {
    var id: UInt16
    var flags: UInt16
    var questions: [DNSQuestion] = []
    var answers: [DNSRecord] = []
    var authority: [DNSRecord] = []
    var additional: [DNSRecord] = []

    /// Uncompressed wire form (what we send; small enough that compression buys nothing).
    func encode() -> [UInt8] {
        var w = DNSWriter()
        w.u16(id); w.u16(flags)
        w.u16(UInt16(questions.count)); w.u16(UInt16(answers.count))
        w.u16(UInt16(authority.count)); w.u16(UInt16(additional.count))
        for q in questions { w.bytes(q.name.wire); w.u16(q.type); w.u16(q.rrClass) }
        for r in answers + authority + additional { w.record(r) }
        return w.out
    }
}

struct DNSWriter {
    var out: [UInt8] = []
    mutating func u16(_ v: UInt16) { out.append(UInt8(v >> 8)); out.append(UInt8(v & 0xff)) }
    mutating func u32(_ v: UInt32) { u16(UInt16(v >> 16)); u16(UInt16(v & 0xffff)) }
    mutating func u48(_ v: UInt64) { u16(UInt16(v >> 32 & 0xffff)); u32(UInt32(v & 0xffff_ffff)) }
    mutating func bytes(_ b: [UInt8]) { out.append(contentsOf: b) }
    mutating func record(_ r: DNSRecord) {
        bytes(r.name.wire); u16(r.type); u16(r.rrClass); u32(r.ttl)
        u16(UInt16(r.rdata.count)); bytes(r.rdata)
    }
}

/// Why a received message could not be read.
struct DNSParseError: Error, Sendable, Equatable, CustomStringConvertible {
    let offset: Int
    let reason: String
    var description: String { "malformed DNS message at byte \(offset): \(reason)" }
}

/// A received message, and where its TSIG record starts when it has one (the MAC covers the
/// bytes before it).
struct ParsedDNSMessage: Sendable {
    var message: DNSMessage
    var tsigOffset: Int?
}

/// Reads untrusted bytes. Every read is bounds-checked, and every loop advances: section loops
/// consume at least one byte per record (or throw), and a name takes at most `maxNameSteps`
/// steps (labels plus compression jumps, each jump strictly backwards). `work` counts those
/// steps so tests can hold the reader to a bound.
struct DNSReader {
    static let maxNameSteps = 255
    let bytes: [UInt8]
    private(set) var pos = 0
    private(set) var work = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    private func fail(_ reason: String, at offset: Int? = nil) -> DNSParseError {
        DNSParseError(offset: offset ?? pos, reason: reason)
    }

    mutating func u8() throws(DNSParseError) -> UInt8 {
        guard pos < bytes.count else { throw fail("truncated") }
        defer { pos += 1 }
        return bytes[pos]
    }

    mutating func u16() throws(DNSParseError) -> UInt16 {
        guard bytes.count - pos >= 2 else { throw fail("truncated") }
        defer { pos += 2 }
        return UInt16(bytes[pos]) << 8 | UInt16(bytes[pos + 1])
    }

    mutating func u32() throws(DNSParseError) -> UInt32 {
        UInt32(try u16()) << 16 | UInt32(try u16())
    }

    mutating func u48() throws(DNSParseError) -> UInt64 {
        UInt64(try u16()) << 32 | UInt64(try u32())
    }

    mutating func take(_ n: Int) throws(DNSParseError) -> [UInt8] {
        guard n >= 0, bytes.count - pos >= n else { throw fail("truncated: \(n) bytes expected") }
        defer { pos += n }
        return Array(bytes[pos..<pos + n])
    }

    var atEnd: Bool { pos == bytes.count }

    /// A possibly compressed name (RFC 1035 §4.1.4). `allowPointers` is false inside TSIG
    /// RDATA, where names must not be compressed.
    mutating func name(allowPointers: Bool = true) throws(DNSParseError) -> DNSName {
        var labels: [[UInt8]] = []
        var wireLength = 1
        var cursor = pos
        var segmentStart = pos  // a pointer must land strictly before this: jumps only go back
        var jumped = false
        var steps = 0
        while true {
            steps += 1; work += 1
            guard steps <= Self.maxNameSteps else { throw fail("name too long", at: cursor) }
            guard cursor < bytes.count else { throw fail("truncated name", at: cursor) }
            let len = Int(bytes[cursor])
            switch len & 0xc0 {
            case 0x00:
                if len == 0 {
                    if !jumped { pos = cursor + 1 }
                    return DNSName(wireLabels: labels)
                }
                guard bytes.count - cursor - 1 >= len else { throw fail("truncated label", at: cursor) }
                wireLength += len + 1
                guard wireLength <= 255 else { throw fail("name longer than 255 bytes", at: cursor) }
                labels.append(Array(bytes[cursor + 1...cursor + len]))
                cursor += 1 + len
            case 0xc0:
                guard allowPointers else { throw fail("compressed name where none is allowed", at: cursor) }
                guard bytes.count - cursor >= 2 else { throw fail("truncated pointer", at: cursor) }
                let target = (len & 0x3f) << 8 | Int(bytes[cursor + 1])
                guard target < segmentStart else { throw fail("compression pointer does not point back", at: cursor) }
                if !jumped { pos = cursor + 2; jumped = true }
                segmentStart = target
                cursor = target
            default:
                throw fail("unknown label type", at: cursor)
            }
        }
    }

    mutating func record() throws(DNSParseError) -> DNSRecord {
        let name = try name()
        let type = try u16(), rrClass = try u16(), ttl = try u32()
        let length = Int(try u16())
        return DNSRecord(name: name, type: type, rrClass: rrClass, ttl: ttl, rdata: try take(length))
    }

    /// A whole message; trailing bytes are an error. Each loop iteration consumes bytes or throws.
    mutating func message() throws(DNSParseError) -> ParsedDNSMessage {
        let id = try u16(), flags = try u16()
        let qd = Int(try u16()), an = Int(try u16()), ns = Int(try u16()), ar = Int(try u16())
        var m = DNSMessage(id: id, flags: flags)
        for _ in 0..<qd {
            work += 1
            let name = try name()
            m.questions.append(DNSQuestion(name: name, type: try u16(), rrClass: try u16()))
        }
        for _ in 0..<an { work += 1; m.answers.append(try record()) }
        for _ in 0..<ns { work += 1; m.authority.append(try record()) }
        var tsigOffset: Int?
        for i in 0..<ar {
            work += 1
            let start = pos
            let r = try record()
            if r.type == DNSType.tsig {
                // RFC 8945 §5.2: TSIG is the last record or the message is malformed.
                guard i == ar - 1 else { throw fail("TSIG record is not the last record", at: start) }
                tsigOffset = start
            }
            m.additional.append(r)
        }
        guard atEnd else { throw fail("\(bytes.count - pos) bytes after the last record") }
        return ParsedDNSMessage(message: m, tsigOffset: tsigOffset)
    }
}
