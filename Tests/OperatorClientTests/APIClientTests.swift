import CurlClient
@testable import OperatorClient
import Testing

@Suite struct APIClientTests {
    @Test("issue 21 item 1: the client refuses an unsafe server URL up front (a refusal, not a network error)", arguments: [
        "http://127.0.0.1@192.0.2.2:19430", "http://localhost.evil.tld", "http://127.0.0.1.nip.io", "http://[::1]@host",
        "http://192.0.2.2:8443", "https://user:pw@balctl.example.com", "https://balctl.example.com/?x=1",
    ])
    func unsafeServerRefused(server: String) {
        #expect(throws: RequestRefused.self) { try APIClient(server: server, token: "bct_x", caFile: nil) }
    }

    @Test("issue 21 item 1: https anywhere and plain http to loopback are accepted", arguments: [
        "https://balctl.example.com:8443", "https://balctl.example.com:8443/", "http://127.0.0.1:8443", "http://localhost:8443/",
        "http://[::1]:8443",
    ])
    func safeServerAccepted(server: String) throws {
        let client = try APIClient(server: server, token: "bct_x", caFile: nil)
        #expect(!client.base.hasSuffix("/"))
    }

    @Test("issue 21 item 10: a token with CR, LF or another control character is refused", arguments: [
        "bct_x\n", "bct_x\r\nX-Evil: 1", "bct_\u{0}x", "bct_x\t",
    ])
    func badTokenRefused(token: String) {
        #expect(throws: RequestRefused.self) { try APIClient(server: "http://127.0.0.1:1", token: token, caFile: nil) }
    }
}

/// issue 21 item 10: every CLI path is built from percent-encoded segments.
@Suite struct APIPathTests {
    @Test func segmentsAreEncoded() {
        #expect(APIPath("recipes", "a b").description == "/recipes/a%20b")
        #expect(APIPath("recipes", "x/y").description == "/recipes/x%2Fy")
        #expect(APIPath("recipes", "a?b#c%").description == "/recipes/a%3Fb%23c%25")
        #expect(APIPath("recipes", "é").description == "/recipes/%C3%A9")
        #expect(APIPath("members", Int64(7), "recipes", "haproxy-enable", "run").description
                == "/members/7/recipes/haproxy-enable/run")
    }

    @Test("dot segments cannot be folded away by libcurl")
    func dotSegments() {
        #expect(APIPath("recipes", "..").description == "/recipes/%2E%2E")
        #expect(APIPath("recipes", ".").description == "/recipes/%2E")
        #expect(APIPath("recipes", "a.b").description == "/recipes/a.b")
    }

    @Test func queryValues() {
        #expect(APIPath("jobs").query("limit", 50).description == "/jobs?limit=50")
        #expect(APIPath("recipes").query("member", Optional<Int64>.none).description == "/recipes")
        #expect(APIPath("audit").query("limit", 5).query("q", "a&b").description == "/audit?limit=5&q=a%26b")
    }
}
