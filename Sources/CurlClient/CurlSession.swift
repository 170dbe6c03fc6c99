#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CCurl
import Dispatch

/// A response: status, body bytes and the final response's headers (names lower-cased; a
/// repeated header keeps its last value).
public struct HTTPResponse: Sendable {
    public var status: Int
    public var body: [UInt8]
    /// The header lines as received, parsed only when `headers` is read: most callers (the
    /// agent's heartbeat, every second) never look at them.
    private var rawHeaders: [UInt8] = []
    private var givenHeaders: [String: String]?
    public var headers: [String: String] {
        get { givenHeaders ?? CurlSession.parseHeaders(rawHeaders) }
        set { givenHeaders = newValue }
    }
    public init(status: Int, body: [UInt8], headers: [String: String] = [:]) {
        self.status = status; self.body = body; self.givenHeaders = headers
    }
    init(status: Int, body: [UInt8], rawHeaders: [UInt8]) {
        self.status = status; self.body = body; self.rawHeaders = rawHeaders
    }
    public var text: String { String(decoding: body, as: UTF8.self) }
}

public struct HTTPClientError: Error, CustomStringConvertible, Sendable {
    public var message: String
    /// The network failed in a way that may pass (no connection, a timeout, a dropped
    /// connection), as opposed to a problem that trying again cannot fix (a certificate that does
    /// not verify, a bad CA file, an oversized response).
    public var isTransient: Bool
    /// The response was cut off at `Options.maxResponseBytes`: the peer sent more than allowed.
    public var isOversized: Bool
    public init(_ message: String, isTransient: Bool = false, isOversized: Bool = false) {
        self.message = message; self.isTransient = isTransient; self.isOversized = isOversized
    }
    public var description: String { message }

    /// Throws unless `code` is CURLE_OK: `what` failed, in libcurl's words.
    static func check(_ code: CURLcode, _ what: String) throws {
        if code != CURLE_OK {
            throw HTTPClientError("\(what): \(String(cString: curl_easy_strerror(code)))",
                                  isTransient: transientCodes.contains(code.rawValue))
        }
    }

    /// libcurl results that may well succeed on a later try.
    static let transientCodes = Set([
        CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_SSL_CONNECT_ERROR,
        CURLE_GOT_NOTHING, CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_PARTIAL_FILE,
    ].map(\.rawValue))
}

/// libcurl reads its global state once per process; a global `let` runs this exactly once.
let curlGlobalInit: CURLcode = curl_global_init(Int(CURL_GLOBAL_DEFAULT))

/// One libcurl easy handle, used strictly in turn on a private serial queue, so connections
/// (and TLS sessions) are reused from one request to the next. Blocking libcurl calls never run on
/// Swift's cooperative threads: the async API hops to the session's own queue.
///
/// A session is safe to share between tasks; requests queue behind each other. Use one session
/// per stream of traffic that must not wait on another (heartbeats vs. job reports).
public final class CurlSession: @unchecked Sendable {
    public struct Options: Sendable {
        /// PEM bundle of the CA(s) to trust instead of the system store.
        public var caFile: String?
        public var connectTimeoutMs: Int = 5_000
        public var timeoutMs: Int = 30_000
        /// Responses larger than this are cut off with an error.
        public var maxResponseBytes: Int = 16 << 20
        /// Refuse anything but https:// (the agent). When false (the CLI), plain http is still
        /// allowed only to a loopback host (see `URLPolicy`).
        public var requireHTTPS: Bool = true
        public var userAgent: String = "balctl"

        public init(caFile: String? = nil, requireHTTPS: Bool = true, userAgent: String = "balctl") {
            self.caFile = caFile; self.requireHTTPS = requireHTTPS; self.userAgent = userAgent
        }
    }

    public let options: Options
    // Touched only on `queue`.
    private let handle: UnsafeMutableRawPointer
    private let queue: DispatchQueue
    /// What the handle is set up for, kept between requests (touched only on `queue`): the
    /// options that never change are set on the first request and not again (no
    /// `curl_easy_reset` + full setup per request: the agent heartbeats every second), and the
    /// ones that depend on the URL are set again only when that changes.
    private struct Setup {
        var fixed = false
        /// The protocol restriction last applied (https only, or http and https).
        var httpsOnly: Bool?
        /// An empty CURLOPT_PROXY is set (plain http: no proxy from the environment).
        var proxyOff = false
        /// The request headers whose slist is on the handle (`list`), and whether a body was
        /// sent with them ("Expect:" added): the same headers next time reuse the list.
        var headers: [(String, String)] = []
        var withBody = false
        var list: UnsafeMutablePointer<curl_slist>?
    }
    private var setup = Setup()

    public init(options: Options) throws {
        guard curlGlobalInit == CURLE_OK, let h = curl_easy_init() else {
            throw HTTPClientError("libcurl failed to initialise")
        }
        self.options = options
        self.handle = h
        self.queue = DispatchQueue(label: "balctl.curl")
    }

    deinit {
        curl_easy_cleanup(handle)
        curl_slist_free_all(setup.list)
    }

    /// Is this URL acceptable under the session's policy? Throws `RequestRefused` if not.
    public static func checkScheme(_ url: String, requireHTTPS: Bool) throws {
        try URLPolicy.check(ParsedURL(url), allowLoopbackHTTP: !requireHTTPS)
    }

    /// Limit libcurl itself to the allowed protocols, for the request and any redirect, so the
    /// restriction holds even if a URL slipped past `URLPolicy`. Fails closed: if libcurl accepts
    /// neither the 7.85+ names nor the older bitmask, the request is not sent.
    static func restrictProtocols(_ handle: UnsafeMutableRawPointer, httpsOnly: Bool, forceBitmask: Bool = false) throws {
        var code = CURLE_UNKNOWN_OPTION
        if !forceBitmask {
            code = balctl_curl_restrict_protocols(handle, httpsOnly ? 1 : 0, 0)
        }
        if code == CURLE_UNKNOWN_OPTION {  // libcurl older than 7.85 at run time
            code = balctl_curl_restrict_protocols(handle, httpsOnly ? 1 : 0, 1)
        }
        guard code == CURLE_OK else {
            throw RequestRefused("cannot restrict libcurl to \(httpsOnly ? "https" : "http and https"): \(String(cString: curl_easy_strerror(code)))")
        }
    }

    public func request(
        _ method: String, _ url: String, headers: [(String, String)] = [], body: [UInt8]? = nil
    ) async throws -> HTTPResponse {
        try await withCheckedThrowingContinuation { cont in
            queue.async {
                cont.resume(with: Result { try self.perform(method, url, headers, body) })
            }
        }
    }

    /// GET `url` into the open file `fd` (the body is never held in memory), refusing more than
    /// `maxBytes`: the transfer stops at the first byte past the cap (`isOversized`). Returns the
    /// status and the number of bytes written; a non-2xx body is written too (the caller discards
    /// the file). `afterFirstBytes` runs once, on the transfer thread, after the first chunk is on
    /// disk (crash tests stop there).
    public func download(_ url: String, toFileDescriptor fd: Int32, maxBytes: Int,
                         afterFirstBytes: (@Sendable () -> Void)? = nil) async throws -> (status: Int, bytes: Int) {
        try await withCheckedThrowingContinuation { cont in
            queue.async {
                cont.resume(with: Result {
                    let file = FileSink(fd: fd, limit: maxBytes, afterFirstBytes: afterFirstBytes)
                    let r = try self.perform("GET", url, [], nil, file: file)
                    return (r.status, file.written)
                })
            }
        }
    }

    /// The same request, blocking the calling thread (for command-line tools).
    public func requestBlocking(
        _ method: String, _ url: String, headers: [(String, String)] = [], body: [UInt8]? = nil
    ) throws -> HTTPResponse {
        try queue.sync { try perform(method, url, headers, body) }
    }

    /// A request whose body is produced while it is sent (a snapshot part streamed as it is
    /// compressed): libcurl asks `body` for the next bytes and sends them as HTTP/1.1 chunks
    /// (the length is not known up front). `body` fills the buffer it is given and returns how
    /// much it wrote, 0 at the end; it may block until it has bytes. An error it throws stops the
    /// transfer and is rethrown here. Blocking, on this session's queue.
    public func requestBlocking(
        _ method: String, _ url: String, headers: [(String, String)] = [],
        streamingBody body: @escaping (UnsafeMutableRawBufferPointer) throws -> Int
    ) throws -> HTTPResponse {
        try queue.sync { try perform(method, url, headers, nil, source: BodySource(body)) }
    }

    /// What the read callback pulls from; the first error it threw.
    private final class BodySource {
        let produce: (UnsafeMutableRawBufferPointer) throws -> Int
        var error: (any Error)?
        init(_ produce: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) { self.produce = produce }
    }

    /// libcurl's read callback (the write callback's C signature): the next bytes of the body,
    /// 0 at its end, CURL_READFUNC_ABORT when the producer failed.
    private static let readBody: balctl_curl_write_cb = { buffer, size, n, user in
        let source = Unmanaged<BodySource>.fromOpaque(user!).takeUnretainedValue()
        guard let buffer else { return 0 }
        do {
            let wrote = try source.produce(UnsafeMutableRawBufferPointer(start: buffer, count: size * n))
            precondition(wrote >= 0 && wrote <= size * n, "a body source wrote outside the buffer it was given")
            return wrote
        } catch {
            source.error = error
            return 0x1000_0000  // CURL_READFUNC_ABORT (a macro Swift does not import)
        }
    }

    /// After a streamed request: an empty body for anything that would still ask.
    private static let noBody: balctl_curl_write_cb = { _, _, _, _ in 0 }

    /// A CR, LF or NUL in a header would end it early and let the rest become another header
    /// (or be cut off by the C string): refuse the request instead.
    static func checkHeaders(_ headers: [(String, String)]) throws {
        // Over the UTF-8 bytes of each part (no concatenated String per header per request).
        func bad(_ s: String) -> Bool { s.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0 } }
        for (name, value) in headers where bad(name) || bad(value) {
            throw RequestRefused("header \(name) contains a line break (CR or LF) or NUL: refusing to send it")
        }
    }

    private final class Sink {
        var bytes: [UInt8] = []
        let limit: Int
        var overflowed = false
        /// For a body sink: the transfer, asked for the announced length before the first
        /// append so a large answer (a 16 MiB snapshot part) is stored once, not regrown by
        /// doubling (which copies it and leaves up to twice its size allocated).
        var handle: UnsafeMutableRawPointer?
        init(limit: Int, handle: UnsafeMutableRawPointer? = nil) { self.limit = limit; self.handle = handle }
    }

    /// Where `download` writes: straight to a file descriptor, counting and capping.
    private final class FileSink {
        let fd: Int32
        let limit: Int
        var written = 0
        var overflowed = false
        var failed: Int32 = 0
        var afterFirstBytes: (@Sendable () -> Void)?
        init(fd: Int32, limit: Int, afterFirstBytes: (@Sendable () -> Void)?) {
            self.fd = fd; self.limit = limit; self.afterFirstBytes = afterFirstBytes
        }
    }

    private static let writeToFile: balctl_curl_write_cb = { ptr, size, n, user in
        let sink = Unmanaged<FileSink>.fromOpaque(user!).takeUnretainedValue()
        let count = size * n
        if sink.written + count > sink.limit { sink.overflowed = true; return 0 }
        guard let ptr else { return count }
        var done = 0
        while done < count {
            let w = write(sink.fd, ptr + done, count - done)
            if w < 0 {
                if errno == EINTR { continue }
                sink.failed = errno
                return 0
            }
            done += w
        }
        sink.written += count
        if let first = sink.afterFirstBytes { sink.afterFirstBytes = nil; first() }
        return count
    }

    private func perform(
        _ method: String, _ url: String, _ headers: [(String, String)], _ body: [UInt8]?,
        file: FileSink? = nil, source: BodySource? = nil
    ) throws -> HTTPResponse {
        let parsed = try ParsedURL(url)
        try URLPolicy.check(parsed, allowLoopbackHTTP: !options.requireHTTPS)
        try Self.checkHeaders(headers)
        let check = HTTPClientError.check
        try configure(parsed, headers, hasBody: body != nil || source != nil)
        // The handle that was checked is the one libcurl uses: no second parse of the text.
        try check(balctl_curl_setopt_pointer(handle, CURLOPT_CURLU, UnsafeMutableRawPointer(parsed.handle)), "bad URL")
        // The handle must not keep pointing at the parsed URL once it is freed.
        defer { _ = balctl_curl_setopt_pointer(handle, CURLOPT_CURLU, nil) }

        // The method is set on every request, from the same starting point a reset gave:
        // HTTPGET puts libcurl back to a plain GET (no body, no upload), then POST or a custom
        // verb on top; a custom verb of an earlier request is cleared.
        _ = balctl_curl_setopt_long(handle, CURLOPT_HTTPGET, 1)
        switch method {
        case "GET": _ = balctl_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, nil)
        case "POST":
            _ = balctl_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, nil)
            _ = balctl_curl_setopt_long(handle, CURLOPT_POST, 1)
        default: _ = balctl_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method)
        }
        _ = balctl_curl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, body?.count ?? -1)
        let sourcePtr = source.map { Unmanaged.passRetained($0) }
        defer { sourcePtr?.release() }
        if let sourcePtr {
            // UPLOAD with an unknown size: a PUT (or the custom verb set above) in chunks. The
            // next request's HTTPGET turns UPLOAD off again.
            try check(balctl_curl_setopt_long(handle, CURLOPT_UPLOAD, 1), "upload")
            try check(balctl_curl_setopt_off(handle, CURLOPT_INFILESIZE_LARGE, -1), "upload size")
            try check(balctl_curl_setopt_pointer(handle, CURLOPT_READDATA, sourcePtr.toOpaque()), "read data")
            try check(balctl_curl_setopt_write_cb(handle, CURLOPT_READFUNCTION, Self.readBody), "read callback")
        }
        defer {
            if sourcePtr != nil {
                // The source goes with this request: no later request may reach it.
                _ = balctl_curl_setopt_pointer(handle, CURLOPT_READDATA, nil)
                _ = balctl_curl_setopt_write_cb(handle, CURLOPT_READFUNCTION, Self.noBody)
            }
        }

        let sink = Sink(limit: options.maxResponseBytes, handle: handle)
        let sinkPtr = Unmanaged.passRetained(sink)
        defer { sinkPtr.release() }
        let filePtr = file.map { Unmanaged.passRetained($0) }
        defer { filePtr?.release() }
        if let filePtr {
            _ = balctl_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, filePtr.toOpaque())
            _ = balctl_curl_setopt_write_cb(handle, CURLOPT_WRITEFUNCTION, Self.writeToFile)
        } else {
            _ = balctl_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, sinkPtr.toOpaque())
            _ = balctl_curl_setopt_write_cb(handle, CURLOPT_WRITEFUNCTION, Self.collect)
        }
        // Header lines go to a sink of their own, capped as well: a peer cannot grow them without bound.
        let headerSink = Sink(limit: Self.maxHeaderBytes)
        let headerPtr = Unmanaged.passRetained(headerSink)
        defer { headerPtr.release() }
        _ = balctl_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, headerPtr.toOpaque())

        let code: CURLcode = try withExtendedLifetime(parsed) {
            guard let body else { return curl_easy_perform(handle) }
            // POSTFIELDS, not COPYPOSTFIELDS: libcurl reads the caller's bytes during this
            // perform, so a 16 MiB snapshot part is not copied once more.
            return try body.withUnsafeBytes { raw in
                let p = UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)
                try check(balctl_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, p), "body")
                defer { _ = balctl_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, nil) }
                return curl_easy_perform(handle)
            }
        }
        if let source, let error = source.error { throw error }
        if let file, file.overflowed {
            throw HTTPClientError("download from \(url) exceeds \(file.limit) bytes", isOversized: true)
        }
        if let file, file.failed != 0 {
            throw HTTPClientError("writing the download from \(url) failed: \(String(cString: strerror(file.failed)))")
        }
        if sink.overflowed || headerSink.overflowed {
            let limit = sink.overflowed ? options.maxResponseBytes : Self.maxHeaderBytes
            throw HTTPClientError("response \(sink.overflowed ? "" : "headers ")from \(url) exceed\(sink.overflowed ? "s" : "") \(limit) bytes",
                                  isOversized: true)
        }
        try check(code, "\(method) \(url)")
        var status = 0
        _ = balctl_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, body: sink.bytes, rawHeaders: headerSink.bytes)
    }

    /// Sets what a request needs on the handle, leaving what an earlier request set when it is
    /// the same: the fixed options once, the protocol restriction and the proxy switch when the
    /// scheme's policy changes, the header list when the headers change. Every option a reset
    /// would clear and a request depends on is either fixed for the session or set here or in
    /// `perform` each time (URL, method, body size, body, write and header sinks).
    private func configure(_ parsed: ParsedURL, _ headers: [(String, String)], hasBody: Bool) throws {
        let check = HTTPClientError.check
        if !setup.fixed {
            try check(balctl_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1), "NOSIGNAL")
            try check(balctl_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, options.connectTimeoutMs), "connect timeout")
            try check(balctl_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, options.timeoutMs), "timeout")
            _ = balctl_curl_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1)  // an optimisation only
            try check(balctl_curl_setopt_string(handle, CURLOPT_USERAGENT, options.userAgent), "user agent")
            // Never follow redirects.
            try check(balctl_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0), "FOLLOWLOCATION")
            if let ca = options.caFile {
                try check(balctl_curl_setopt_string(handle, CURLOPT_CAINFO, ca), "CA file")
            }
            try check(balctl_curl_setopt_write_cb(handle, CURLOPT_HEADERFUNCTION, Self.collect), "header callback")
            setup.fixed = true
        }
        // Never speak anything but the allowed protocols (for the request and any redirect).
        let httpsOnly = options.requireHTTPS || parsed.scheme == "https"
        if setup.httpsOnly != httpsOnly {
            setup.httpsOnly = nil  // unknown until the restriction is in place
            try Self.restrictProtocols(handle, httpsOnly: httpsOnly)
            setup.httpsOnly = httpsOnly
        }
        // red team finding F4: plain http is allowed only to loopback, but libcurl would send it
        // (bearer token included) in clear to a proxy named by http_proxy / ALL_PROXY. An empty
        // CURLOPT_PROXY turns proxies off whatever the environment says. https is left alone: a
        // proxy only sees the CONNECT, the request itself travels inside TLS (NULL gives the
        // environment's proxy back to a later https request, as a reset did).
        let proxyOff = parsed.scheme != "https"
        if setup.proxyOff != proxyOff {
            setup.proxyOff = false
            if proxyOff {
                try check(balctl_curl_setopt_string(handle, CURLOPT_PROXY, ""), "turning off the proxy for plain http")
            } else {
                try check(balctl_curl_setopt_string(handle, CURLOPT_PROXY, nil), "proxy")
            }
            setup.proxyOff = proxyOff
        }
        // The header list: the same headers as last time keep their list (the agent's bearer
        // and content type, every second).
        if setup.list == nil || setup.withBody != hasBody || !Self.same(setup.headers, headers) {
            _ = balctl_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, nil)
            curl_slist_free_all(setup.list)
            setup.list = nil
            setup.headers = []
            var list: UnsafeMutablePointer<curl_slist>? = nil
            for (name, value) in headers {
                list = curl_slist_append(list, "\(name): \(value)")
            }
            if hasBody { list = curl_slist_append(list, "Expect:") }  // no 100-continue round trip
            // A request without headers has a NULL list: set again (and compared) every time.
            _ = balctl_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, list)
            setup.list = list
            setup.headers = headers
            setup.withBody = hasBody
        }
    }

    private static func same(_ a: [(String, String)], _ b: [(String, String)]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }

    static let maxHeaderBytes = 64 << 10

    /// libcurl's write and header callback: append to the `Sink` passed as user data, or stop
    /// the transfer (return 0) once its limit would be passed.
    private static let collect: balctl_curl_write_cb = { ptr, size, n, user in
        let sink = Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue()
        let count = size * n
        if sink.bytes.count + count > sink.limit { sink.overflowed = true; return 0 }
        if sink.bytes.isEmpty, let handle = sink.handle {
            sink.handle = nil
            // Content-Length, when the peer sent one; capped at the limit (it is the peer's claim).
            var announced: curl_off_t = -1
            if balctl_curl_getinfo_off(handle, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &announced) == CURLE_OK, announced > 4096 {
                sink.bytes.reserveCapacity(Int(min(Int64(announced), Int64(sink.limit))))
            }
        }
        if let ptr {
            ptr.withMemoryRebound(to: UInt8.self, capacity: count) {
                sink.bytes.append(contentsOf: UnsafeBufferPointer(start: $0, count: count))
            }
        }
        return count
    }

    /// The header lines libcurl passed on, of the last response only (a status line starts over).
    static func parseHeaders(_ bytes: [UInt8]) -> [String: String] {
        var headers: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == "\r\n" || $0 == "\n" || $0 == "\r" }) {
            if line.hasPrefix("HTTP/") { headers = [:]; continue }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].drop(while: { $0 == " " || $0 == "\t" })
            headers[name] = String(value.reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
        }
        return headers
    }
}
