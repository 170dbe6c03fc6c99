import AgentKernel
import BalctlProtocol

// Running a plugin's handler in a test the way the agent's job runner does (shared by every
// plugin's tests).

/// A JobContext like the job runner builds, with its output kept for the test to read.
public func makeContext(checkMode: Bool = false, command: String = "test") -> (JobContext, OutputTail) {
    let out = OutputTail(limit: 64 * 1024)
    let ctx = JobContext(jobID: 1, attempt: 1, command: command, checkMode: checkMode, timeoutSec: 120,
                         output: out, processes: ProcessRunner(), host: HostProbe(), progress: { _, _ in })
    return (ctx, out)
}

/// Run a handler the way the job runner does: decode + validate the JSON parameters, then run.
public func runJob<H: CommandHandler>(_ handler: H, _ params: JSONValue = .emptyObject, checkMode: Bool = false) async throws -> (JobOutcome, String) {
    let (ctx, out) = makeContext(checkMode: checkMode, command: H.id)
    let p = try H.decodeParameters(params)
    let outcome = try await handler.run(p, in: ctx)
    return (outcome, out.text)
}

/// The error a job ends with (a JobFailure's message, or a ParameterError's).
public func jobError<H: CommandHandler>(_ handler: H, _ params: JSONValue = .emptyObject, checkMode: Bool = false) async -> String? {
    do {
        _ = try await runJob(handler, params, checkMode: checkMode)
        return nil
    } catch {
        return String(describing: error)
    }
}
