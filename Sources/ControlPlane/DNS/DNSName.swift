/// A domain name as its labels, ASCII-lowercased (DNS compares names case-insensitively, and
/// TSIG signs the lowercase form), within RFC 1035's limits: labels of 1–63 bytes, at most 255
/// bytes on the wire.
struct DNSName: Hashable, Sendable, CustomStringConvertible {
    let labels: [[UInt8]]

    /// From wire labels already checked for length (the message reader).
    init(wireLabels: [[UInt8]]) {
        labels = wireLabels.map { $0.map(DNSName.lower) }
    }

    /// "www.example.com" or "www.example.com." — hostname characters (letters, digits, '-', '_').
    init(_ text: String) throws(DNSProviderError) {
        var t = Substring(text)
        if t.hasSuffix(".") { t = t.dropLast() }
        guard !t.isEmpty else { throw DNSProviderError(.invalidRequest, "empty DNS name") }
        var out: [[UInt8]] = []
        var wire = 1
        for part in t.split(separator: ".", omittingEmptySubsequences: false) {
            let bytes = Array(part.utf8)
            guard (1...63).contains(bytes.count) else {
                throw DNSProviderError(.invalidRequest, "'\(text)': every label must be 1–63 characters")
            }
            guard bytes.allSatisfy({ DNSName.isHostnameByte($0) }) else {
                throw DNSProviderError(.invalidRequest, "'\(text)': use only letters, digits, '-' and '_'")
            }
            wire += bytes.count + 1
            out.append(bytes.map(DNSName.lower))
        }
        guard wire <= 255 else { throw DNSProviderError(.invalidRequest, "'\(text)' is longer than 255 bytes") }
        labels = out
    }

    /// Uncompressed wire form (the canonical form TSIG signs).
    var wire: [UInt8] {
        var out: [UInt8] = []
        for l in labels { out.append(UInt8(l.count)); out.append(contentsOf: l) }
        out.append(0)
        return out
    }

    /// True when this name is `zone` or a name below it.
    func isWithin(_ zone: DNSName) -> Bool {
        labels.count >= zone.labels.count && Array(labels.suffix(zone.labels.count)) == zone.labels
    }

    /// `name` parsed and required to be in `zone`: providers call this before sending anything.
    static func inZone(_ name: String, _ zone: DNSName) throws(DNSProviderError) -> DNSName {
        let owner = try DNSName(name)
        guard owner.isWithin(zone) else {
            throw DNSProviderError(.invalidRequest, "\(owner) is not in zone \(zone); nothing was sent")
        }
        return owner
    }

    /// This name with one more label in front.
    func prepending(_ label: String) throws(DNSProviderError) -> DNSName {
        try DNSName(label + "." + description)
    }

    /// Presentation form with a trailing dot; bytes outside printable ASCII (possible in names
    /// read off the wire) are escaped as \DDD.
    var description: String {
        if labels.isEmpty { return "." }
        var s = ""
        for l in labels {
            for b in l {
                if b == UInt8(ascii: ".") || b == UInt8(ascii: "\\") {
                    s += "\\" + String(UnicodeScalar(b))
                } else if (0x21...0x7e).contains(b) {
                    s.unicodeScalars.append(UnicodeScalar(b))
                } else {
                    let d = String(b)
                    s += "\\" + String(repeating: "0", count: 3 - d.count) + d
                }
            }
            s += "."
        }
        return s
    }

    /// The presentation form without the trailing dot, as HTTP APIs spell names (Cloudflare, WHM).
    var withoutTrailingDot: String { String(description.dropLast()) }

    private static func lower(_ b: UInt8) -> UInt8 { (0x41...0x5a).contains(b) ? b + 0x20 : b }

    private static func isHostnameByte(_ b: UInt8) -> Bool {
        (0x30...0x39).contains(b) || (0x41...0x5a).contains(b) || (0x61...0x7a).contains(b)
            || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")
    }
}
