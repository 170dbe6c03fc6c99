import AgentKernel
import BalctlProtocol

// Running a plugin's handler in a test the way the agent's job runner does (shared by every
// plugin's tests).

/// A JobContext like the job runner builds, with its output kept for the test to read.
/// `scopes` and `controlPlane` are for the backup commands (a plugin's scope, `FakeSnapshotServer`).
public func makeContext(checkMode: Bool = false, command: String = "test", jobID: Int64 = 1,
                        scopes: [any BackupScope] = [], controlPlane: (any ControlPlaneChannel)? = nil) -> (JobContext, OutputTail) {
    let out = OutputTail(limit: 64 * 1024)
    let ctx = JobContext(jobID: jobID, attempt: 1, command: command, checkMode: checkMode, timeoutSec: 120,
                         output: out, processes: ProcessRunner(), host: HostProbe(),
                         backupScopes: Dictionary(uniqueKeysWithValues: scopes.map { ($0.name, $0) }), controlPlane: controlPlane,
                         progress: { _, _ in })
    return (ctx, out)
}

/// Run a handler the way the job runner does: decode + validate the JSON parameters, then run.
public func runJob<H: CommandHandler>(_ handler: H, _ params: JSONValue = .emptyObject, checkMode: Bool = false, jobID: Int64 = 1,
                                      scopes: [any BackupScope] = [], controlPlane: (any ControlPlaneChannel)? = nil) async throws -> (JobOutcome, String) {
    let (ctx, out) = makeContext(checkMode: checkMode, command: H.id, jobID: jobID, scopes: scopes, controlPlane: controlPlane)
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
