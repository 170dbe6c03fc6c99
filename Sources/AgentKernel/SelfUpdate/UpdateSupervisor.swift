#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import BalctlProtocol

/// After a swap, the old binary (still running) proves the new one before handing over: it runs
/// `<binary> --update-trial`, which sends heartbeats marked as a trial (the control plane hands it
/// no jobs) until one is accepted, and exits 0. No accepted heartbeat before the pending update's
/// deadline — the new binary exits at start, crashes, or cannot reach the control plane — and the
/// old binary is renamed back in place. Either way the outcome is queued as an event for the
/// control plane. Needs no network of its own: the rollback is a local rename.
public enum UpdateSupervisor {
    public enum Verdict: Sendable, Equatable {
        case confirmed
        case rolledBack(String)
    }

    /// Run the trial of `pending` and confirm or roll back. `arguments` are passed to the trial
    /// (e.g. `--env-file PATH`).
    public static func trial(_ pending: PendingUpdate, state: UpdateState, arguments: [String],
                             log: AgentLog) async -> Verdict {
        let left = max(1, pending.deadline - unixNow())
        log.info("update: trying \(pending.to) for up to \(Int(left.rounded(.up)))s before it takes over")
        let output = OutputTail(limit: 4096)
        // This process stays the service's main process through the trial: keep systemd's
        // watchdog (30 s) fed while the new binary proves itself (up to the rollback deadline).
        let notifier = SystemdNotifier()
        let feeding = Task {
            while !Task.isCancelled {
                notifier.watchdog()
                try? await Task.sleep(for: .seconds(5))
            }
        }
        defer { feeding.cancel() }
        var reason: String
        do {
            let r = try await ProcessRunner(graceSec: 2, drainSec: 1).run(
                pending.binaryPath, ["--update-trial"] + arguments, timeoutSec: left, output: output,
                keepAgentSettings: true)
            if r.succeeded { return confirm(pending, state: state, log: log) }
            reason = r.timedOut ? "no heartbeat accepted within the rollback deadline"
                : r.signal.map { "the new binary was killed by signal \($0)" } ?? "the new binary exited with status \(r.exitCode)"
        } catch {
            reason = "the new binary could not be started: \(error)"
        }
        let tail = output.text.split(separator: "\n").suffix(3).joined(separator: " | ")
        if !tail.isEmpty { reason += " (\(tail))" }
        return rollBack(pending, state: state, reason: reason, log: log)
    }

    /// The new version had a heartbeat accepted: it is the version now.
    public static func confirm(_ pending: PendingUpdate, state: UpdateState, log: AgentLog) -> Verdict {
        if let v = AgentVersion(pending.to) { try? state.confirm(v) }
        state.clearPending()
        state.record(.updated, from: pending.from, to: pending.to,
                     message: "updated from \(pending.from) to \(pending.to)", jobId: pending.jobId)
        log.info("update: \(pending.to) is confirmed")
        return .confirmed
    }

    /// Put the previous binary back and say why.
    public static func rollBack(_ pending: PendingUpdate, state: UpdateState, reason: String, log: AgentLog) -> Verdict {
        let swap = BinarySwap(path: pending.binaryPath)
        var message = "rolled back from \(pending.to) to \(pending.from): \(reason)"
        do {
            if try !swap.rollBack() { message += " — but no \(swap.previousName) was found to restore" }
        } catch {
            message += " — restoring \(swap.previousName) failed: \(error)"
        }
        state.clearPending()
        state.record(.rolledBack, from: pending.from, to: pending.to, message: message, jobId: pending.jobId)
        log.error("update: \(message)")
        return .rolledBack(message)
    }

    /// Become the binary at `path` (same process id, so systemd keeps tracking the service).
    public static func exec(_ path: String, arguments: [String]) -> Never {
        // Signal dispositions set to ignore survive exec: give the next program the defaults.
        for sig in [SIGTERM, SIGINT, SIGPIPE] { signal(sig, SIG_DFL) }
        var none = sigset_t(); sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, nil)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        execv(path, argv)
        let bytes = Array("balctl-heartbeat: cannot exec \(path): \(String(cString: strerror(errno)))\n".utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        // Under systemd, Restart=always starts the service again.
        exit(75)
    }
}
