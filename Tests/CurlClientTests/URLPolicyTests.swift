@testable import CurlClient
import Testing

/// issue 21 item 1: plain http only to an exact loopback host, never with user info.
@Suite struct URLPolicyTests {
    func refusal(_ url: String, allowLoopbackHTTP: Bool = true) -> RequestRefused? {
        do {
            try URLPolicy.check(ParsedURL(url), allowLoopbackHTTP: allowLoopbackHTTP)
            return nil
        } catch {
            return error as? RequestRefused
        }
    }

    @Test("issue 21 item 1: the review's examples are refused (user info, look-alike hosts)", arguments: [
        "http://127.0.0.1@192.0.2.2:19430",
        "http://localhost.evil.tld",
        "http://127.0.0.1.nip.io",
        "http://[::1]@host",
        "http://localhost@192.0.2.2/",
        "http://127.0.0.1:8443@192.0.2.2/",
        "https://token:secret@balctl.example.com/",
        "http://localhost./",
        "http://[::ffff:127.0.0.1]/",
        "http://192.0.2.2:19430",
    ])
    func refused(url: String) {
        #expect(refusal(url) != nil, "\(url) must be refused")
    }

    @Test("issue 21 item 1: exact loopback hosts may use plain http", arguments: [
        "http://127.0.0.1:8443", "http://127.1.2.3/", "http://localhost:1", "http://LOCALHOST:1/x",
        "http://[::1]:8443/", "http://[0:0:0:0:0:0:0:1]/",
    ])
    func loopbackAllowed(url: String) {
        #expect(refusal(url) == nil, "\(url) is loopback")
    }

    @Test("issue 21 item 1: https to any host; plain http refused when https is required")
    func httpsRules() {
        #expect(refusal("https://balctl.example.com:8443") == nil)
        #expect(refusal("https://192.0.2.2/") == nil)
        #expect(refusal("http://127.0.0.1:8443", allowLoopbackHTTP: false) != nil)
        #expect(refusal("ftp://127.0.0.1/") != nil)
        #expect(refusal("127.0.0.1:8443") != nil, "no scheme: no guessing")
    }

    @Test("issue 21 item 1: the host is the one libcurl reads, lower-cased")
    func parsedHost() throws {
        #expect(try ParsedURL("http://127.0.0.1@192.0.2.2:19430").host == "192.0.2.2")
        #expect(try ParsedURL("http://127.0.0.1.nip.io").host == "127.0.0.1.nip.io")
        #expect(try ParsedURL("HTTP://[::1]:1/").host == "[::1]")
        #expect(try ParsedURL("http://127.0.0.1@192.0.2.2:19430").hasUserInfo)
    }
}
