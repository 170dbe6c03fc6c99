import CurlClient
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// How alerts are sent and retried.
public struct AlertPolicy: Sendable {
    /// Seconds between claims of due rows.
    public var intervalSec: Double = 1
    /// One send, connect to done (SMTP or webhook): a dead server costs its own row this much.
    public var sendTimeoutSec: Double = 20
    /// After this many failed attempts a row is 'failed' (its last error kept).
    public var maxAttempts = 12
    /// Retry back-off: `firstRetrySec` doubling per attempt, at most `maxRetrySec`
    /// (5 s, 10 s, … 10 min: about 50 minutes over 12 attempts).
    public var firstRetrySec: Double = 5
    public var maxRetrySec: Double = 600
    /// Sent and failed rows older than this are deleted.
    public var keepSec: Double = 7 * 86_400
    public var pruneIntervalSec: Double = 3600
    /// Sends in flight per channel: a dead SMTP server fills the email slots, never the webhook
    /// ones.
    public var maxInFlightPerChannel = 16

    public init() {}

    /// Seconds to wait after the `attempts`-th failed attempt.
    func retryDelay(afterAttempts attempts: Int) -> Double {
        min(maxRetrySec, firstRetrySec * pow(2, Double(max(0, attempts - 1))))
    }

    /// A claim outlives any send (each is cut off at `sendTimeoutSec`), so no other control plane
    /// takes a row that is still being sent; a control plane that dies mid-send frees its rows
    /// when the claim ends.
    var claimSec: Double { sendTimeoutSec * 2 + 30 }
}

/// Sends the alert outbox (`Store.enqueueAlert`): every `intervalSec` it claims due rows and
/// sends each in a task of its own, without waiting for earlier sends to end, so neither a
/// failover (which only inserts rows) nor another alert ever waits on a slow channel. A failed
/// send is retried with back-off and ends 'failed' after `maxAttempts`, the error kept in
/// last_error. Old sent/failed rows are pruned.
struct AlertDispatcher: Service {
    static let channels = ["email", "webhook"]

    let store: Store
    let policy: AlertPolicy
    let smtp: SMTPSettings?
    let secrets: SecretBox
    let logger: Logger
    /// Sends by channel and result (nil: not counted, as in tests).
    let metrics: ServerMetrics?
    private let inFlight = InFlight()

    /// Refuses an SMTP configuration that breaks the mail policy (the server does not start).
    init(store: Store, policy: AlertPolicy, smtp: SMTPSettings?, secrets: SecretBox, logger: Logger, metrics: ServerMetrics? = nil) throws {
        if let smtp { try SMTPMailer.check(smtp) }
        self.store = store; self.policy = policy; self.smtp = smtp; self.secrets = secrets; self.logger = logger
        self.metrics = metrics
    }

    func run() async throws {
        let (claimed, claims) = AsyncStream.makeStream(of: OutboxAlert.self)
        await withDiscardingTaskGroup { group in
            group.addTask {
                try? await runEvery(policy.intervalSec, logger: logger, what: "alert dispatch") {
                    for alert in try await claim(at: now()) { claims.yield(alert) }
                }
                claims.finish()
            }
            group.addTask {
                try? await runEvery(policy.pruneIntervalSec, logger: logger, what: "alert prune") {
                    try await store.pruneAlerts(createdBefore: now() - policy.keepSec)
                }
            }
            // Sends already started finish (each within sendTimeoutSec) before the service returns.
            for await alert in claimed {
                group.addTask { await deliver(alert) }
            }
        }
    }

    /// One claim and every send it starts, awaited (tests; `run` does not wait).
    func pass(at t: Double = now()) async throws {
        let alerts = try await claim(at: t)
        await withDiscardingTaskGroup { group in
            for alert in alerts { group.addTask { await deliver(alert) } }
        }
    }

    /// Claims due rows per channel, up to the free slots of that channel.
    func claim(at t: Double) async throws -> [OutboxAlert] {
        var all: [OutboxAlert] = []
        for channel in Self.channels {
            let free = policy.maxInFlightPerChannel - inFlight.count(channel)
            let rows = try await store.claimDueAlerts(channel: channel, limit: free, at: t, until: t + policy.claimSec)
            inFlight.add(channel, rows.count)
            all += rows
        }
        return all
    }

    func deliver(_ alert: OutboxAlert) async {
        defer { inFlight.add(alert.channel, -1) }
        do {
            do {
                try await send(alert)
            } catch {
                metrics?.alertSent(channel: alert.channel, ok: false)
                throw error
            }
            metrics?.alertSent(channel: alert.channel, ok: true)
            try await store.markAlertSent(alert.id, at: now())
        } catch {
            let attempts = alert.attempts + 1
            let permanent = (error as? AlertSendError)?.permanent == true || error is RequestRefused
            let retry = permanent || attempts >= policy.maxAttempts ? nil : policy.retryDelay(afterAttempts: attempts)
            logger.warning("alert \(alert.id) (\(alert.channel) to \(alert.target)) attempt \(attempts) failed: \(error)")
            do {
                try await store.markAlertFailed(alert.id, error: String(describing: error), retryAfter: retry, at: now())
            } catch {
                // The claim runs out and the row is tried again.
                logger.error("alert \(alert.id): cannot record the failure: \(error)")
            }
        }
    }

    func send(_ alert: OutboxAlert) async throws {
        switch alert.channel {
        case "email":
            guard var smtp else {
                throw AlertSendError("no SMTP server configured (balctl-server serve --smtp-url … --smtp-from …)", permanent: true)
            }
            smtp.timeoutMs = Int(policy.sendTimeoutSec * 1000)
            smtp.connectTimeoutMs = min(smtp.connectTimeoutMs, smtp.timeoutMs)
            let mail = AlertMail(from: smtp.from, to: alert.target, subject: alert.subject, text: alert.body,
                                 kind: alert.kind, uniquePart: String(alert.id))
            let message: [UInt8]
            do { message = try mail.rfc5322() } catch { throw AlertSendError(String(describing: error), permanent: true) }
            try await SMTPMailer.send(smtp, recipients: [alert.target], message: message)
        case "webhook":
            guard let pool = alert.poolID, let sealed = try await store.webhookSecret(pool: pool) else {
                // Never unsigned: a receiver could not tell it from a forgery.
                throw AlertSendError("no webhook secret saved for the pool: not sending an unsigned webhook")
            }
            let secret = try secrets.open(sealed, context: "webhook:\(pool)")
            try await AlertWebhook(url: alert.target, kind: alert.kind, deliveryID: alert.id, body: alert.body, secret: secret)
                .send(timeoutSec: policy.sendTimeoutSec, at: now())
        default:
            throw AlertSendError("unknown alert channel '\(alert.channel)'", permanent: true)
        }
    }
}

/// Sends in flight per channel (shared by the claim loop and the send tasks).
private final class InFlight: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    func count(_ channel: String) -> Int { counts.withLock { $0[channel, default: 0] } }
    func add(_ channel: String, _ n: Int) { counts.withLock { $0[channel, default: 0] += n } }
}
