import CCurl
@testable import CurlClient
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import TestSupport
import Testing

/// What the session refuses, it refuses before any connection: a loopback listener that must
/// see nothing, with a positive control showing it does see what is sent.
@Suite struct CurlSessionRefusalTests {
    func session(requireHTTPS: Bool = false) throws -> CurlSession {
        var options = CurlSession.Options(requireHTTPS: requireHTTPS)
        options.connectTimeoutMs = 2_000
        options.timeoutMs = 5_000
        return try CurlSession(options: options)
    }

    @Test("issue 21 item 1: user info in front of a loopback-looking name: refused, nothing connects")
    func userInfoRefusedBeforeConnecting() async throws {
        let listener = try LoopbackListener(address: "127.0.0.2")
        defer { listener.stop() }
        let s = try session()
        for url in ["http://127.0.0.1@127.0.0.2:\(listener.port)/", "http://localhost@127.0.0.2:\(listener.port)/",
                    "http://[::1]@127.0.0.2:\(listener.port)/"] {
            await #expect(throws: RequestRefused.self, "\(url)") {
                try await s.request("GET", url, headers: [("Authorization", "Bearer bct_secret")])
            }
        }
        #expect(listener.connections == 0)
        // Control: the plain loopback URL does reach the listener, token and all.
        let ok = try await s.request("GET", "http://127.0.0.2:\(listener.port)/", headers: [("Authorization", "Bearer bct_secret")])
        #expect(ok.status == 200)
        #expect(listener.requests.count == 1)
        #expect(listener.requests.first?.contains("Authorization: Bearer bct_secret") == true)
    }

    @Test("issue 21 item 10: a header with CR or LF is refused with an error, not a crash, and nothing is sent",
          arguments: ["bct_x\r\nX-Injected: 1", "bct_x\n", "bct_x\r"])
    func headerInjectionRefused(value: String) async throws {
        let listener = try LoopbackListener()
        defer { listener.stop() }
        let s = try session()
        await #expect(throws: RequestRefused.self) {
            try await s.request("GET", "http://127.0.0.1:\(listener.port)/", headers: [("Authorization", "Bearer \(value)")])
        }
        #expect(listener.connections == 0)
        // The session stays usable after the refusal.
        #expect(try await s.request("GET", "http://127.0.0.1:\(listener.port)/").status == 200)
    }

    // red team finding F4: a proxy from the environment never sees a plain-http request (it would
    // get the bearer token in clear); the loopback target gets it directly.
    @Test("red team finding F4: plain http ignores http_proxy / HTTP_PROXY / ALL_PROXY")
    func plainHTTPBypassesEnvironmentProxy() async throws {
        let proxy = try LoopbackListener(address: "127.0.0.2")
        defer { proxy.stop() }
        let target = try LoopbackListener(address: "127.0.0.1")
        defer { target.stop() }
        let proxyNames = ["http_proxy", "HTTP_PROXY", "ALL_PROXY", "all_proxy"]
        let names = proxyNames + ["no_proxy", "NO_PROXY"]
        let saved = names.map { name in getenv(name).map { String(cString: $0) } }
        defer {
            for (name, value) in zip(names, saved) {
                if let value { setenv(name, value, 1) } else { unsetenv(name) }
            }
        }
        for name in proxyNames { setenv(name, "http://127.0.0.2:\(proxy.port)", 1) }
        unsetenv("no_proxy"); unsetenv("NO_PROXY")
        let s = try session()
        let r = try await s.request("GET", "http://127.0.0.1:\(target.port)/pools", headers: [("Authorization", "Bearer bct_secret")])
        #expect(r.status == 200)
        #expect(proxy.connections == 0, "the proxy saw: \(proxy.requests)")
        #expect(target.requests.count == 1)
        #expect(target.requests.first?.contains("Authorization: Bearer bct_secret") == true)
    }

    /// Runs one transfer on a fresh easy handle with only the protocol restriction applied (no
    /// Swift-side URL check), so what is observed is libcurl's own enforcement.
    func rawTransfer(_ url: String, httpsOnly: Bool, forceBitmask: Bool) throws -> CURLcode {
        let h = try #require(curl_easy_init())
        defer { curl_easy_cleanup(h) }
        try CurlSession.restrictProtocols(h, httpsOnly: httpsOnly, forceBitmask: forceBitmask)
        #expect(balctl_curl_setopt_string(h, CURLOPT_URL, url) == CURLE_OK)
        #expect(balctl_curl_setopt_long(h, CURLOPT_TIMEOUT_MS, 5_000) == CURLE_OK)
        return curl_easy_perform(h)
    }

    @Test("issue 21 item 11: both the 7.85+ names and the older bitmask restrict libcurl to https",
          arguments: [false, true])
    func protocolRestrictionHolds(forceBitmask: Bool) throws {
        let listener = try LoopbackListener(body: "")  // libcurl would print a body to stdout
        defer { listener.stop() }
        let url = "http://127.0.0.1:\(listener.port)/"
        #expect(try rawTransfer(url, httpsOnly: true, forceBitmask: forceBitmask) == CURLE_UNSUPPORTED_PROTOCOL)
        #expect(listener.connections == 0)
        // Control: allowing http lets the same transfer through.
        #expect(try rawTransfer(url, httpsOnly: false, forceBitmask: forceBitmask) == CURLE_OK)
        #expect(listener.connections == 1)
    }

    @Test("issue 21 item 12: a closed port is a transient network error (a follow may retry it)")
    func closedPortIsTransient() async throws {
        let listener = try LoopbackListener()
        let port = listener.port
        listener.stop()
        try await Task.sleep(for: .milliseconds(100))  // the accept loop closes the socket
        let s = try session()
        do {
            _ = try await s.request("GET", "http://127.0.0.1:\(port)/")
            Issue.record("a closed port answered")
        } catch let e as HTTPClientError {
            #expect(e.isTransient, "\(e)")
        }
    }

    @Test("issue 21 item 11: an https-only session refuses an http:// URL before libcurl runs")
    func httpsOnlySessionRefusesHTTP() async throws {
        let listener = try LoopbackListener()
        defer { listener.stop() }
        let s = try session(requireHTTPS: true)
        await #expect(throws: RequestRefused.self) {
            try await s.request("GET", "http://127.0.0.1:\(listener.port)/")
        }
        #expect(listener.connections == 0)
    }
}
