import BalctlProtocol

/// The numbers of a claimed job the agent accepts (issue 20 item 18). A value outside these ranges
/// (an `Int.max` timeout would trap in `Task.sleep`, a negative one is meaningless) makes the job
/// fail with the reason instead of running — never a crash, and the control plane gets an answer,
/// so it does not re-offer the job to a crash-looping agent.
public enum ClaimedJobLimits {
    /// Wider than the control plane's own 1…86400, so a server that allows longer jobs still works.
    public static let timeoutSec = 1...(30 * 86_400)
    public static let leaseSec = 1...(30 * 86_400)
    public static let attempt = 1...1_000_000

    /// Why the agent refuses to run `job`, or nil when its numbers are in range.
    public static func problem(_ job: ClaimedJob) -> String? {
        if job.id < 1 { return "job id \(job.id) is not positive" }
        if !attempt.contains(job.attempt) { return "attempt \(job.attempt) is outside \(describe(attempt))" }
        if !timeoutSec.contains(job.timeoutSec) { return "timeoutSec \(job.timeoutSec) is outside \(describe(timeoutSec))" }
        if !leaseSec.contains(job.leaseSec) { return "leaseSec \(job.leaseSec) is outside \(describe(leaseSec))" }
        return nil
    }

    private static func describe(_ r: ClosedRange<Int>) -> String { "\(r.lowerBound)…\(r.upperBound)" }
}
