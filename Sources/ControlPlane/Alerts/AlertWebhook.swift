import Crypto
import CurlClient
import Foundation

/// One webhook delivery: `POST` of the JSON payload with
///
///     Content-Type: application/json
///     X-Balctl-Event: <kind>
///     X-Balctl-Delivery: <outbox row id>        (the same on every retry: deduplicate on it)
///     X-Balctl-Timestamp: <unix seconds>
///     X-Balctl-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<delivery>.<body>")>
///
/// A receiver recomputes the signature over the raw body, compares in constant time and rejects
/// timestamps far from its clock (a replayed request). The delivery ID is signed because
/// receivers deduplicate on it: a replay with a fresh ID would otherwise pass as a new alert. The
/// event is the body's `kind` (signed); the header repeats it for routing only. HTTPS only, plain http only to loopback,
/// no redirects (`CurlSession`'s policy). 2xx is success; anything else is an error that quotes
/// the status and the start of the reply.
struct AlertWebhook: Sendable {
    var url: String
    var kind: String
    var deliveryID: Int64
    var body: String
    var secret: String

    static func signature(secret: String, timestamp: Int, delivery: Int64, body: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(timestamp).\(delivery).\(body)".utf8),
                                                  using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + Secrets.hex(mac)
    }

    func headers(timestamp: Int) -> [(String, String)] {
        [
            ("Content-Type", "application/json"),
            ("X-Balctl-Event", kind),
            ("X-Balctl-Delivery", String(deliveryID)),
            ("X-Balctl-Timestamp", String(timestamp)),
            ("X-Balctl-Signature", Self.signature(secret: secret, timestamp: timestamp, delivery: deliveryID, body: body)),
        ]
    }

    func send(timeoutSec: Double, at t: Double) async throws {
        var options = CurlSession.Options(requireHTTPS: false, userAgent: "balctl-alerts")
        options.timeoutMs = Int(timeoutSec * 1000)
        options.connectTimeoutMs = min(options.connectTimeoutMs, options.timeoutMs)
        options.maxResponseBytes = 1 << 20
        // A session per delivery: each runs on its own queue, so one slow receiver delays no other.
        let session = try CurlSession(options: options)
        let response = try await session.request("POST", url, headers: headers(timestamp: Int(t)), body: Array(body.utf8))
        guard (200..<300).contains(response.status) else {
            let start = String(decoding: response.body.prefix(200), as: UTF8.self)
                .map { $0.isNewline ? " " : $0 }
            throw AlertSendError("webhook answered HTTP \(response.status): \(String(start))")
        }
    }
}

/// Why one send failed. `permanent`: trying again cannot help (bad address, refused URL, no mail
/// server configured), so the row fails at once instead of retrying for an hour.
struct AlertSendError: Error, CustomStringConvertible, Sendable {
    var description: String
    var permanent: Bool
    init(_ d: String, permanent: Bool = false) { description = d; self.permanent = permanent }
}
