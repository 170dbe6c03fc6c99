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

/// Runs programs with argument arrays (never a shell), stdin from /dev/null, stdout and stderr
/// captured together up to a bound, and a deadline after which the whole process group gets
/// SIGTERM and, 3 s later, SIGKILL. Task cancellation stops the program the same way.
public struct ProcessRunner: Sendable {
    public var maxOutputBytes: Int

    public init(maxOutputBytes: Int = 64 * 1024) { self.maxOutputBytes = maxOutputBytes }

    /// Shared between the waiting thread, the deadline and the cancellation handler.
    private final class Child: Sendable {
        let pid: pid_t
        let finished = Atomic<Bool>(false)
        let timedOut = Atomic<Bool>(false)
        init(pid: pid_t) { self.pid = pid }

        func stop(timedOut: Bool) {
            guard !finished.load(ordering: .acquiring) else { return }
            if timedOut { self.timedOut.store(true, ordering: .releasing) }
            kill(-pid, SIGTERM)
            DispatchQueue.global().asyncAfter(deadline: .now() + 3) { [self] in
                if !finished.load(ordering: .acquiring) { kill(-pid, SIGKILL) }
            }
        }
    }

    public func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        timeoutSec: Double, output: OutputTail? = nil
    ) async throws -> ProcessResult {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            throw ProcessError(message: "pipe: \(String(cString: strerror(errno)))")
        }
        // Neither end may leak into other children (the child gets the write end via dup2).
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        let (readFD, writeFD) = (fds[0], fds[1])

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, writeFD, 1)
        posix_spawn_file_actions_adddup2(&actions, writeFD, 2)

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

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var envp: [UnsafeMutablePointer<CChar>?]? = environment.map { env in
            env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        }
        defer { envp?.forEach { free($0) } }

        var pid = pid_t()
        let rc: Int32 = argv.withUnsafeBufferPointer { av in
            let avp = UnsafeMutablePointer(mutating: av.baseAddress!)
            if var e = envp {
                return e.withUnsafeMutableBufferPointer { ep in
                    posix_spawnp(&pid, executable, &actions, &attrs, avp, ep.baseAddress!)
                }
            }
            return posix_spawnp(&pid, executable, &actions, &attrs, avp, environ)
        }
        envp = nil
        close(writeFD)
        if rc != 0 {
            close(readFD)
            throw ProcessError(message: "cannot run \(executable): \(String(cString: strerror(rc)))")
        }

        let child = Child(pid: pid)
        let deadline = DispatchWorkItem { child.stop(timedOut: true) }
        DispatchQueue.global().asyncAfter(deadline: .now() + max(0.001, timeoutSec), execute: deadline)
        let tail = OutputTail(limit: maxOutputBytes)

        let (status, _) = await withTaskCancellationHandler {
            await withCheckedContinuation { (cont: CheckedContinuation<(Int32, Void), Never>) in
                runOnNewThread {
                    var buffer = [UInt8](repeating: 0, count: 65536)
                    while true {
                        let n = buffer.withUnsafeMutableBytes { read(readFD, $0.baseAddress, 65536) }
                        if n > 0 {
                            let chunk = Array(buffer[0..<n])
                            tail.append(chunk)
                            output?.append(chunk)
                        } else if n < 0 && errno == EINTR {
                            continue
                        } else {
                            break
                        }
                    }
                    close(readFD)
                    var status: Int32 = 0
                    while waitpid(child.pid, &status, 0) < 0 && errno == EINTR {}
                    child.finished.store(true, ordering: .releasing)
                    cont.resume(returning: (status, ()))
                }
            }
        } onCancel: {
            child.stop(timedOut: false)
        }
        deadline.cancel()

        // Decode the wait status (WIFEXITED and friends are macros Swift cannot import).
        let termSignal = status & 0x7f
        let exited = termSignal == 0
        return ProcessResult(
            exitCode: exited ? (status >> 8) & 0xff : 128 + termSignal,
            signal: exited ? nil : termSignal,
            timedOut: child.timedOut.load(ordering: .acquiring),
            output: tail.text)
    }
}
