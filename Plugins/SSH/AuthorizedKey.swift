import AgentKernel
import BalctlProtocol

/// One public key as an authorized_keys line: `type base64-body [comment]`. Validated strictly
/// before anything is read or written: a known type, a body that is canonical base64 and
/// decodes to a key blob whose embedded type is the same type, an optional printable comment,
/// no options prefix (`command=…`, `from=…`: a job could otherwise plant a forced command or
/// widen access), no control characters at all (a newline would add a second line).
public struct AuthorizedKey: Sendable, Equatable {
    public static let types: [String] = [
        "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa",
        "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
    ]
    public static let maxLineBytes = 8192
    public static let maxCommentBytes = 256

    public var type: String
    /// The base64 text as given (canonical: it re-encodes to itself).
    public var body: String
    public var comment: String?
    public var blob: [UInt8]

    /// The line as written to authorized_keys.
    public var line: String { type + " " + body + (comment.map { " " + $0 } ?? "") }

    /// `SHA256:` + unpadded base64 of the SHA-256 of the key blob (what `ssh-keygen -l` prints).
    public var fingerprint: String { Self.fingerprint(of: blob) }

    public static func fingerprint(of blob: [UInt8]) -> String {
        var b64 = Base64.encode(hexBytes(SHA256Stream.hex(blob)))
        while b64.hasSuffix("=") { b64.removeLast() }
        return "SHA256:" + b64
    }

    static func hexBytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = hex.utf8.makeIterator()
        func v(_ c: UInt8) -> UInt8 { c >= 97 ? c - 87 : c >= 65 ? c - 55 : c - 48 }
        while let a = it.next(), let b = it.next() { out.append(v(a) << 4 | v(b)) }
        return out
    }

    /// Parse and validate a key line given as a parameter; a `ParameterError` says what is wrong.
    public init(line given: String, field: String = "key") throws {
        let bytes = Array(given.utf8)
        guard !bytes.isEmpty else { throw ParameterError("\(field): empty") }
        guard bytes.count <= Self.maxLineBytes else { throw ParameterError("\(field): longer than \(Self.maxLineBytes) bytes") }
        guard !bytes.contains(where: { $0 < 0x20 || $0 == 0x7f }) else {
            throw ParameterError("\(field): control characters (newline, NUL, tab, …) are not allowed: give one key line")
        }
        let words = given.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true).map(String.init)
        guard let type = words.first, Self.types.contains(type) else {
            let first = words.first ?? ""
            if first.contains("=") || first.contains(",") || first.contains("\"") {
                throw ParameterError("\(field): options before the key type (command=, from=, …) are not accepted")
            }
            throw ParameterError("\(field): key type must be one of \(Self.types.joined(separator: ", "))")
        }
        guard words.count >= 2 else { throw ParameterError("\(field): the base64 key body is missing") }
        let body = words[1]
        guard let blob = Base64.decodeStrict(body) else {
            throw ParameterError("\(field): the key body is not valid base64")
        }
        guard let embedded = Self.embeddedType(blob) else {
            throw ParameterError("\(field): the key body does not hold an SSH public key")
        }
        guard embedded == type else {
            throw ParameterError("\(field): the key body is a \(embedded) key, but the line says \(type)")
        }
        var comment: String? = nil
        if words.count == 3 {
            let c = words[2].trimmingTrailingWhitespace
            guard c.utf8.count <= Self.maxCommentBytes else { throw ParameterError("\(field): comment longer than \(Self.maxCommentBytes) bytes") }
            // Unicode controls and bidi overrides (which can make a comment read differently).
            guard !c.unicodeScalars.contains(where: { (0x80...0x9f).contains($0.value) || (0x202a...0x202e).contains($0.value)
                || (0x2066...0x2069).contains($0.value) || $0.value == 0x200e || $0.value == 0x200f }) else {
                throw ParameterError("\(field): the comment holds control or direction-override characters")
            }
            comment = c.isEmpty ? nil : c
        }
        self.type = type; self.body = body; self.comment = comment; self.blob = blob
    }

    /// The first string in an SSH wire blob (uint32 big-endian length, bytes): the key type.
    static func embeddedType(_ blob: [UInt8]) -> String? {
        guard blob.count >= 4 else { return nil }
        let n = Int(blob[0]) << 24 | Int(blob[1]) << 16 | Int(blob[2]) << 8 | Int(blob[3])
        guard n > 0, n <= 64, blob.count >= 4 + n + 4 else { return nil }
        let t = blob[4..<(4 + n)]
        guard t.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { return nil }
        return String(decoding: t, as: UTF8.self)
    }

    /// The key in an existing authorized_keys line (options allowed there: the file is the
    /// user's), as (type, body); nil for comments, blank lines and lines sshd would not read.
    /// Parsed as sshd does (auth2-pubkeyfile.c): a key at the start of the line, else the
    /// options are skipped — up to the first space or tab outside double quotes, `\"` not
    /// ending a quote — and the key must follow. A key is a type word and a canonical base64
    /// body whose embedded type is that word (sshd ignores a line where they differ), of any
    /// type, not only those add accepts: remove by fingerprint must find every key sshd uses.
    static func keyIn(existingLine line: Substring) -> (type: String, body: String)? {
        keyIn(existingLine: Array(line.utf8)[...])
    }

    static func keyIn<C: Collection<UInt8>>(existingLine line: C) -> (type: String, body: String)? {
        func blank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }
        // CR: a file edited on Windows; sshd's line reader also drops it at the end.
        // sshd reads each line as a C string: a NUL ends it (`key\0junk` is the key).
        var b = Array(line)
        if let nul = b.firstIndex(of: 0) { b.removeSubrange(nul...) }
        while let last = b.last, blank(last) || last == 0x0d { b.removeLast() }
        var i = 0
        while i < b.count, blank(b[i]) { i += 1 }
        guard i < b.count, b[i] != 0x23 else { return nil }
        if let k = keyAt(b, i) { return k }
        var quoted = false
        while i < b.count, quoted || !blank(b[i]) {
            if b[i] == 0x5c, i + 1 < b.count, b[i + 1] == 0x22 { i += 2; continue }
            if b[i] == 0x22 { quoted.toggle() }
            i += 1
        }
        guard !quoted else { return nil }
        while i < b.count, blank(b[i]) { i += 1 }
        return keyAt(b, i)
    }

    /// `type body` at `start`, checked as above.
    private static func keyAt(_ b: [UInt8], _ start: Int) -> (type: String, body: String)? {
        func blank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }
        var i = start
        while i < b.count, !blank(b[i]) { i += 1 }
        let type = b[start..<i]
        guard !type.isEmpty, type.count <= 64 else { return nil }
        while i < b.count, blank(b[i]) { i += 1 }
        let bodyStart = i
        while i < b.count, !blank(b[i]) { i += 1 }
        let bodyBytes = b[bodyStart..<i]
        guard !bodyBytes.isEmpty, bodyBytes.count <= maxLineBytes,
              bodyBytes.allSatisfy({ $0 < 0x80 }) else { return nil }
        let body = String(decoding: bodyBytes, as: UTF8.self)
        guard let blob = Base64.decodeStrict(body), let embedded = embeddedType(blob),
              Array(embedded.utf8)[...] == type else { return nil }
        return (embedded, body)
    }
}

/// Canonical base64 (RFC 4648, padded), as OpenSSH writes key bodies.
enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i < bytes.count {
            let b0 = bytes[i], b1 = i + 1 < bytes.count ? bytes[i + 1] : 0, b2 = i + 2 < bytes.count ? bytes[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 3) << 4 | b1 >> 4)])
            out.append(i + 1 < bytes.count ? alphabet[Int((b1 & 15) << 2 | b2 >> 6)] : 61)
            out.append(i + 2 < bytes.count ? alphabet[Int(b2 & 63)] : 61)
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes, only when `text` is canonical (length a multiple of 4, padding only at the end,
    /// and re-encoding gives the same text: no stray bits in the last character).
    static func decodeStrict(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard !chars.isEmpty, chars.count % 4 == 0, chars.count <= AuthorizedKey.maxLineBytes else { return nil }
        var table = [Int](repeating: -1, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = i }
        var out: [UInt8] = []
        var acc = 0, bits = 0
        var padding = 0
        for c in chars {
            if c == 61 { padding += 1; continue }
            guard padding == 0, table[Int(c)] >= 0 else { return nil }
            acc = (acc << 6) | table[Int(c)]
            bits += 6
            if bits >= 8 { bits -= 8; out.append(UInt8((acc >> bits) & 0xff)) }
            acc &= (1 << bits) - 1
        }
        guard padding <= 2, encode(out) == text else { return nil }
        return out
    }
}
