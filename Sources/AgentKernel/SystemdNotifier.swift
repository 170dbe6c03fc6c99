import CSystemd

/// sd_notify through libsystemd: READY once the agent is up, WATCHDOG on every loop turn,
/// STOPPING on shutdown. Outside systemd (no NOTIFY_SOCKET) every call is a no-op.
public struct SystemdNotifier: Sendable {
    public init() {}
    public func ready() { _ = sd_notify(0, "READY=1\nSTATUS=heartbeating") }
    public func watchdog() { _ = sd_notify(0, "WATCHDOG=1") }
    public func status(_ text: String) { _ = sd_notify(0, "STATUS=\(text)") }
    public func stopping() { _ = sd_notify(0, "STOPPING=1") }
}
