import BalctlProtocol

/// What a handler gets besides its parameters: who it is running for, check mode, a bounded
/// output log, progress reporting (which also extends the lease) and the process runner.
public struct JobContext: Sendable {
    public let jobID: Int64
    public let attempt: Int
    public let command: String
    /// Report what would change; change nothing.
    public let checkMode: Bool
    public let timeoutSec: Int
    public let output: OutputTail
    public let processes: ProcessRunner
    /// Host facts and the agent's configuration, for handlers that report or act on them.
    public let host: HostProbe
    /// Every plugin's backup scopes by name (the backup plugin's seam).
    public let backupScopes: [String: any BackupScope]
    /// The agent's session to the control plane for bulk transfers; nil where there is none
    /// (first-start work, unit tests of other plugins).
    public let controlPlane: (any ControlPlaneChannel)?
    /// The control plane origin the agent is configured with (`AgentConfig.apiBase`), for
    /// handlers that must keep it reachable (the firewall's lock-out guard); nil where the
    /// context is not built by the agent (tests, first-start work).
    public let controlPlaneBase: String?
    /// Every plugin's certificate sources (`host.cert_expiry` without paths reads them).
    public let certificateSources: [any CertificateSource]
    let progressSink: @Sendable (String?, Double?) async -> Void

    public init(jobID: Int64, attempt: Int, command: String, checkMode: Bool, timeoutSec: Int,
                output: OutputTail, processes: ProcessRunner, host: HostProbe,
                backupScopes: [String: any BackupScope] = [:], controlPlane: (any ControlPlaneChannel)? = nil,
                controlPlaneBase: String? = nil, certificateSources: [any CertificateSource] = [],
                progress: @escaping @Sendable (String?, Double?) async -> Void) {
        self.jobID = jobID; self.attempt = attempt; self.command = command
        self.checkMode = checkMode; self.timeoutSec = timeoutSec; self.output = output
        self.processes = processes; self.host = host; self.backupScopes = backupScopes
        self.controlPlane = controlPlane; self.controlPlaneBase = controlPlaneBase
        self.certificateSources = certificateSources
        self.progressSink = progress
    }

    /// Append a line to the job's output.
    public func log(_ line: String) { output.append(line.hasSuffix("\n") ? line : line + "\n") }

    /// Tell the control plane how far along the job is; this also extends the job's lease.
    public func progress(_ message: String?, percent: Double? = nil) async {
        await progressSink(message, percent)
    }

    /// Run a program (argv array, never a shell string) with the job's remaining time as the
    /// bound, its output appended to the job's output.
    /// `stdin`/`stdout` as in `ProcessRunner.run` (handed over, closed by the runner).
    public func run(_ executable: String, _ arguments: [String], timeoutSec: Double? = nil,
                    environment: [String: String]? = nil, stdin: Int32? = nil, stdout: Int32? = nil) async throws -> ProcessResult {
        try await processes.run(
            executable, arguments, environment: environment,
            timeoutSec: timeoutSec ?? Double(self.timeoutSec), output: output, stdin: stdin, stdout: stdout)
    }
}
