import AgentKernel
import BalctlProtocol

/// SSH on this member: the service and its firewall rule (ssh.enable / ssh.disable), users'
/// authorized keys, hardening as a drop-in (ssh.harden / ssh.harden_undo), ssh.status, and the
/// `stacks.ssh` heartbeat entry (SSHProbe).
public struct SSHPlugin: AgentPlugin {
    public let settings: SSHSettings
    public let prober: SSHProbe
    /// ssh.enable / ssh.disable change the firewall's rules: they queue with firewall.* jobs.
    static let accessLock = "firewall"
    /// Keys and sshd's configuration.
    static let keysLock = "ssh"
    static let configLock = "ssh"

    /// Building the plugin reads the environment and nothing else.
    public init(settings: SSHSettings = .fromEnvironment()) {
        self.settings = settings
        self.prober = SSHProbe(settings: settings)
    }

    public var name: String { "ssh" }

    public var handlers: [any CommandHandler] {
        [
            StatusHandler(settings: settings), EnableHandler(settings: settings), DisableHandler(settings: settings),
            AuthorizedKeyAddHandler(settings: settings), AuthorizedKeyRemoveHandler(settings: settings),
            HardenHandler(settings: settings), HardenUndoHandler(settings: settings),
        ]
    }

    public func probe() async -> JSONValue? { prober.report() }

    /// Keeps the probe's sshd -T readout fresh (see SSHProbe), beside the heartbeat loop.
    public var periodicWork: PeriodicWork? {
        let prober = self.prober
        return PeriodicWork(name: "ssh readout", intervalSec: SSHProbe.checkSec) { await prober.refreshIfDue() }
    }
}
