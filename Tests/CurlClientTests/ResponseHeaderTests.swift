@testable import CurlClient
import Testing

/// Issue 12 (DNS API providers): the session hands back the final response's headers, so a
/// provider can surface a 429's Retry-After.
@Suite struct ResponseHeaderTests {
    @Test("issue 12: header lines are parsed; names lower-cased, values trimmed; a later status line starts over")
    func parse() {
        let raw = "HTTP/1.1 100 Continue\r\nX-Early: 1\r\n\r\nHTTP/1.1 429 Too Many Requests\r\nRetry-After:  17 \r\n"
            + "Content-Type: text/plain\r\nno colon here\r\nX-Empty:\r\n\r\n"
        let h = CurlSession.parseHeaders(Array(raw.utf8))
        #expect(h == ["retry-after": "17", "content-type": "text/plain", "x-empty": ""])
    }
}
