/// Cuts the heartbeat loop's sleep short: work committed for this member (the long poll's wake)
/// or an installed update that wants its restart. A `raise` before or during `sleep` ends it at
/// once; the flag stays up until `lower`, so a raise between two sleeps is not lost. The loop
/// sleeps on this instead of polling a flag: no wake-ups while idle, no slice added to a job's
/// start.
final class LoopSignal: Sendable {
    private struct State: Sendable {
        var raised = false
        var sleeper: (token: UInt64, continuation: CheckedContinuation<Void, Never>)?
        var next: UInt64 = 0
    }
    private let state = Locked(State())

    var isRaised: Bool { state.value.raised }
    func lower() { state.withLock { $0.raised = false } }

    func raise() {
        let sleeper = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.raised = true
            defer { s.sleeper = nil }
            return s.sleeper?.continuation
        }
        sleeper?.resume()
    }

    /// Until raised, `seconds` passed, or the calling task is cancelled.
    func sleep(_ seconds: Double) async {
        guard seconds > 0 else { return }
        let token = state.withLock { s -> UInt64 in
            s.next &+= 1
            return s.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                // Under the lock with the cancellation check: a cancel either finds the sleeper
                // registered (and ends it) or is seen here.
                let endNow = state.withLock { s -> Bool in
                    if s.raised || Task.isCancelled { return true }
                    s.sleeper = (token, c)
                    return false
                }
                if endNow { c.resume(); return }
                Task { [self] in
                    try? await Task.sleep(for: .seconds(seconds))
                    end(token)
                }
            }
        } onCancel: {
            end(token)
        }
    }

    private func end(_ token: UInt64) {
        let sleeper = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard let current = s.sleeper, current.token == token else { return nil }
            s.sleeper = nil
            return current.continuation
        }
        sleeper?.resume()
    }
}
