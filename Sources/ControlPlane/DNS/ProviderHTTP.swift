import BalctlProtocol
import CurlClient

/// The HTTP transport of the API providers (Cloudflare, WHM), on the project's libcurl session so
/// they follow the same rules as the CLI and the agent: https to any host, plain http only to a
/// loopback host (`URLPolicy`; the tests' emulators), never user info in the URL, no redirects,
/// no proxy for plain http, and answers capped at `maxResponseBytes` — a provider's replies are
/// read as hostile input. Transport failures become `DNSProviderError`s; judging the status and
/// the body is the caller's business.
struct ProviderHTTP: Sendable {
    /// The provider's name for messages ("Cloudflare", "WHM").
    let provider: String
    /// Scheme, host, port and path prefix, without a trailing slash.
    let baseURL: String
    let session: CurlSession

    /// DNS API answers are small (one zone, a few records); anything larger is refused.
    static let maxResponseBytes = 1 << 20

    init(provider: String, baseURL: String, timeout: Double) throws(DNSProviderError) {
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        guard timeout.isFinite, timeout > 0, timeout <= 300 else {
            throw DNSProviderError(.invalidRequest, "\(provider) timeout must be between 0 and 300 s, not \(timeout)")
        }
        do {
            let url = try ParsedURL(base)
            try URLPolicy.check(url, allowLoopbackHTTP: true)
            guard !url.hasQuery, !url.hasFragment else {
                throw RequestRefused("\(provider) base URL \(base) has a query or fragment: give scheme, host, port and path only")
            }
            var options = CurlSession.Options(requireHTTPS: url.scheme == "https",
                                              userAgent: "balctl/\(BalctlVersion.current)")
            options.timeoutMs = Int(timeout * 1000)
            options.connectTimeoutMs = min(options.timeoutMs, 5_000)
            options.maxResponseBytes = Self.maxResponseBytes
            session = try CurlSession(options: options)
        } catch {
            throw DNSProviderError(.invalidRequest, "\(provider) API URL refused: \(error)")
        }
        self.provider = provider
        self.baseURL = base
    }

    /// `method baseURL+path?query`; query values are percent-encoded here (everything but
    /// RFC 3986 unreserved characters), so JSON and names travel intact.
    func send(_ method: String, _ path: String, query: [(String, String)] = [], headers: [(String, String)],
              body: [UInt8]? = nil) async throws(DNSProviderError) -> HTTPResponse {
        var url = baseURL + path
        if !query.isEmpty {
            url += "?" + query.map { Self.percentEncoded($0.0) + "=" + Self.percentEncoded($0.1) }.joined(separator: "&")
        }
        do {
            return try await session.request(method, url, headers: headers, body: body)
        } catch let refused as RequestRefused {
            throw DNSProviderError(.invalidRequest, "\(provider) request \(method) \(path) not sent: \(refused)")
        } catch let e as HTTPClientError where e.isOversized {
            throw DNSProviderError(.badReply, "\(provider) API \(baseURL): \(e)")
        } catch {
            throw DNSProviderError(.unreachable, "\(provider) API \(baseURL): \(error)")
        }
    }

    /// At most the first 300 bytes of a body, as text, for an error's `reply`.
    static func excerpt(_ body: [UInt8]) -> String {
        String(decoding: body.prefix(300), as: UTF8.self)
    }

    static func percentEncoded(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(b))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out += "%"
                out.unicodeScalars.append(hex[Int(b >> 4)])
                out.unicodeScalars.append(hex[Int(b & 0xf)])
            }
        }
        return out
    }
}
