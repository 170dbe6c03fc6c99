#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel

/// Is haproxy running, and how to reload it: through systemd where systemd is PID 1, otherwise
/// by finding its processes in /proc and signalling them.
struct ServiceControl: Sendable {
    let settings: HAProxySettings
    var table: ProcessTable { ProcessTable(procRoot: settings.procRoot) }

    /// `systemctl is-active <unit>`: active, reloading, inactive, failed, activating … or
    /// "unknown" when systemctl cannot say.
    func unitState(_ runner: ProcessRunner) async -> String {
        guard let r = try? await runner.run(settings.systemctl, ["is-active", settings.unitName], timeoutSec: 5) else {
            return "unknown"
        }
        let state = r.output.split(separator: "\n").first.map { String($0).trimmingWhitespace } ?? ""
        return state.isEmpty ? "unknown" : state
    }

    static func isActive(unitState: String) -> Bool { unitState == "active" || unitState == "reloading" }

    /// Whether haproxy is running with our config, for commands that reload only a running one.
    func isRunning(_ runner: ProcessRunner) async -> Bool {
        if settings.systemdRunning { return Self.isActive(unitState: await unitState(runner)) }
        return !table.serving(settings.configPath).isEmpty
    }

    var notRunningMessage: String {
        "haproxy is not running with \(settings.configPath) (no haproxy process loads it): nothing to reload; start haproxy first"
    }

    /// Reload and wait until a new haproxy process serves the config. Returns how it was done.
    /// The caller has validated the config: a reload never starts from an invalid one.
    func reload(in context: JobContext) async throws -> String {
        let config = settings.configPath
        let before = table.serving(config)
        let oldPIDs = Set(before.map(\.pid))
        let how: String
        if settings.systemdRunning {
            let r = try await context.run(settings.systemctl, ["reload", settings.unitName], timeoutSec: 120)
            guard r.succeeded else {
                throw JobFailure("systemctl reload \(settings.unitName) failed (exit \(r.exitCode)): \(r.output.lastLines(5))",
                                 exitCode: Int(r.exitCode))
            }
            // systemd waited for the reload to finish; where we can see the processes we still
            // check that new ones came up.
            if before.isEmpty { return "systemctl reload \(settings.unitName)" }
            how = "systemctl reload \(settings.unitName)"
        } else {
            guard !before.isEmpty else { throw JobFailure(notRunningMessage) }
            // In master-worker mode (-W/-Ws) the master re-reads the config on SIGUSR2 and
            // replaces its workers; the master is the one whose parent is not one of them.
            if let master = before.first(where: { $0.masterWorkerFlag && !oldPIDs.contains($0.ppid) }) {
                guard kill(master.pid, SIGUSR2) == 0 else {
                    throw JobFailure("cannot signal the haproxy master (pid \(master.pid)): \(String(cString: strerror(errno)))")
                }
                how = "SIGUSR2 to the haproxy master (pid \(master.pid))"
            } else {
                // A standalone haproxy: start a new one from the same command line that takes the
                // listeners over and tells the old ones to finish their connections and exit (-sf).
                // It daemonizes (-D), so it outlives this job and the old process's parent.
                let newest = before.max { $0.startedAt < $1.startedAt }!
                guard let binary = settings.resolvedBinary() else {
                    throw JobFailure("haproxy binary \(settings.haproxyBinary) not found")
                }
                let args = Self.takeoverArguments(newest.argv, oldPIDs: before.map(\.pid).sorted())
                context.log("starting: \(([binary] + args).joined(separator: " "))")
                let r = try await context.run(binary, args, timeoutSec: 60)
                guard r.succeeded else {
                    throw JobFailure("the new haproxy did not start (exit \(r.exitCode)); the old one (pid \(oldPIDs.sorted().map(String.init).joined(separator: ", "))) keeps serving: \(r.output.lastLines(8))",
                                     exitCode: Int(r.exitCode))
                }
                how = "new haproxy taking over with -sf \(oldPIDs.sorted().map(String.init).joined(separator: " "))"
            }
        }
        // The reload took effect when a haproxy process we did not see before serves the config.
        let deadline = monotonicNow() + settings.reloadWaitSec
        while monotonicNow() < deadline {
            if let fresh = table.serving(config).first(where: { !oldPIDs.contains($0.pid) }) {
                return how + "; new pid \(fresh.pid)"
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw JobFailure("reload sent (\(how)), but no new haproxy process appeared within \(Int(settings.reloadWaitSec))s; the old process keeps the old configuration")
    }

    /// The old command line, minus its argv[0], foreground/debug switches and any earlier
    /// -sf/-st list, plus `-D -sf <old pids>`.
    static func takeoverArguments(_ argv: [String], oldPIDs: [Int32]) -> [String] {
        var out: [String] = []
        var i = 1
        while i < argv.count {
            let a = argv[i]
            if a == "-sf" || a == "-st" {
                i += 1
                while i < argv.count, Int32(argv[i]) != nil { i += 1 }
                continue
            }
            if a == "-db" || a == "-d" || a == "-D" { i += 1; continue }
            out.append(a)
            i += 1
        }
        return out + ["-D", "-sf"] + oldPIDs.map(String.init)
    }
}
