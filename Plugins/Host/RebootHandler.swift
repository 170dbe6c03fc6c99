#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// `host.reboot`: schedules a reboot `delaySec` seconds from now and completes at once, so the
/// completion reaches the control plane before the host goes down. Refuses without `confirm: true`.
///
/// The agent runs handlers in its own process, and a job's process tree is killed when the job
/// ends, so the delay must outlive both: where systemd runs, a transient timer
/// (`systemd-run --on-active=Ns … systemctl reboot`) held by PID 1; without systemd, a
/// double-forked sleeper in a session of its own that then execs `/sbin/reboot`.
public struct RebootHandler: CommandHandler {
    /// Where the programs are; tests point them at fakes that record their calls.
    public struct Settings: Sendable {
        /// Exists when systemd is PID 1 (what `sd_booted()` checks).
        public var systemdRunDir = "/run/systemd/system"
        public var systemdRun = "systemd-run"
        /// Given to systemd-run, which wants an absolute path.
        public var systemctl = "/usr/bin/systemctl"
        /// Without systemd: execed by the sleeper (absolute).
        public var rebootProgram = "/sbin/reboot"
        public init() {}
    }

    public struct Parameters: CommandParameters {
        public var confirm: Bool?
        public var delaySec: Int?

        public func validate() throws {
            guard confirm == true else { throw ParameterError("confirm: a reboot needs confirm: true") }
            if let d = delaySec, !(5...3600).contains(d) { throw ParameterError("delaySec: must be between 5 and 3600") }
        }
    }

    let settings: Settings
    public init(settings: Settings = Settings()) { self.settings = settings }
    public static let id = "host.reboot"
    public static let exampleParameters: JSONValue = .object(["confirm": .bool(true)])
    public static let summary = "Reboot the host N seconds after this job completes"
    public static let parameterHelp = "confirm: true (required); delaySec: 5–3600 (default 10)"
    public static let requiresRoot = true
    public static let supportsCheckMode = true

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        let delay = p.delaySec ?? 10
        let systemd = Files.info(settings.systemdRunDir)?.isDirectory == true
        let how = systemd ? "systemd timer (systemctl reboot)" : "detached sleeper (\(settings.rebootProgram))"
        let result: JSONValue = .object(["delaySec": .number(Double(delay)), "method": .string(systemd ? "systemd-run" : "sleeper")])
        if context.checkMode {
            return .unchanged("would reboot \(delay) s after this job completes, by \(how)", result: result)
        }
        if systemd {
            let unit = "balctl-reboot-\(context.jobID)-\(context.attempt)"
            let r = try await context.run(settings.systemdRun, [
                "--unit=\(unit)", "--description=balctl host.reboot (job \(context.jobID))",
                "--on-active=\(delay)s", "--timer-property=AccuracySec=1s",
                settings.systemctl, "reboot"], timeoutSec: 30)
            guard r.succeeded else {
                throw JobFailure("systemd-run failed with exit code \(r.exitCode): the reboot was not scheduled", exitCode: Int(r.exitCode))
            }
        } else {
            guard settings.rebootProgram.hasPrefix("/"), Files.info(settings.rebootProgram)?.isRegular == true else {
                throw JobFailure("\(settings.rebootProgram) not found: the reboot was not scheduled")
            }
            try Self.spawnSleeper(delaySec: delay, program: settings.rebootProgram)
        }
        context.log("reboot scheduled in \(delay) s by \(how)")
        return JobOutcome(changed: true, summary: "reboot scheduled in \(delay) s (\(how))", result: result)
    }

    private typealias ForkFunction = @convention(c) () -> pid_t

    /// fork → setsid → fork: the grandchild, in a session of its own and reparented to init,
    /// sleeps then execs `program`. Only async-signal-safe calls run after the fork; the argv is
    /// built before it.
    static func spawnSleeper(delaySec: Int, program: String) throws {
        guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, "fork") else {
            throw JobFailure("fork is not available: the reboot was not scheduled")
        }
        let forkCall = unsafeBitCast(sym, to: ForkFunction.self)
        guard let path = strdup(program) else { throw JobFailure("out of memory: the reboot was not scheduled") }
        let argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = .allocate(capacity: 2)
        argv[0] = path; argv[1] = nil
        defer { free(path); argv.deallocate() }
        let child = forkCall()
        if child < 0 { throw JobFailure("fork failed: the reboot was not scheduled") }
        if child == 0 {
            _ = setsid()
            let grandchild = forkCall()
            if grandchild != 0 { _exit(grandchild < 0 ? 1 : 0) }
            var fd: Int32 = 3
            while fd < 1024 { _ = close(fd); fd += 1 }
            var left = timespec(tv_sec: delaySec, tv_nsec: 0)
            var rem = timespec()
            while nanosleep(&left, &rem) != 0 && errno == EINTR { left = rem }
            _ = execv(path, argv)
            _exit(127)
        }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        guard status == 0 else { throw JobFailure("the reboot sleeper could not start: the reboot was not scheduled") }
    }
}
