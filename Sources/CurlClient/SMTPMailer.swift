import CCurl
import Dispatch

/// Where and how to hand mail to an SMTP server (the control plane's alert mail).
public struct SMTPSettings: Sendable {
    public enum AuthMechanism: String, Sendable, CaseIterable {
        case plain = "PLAIN"
        case login = "LOGIN"
    }

    /// `smtp://host[:port]` (STARTTLS unless `startTLS` is off) or `smtps://host[:port]` (TLS from
    /// the first byte).
    public var url: String
    /// The envelope sender (MAIL FROM).
    public var from: String
    public var username: String?
    public var password: String?
    /// smtp:// only: upgrade with STARTTLS and refuse to go on if the server cannot (CURLUSESSL_ALL).
    public var startTLS: Bool
    /// nil: the strongest mechanism the server offers, as libcurl picks it.
    public var authMechanism: AuthMechanism?
    /// PEM bundle of the CA(s) to trust instead of the system store (a private relay).
    public var caFile: String?
    public var connectTimeoutMs: Int = 5_000
    /// The whole exchange, connect to QUIT: a server that accepts and never answers costs this much.
    public var timeoutMs: Int = 20_000

    public init(url: String, from: String, username: String? = nil, password: String? = nil, startTLS: Bool = true,
                authMechanism: AuthMechanism? = nil, caFile: String? = nil) {
        self.url = url; self.from = from; self.username = username; self.password = password
        self.startTLS = startTLS; self.authMechanism = authMechanism; self.caFile = caFile
    }

    /// Is the link encrypted before any credential or mail crosses it?
    var encrypted: Bool { url.lowercased().hasPrefix("smtps://") || startTLS }
}

/// Sends one RFC 5322 message through libcurl's SMTP. Policy, separate from the HTTP one: smtp or
/// smtps only (libcurl itself is restricted to them), no user info in the URL, no proxy, and
/// credentials only over TLS (smtps or STARTTLS) unless the server is on loopback. Each call
/// uses its own easy handle on a dispatch queue, never a Swift cooperative thread, so a server
/// that never answers holds up nothing but its own send (bounded by `timeoutMs`).
public enum SMTPMailer {
    /// Checks the settings without sending anything; `send` checks them again.
    public static func check(_ settings: SMTPSettings) throws {
        let url = try ParsedURL(settings.url, schemes: ["smtp", "smtps"])
        try check(settings, url)
    }

    static func check(_ settings: SMTPSettings, _ url: ParsedURL) throws {
        if url.hasUserInfo {
            throw RequestRefused("refusing an SMTP URL with user info (something@ in front of the host '\(url.host)'): pass the user and password separately")
        }
        if url.hasQuery || url.hasFragment { throw RequestRefused("refusing SMTP URL \(url.text): no query or fragment expected") }
        try checkAddress(settings.from, "sender")
        if settings.username != nil, !settings.encrypted, !url.hostIsLoopback {
            throw RequestRefused("refusing to send SMTP credentials in clear text to '\(url.host)': use smtps:// or STARTTLS (plain smtp with AUTH is allowed only to loopback)")
        }
        for value in [settings.username, settings.password].compactMap({ $0 }) where hasControl(value) {
            throw RequestRefused("SMTP user or password contains a line break or NUL")
        }
    }

    /// An envelope address goes into `MAIL FROM:<…>` / `RCPT TO:<…>`: one plain `local@domain`,
    /// no spaces, angle brackets, line breaks or other control characters that could end the
    /// command and start another.
    public static func checkAddress(_ address: String, _ role: String) throws {
        let scalars = address.unicodeScalars
        let at = scalars.filter { $0 == "@" }.count
        guard at == 1, !address.hasPrefix("@"), !address.hasSuffix("@"), address.utf8.count <= 254,
              !scalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7f || "<>()[]\\,;:\"".unicodeScalars.contains($0) })
        else {
            throw RequestRefused("invalid \(role) address '\(printable(address))': expected one plain local@domain")
        }
    }

    static func hasControl(_ s: String) -> Bool {
        s.unicodeScalars.contains { $0 == "\r" || $0 == "\n" || $0 == "\0" }
    }

    static func printable(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.prefix(100).map { $0.value < 0x20 || $0.value == 0x7f ? "?" : $0 }))
    }

    /// Send `message` (RFC 5322 text with CRLF line ends; libcurl dot-stuffs it) to `recipients`.
    /// Throws `RequestRefused` (nothing sent: policy or bad input) or `HTTPClientError` (the
    /// transfer failed; the message quotes the server's last reply, such as "535 5.7.8 …").
    public static func send(_ settings: SMTPSettings, recipients: [String], message: [UInt8]) async throws {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, Error>) in
            DispatchQueue.global(qos: .utility).async {
                cont.resume(with: Result { try sendBlocking(settings, recipients: recipients, message: message) })
            }
        }
    }

    /// What libcurl reads from (the message) and writes to (the server's replies), per transfer.
    private final class Transfer {
        let message: [UInt8]
        var offset = 0
        var replies: [UInt8] = []
        init(message: [UInt8]) { self.message = message }
    }

    static func sendBlocking(_ settings: SMTPSettings, recipients: [String], message: [UInt8]) throws {
        let url = try ParsedURL(settings.url, schemes: ["smtp", "smtps"])
        try check(settings, url)
        guard !recipients.isEmpty else { throw RequestRefused("no recipient") }
        for r in recipients { try checkAddress(r, "recipient") }
        guard curlGlobalInit == CURLE_OK, let handle = curl_easy_init() else {
            throw HTTPClientError("libcurl failed to initialise")
        }
        defer { curl_easy_cleanup(handle) }
        let ok = HTTPClientError.check
        try ok(balctl_curl_setopt_pointer(handle, CURLOPT_CURLU, UnsafeMutableRawPointer(url.handle)), "bad URL")
        defer { _ = balctl_curl_setopt_pointer(handle, CURLOPT_CURLU, nil) }
        var code = balctl_curl_restrict_protocols_smtp(handle, 0)
        if code == CURLE_UNKNOWN_OPTION { code = balctl_curl_restrict_protocols_smtp(handle, 1) }  // libcurl < 7.85
        guard code == CURLE_OK else { throw RequestRefused("cannot restrict libcurl to smtp and smtps") }
        try ok(balctl_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1), "NOSIGNAL")
        try ok(balctl_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, settings.connectTimeoutMs), "connect timeout")
        try ok(balctl_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, settings.timeoutMs), "timeout")
        // Mail goes straight to the relay, whatever ALL_PROXY says.
        try ok(balctl_curl_setopt_string(handle, CURLOPT_PROXY, ""), "turning off the proxy")
        if url.scheme == "smtp", settings.startTLS {
            try ok(balctl_curl_setopt_long(handle, CURLOPT_USE_SSL, Int(CURLUSESSL_ALL.rawValue)), "STARTTLS")
        }
        if let ca = settings.caFile { try ok(balctl_curl_setopt_string(handle, CURLOPT_CAINFO, ca), "CA file") }
        if let user = settings.username {
            try ok(balctl_curl_setopt_string(handle, CURLOPT_USERNAME, user), "user")
            try ok(balctl_curl_setopt_string(handle, CURLOPT_PASSWORD, settings.password ?? ""), "password")
            if let mechanism = settings.authMechanism {
                try ok(balctl_curl_setopt_string(handle, CURLOPT_LOGIN_OPTIONS, "AUTH=\(mechanism.rawValue)"), "AUTH mechanism")
            }
        }
        try ok(balctl_curl_setopt_string(handle, CURLOPT_MAIL_FROM, "<\(settings.from)>"), "MAIL FROM")
        var rcpt: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(rcpt) }
        for r in recipients { rcpt = curl_slist_append(rcpt, "<\(r)>") }
        try ok(balctl_curl_setopt_slist(handle, CURLOPT_MAIL_RCPT, rcpt), "RCPT TO")

        let transfer = Transfer(message: message)
        let ref = Unmanaged.passRetained(transfer)
        defer { ref.release() }
        try ok(balctl_curl_setopt_long(handle, CURLOPT_UPLOAD, 1), "upload")
        try ok(balctl_curl_setopt_long(handle, CURLOPT_INFILESIZE, message.count), "message size")
        try ok(balctl_curl_setopt_pointer(handle, CURLOPT_READDATA, ref.toOpaque()), "read data")
        // The read callback has the write callback's C signature (buffer, size, count, user).
        try ok(balctl_curl_setopt_write_cb(handle, CURLOPT_READFUNCTION) { buffer, size, n, user in
            let t = Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
            let count = min(size * n, t.message.count - t.offset)
            guard count > 0, let buffer else { return 0 }
            t.message.withUnsafeBytes { src in
                UnsafeMutableRawPointer(buffer).copyMemory(from: src.baseAddress! + t.offset, byteCount: count)
            }
            t.offset += count
            return count
        }, "read callback")
        // libcurl passes every server reply line to the header callback: kept (bounded) so a
        // refusal is reported in the server's own words ("535 5.7.8 …").
        try ok(balctl_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, ref.toOpaque()), "header data")
        try ok(balctl_curl_setopt_write_cb(handle, CURLOPT_HEADERFUNCTION) { ptr, size, n, user in
            let t = Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
            let count = size * n
            if let ptr {
                ptr.withMemoryRebound(to: UInt8.self, capacity: count) {
                    t.replies.append(contentsOf: UnsafeBufferPointer(start: $0, count: count))
                }
                if t.replies.count > 8192 { t.replies.removeFirst(t.replies.count - 8192) }
            }
            return count
        }, "header callback")

        let result = withExtendedLifetime(url) { curl_easy_perform(handle) }
        guard result == CURLE_OK else {
            var reply = 0
            _ = balctl_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &reply)
            let last = lastReply(transfer.replies)
            let said = last.map { ": server said \"\($0)\"" } ?? (reply >= 400 ? ": server replied \(reply)" : "")
            // 4xx replies are temporary by definition (RFC 5321 4.2.1); so is the network.
            let transient = HTTPClientError.transientCodes.contains(result.rawValue) || (400..<500).contains(reply)
            throw HTTPClientError("SMTP \(url.host): \(String(cString: curl_easy_strerror(result)))\(said)", isTransient: transient)
        }
    }

    /// The last reply line the server sent that reports a failure (4xx/5xx), if any.
    static func lastReply(_ bytes: [UInt8]) -> String? {
        let lines = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline)  // "\r\n" is one Character
        return lines.last { $0.first == "4" || $0.first == "5" }.map { printable(String($0.prefix(200))) }
    }
}
