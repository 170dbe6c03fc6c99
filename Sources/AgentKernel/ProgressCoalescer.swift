import BalctlProtocol

/// Progress posts for running jobs (issue 20 item 19): at most one post in flight per job and at
/// most one per `minIntervalSec`; while one is in flight or throttled, later values replace each
/// other and only the latest is sent. A slow control plane therefore never sees a pile of queued
/// posts ahead of the completion. Posting never blocks the handler.
actor ProgressCoalescer {
    private struct Slot {
        var lastSentAt: Double?
        var posting = false
        var latest: JobProgress?
    }
    let reporter: any JobReporter
    let log: AgentLog
    let minIntervalSec: Double
    private var slots: [JobRef: Slot] = [:]

    init(reporter: any JobReporter, log: AgentLog, minIntervalSec: Double = 1) {
        self.reporter = reporter; self.log = log; self.minIntervalSec = minIntervalSec
    }

    func post(_ p: JobProgress) {
        let ref = JobRef(id: p.jobId, attempt: p.attempt)
        var slot = slots[ref] ?? Slot()
        slot.latest = p
        let startPump = !slot.posting
        slot.posting = true
        slots[ref] = slot
        if startPump { Task { await self.pump(ref) } }
    }

    /// The job ended: whatever is still waiting is dropped (the completion has the final word).
    func forget(_ ref: JobRef) { slots[ref] = nil }

    private func pump(_ ref: JobRef) async {
        while let slot = slots[ref], slot.latest != nil {
            if let last = slot.lastSentAt {
                let wait = last + minIntervalSec - monotonicNow()
                if wait > 0 {
                    try? await Task.sleep(for: .seconds(wait))
                    continue
                }
            }
            guard let p = slots[ref]?.latest else { break }
            slots[ref]?.latest = nil
            slots[ref]?.lastSentAt = monotonicNow()
            do {
                _ = try await reporter.progress(p)
            } catch {
                log.debug("progress for job \(ref.id) not sent: \(error)")
            }
        }
        slots[ref]?.posting = false
    }
}
