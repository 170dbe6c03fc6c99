import CCurl

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The session refused to send a request (nothing went on the wire): the URL breaks the
/// transport policy, or a header would let the caller inject another header.
public struct RequestRefused: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An http(s) URL (or, for `SMTPMailer`, an smtp(s) URL) as libcurl's own URL parser reads it. The
/// session hands the very same parsed handle to libcurl (CURLOPT_CURLU), so the host checked here
/// is the host libcurl connects to: no second parser that could read `http://127.0.0.1@evil/`
/// differently.
public final class ParsedURL: @unchecked Sendable {
    /// The CURLU handle; never mutated after init.
    let handle: OpaquePointer
    public let text: String
    /// Lower-case scheme, one of the schemes allowed at init ("http" or "https" by default).
    public let scheme: String
    /// Host as libcurl reads it, lower-cased; IPv6 literals keep their brackets ("[::1]").
    public let host: String
    public let hasUserInfo: Bool
    public let hasQuery: Bool
    public let hasFragment: Bool

    /// `schemes`: the schemes accepted (lower case). The default is the HTTP policy's; only the
    /// mailer passes ["smtp", "smtps"].
    public init(_ text: String, schemes: Set<String> = ["http", "https"]) throws {
        guard let h = curl_url() else { throw RequestRefused("cannot parse URL \(text): out of memory") }
        // Everything is read into locals first: until every property is set, a throw must free
        // the handle here (deinit runs only for a fully initialised object).
        let code = curl_url_set(h, CURLUPART_URL, text, 0)
        guard code == CURLUE_OK else {
            curl_url_cleanup(h)
            // curl_url_strerror is 7.80+; RHEL 9 has 7.76, so the code number it is.
            throw RequestRefused("invalid URL \(text) (libcurl URL error \(code.rawValue))")
        }
        func part(_ p: CURLUPart) -> String? {
            var out: UnsafeMutablePointer<CChar>? = nil
            guard curl_url_get(h, p, &out, 0) == CURLUE_OK, let out else { return nil }
            defer { curl_free(out) }
            return String(cString: out)
        }
        let scheme = (part(CURLUPART_SCHEME) ?? "").lowercased()
        let host = (part(CURLUPART_HOST) ?? "").lowercased()
        let zoned = part(CURLUPART_ZONEID) != nil
        guard schemes.contains(scheme) else {
            curl_url_cleanup(h)
            let expected = schemes.contains("https") ? "https" : schemes.sorted().joined(separator: ":// or ")
            throw RequestRefused("unsupported URL \(text): expected \(expected)://")
        }
        guard !host.isEmpty, !zoned else {
            curl_url_cleanup(h)
            throw RequestRefused("invalid URL \(text): no usable host")
        }
        hasUserInfo = part(CURLUPART_USER) != nil || part(CURLUPART_PASSWORD) != nil || part(CURLUPART_OPTIONS) != nil
        hasQuery = part(CURLUPART_QUERY) != nil
        hasFragment = part(CURLUPART_FRAGMENT) != nil
        self.scheme = scheme
        self.host = host
        self.text = text
        handle = h
    }

    deinit { curl_url_cleanup(handle) }

    /// Is the host exactly a loopback name or address: `localhost`, 127.0.0.0/8, or ::1?
    /// Exact comparison: `localhost.example`, `127.0.0.1.nip.io` are names like any other.
    public var hostIsLoopback: Bool {
        if host == "localhost" { return true }
        if host.hasPrefix("[") && host.hasSuffix("]") {
            var v6 = in6_addr()
            guard inet_pton(AF_INET6, String(host.dropFirst().dropLast()), &v6) == 1 else { return false }
            return withUnsafeBytes(of: &v6) { $0.elementsEqual([UInt8](repeating: 0, count: 15) + [1]) }
        }
        // inet_pton accepts only the strict dotted quad (libcurl normalises other spellings first).
        var v4 = in_addr()
        guard inet_pton(AF_INET, host, &v4) == 1 else { return false }
        return withUnsafeBytes(of: &v4) { $0.first == 127 }
    }
}

/// Where a session may send requests: https anywhere; plain http only when allowed and only to
/// a loopback host; never with user info in the URL (it hides the real host from a reader, and
/// libcurl would send it as credentials).
public enum URLPolicy {
    public static func check(_ url: ParsedURL, allowLoopbackHTTP: Bool) throws {
        if url.hasUserInfo {
            // The URL itself is not repeated: its user info may be a password.
            throw RequestRefused("refusing a URL with user info (something@ in front of the host '\(url.host)'): give the host alone")
        }
        guard url.scheme == "http" else { return }
        guard allowLoopbackHTTP else {
            throw RequestRefused("refusing plaintext URL \(url.text): HTTPS is required")
        }
        guard url.hostIsLoopback else {
            throw RequestRefused(
                "refusing plaintext URL \(url.text): plain http is allowed only to loopback (127.0.0.0/8, ::1, localhost), not to '\(url.host)'; use https://")
        }
    }
}
