import CCurl
import Dispatch

/// A response: status and body bytes.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var body: [UInt8]
    public init(status: Int, body: [UInt8]) { self.status = status; self.body = body }
    public var text: String { String(decoding: body, as: UTF8.self) }
}

public struct HTTPClientError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// libcurl reads its global state once per process; a global `let` runs this exactly once.
private let curlGlobalInit: CURLcode = curl_global_init(Int(CURL_GLOBAL_DEFAULT))

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
        /// Refuse anything but https:// (the agent); the CLI may allow plain http to loopback.
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

    public init(options: Options) throws {
        guard curlGlobalInit == CURLE_OK, let h = curl_easy_init() else {
            throw HTTPClientError("libcurl failed to initialise")
        }
        self.options = options
        self.handle = h
        self.queue = DispatchQueue(label: "balctl.curl")
    }

    deinit { curl_easy_cleanup(handle) }

    /// Is this URL acceptable under the session's scheme policy?
    public static func checkScheme(_ url: String, requireHTTPS: Bool) throws {
        let lower = url.lowercased()
        if lower.hasPrefix("https://") { return }
        if lower.hasPrefix("http://") {
            if requireHTTPS {
                throw HTTPClientError("refusing plaintext URL \(url): HTTPS is required")
            }
            return
        }
        throw HTTPClientError("unsupported URL \(url): expected https://")
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

    /// The same request, blocking the calling thread (for command-line tools).
    public func requestBlocking(
        _ method: String, _ url: String, headers: [(String, String)] = [], body: [UInt8]? = nil
    ) throws -> HTTPResponse {
        try queue.sync { try perform(method, url, headers, body) }
    }

    private final class Sink {
        var bytes: [UInt8] = []
        let limit: Int
        var overflowed = false
        init(limit: Int) { self.limit = limit }
    }

    private func perform(
        _ method: String, _ url: String, _ headers: [(String, String)], _ body: [UInt8]?
    ) throws -> HTTPResponse {
        try Self.checkScheme(url, requireHTTPS: options.requireHTTPS)
        // Reset options but keep the connection cache.
        curl_easy_reset(handle)
        func check(_ code: CURLcode, _ what: String) throws {
            if code != CURLE_OK {
                throw HTTPClientError("\(what): \(String(cString: curl_easy_strerror(code)))")
            }
        }
        try check(balctl_curl_setopt_string(handle, CURLOPT_URL, url), "bad URL")
        _ = balctl_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        _ = balctl_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, options.connectTimeoutMs)
        _ = balctl_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, options.timeoutMs)
        _ = balctl_curl_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1)
        _ = balctl_curl_setopt_string(handle, CURLOPT_USERAGENT, options.userAgent)
        // Never follow redirects, and never speak anything but the allowed protocols.
        _ = balctl_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
        _ = balctl_curl_setopt_string(
            handle, CURLOPT_PROTOCOLS_STR, options.requireHTTPS ? "https" : "http,https")
        if let ca = options.caFile {
            try check(balctl_curl_setopt_string(handle, CURLOPT_CAINFO, ca), "CA file")
        }

        var list: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(list) }
        for (name, value) in headers {
            precondition(!name.contains("\r") && !name.contains("\n")
                         && !value.contains("\r") && !value.contains("\n"), "header injection")
            list = curl_slist_append(list, "\(name): \(value)")
        }
        if body != nil { list = curl_slist_append(list, "Expect:") }  // no 100-continue round trip
        if let list { _ = balctl_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, list) }

        switch method {
        case "GET": _ = balctl_curl_setopt_long(handle, CURLOPT_HTTPGET, 1)
        case "POST": _ = balctl_curl_setopt_long(handle, CURLOPT_POST, 1)
        default: _ = balctl_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method)
        }
        if let body {
            _ = balctl_curl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, body.count)
            try body.withUnsafeBytes { raw in
                // COPYPOSTFIELDS copies, so the buffer need not outlive this call.
                let p = UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)
                try check(balctl_curl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, p), "body")
            }
        }

        let sink = Sink(limit: options.maxResponseBytes)
        let sinkPtr = Unmanaged.passRetained(sink)
        defer { sinkPtr.release() }
        _ = balctl_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, sinkPtr.toOpaque())
        _ = balctl_curl_setopt_write_cb(handle, CURLOPT_WRITEFUNCTION) { ptr, size, n, user in
            let sink = Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue()
            let count = size * n
            if sink.bytes.count + count > sink.limit { sink.overflowed = true; return 0 }
            if let ptr {
                ptr.withMemoryRebound(to: UInt8.self, capacity: count) {
                    sink.bytes.append(contentsOf: UnsafeBufferPointer(start: $0, count: count))
                }
            }
            return count
        }

        let code = curl_easy_perform(handle)
        if sink.overflowed {
            throw HTTPClientError("response from \(url) exceeds \(options.maxResponseBytes) bytes")
        }
        try check(code, "\(method) \(url)")
        var status = 0
        _ = balctl_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, body: sink.bytes)
    }
}
