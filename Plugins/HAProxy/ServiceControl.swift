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

    /// The trusted haproxy processes serving our config (see ProcessTrust); none when haproxy is
    /// not installed.
    func serving() -> [HAProxyProcess] {
        guard let trust = settings.processTrust() else { return [] }
        return table.serving(settings.configPath, trust: trust)
    }

    /// `systemctl is-active <unit>`: active, reloading, inactive, failed, activating … or
    /// "unknown" when systemctl cannot say.
    func unitState(_ runner: ProcessRunner, timeoutSec: Double = 5) async -> String {
        guard let r = try? await runner.run(settings.systemctl, ["is-active", settings.unitName], timeoutSec: timeoutSec) else {
            return "unknown"
        }
        let state = r.output.split(separator: "\n").first.map { String($0).trimmingWhitespace } ?? ""
        return state.isEmpty ? "unknown" : state
    }

    static func isActive(unitState: String) -> Bool { unitState == "active" || unitState == "reloading" }

    /// Whether haproxy is running with our config, for commands that reload only a running one.
    func isRunning(_ runner: ProcessRunner) async -> Bool {
        if settings.systemdRunning { return Self.isActive(unitState: await unitState(runner)) }
        return !serving().isEmpty
    }

    var notRunningMessage: String {
        "haproxy is not running with \(settings.configPath) (no haproxy process of \(settings.haproxyBinary) run by root or \(settings.haproxyUser) loads it): nothing to reload; start haproxy first"
    }

    /// Reload and wait until a new haproxy process serves the config. Returns how it was done.
    /// The caller has validated the config: a reload never starts from an invalid one.
    func reload(in context: JobContext) async throws -> String {
        let config = settings.configPath
        // haproxy binds every stats socket again on a reload, as root: a directory under a socket
        // the agent added may have been swapped for a link since it was added (red team finding 1).
        try AdminSocketPlacement(settings: settings).checkAgentSockets()
        let before = serving()
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
            // Whichever way it reloads, a haproxy that also loads other files is not ours to
            // reload (red team finding 3b: `-f /tmp/fifo -f <config>`).
            try refuseOtherConfigs(before)
            // In master-worker mode (-W/-Ws) the master re-reads the config on SIGUSR2 and
            // replaces its workers; the master is the one whose parent is not one of them, and it
            // runs as root (red team finding 3b; serving() already keeps only root's).
            let master = before.first(where: { $0.isRoot && $0.masterWorkerFlag && !oldPIDs.contains($0.ppid) })
            if settings.masterWorker == true && master == nil {
                throw JobFailure("BALCTL_HAPROXY_MASTER_WORKER is on, but no haproxy master (-W/-Ws) serves \(config): nothing was reloaded")
            }
            if let master, settings.masterWorker != false {
                guard kill(master.pid, SIGUSR2) == 0 else {
                    throw JobFailure("cannot signal the haproxy master (pid \(master.pid)): \(String(cString: strerror(errno)))")
                }
                how = "SIGUSR2 to the haproxy master (pid \(master.pid))"
            } else {
                // A standalone haproxy: start a new one that takes the listeners over and tells
                // the old ones to finish their connections and exit (-sf). Its command line comes
                // from our settings only, never from a process (issue 20 item 10). It daemonizes
                // (-D), so it outlives this job and the old process's parent.
                guard let binary = settings.resolvedBinary() else {
                    throw JobFailure("haproxy binary \(settings.haproxyBinary) not found")
                }
                let pids = oldPIDs.sorted()
                let args = Self.takeoverArguments(settings, oldPIDs: pids)
                context.log("starting: \(([binary] + args).joined(separator: " "))")
                let r = try await context.run(binary, args, timeoutSec: 60)
                guard r.succeeded else {
                    throw JobFailure("the new haproxy did not start (exit \(r.exitCode)); the old one (pid \(pids.map(String.init).joined(separator: ", "))) keeps serving: \(r.output.lastLines(8))",
                                     exitCode: Int(r.exitCode))
                }
                how = "new haproxy taking over with -sf \(pids.map(String.init).joined(separator: " "))"
            }
        }
        // The reload took effect when a haproxy process we did not see before serves the config.
        let deadline = monotonicNow() + settings.reloadWaitSec
        while monotonicNow() < deadline {
            if let fresh = serving().first(where: { !oldPIDs.contains($0.pid) }) {
                return how + "; new pid \(fresh.pid)"
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw JobFailure("reload sent (\(how)), but no new haproxy process appeared within \(Int(settings.reloadWaitSec))s; the old process keeps the old configuration")
    }

    /// A running haproxy that loads more than our config (`-f /etc/haproxy/conf.d`, a second
    /// file) would lose those files in a takeover built from our settings, and a master that also
    /// reads a file of someone else's (a FIFO it blocks on) is not a haproxy we reload: refuse,
    /// and say how to run it instead. A relative `-f` always counts as another file.
    func refuseOtherConfigs(_ running: [HAProxyProcess]) throws {
        for p in running {
            let others = p.configArguments.filter { !($0.hasPrefix("/") && HAProxyProcess.samePath($0, settings.configPath)) }
            if !others.isEmpty {
                throw JobFailure("the running haproxy (pid \(p.pid)) also loads \(others.joined(separator: ", ")); the agent reloads only a haproxy started with -f \(settings.configPath) alone (a takeover would drop the others): nothing was reloaded (run haproxy under systemd, or with -f \(settings.configPath) only)")
            }
        }
    }

    /// The takeover command line, from the agent's own settings: `-f <config> [-p <pid file>] -D
    /// -sf <old pids>`.
    static func takeoverArguments(_ settings: HAProxySettings, oldPIDs: [Int32]) -> [String] {
        var args = ["-f", settings.configPath]
        if let pidFile = settings.pidFile { args += ["-p", pidFile] }
        return args + ["-D", "-sf"] + oldPIDs.map(String.init)
    }
}
