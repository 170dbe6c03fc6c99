#if canImport(Glibc)
import Glibc
#endif
import BalctlProtocol
@testable import ControlPlane
import Crypto
import CurlClient
import Foundation
import TestSupport
import SQLEngine
import Logging
import Synchronization
import Testing

/// Issue 12, alerts: the outbox dispatcher, SMTP (STARTTLS + AUTH PLAIN/LOGIN against a real
/// aiosmtpd) and signed webhooks, retries, exclusive claims.
@Suite("Alerts: outbox dispatcher, SMTP and webhooks", .serialized, .smtpSink, .storeEngines)
struct AlertTests {
    let sink: SMTPSink
    let fx: Fixture
    let secrets: SecretBox
    let pool: Int64

    init() async throws {
        sink = try SMTPSink.shared()
        fx = try await Fixture()
        secrets = try SecretBox.open(dataDir: fx.dir.path)
        pool = try await fx.member(pool: "edge").pool.id
    }

    static let from = "balctl@example.org"
    static let webhookSecret = "whsec-test-0123456789"

    func smtp(_ mechanism: SMTPSettings.AuthMechanism? = .plain, password: String = SMTPSink.password,
              port: Int? = nil, caFile: String?? = .none) -> SMTPSettings {
        SMTPSettings(url: "smtp://127.0.0.1:\(port ?? sink.port)", from: Self.from, username: SMTPSink.user,
                     password: password, startTLS: true, authMechanism: mechanism,
                     caFile: caFile ?? sink.caFile)
    }

    func dispatcher(_ smtp: SMTPSettings?, store: Store? = nil, timeout: Double = 5, maxAttempts: Int = 12) throws -> AlertDispatcher {
        var policy = AlertPolicy()
        policy.sendTimeoutSec = timeout
        policy.maxAttempts = maxAttempts
        policy.intervalSec = 0.1
        return try AlertDispatcher(store: store ?? fx.store, policy: policy, smtp: smtp, secrets: secrets,
                                   logger: Logger(label: "alert-test"))
    }

    /// The pool's alert settings, as the settings API will save them (the secret sealed).
    func configure(emails: [String] = [], webhook: String? = nil, secret: String? = AlertTests.webhookSecret) async throws {
        let sealed = try secret.map { try secrets.seal($0, context: "webhook:\(pool)") }
        try await fx.store.db.write { [pool] db in
            try db.execute(sql: """
                INSERT INTO pool_failover(pool_id, alert_emails, webhook_url, webhook_secret) VALUES (?, ?, ?, ?)
                ON CONFLICT(pool_id) DO UPDATE SET alert_emails = excluded.alert_emails, webhook_url = excluded.webhook_url,
                  webhook_secret = excluded.webhook_secret
                """, arguments: [pool, emails.joined(separator: ","), webhook, sealed])
        }
    }

    func enqueue(_ subject: String = "Failover: edge now on web-2", text: String = "web-1 stopped; web-2 is active.",
                 kind: AlertKind = .failover) async throws {
        let message = AlertMessage(kind: kind, poolID: pool, subject: subject, text: text, facts: ["to": .string("web-2")])
        try await fx.store.db.write { db in try Store.enqueueAlert(db, message) }
    }

    struct OutboxRow: Sendable {
        var id: Int64, channel: String, state: String, attempts: Int, lastError: String?, nextAttemptAt: Double
        var claimedUntil: Double?, sentAt: Double?
    }

    func rows(_ store: Store? = nil) async throws -> [OutboxRow] {
        try await (store ?? fx.store).db.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT * FROM alert_outbox ORDER BY id").map {
                OutboxRow(id: $0["id"], channel: $0["channel"], state: $0["state"], attempts: $0["attempts"],
                          lastError: $0["last_error"], nextAttemptAt: $0["next_attempt_at"],
                          claimedUntil: $0["claimed_until"], sentAt: $0["sent_at"])
            }
        }
    }

    // MARK: SMTP

    @Test("mail arrives after STARTTLS and AUTH with the right From, To, Subject and body",
          arguments: [SMTPSettings.AuthMechanism.plain, .login])  // issue 12 alerts: SMTP STARTTLS + AUTH PLAIN/LOGIN
    func mailDelivered(mechanism: SMTPSettings.AuthMechanism) async throws {
        let rcpt = "ops-\(mechanism.rawValue.lowercased())@example.com"
        try await configure(emails: [rcpt])
        // Non-ASCII subject (RFC 2047), lines that SMTP would read as end-of-data or strip if
        // sent raw, trailing spaces, long lines (soft breaks) and non-ASCII text (quoted-printable).
        let subject = "Failover: edge → web-2 ✓ (pool « edge », member web-2.example.com, reason: heartbeat 14 s old)"
        let text = "web-1 stopped answering.\n.\n.hidden line\nkeep trailing space \n"
            + String(repeating: "long line = ", count: 20) + "\nünïcödé ✓ end"
        try await enqueue(subject, text: text)
        try await dispatcher(smtp(mechanism)).pass()

        let mail = try #require(try sink.messages(to: rcpt).first)
        #expect(mail.tls, "the sink got the mail over a plain connection")
        #expect(mail.auth_mechanism == mechanism.rawValue)
        #expect(mail.mail_from == Self.from)
        #expect(mail.rcpt_tos == [rcpt])
        #expect(mail.from == Self.from)
        #expect(mail.to == rcpt)
        #expect(mail.subject == subject)
        #expect(mail.body.replacingOccurrences(of: "\r\n", with: "\n") == text + "\n")
        #expect(mail.headers["Content-Type"] == "text/plain; charset=\"utf-8\"" || mail.headers["Content-Type"] == "text/plain; charset=utf-8")
        #expect(mail.headers["MIME-Version"] == "1.0")
        #expect(mail.headers["Message-ID"]?.hasSuffix("@example.org>") == true)
        #expect(mail.headers["Date"] != nil)
        // CRLF line ends only, 7-bit clean, no line over 78 characters.
        #expect(!mail.raw.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
        #expect(mail.raw.unicodeScalars.allSatisfy { $0.isASCII })
        #expect(mail.raw.components(separatedBy: "\r\n").allSatisfy { $0.count <= 78 })
        let row = try #require(try await rows().first)
        #expect(row.state == "sent" && row.attempts == 1 && row.sentAt != nil && row.claimedUntil == nil)
    }

    @Test("a wrong password: the row is retried later with the server's refusal in last_error")  // issue 12 alerts: SMTP auth failure retried
    func wrongPasswordRetried() async throws {
        let rcpt = "ops-badpass@example.com"
        try await configure(emails: [rcpt])
        try await enqueue()
        let before = now()
        try await dispatcher(smtp(password: "wrong")).pass()
        let row = try #require(try await rows().first)
        #expect(row.state == "pending")
        #expect(row.attempts == 1)
        // aiosmtpd's own words, not just libcurl's "Login denied".
        #expect(row.lastError?.contains("535 5.7.8 Authentication credentials invalid") == true, "\(row.lastError ?? "nil")")
        #expect(row.lastError?.contains("wrong") == false)  // the password is not echoed
        #expect(row.nextAttemptAt >= before + 5 && row.nextAttemptAt <= now() + 5)
        #expect(row.claimedUntil == nil)
        #expect(try sink.messages(to: rcpt).isEmpty)
    }

    @Test("the SMTP server's certificate is verified: an untrusted CA fails the send")  // issue 12 alerts: STARTTLS verifies
    func untrustedCertificateRefused() async throws {
        let rcpt = "ops-untrusted@example.com"
        try await configure(emails: [rcpt])
        try await enqueue()
        try await dispatcher(smtp(caFile: .some(nil))).pass()
        let row = try #require(try await rows().first)
        #expect(row.state == "pending" && row.attempts == 1)
        #expect(row.lastError?.lowercased().contains("certificate") == true, "\(row.lastError ?? "nil")")
        #expect(try sink.messages(to: rcpt).isEmpty)
    }

    @Test("a line break in the subject cannot add a header; one in an address is refused, nothing sent")  // issue 12 alerts: header injection
    func headerInjectionImpossible() async throws {
        let rcpt = "ops-inject@example.com"
        try await configure(emails: [rcpt, "victim@example.com\r\nRCPT TO:<evil@example.net>"])
        try await enqueue("Failover\r\nBcc: evil@example.net\r\nX-Injected: yes", text: "body")
        try await dispatcher(smtp()).pass()
        let mail = try #require(try sink.messages(to: rcpt).first)
        #expect(mail.headers["Bcc"] == nil && mail.headers["X-Injected"] == nil)
        #expect(mail.subject.hasPrefix("Failover") && mail.subject.contains("Bcc: evil@example.net"))
        #expect(try sink.messages().allSatisfy { !$0.rcpt_tos.contains { $0.contains("evil") || $0.contains("victim") } })
        let bad = try #require(try await rows().first { $0.state != "sent" })
        #expect(bad.state == "failed")
        #expect(bad.lastError?.contains("invalid recipient address") == true, "\(bad.lastError ?? "nil")")
    }

    @Test("without SMTP configured an email row fails with a clear error (it does not vanish)")  // issue 12 alerts: no SMTP
    func noSMTPConfigured() async throws {
        try await configure(emails: ["ops-nosmtp@example.com"])
        try await enqueue()
        try await dispatcher(nil).pass()
        let row = try #require(try await rows().first)
        #expect(row.state == "failed")
        #expect(row.lastError?.contains("no SMTP server configured") == true)
    }

    @Test("a dead SMTP server: the row is retried, and a webhook in the same batch goes out at once",
          arguments: ["refused", "silent"])  // issue 12 alerts: a dead SMTP server delays nothing else
    func deadSMTPDoesNotDelayWebhook(kind: String) async throws {
        let hole = try DeadSMTP.blackHole()
        defer { close(hole.fd) }
        let port = try kind == "silent" ? hole.port : DeadSMTP.closedPort()
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        try await configure(emails: ["ops-dead@example.com"], webhook: receiver.url)
        try await enqueue()
        let start = Date()
        try await dispatcher(smtp(port: port), timeout: 3).pass()
        let passTime = Date().timeIntervalSince(start)
        let webhookAt = try #require(receiver.requests.first?.at)
        // The webhook did not wait for the SMTP attempt (which, against the silent server, ran
        // into its 3 s timeout).
        #expect(webhookAt.timeIntervalSince(start) < 1.5, "webhook after \(webhookAt.timeIntervalSince(start)) s")
        if kind == "silent" { #expect(passTime >= 3) }
        let all = try await rows()
        let email = try #require(all.first { $0.channel == "email" })
        #expect(email.state == "pending" && email.attempts == 1 && email.lastError != nil, "\(email)")
        #expect(all.first { $0.channel == "webhook" }?.state == "sent")
    }

    @Test("the running dispatcher keeps claiming while an SMTP send hangs")  // issue 12 alerts: queue never blocked
    func runLoopNotBlockedByHungSend() async throws {
        let hole = try DeadSMTP.blackHole()
        defer { close(hole.fd) }
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        try await configure(emails: ["ops-hung@example.com"])
        try await enqueue("first: mail only")
        let service = try dispatcher(smtp(port: hole.port), timeout: 5)
        let running = Task { try await service.run() }
        defer { running.cancel() }  // also when an expectation below throws
        try await Task.sleep(for: .milliseconds(500))  // the mail is now stuck on the silent server
        try await configure(emails: [], webhook: receiver.url)
        let queued = Date()
        try await enqueue("second: webhook")
        let deadline = Date().addingTimeInterval(4)
        while receiver.requests.isEmpty, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        let got = try #require(receiver.requests.first, "the webhook waited for the hung SMTP send")
        #expect(got.at.timeIntervalSince(queued) < 2)
        #expect(try await rows().first { $0.channel == "email" }?.state == "pending")
        running.cancel()
        _ = await running.result  // the hung send ends at its timeout; then the service returns
    }

    @Test("the server's service group runs the dispatcher: a queued alert is mailed, shutdown is clean")  // issue 12 alerts: wired into serve
    func serverRunsDispatcher() async throws {
        var config = ServerConfig(dataDir: fx.dir.appendingPathComponent("server").path)
        config.port = 0
        config.smtp = smtp()
        config.alerts.intervalSec = 0.1
        let server = try ControlPlane(config: config)
        let issued = try #require(try server.store.bootstrapAdminIfNeeded())
        let admin = try #require(try await server.store.authenticateOperator(token: issued.token))
        let pool = try await server.store.createPool(CreatePoolRequest(name: "edge", template: .generic), by: admin).id
        let rcpt = "ops-served@example.com"
        try await server.store.db.write { db in
            try db.execute(sql: "INSERT INTO pool_failover(pool_id, alert_emails) VALUES (?, ?)", arguments: [pool, rcpt])
            try Store.enqueueAlert(db, AlertMessage(kind: .heartbeatLost, poolID: pool, subject: "web-1 silent", text: "no heartbeat"))
        }
        let group = try await server.serviceGroup()
        let running = Task { try await group.run() }
        let deadline = Date().addingTimeInterval(10)
        // The row is marked sent after the SMTP server accepted the mail: wait for both.
        func state() async throws -> String? {
            try await server.store.db.read { db in try String.fetchOne(db, sql: "SELECT state FROM alert_outbox") }
        }
        while try await state() != "sent", Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
        let final = try await state()
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(try sink.messages(to: rcpt).first?.subject == "web-1 silent")
        #expect(final == "sent")
        // Shutdown closed the database last, after the services that use it.
        await #expect(throws: (any Error).self) { _ = try await state() }
    }

    // MARK: webhooks

    @Test("webhook: JSON POST with event, timestamp and an HMAC-SHA256 signature a receiver can verify")  // issue 12 alerts: signed webhook
    func webhookSigned() async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        try await configure(webhook: receiver.url)
        try await enqueue("Failover: edge now on web-2", kind: .failover)
        try await dispatcher(nil).pass()
        let r = try #require(receiver.requests.first)
        #expect(receiver.requests.count == 1)
        #expect(r.request.method == "POST")
        #expect(r.request.headers["content-type"] == "application/json")
        #expect(r.request.headers["x-balctl-event"] == "failover")
        let ts = try #require(r.request.headers["x-balctl-timestamp"].flatMap { Int($0) })
        #expect(abs(Double(ts) - now()) < 30)
        // Verified the way a receiver would, independently of the sender's code.
        let delivery = try #require(r.request.headers["x-balctl-delivery"])
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(ts).\(delivery).".utf8) + r.request.body,
                                                  using: SymmetricKey(data: Data(Self.webhookSecret.utf8)))
        let expected = "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
        #expect(r.request.headers["x-balctl-signature"] == expected)
        let wrongKey = HMAC<SHA256>.authenticationCode(for: Data("\(ts).\(delivery).".utf8) + r.request.body,
                                                       using: SymmetricKey(data: Data("other".utf8)))
        #expect(r.request.headers["x-balctl-signature"] != "sha256=" + wrongKey.map { String(format: "%02x", $0) }.joined())
        // The delivery ID is signed: a replay under a fresh ID does not verify.
        let otherDelivery = HMAC<SHA256>.authenticationCode(for: Data("\(ts).\((Int(delivery) ?? 0) + 1).".utf8) + r.request.body,
                                                            using: SymmetricKey(data: Data(Self.webhookSecret.utf8)))
        #expect(r.request.headers["x-balctl-signature"] != "sha256=" + otherDelivery.map { String(format: "%02x", $0) }.joined())
        let payload = try JSONDecoder().decode(JSONValue.self, from: r.request.body)
        guard case .object(let fields) = payload else { Issue.record("payload is not an object"); return }
        #expect(fields["kind"] == .string("failover"))
        #expect(fields["subject"] == .string("Failover: edge now on web-2"))
        #expect(fields["pool"] == .number(Double(pool)))
        #expect(try await rows().first?.state == "sent")
    }

    @Test("webhook: HTTP 500 is retried with the status and reply in last_error, then delivered")  // issue 12 alerts: webhook retry
    func webhookRetriedOn500() async throws {
        let receiver = try WebhookReceiver(statuses: [500])
        defer { receiver.stop() }
        try await configure(webhook: receiver.url)
        try await enqueue()
        let d = try dispatcher(nil)
        try await d.pass()
        var row = try #require(try await rows().first)
        #expect(row.state == "pending" && row.attempts == 1)
        #expect(row.lastError?.contains("HTTP 500") == true && row.lastError?.contains("receiver broke") == true, "\(row.lastError ?? "nil")")
        // Not due before the back-off…
        try await d.pass()
        #expect(receiver.requests.count == 1)
        // …and delivered once it is.
        try await d.pass(at: row.nextAttemptAt + 0.001)
        row = try #require(try await rows().first)
        #expect(row.state == "sent" && row.attempts == 2)
        #expect(receiver.requests.count == 2)
        #expect(receiver.requests[0].request.headers["x-balctl-delivery"] == receiver.requests[1].request.headers["x-balctl-delivery"])
    }

    @Test("webhook without a saved secret is not sent unsigned: the error is recorded")  // issue 12 alerts: never unsigned
    func webhookWithoutSecretRefused() async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        try await configure(webhook: receiver.url, secret: nil)
        try await enqueue()
        try await dispatcher(nil).pass()
        #expect(receiver.requests.isEmpty)
        let row = try #require(try await rows().first)
        #expect(row.state == "pending" && row.lastError?.contains("no webhook secret") == true)
    }

    @Test("webhook over plain http to a non-loopback host is refused, nothing sent")  // issue 12 alerts: HTTPS required
    func webhookPlainHTTPRefused() async throws {
        try await configure(webhook: "http://192.0.2.1:9/hook")
        try await enqueue()
        try await dispatcher(nil).pass()
        let row = try #require(try await rows().first)
        #expect(row.state == "failed")
        #expect(row.lastError?.contains("HTTPS is required") == true || row.lastError?.contains("only to loopback") == true,
                "\(row.lastError ?? "nil")")
    }

    @Test("after the last attempt the row is 'failed' and keeps its last error")  // issue 12 alerts: give up after N
    func givesUpAfterMaxAttempts() async throws {
        let receiver = try WebhookReceiver(statuses: [503, 503, 503])
        defer { receiver.stop() }
        try await configure(webhook: receiver.url)
        try await enqueue()
        let d = try dispatcher(nil, maxAttempts: 2)
        try await d.pass()
        let first = try #require(try await rows().first)
        #expect(first.state == "pending")
        try await d.pass(at: first.nextAttemptAt + 0.001)
        let row = try #require(try await rows().first)
        #expect(row.state == "failed" && row.attempts == 2)
        #expect(row.lastError?.contains("HTTP 503") == true)
        try await d.pass(at: now() + 3600)
        #expect(receiver.requests.count == 2)
    }

    @Test("back-off: 5 s doubling, capped at 10 minutes")  // issue 12 alerts: retry policy
    func backOff() {
        let p = AlertPolicy()
        #expect((1...9).map { p.retryDelay(afterAttempts: $0) } == [5, 10, 20, 40, 80, 160, 320, 600, 600])
    }

    @Test("two dispatchers on one database send each row exactly once")  // issue 12 alerts: exclusive claim
    func claimIsExclusive() async throws {
        let receiver = try WebhookReceiver(delayMs: 30)
        defer { receiver.stop() }
        try await configure(webhook: receiver.url)
        for i in 0..<24 { try await enqueue("alert \(i)") }
        // A second control plane: its own connection pool on the same file.
        let other = try fx.openStore()
        let a = try dispatcher(nil), b = try dispatcher(nil, store: other)
        let deadline = Date().addingTimeInterval(30)
        while try await rows().contains(where: { $0.state == "pending" }), Date() < deadline {
            async let x: Void = a.pass()
            async let y: Void = b.pass()
            _ = try await (x, y)
        }
        let subjects = try receiver.requests.map { r -> JSONValue? in
            guard case .object(let fields) = try JSONDecoder().decode(JSONValue.self, from: r.request.body) else { return nil }
            return fields["subject"]
        }
        #expect(subjects.count == 24)
        #expect(Set(subjects).count == 24)
        #expect(try await rows().allSatisfy { $0.state == "sent" && $0.attempts == 1 })
    }

    @Test("sent and failed rows older than the retention are pruned; pending ones are kept")  // issue 12 alerts: pruning
    func pruning() async throws {
        try await configure(emails: ["a@example.com"])
        let t = now()
        try await fx.store.db.write { db in
            for (state, age) in [("sent", 8.0), ("failed", 8.0), ("pending", 8.0), ("sent", 1.0)] {
                try db.execute(sql: """
                    INSERT INTO alert_outbox(channel, target, kind, subject, body, state, next_attempt_at, created_at)
                    VALUES ('email', 'a@example.com', 'failover', ?, 'b', ?, ?, ?)
                    """, arguments: ["\(state) \(age)", state, t + 3600, t - age * 86_400])
            }
        }
        #expect(try await fx.store.pruneAlerts(createdBefore: t - AlertPolicy().keepSec) == 2)
        let left = try await fx.store.db.read { db in try String.fetchAll(db, sql: "SELECT subject FROM alert_outbox ORDER BY id") }
        #expect(left == ["pending 8.0", "sent 1.0"])
    }
}

/// A webhook endpoint on loopback (plain http, which the policy allows to loopback only): answers
/// the `statuses` given in turn (then 200), optionally slowly, and records what it got and when.
final class WebhookReceiver: Sendable {
    struct Received: Sendable { var request: TinyHTTPServer.Request; var at: Date }
    private final class State: Sendable {
        let received = Mutex<[Received]>([])
        let statuses: Mutex<[Int]>
        init(_ statuses: [Int]) { self.statuses = Mutex(statuses) }
    }
    private let server: TinyHTTPServer
    private let state: State
    var url: String { "http://127.0.0.1:\(server.port)/hooks/balctl" }
    var requests: [Received] { state.received.withLock { $0 } }

    init(statuses: [Int] = [], delayMs: Int = 0) throws {
        let state = State(statuses)
        self.state = state
        server = try TinyHTTPServer { request in
            if delayMs > 0 { usleep(useconds_t(delayMs * 1000)) }
            state.received.withLock { $0.append(Received(request: request, at: Date())) }
            let status = state.statuses.withLock { $0.isEmpty ? 200 : $0.removeFirst() }
            return .init(status: status, body: Data((status == 200 ? "ok" : "receiver broke\nbadly").utf8))
        }
    }

    func stop() { server.stop() }
}
