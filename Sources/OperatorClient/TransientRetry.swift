import Foundation

/// Retries a call while the server is unreachable (or a proxy reports it away), with back-off,
/// for a bounded time. A follow outlives a server restart or a network blip this way instead of
/// ending with "cannot reach" while the run goes on; anything else (a 404, a refusal) is final.
public struct TransientRetry: Sendable {
    /// Give up once the server has been unreachable this long without a single answer.
    public var giveUpAfterSec: Double = 120
    public var firstDelaySec: Double = 0.5
    public var maxDelaySec: Double = 5
    let sleep: @Sendable (Double) -> Void
    let now: @Sendable () -> Double

    public init(giveUpAfterSec: Double = 120,
                sleep: @escaping @Sendable (Double) -> Void = { Thread.sleep(forTimeInterval: $0) },
                now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.giveUpAfterSec = giveUpAfterSec
        self.sleep = sleep
        self.now = now
    }

    /// Run `operation`; on a transient `APIClient.Failure`, report it through `onRetry` (the
    /// failure and the delay before the next try), wait and try again until `giveUpAfterSec`.
    public func run<T>(_ operation: () throws -> T,
                       onRetry: (APIClient.Failure, Double) -> Void = { _, _ in }) throws -> T {
        let start = now()
        var delay = firstDelaySec
        while true {
            do {
                return try operation()
            } catch let failure as APIClient.Failure where failure.isTransient {
                let elapsed = now() - start
                guard elapsed < giveUpAfterSec else {
                    throw APIClient.Failure(
                        status: failure.status,
                        message: "\(failure.message) (gave up after \(Int(elapsed)) s of retrying)")
                }
                let wait = min(delay, giveUpAfterSec - elapsed)
                onRetry(failure, wait)
                sleep(wait)
                delay = min(delay * 2, maxDelaySec)
            }
        }
    }
}
