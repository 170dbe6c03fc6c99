import AgentKernel
import BalctlProtocol

/// The SSH service through systemctl: its state (`is-active`, `is-enabled`) and the changes
/// (`enable --now`, `disable --now`, `try-reload-or-restart`). Every call is an argv array with
/// the unit name the settings chose (`ssh` or `sshd`), never a user value.
struct SSHService: Sendable {
    let settings: SSHSettings
    let unit: String

    init(_ settings: SSHSettings) { self.settings = settings; self.unit = settings.serviceName() }

    struct State: Sendable, Equatable {
        /// active | inactive | failed | activating | … | unknown (systemctl could not say).
        var active: String
        /// enabled | disabled | masked | static | … | unknown.
        var enabled: String
        var isActive: Bool { active == "active" || active == "reloading" || active == "activating" }
        var isEnabled: Bool { enabled == "enabled" || enabled == "enabled-runtime" || enabled == "alias" }
        var json: JSONValue { .object(["active": .string(active), "enabled": .string(enabled)]) }
    }

    /// systemctl prints the state as the first word of its stdout; anything else (systemd is
    /// not running: "System has not been booted with systemd…") is "unknown".
    static func word(_ output: String, known: Set<String>) -> String {
        for line in output.split(separator: "\n") {
            let w = String(line).trimmingWhitespace
            if known.contains(w) { return w }
        }
        return "unknown"
    }

    static let activeWords: Set<String> = ["active", "inactive", "failed", "activating", "deactivating", "reloading", "maintenance", "refreshing"]
    static let enabledWords: Set<String> = ["enabled", "enabled-runtime", "linked", "linked-runtime", "alias", "masked",
                                             "masked-runtime", "static", "indirect", "disabled", "generated", "transient", "bad", "not-found"]

    /// A systemctl that cannot be run at all also gives "unknown" (the change then fails with
    /// the reason).
    func state(_ context: JobContext) async throws -> State {
        let a = try? await context.processes.run(settings.systemctl, ["is-active", unit + ".service"], timeoutSec: 15)
        let e = try? await context.processes.run(settings.systemctl, ["is-enabled", unit + ".service"], timeoutSec: 15)
        return State(active: Self.word(a?.output ?? "", known: Self.activeWords),
                     enabled: Self.word(e?.output ?? "", known: Self.enabledWords))
    }

    /// `systemctl <verb> [--now] <unit>.service`; throws with systemctl's words on failure.
    func change(_ verb: String, now: Bool = true, _ context: JobContext) async throws {
        let args = [verb] + (now ? ["--now"] : []) + [unit + ".service"]
        let r = try await context.run(settings.systemctl, args, timeoutSec: 90)
        guard r.succeeded else {
            throw JobFailure("systemctl \(args.joined(separator: " ")) failed (exit \(r.exitCode)): \(r.output.lastLines(3))",
                             exitCode: Int(r.exitCode))
        }
    }

    func argv(_ verb: String, now: Bool = true) -> [String] {
        [settings.systemctl, verb] + (now ? ["--now"] : []) + [unit + ".service"]
    }

    /// Reload sshd if it runs (a stopped service stays stopped: the new config applies when it
    /// starts). sshd re-reads its config on SIGHUP; existing sessions are kept.
    func reloadIfRunning(_ context: JobContext) async throws {
        try await change("try-reload-or-restart", now: false, context)
    }
}
