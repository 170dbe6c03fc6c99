import CurlClient
import Testing

/// Issue 12, alerts: the SMTP mode of CurlClient has its own policy, and the HTTP one is unchanged.
@Suite("SMTP policy")
struct SMTPPolicyTests {
    func settings(_ url: String, user: String? = "u", startTLS: Bool = true, from: String = "cp@example.org") -> SMTPSettings {
        SMTPSettings(url: url, from: from, username: user, password: user == nil ? nil : "p", startTLS: startTLS)
    }

    @Test("TLS (smtps or STARTTLS) anywhere; AUTH over clear text only to loopback")  // issue 12 alerts
    func credentialsNeedTLS() throws {
        try SMTPMailer.check(settings("smtps://mail.example.com:465", startTLS: false))
        try SMTPMailer.check(settings("smtp://mail.example.com:587"))
        try SMTPMailer.check(settings("smtp://127.0.0.1:2525", startTLS: false))
        try SMTPMailer.check(settings("smtp://mail.example.com:25", user: nil, startTLS: false))
        #expect(throws: RequestRefused.self) { try SMTPMailer.check(settings("smtp://mail.example.com:587", startTLS: false)) }
    }

    @Test("only smtp(s) URLs without user info; addresses that could inject SMTP commands are refused")  // issue 12 alerts
    func refusals() {
        for url in ["https://mail.example.com", "smtp://user:pw@mail.example.com", "file:///etc/passwd", "smtp://mail.example.com/?x=1"] {
            #expect(throws: RequestRefused.self, "\(url)") { try SMTPMailer.check(settings(url)) }
        }
        for address in ["a@b\r\nRCPT TO:<x@y>", "a>b@c", "no-at-sign", "a@b@c", "a b@c", "@b", "a@"] {
            #expect(throws: RequestRefused.self, "\(address)") { try SMTPMailer.checkAddress(address, "recipient") }
        }
        #expect(throws: Never.self) { try SMTPMailer.checkAddress("ops+alerts@example.com", "recipient") }
    }

    @Test("the HTTP policy still refuses smtp URLs")  // issue 12 alerts: SMTP mode does not widen HTTP
    func httpPolicyUnchanged() {
        #expect(throws: RequestRefused.self) { try CurlSession.checkScheme("smtp://127.0.0.1:25", requireHTTPS: false) }
        #expect(throws: RequestRefused.self) { try CurlSession.checkScheme("smtps://mail.example.com", requireHTTPS: true) }
    }
}
