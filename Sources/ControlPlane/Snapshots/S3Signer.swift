import BalctlProtocol
import Crypto
import Foundation

/// AWS Signature Version 4 for S3 ("Authenticating Requests: Using the Authorization Header",
/// payload in a single chunk, signed payload), written here on swift-crypto so the control plane
/// needs no AWS SDK. One signer per credential and region; it holds no mutable state.
///
/// The caller gives the path unencoded ("/bucket/balctl/3/17/…/data-000000"); `encodePath` turns
/// it into the form that goes both on the wire and into the canonical request, so the two can
/// never differ (a key that is encoded twice, or once on one side only, fails with
/// SignatureDoesNotMatch — the classic SigV4 bug).
public struct S3Signer: Sendable {
    public let accessKeyID: String
    public let secretAccessKey: String
    public let region: String
    public let service: String

    public init(accessKeyID: String, secretAccessKey: String, region: String, service: String = "s3") {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.region = region
        self.service = service
    }

    /// SHA-256 of the empty payload, the `x-amz-content-sha256` of GET, DELETE and bodiless POST.
    public static let emptyPayloadSHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// One request as it will be sent. `headers` must include `host` exactly as sent; every header
    /// given is signed (names are case-insensitive; values are trimmed and inner runs of spaces
    /// folded, as SigV4 canonicalises them).
    public struct Request: Sendable {
        public var method: String
        /// Unencoded, starting with "/".
        public var path: String
        /// Unencoded names and values; a valueless parameter ("?uploads") has the value "".
        public var query: [(String, String)]
        public var headers: [(String, String)]
        /// Lowercase hex SHA-256 of the body (`S3Signer.payloadHash`).
        public var payloadSHA256: String

        public init(method: String, path: String, query: [(String, String)] = [], headers: [(String, String)],
                    payloadSHA256: String) {
            self.method = method; self.path = path; self.query = query
            self.headers = headers; self.payloadSHA256 = payloadSHA256
        }
    }

    /// The request's headers plus `x-amz-date`, `x-amz-content-sha256` (both signed, unless the
    /// caller gave them already) and `Authorization`: the full list to send.
    public func sign(_ request: Request, at date: Date) -> [(String, String)] {
        let stamp = Self.timestamp(date)
        var r = request
        if !r.headers.contains(where: { $0.0.lowercased() == "x-amz-date" }) {
            r.headers.append(("x-amz-date", stamp))
        }
        if !r.headers.contains(where: { $0.0.lowercased() == "x-amz-content-sha256" }) {
            r.headers.append(("x-amz-content-sha256", r.payloadSHA256))
        }
        let dateValue = r.headers.first(where: { $0.0.lowercased() == "x-amz-date" })!.1
        return r.headers + [("Authorization", authorization(r, timestamp: dateValue))]
    }

    /// The `Authorization` value for a request whose headers already hold `x-amz-date` (and
    /// normally `x-amz-content-sha256`). `timestamp` is "YYYYMMDDTHHMMSSZ".
    public func authorization(_ request: Request, timestamp: String) -> String {
        let (canonical, signedHeaders) = canonicalRequest(request)
        let day = String(timestamp.prefix(8))
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let toSign = stringToSign(canonicalRequest: canonical, timestamp: timestamp, scope: scope)
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(toSign.utf8), using: signingKey(day: day)))
        return "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope),SignedHeaders=\(signedHeaders),Signature=\(signature)"
    }

    /// The canonical request text and the `SignedHeaders` list.
    public func canonicalRequest(_ r: Request) -> (text: String, signedHeaders: String) {
        // Lowercase names, sorted; a header given twice is joined with "," as SigV4 asks.
        var merged: [String: [String]] = [:]
        for (name, value) in r.headers { merged[name.lowercased(), default: []].append(Self.trimmedValue(value)) }
        let names = merged.keys.sorted()
        let headerLines = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        let signed = names.joined(separator: ";")
        let text = [r.method, Self.encodePath(r.path), Self.canonicalQuery(r.query), headerLines, signed, r.payloadSHA256]
            .joined(separator: "\n")
        return (text, signed)
    }

    public func stringToSign(canonicalRequest: String, timestamp: String, scope: String) -> String {
        "AWS4-HMAC-SHA256\n\(timestamp)\n\(scope)\n" + Self.hex(SHA256.hash(data: Array(canonicalRequest.utf8)))
    }

    /// HMAC chain "AWS4"+secret → day → region → service → "aws4_request".
    func signingKey(day: String) -> SymmetricKey {
        func mac(_ key: SymmetricKey, _ text: String) -> SymmetricKey {
            SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key)))
        }
        var k = SymmetricKey(data: Array(("AWS4" + secretAccessKey).utf8))
        for part in [day, region, service, "aws4_request"] { k = mac(k, part) }
        return k
    }

    // MARK: encoding

    /// "YYYYMMDDTHHMMSSZ" in UTC, from the proleptic Gregorian calendar (`Render.civilDate`): no
    /// DateFormatter (locale and thread-safety surprises) for 16 fixed characters.
    public static func timestamp(_ date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secOfDay = seconds - days * 86_400
        let civil = Render.civilDate(daysSinceEpoch: Int(days))
        let (year, month, day) = (Int64(civil.year), Int64(civil.month), Int64(civil.day))
        func pad(_ v: Int64, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return pad(year, 4) + pad(month, 2) + pad(day, 2) + "T"
            + pad(secOfDay / 3600, 2) + pad(secOfDay % 3600 / 60, 2) + pad(secOfDay % 60, 2) + "Z"
    }

    /// SigV4's URI encoding: every byte but the RFC 3986 unreserved characters
    /// (A–Z a–z 0–9 - . _ ~) becomes %XX with upper-case hex; "/" is kept only when `keepSlash`.
    public static func uriEncode(_ s: String, keepSlash: Bool) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                 UInt8(ascii: "~"):
                out.append(b)
            case UInt8(ascii: "/") where keepSlash:
                out.append(b)
            default:
                out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 0xf)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The path as sent and signed: each segment encoded, the slashes between them kept. S3
    /// (unlike other services) wants the path encoded once and not normalised.
    public static func encodePath(_ path: String) -> String {
        path.isEmpty ? "/" : uriEncode(path, keepSlash: true)
    }

    /// Names and values encoded (slashes too), sorted by encoded name then value, joined by "&";
    /// a valueless parameter becomes "name=".
    public static func canonicalQuery(_ query: [(String, String)]) -> String {
        // Encoded text is ASCII, so String's ordering is the byte order SigV4 asks for.
        var pairs: [(name: String, value: String)] = query.map { pair in
            (uriEncode(pair.0, keepSlash: false), uriEncode(pair.1, keepSlash: false))
        }
        pairs.sort { (a: (name: String, value: String), b: (name: String, value: String)) -> Bool in
            a.name == b.name ? a.value < b.value : a.name < b.name
        }
        return pairs.map { $0.name + "=" + $0.value }.joined(separator: "&")
    }

    /// Header value as SigV4 canonicalises it: outer whitespace trimmed, inner runs of spaces folded.
    static func trimmedValue(_ v: String) -> String {
        var out = ""
        var pendingSpace = false
        for ch in v.unicodeScalars {
            if ch == " " || ch == "\t" {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.unicodeScalars.append(" "); pendingSpace = false }
                out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    public static func payloadHash(_ bytes: [UInt8]) -> String { hex(SHA256.hash(data: bytes)) }

    static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0xf)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
