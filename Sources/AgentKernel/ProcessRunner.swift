#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Dispatch
import Synchronization

/// How a program ended.
public struct ProcessResult: Sendable {
    public var exitCode: Int32
    /// The signal that ended it, if one did.
    public var signal: Int32?
    public var timedOut: Bool
    /// The last bytes of its combined stdout and stderr.
    public var output: String

    public var succeeded: Bool { exitCode == 0 && signal == nil && !timedOut }
}

public struct ProcessError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// Runs programs with argument arrays (never a shell), stdin from /dev/null, no descriptor of the
/// agent's but 0–2, stdout and stderr captured together up to a bound, and a deadline. On the
/// deadline or task cancellation the program's whole tree (its process group and every descendant
/// that left it, see `ProcessTree`) gets SIGTERM and, `graceSec` later, SIGKILL — whether or not
/// the program itself has already exited; then reading stops, the program is reaped and the result
/// returned. A program that exits normally ends the read once its output is drained (at most
/// `drainSec` later), so a daemon it left holding stdout does not hold the job.
public struct ProcessRunner: Sendable {
    public var maxOutputBytes: Int
    /// Between SIGTERM and SIGKILL.
    public var graceSec: Double
    /// How long output is still read after the program exited (from processes it left behind).
    public var drainSec: Double
    /// The longest deadline honoured; a larger (or non-finite) one is clamped to it.
    public static let maxTimeoutSec: Double = 30 * 86_400

    public init(maxOutputBytes: Int = 64 * 1024, graceSec: Double = 3, drainSec: Double = 1) {
        self.maxOutputBytes = maxOutputBytes; self.graceSec = graceSec; self.drainSec = drainSec
    }

    /// Shared by the reading thread, the reaping thread, the deadline and the cancellation handler.
    private final class Run: Sendable {
        struct State {
            var leaderExitedAt: Double?
            var stopReading = false
            var stopping = false
            var timedOut = false
            var done = false
        }
        let tree: ProcessTree
        let wake: (read: Int32, write: Int32)
        let state = Mutex(State())
        let stopped = DispatchSemaphore(value: 0)

        init(tree: ProcessTree, wake: (read: Int32, write: Int32)) { self.tree = tree; self.wake = wake }

        var leaderReaped: Bool { state.withLock { $0.leaderExitedAt != nil } }

        /// Wake the reading thread so it looks at the state again.
        func poke() {
            var byte: UInt8 = 1
            _ = write(wake.write, &byte, 1)
        }

        func stop(timedOut: Bool, graceSec: Double) {
            let begin = state.withLock { s -> Bool in
                guard !s.done, !s.stopping else { return false }
                s.stopping = true
                s.timedOut = timedOut
                return true
            }
            guard begin else { return }
            runOnNewThread { [self] in
                terminate(graceSec: graceSec)
                stopped.signal()
            }
        }

        private func terminate(graceSec: Double) {
            tree.signal(SIGTERM, leaderReaped: leaderReaped)
            let deadline = monotonicNow() + graceSec
            while monotonicNow() < deadline {
                usleep(100_000)
                if tree.members(leaderReaped: leaderReaped).isEmpty { break }
            }
            // Issue 20 item 13: SIGKILL even when the leader is gone — a descendant that ignores
            // SIGTERM outlives it.
            tree.signal(SIGKILL, leaderReaped: leaderReaped)
            state.withLock { $0.stopReading = true }
            poke()
        }
    }

    /// `stdin` / `stdout`: descriptors the program gets as its standard input / output instead
    /// of /dev/null / the captured output (stderr is still captured), for a stream that must not
    /// pass through the bounded tail (a dump into a compressor, a restore fed from a file). They
    /// are handed over: the runner closes them once the program holds its copies (or the spawn
    /// failed), so the caller's end of a pipe sees end-of-file when the program exits.
    public func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        timeoutSec: Double, output: OutputTail? = nil, keepAgentSettings: Bool = false,
        stdin: Int32? = nil, stdout: Int32? = nil
    ) async throws -> ProcessResult {
        let handedOver = [stdin, stdout].compactMap { $0 }
        var handedOverClosed = false
        func closeHandedOver() {
            guard !handedOverClosed else { return }
            handedOverClosed = true
            handedOver.forEach { close($0) }
        }
        defer { closeHandedOver() }
        let (readFD, writeFD) = try SpawnSupport.closeOnExecPipe()
        let wake: (read: Int32, write: Int32)
        do { wake = try SpawnSupport.closeOnExecPipe() } catch {
            close(readFD); close(writeFD); throw error
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdin { posix_spawn_file_actions_adddup2(&actions, stdin, 0) } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, stdout ?? writeFD, 1)
        posix_spawn_file_actions_adddup2(&actions, writeFD, 2)
        SpawnSupport.closeAllAbove2(&actions)

        var attrs = posix_spawnattr_t()
        posix_spawnattr_init(&attrs)
        defer { posix_spawnattr_destroy(&attrs) }
        // Own process group (so a deadline can stop the whole tree), default signal handling
        // and an empty signal mask, whatever the agent itself has set.
        var noSignals = sigset_t(); sigemptyset(&noSignals)
        var allSignals = sigset_t(); sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attrs, &noSignals)
        posix_spawnattr_setsigdefault(&attrs, &allSignals)
        posix_spawnattr_setpgroup(&attrs, 0)
        posix_spawnattr_setflags(&attrs, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK
                                               | POSIX_SPAWN_SETSIGDEF))

        let mark = ProcessTree.newMark()
        // Only the agent's own binary (an update's trial run) may see the BALCTL_* settings.
        let given = environment ?? currentEnvironment()
        var env = keepAgentSettings ? given : Self.childEnvironment(given)
        env[ProcessTree.markVariable] = mark
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }

        var pid = pid_t()
        let rc: Int32 = argv.withUnsafeBufferPointer { av in
            envp.withUnsafeMutableBufferPointer { ep in
                posix_spawnp(&pid, executable, &actions, &attrs,
                             UnsafeMutablePointer(mutating: av.baseAddress!), ep.baseAddress!)
            }
        }
        close(writeFD)
        closeHandedOver()
        if rc != 0 {
            close(readFD); close(wake.read); close(wake.write)
            throw ProcessError(message: "cannot run \(executable): \(String(cString: strerror(rc)))")
        }

        let leader = pid
        let run = Run(tree: ProcessTree(leader: leader, mark: mark), wake: wake)
        let (graceSec, drainSec) = (self.graceSec, self.drainSec)
        let deadline = DispatchWorkItem { run.stop(timedOut: true, graceSec: graceSec) }
        DispatchQueue.global().asyncAfter(deadline: .now() + Self.clamped(timeoutSec), execute: deadline)
        let tail = OutputTail(limit: maxOutputBytes)

        let status: Int32 = await withTaskCancellationHandler {
            await withCheckedContinuation { (cont: CheckedContinuation<Int32, Never>) in
                runOnNewThread {
                    let readerDone = DispatchSemaphore(value: 0)
                    runOnNewThread {
                        Self.readOutput(readFD, run: run, drainSec: drainSec, into: tail, output)
                        readerDone.signal()
                    }
                    var status: Int32 = 0
                    while waitpid(leader, &status, 0) < 0 && errno == EINTR {}
                    run.state.withLock { $0.leaderExitedAt = monotonicNow() }
                    run.poke()
                    readerDone.wait()
                    // A stop under way finishes (its SIGKILL sent) before the result is returned.
                    let stopping = run.state.withLock { s -> Bool in s.done = true; return s.stopping }
                    if stopping { run.stopped.wait() }
                    close(readFD); close(wake.read); close(wake.write)
                    cont.resume(returning: status)
                }
            }
        } onCancel: {
            run.stop(timedOut: false, graceSec: graceSec)
        }
        deadline.cancel()

        // Decode the wait status (WIFEXITED and friends are macros Swift cannot import).
        let termSignal = status & 0x7f
        let exited = termSignal == 0
        return ProcessResult(
            exitCode: exited ? (status >> 8) & 0xff : 128 + termSignal,
            signal: exited ? nil : termSignal,
            timedOut: run.state.withLock { $0.timedOut },
            output: tail.text)
    }

    /// A deadline DispatchTime can hold (an out-of-range one would trap; issue 20 item 18).
    static func clamped(_ seconds: Double) -> Double {
        guard seconds.isFinite else { return seconds.isNaN ? 0.001 : maxTimeoutSec }
        return min(max(0.001, seconds), maxTimeoutSec)
    }

    /// Read until end of file, until told to stop, or until `drainSec` after the leader exited.
    private static func readOutput(_ fd: Int32, run: Run, drainSec: Double, into tail: OutputTail,
                             _ output: OutputTail?) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: run.wake.read, events: Int16(POLLIN), revents: 0)]
        while true {
            let (stop, exitedAt) = run.state.withLock { ($0.stopReading, $0.leaderExitedAt) }
            if stop { return }
            var timeoutMs: Int32 = -1
            if let exitedAt {
                let left = exitedAt + drainSec - monotonicNow()
                if left <= 0 { return }
                timeoutMs = Int32(left * 1000) + 1
            }
            fds[0].revents = 0; fds[1].revents = 0
            let ready = poll(&fds, 2, timeoutMs)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            if fds[1].revents != 0 {
                var sink = [UInt8](repeating: 0, count: 64)
                _ = sink.withUnsafeMutableBytes { read(run.wake.read, $0.baseAddress, 64) }
            }
            if fds[0].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, 65536) }
                if n > 0 {
                    let chunk = Array(buffer[0..<n])
                    tail.append(chunk)
                    output?.append(chunk)
                } else if n < 0 && (errno == EINTR || errno == EAGAIN) {
                    continue
                } else {
                    return
                }
            }
        }
    }
}

extension ProcessRunner {
    /// What a child sees of an environment: everything but the agent's own `BALCTL_*` settings.
    /// The agent's environment carries `BALCTL_ENROLLMENT_SECRET` (systemd's EnvironmentFile=, or
    /// main's copy of agent.env); passed on, it would reach every program a job runs and every
    /// daemon one starts — a haproxy answers `show env` on an operator-level admin socket, so any
    /// local user of that socket could read the secret and pose as the member. (Red team, session 3.)
    public static func childEnvironment(_ environment: [String: String]) -> [String: String] {
        environment.filter { !$0.key.hasPrefix("BALCTL_") }
    }
}
