import Synchronization

/// How waiting for a job's handler ended.
enum HandlerEnd: Sendable {
    case finished(Result<JobOutcome, any Error>)
    case timedOut
    /// The waiting task was cancelled (an operator's cancel or the agent's shutdown).
    case cancelled
}

/// Waits for a handler's task, a deadline or the waiter's cancellation, whichever comes first,
/// without waiting for the handler once another came first (a task group would: it awaits every
/// child before it returns, so a handler that ignores cancellation would hold the job).
enum HandlerRace {
    static func first(of handler: Task<JobOutcome, any Error>, timeoutSec: Double,
                      honourCancellation: Bool) async -> HandlerEnd {
        let winner = FirstValue<HandlerEnd>()
        Task { winner.resolve(.finished(await handler.result)) }
        let timer = Task {
            if (try? await Task.sleep(for: .seconds(ProcessRunner.clamped(timeoutSec)))) != nil {
                winner.resolve(.timedOut)
            }
        }
        defer { timer.cancel() }
        guard honourCancellation else { return await winner.value() }
        return await withTaskCancellationHandler {
            await winner.value()
        } onCancel: {
            winner.resolve(.cancelled)
        }
    }
}

/// The first value resolved; later ones are ignored.
final class FirstValue<T: Sendable>: Sendable {
    private struct State {
        var resolved = false
        var value: T?
        var waiter: CheckedContinuation<T, Never>?
    }
    private let state = Mutex(State())

    func resolve(_ value: T) {
        let waiter = state.withLock { s -> CheckedContinuation<T, Never>? in
            guard !s.resolved else { return nil }
            s.resolved = true
            if let w = s.waiter { s.waiter = nil; return w }
            s.value = value
            return nil
        }
        waiter?.resume(returning: value)
    }

    /// Wait for the value (one waiter).
    func value() async -> T {
        await withCheckedContinuation { (c: CheckedContinuation<T, Never>) in
            let ready = state.withLock { s -> T? in
                if s.resolved, let v = s.value { return v }
                s.waiter = c
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
    }
}
