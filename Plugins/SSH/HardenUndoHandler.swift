import AgentKernel
import BalctlProtocol

/// `ssh.harden_undo`: remove the drop-in ssh.harden wrote (`sshd_config.d/50-balctl.conf`),
/// check the configuration with `sshd -t` and reload, so sshd is back to what the main config
/// says. No drop-in → "unchanged".
public struct HardenUndoHandler: CommandHandler {
    public typealias Parameters = NoParameters
    let settings: SSHSettings
    public init(settings: SSHSettings) { self.settings = settings }
    public static let id = "ssh.harden_undo"
    public static let summary = "Remove the ssh.harden drop-in and reload sshd"
    public static let requiresRoot = true
    public static let lock: String? = SSHPlugin.configLock
    public static let supportsCheckMode = true

    public func run(_ p: NoParameters, in context: JobContext) async throws -> JobOutcome {
        _ = try SSHD.program(settings)
        guard let dir = try HardenHandler.dropInDirectory(settings, create: false) else {
            return .unchanged("unchanged: \(settings.dropInDir) does not exist")
        }
        let previous: PinnedDirectory.Entry?
        do { previous = try dir.read(SSHSettings.dropInName, limit: 1 << 20) } catch { throw JobFailure(error.description) }
        guard let previous else { return .unchanged("unchanged: no \(settings.dropInFile)") }
        if context.checkMode {
            return JobOutcome(changed: true, summary: "check mode: would remove \(settings.dropInFile) and reload")
        }
        do { try dir.remove(SSHSettings.dropInName) } catch { throw JobFailure(error.description) }
        if let problem = try await SSHD.test(settings, context: context) {
            try? dir.write(SSHSettings.dropInName, previous.bytes, mode: previous.mode, owner: nil)
            throw JobFailure("sshd -t refused the configuration without the drop-in (put back): \(problem)")
        }
        let after = try await SSHD.readout(settings, runner: context.processes, output: context.output)
        try await SSHService(settings).reloadIfRunning(context)
        return JobOutcome(changed: true, summary: "removed \(settings.dropInFile) and reloaded",
                          result: .object(["after": after.json]))
    }
}
