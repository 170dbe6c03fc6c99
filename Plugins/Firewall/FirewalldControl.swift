import AgentKernel
import BalctlProtocol

/// Runs firewalld's programs for a job: `firewall-cmd --permanent …` then `--reload` while the
/// daemon runs, `firewall-offline-cmd …` (which edits /etc/firewalld directly) while it does
/// not; systemctl for start/stop. argv arrays, bounded time, C locale, failures with the tail.
struct FirewalldControl: Sendable {
    let settings: FirewallSettings
    let context: JobContext
    let cmd: String?
    let offline: String?

    init(_ settings: FirewallSettings, _ context: JobContext) throws {
        self.settings = settings; self.context = context
        cmd = FirewallSettings.resolve(settings.firewallCmd)
        offline = FirewallSettings.resolve(settings.firewallOfflineCmd)
        guard cmd != nil || offline != nil else {
            throw JobFailure("firewalld is not installed (dnf install -y firewalld)")
        }
    }

    @discardableResult
    func run(_ program: String, _ args: [String], timeoutSec: Double = 90, check: Bool = true) async throws -> ProcessResult {
        var env = currentEnvironment()
        env["LC_ALL"] = "C"; env["LANG"] = "C"; env["LANGUAGE"] = nil
        let r = try await context.run(program, args, timeoutSec: timeoutSec, environment: env)
        if check, !r.succeeded {
            let tail = r.output.trimmingWhitespace.lastLines(5)
            throw JobFailure("\(Files.basename(program)) \(args.joined(separator: " ")) failed"
                             + (r.timedOut ? " (timed out)" : " with exit code \(r.exitCode)") + ": \(tail)",
                             exitCode: Int(r.exitCode))
        }
        return r
    }

    /// Whether the daemon runs (`firewall-cmd --state` says "running", exit 0). No firewall-cmd
    /// or no D-Bus: not running.
    func running() async -> Bool {
        guard let cmd, let r = try? await run(cmd, ["--state"], timeoutSec: 30, check: false) else { return false }
        return r.succeeded && r.output.split(separator: "\n").contains { String($0).trimmingWhitespace == "running" }
    }

    /// `systemctl is-enabled firewalld`; nil when systemctl is missing.
    func enabledAtBoot() async -> Bool? {
        guard let sc = FirewallSettings.resolve(settings.systemctl),
              let r = try? await run(sc, ["is-enabled", "firewalld"], timeoutSec: 30, check: false) else { return nil }
        return r.output.split(separator: "\n").first.map { String($0).trimmingWhitespace == "enabled" } ?? false
    }

    func systemctl(_ args: [String]) async throws {
        guard let sc = FirewallSettings.resolve(settings.systemctl) else {
            throw JobFailure("systemctl is not installed: firewalld's service cannot be started or stopped")
        }
        try await run(sc, args, timeoutSec: 120)
    }

    /// The program and leading arguments of a permanent change to `zone`.
    func changePrefix(zone: String, running: Bool) throws -> [String] {
        if running, let cmd { return [cmd, "--permanent", "--zone=\(zone)"] }
        guard let offline else {
            throw JobFailure("firewalld is stopped and firewall-offline-cmd is not installed (dnf install -y firewalld)")
        }
        return [offline, "--zone=\(zone)"]
    }

    /// Each argument set as one call (firewall-cmd refuses some mixes in one call), then one
    /// `--reload` so the running firewall takes the permanent configuration.
    func change(zone: String, _ sets: [[String]], running: Bool) async throws {
        let prefix = try changePrefix(zone: zone, running: running)
        for args in sets { try await run(prefix[0], Array(prefix.dropFirst()) + args) }
        if running, let cmd { try await run(cmd, ["--reload"]) }
    }

    /// firewalld's own check of the permanent configuration (`--check-config`).
    func checkConfig(running: Bool) async throws {
        if let offline { try await run(offline, ["--check-config"]) }
        else if running, let cmd { try await run(cmd, ["--check-config"]) }
    }

    func reload() async throws {
        guard let cmd else { throw JobFailure("firewall-cmd is not installed") }
        try await run(cmd, ["--reload"])
    }

    /// Polls `firewall-cmd --state` until it says `want` (the service starts asynchronously).
    func waitRunning(_ want: Bool, timeoutSec: Double = 20) async -> Bool {
        let deadline = monotonicNow() + timeoutSec
        while true {
            if await running() == want { return true }
            if monotonicNow() > deadline { return false }
            try? await Task.sleep(for: .milliseconds(250))
        }
    }

    func state() throws -> FirewalldState { try FirewalldState.read(settings) }
}
