#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol
import Synchronization

/// What every heartbeat says about SSH (`stacks["ssh"]`): `{service, active, ports,
/// passwordAuthentication, permitRootLogin}`; nil when sshd is not installed.
///
/// No program runs on the heartbeat path. The `sshd -T` readout is cached; the plugin's
/// periodic work (beside the heartbeat loop, every `checkSec`) runs sshd again only when the
/// cache is `refreshSec` (5 min) old or sshd_config, the drop-in directory or a file in it has
/// changed (their stamps: a few `stat`s). Until the first readout lands (the agent runs the
/// periodic work once at start), the ports and settings are left out. `active` comes from
/// files only: the pid in sshd's PidFile names a live process whose /proc/<pid>/comm is sshd.
public final class SSHProbe: Sendable {
    public static let refreshSec = 300.0
    /// How often the periodic work looks at the stamps (a config change shows within this).
    public static let checkSec = 5.0

    let settings: SSHSettings
    private struct State {
        var readout: SSHDReadout?
        var signature: [String] = []
        var refreshedAt = -1e9
        var runs = 0
    }
    private let state = Mutex(State())
    private let runner = ProcessRunner(maxOutputBytes: 64 * 1024)
    /// Whether sshd is installed and the service's name: looked up again only when a file they
    /// depend on changes (a package install), not with a walk along PATH on every beat.
    private struct Presence: Sendable { var installed: Bool; var service: String }
    private let presence = PathWatched<Presence>()

    public init(settings: SSHSettings) { self.settings = settings }

    /// How many times sshd -T has run (tests: the heartbeat path stays program-free).
    public var readoutRuns: Int { state.withLock { $0.runs } }

    /// The stamps of the files the readout depends on.
    func signature() -> [String] {
        func stamp(_ path: String) -> String {
            guard let i = Files.info(path) else { return path + ":-" }
            return "\(path):\(i.inode):\(i.size):\(i.mtime)"
        }
        var out = [stamp(settings.configFile), stamp(settings.dropInDir)]
        for name in Files.list(settings.dropInDir).sorted() { out.append(stamp(settings.dropInDir + "/" + name)) }
        return out
    }

    /// The heartbeat entry, from the cache and a few small files.
    public func report() -> JSONValue? {
        let settings = self.settings
        let found = presence.value(watching: settings.presencePaths) {
            Presence(installed: settings.resolvedSSHD() != nil, service: settings.serviceName())
        }
        guard found.installed else { return nil }
        let readout = state.withLock { $0.readout }
        var o: [String: JSONValue] = ["service": .string(found.service),
                                      "active": .bool(isRunning(pidFile: readout?.pidFile ?? "/run/sshd.pid"))]
        if let readout {
            o["ports"] = .array(readout.ports.map { .number(Double($0)) })
            o["passwordAuthentication"] = readout.passwordAuthentication.map(JSONValue.bool) ?? .null
            o["permitRootLogin"] = readout.permitRootLogin.map(JSONValue.string) ?? .null
        }
        return .object(o)
    }

    /// The periodic work: run sshd -T when the cache is old or the config changed.
    public func refreshIfDue(now: Double = monotonicNow()) async {
        guard settings.resolvedSSHD() != nil else { return }
        let sig = signature()
        let due = state.withLock { s in now - s.refreshedAt >= Self.refreshSec || s.signature != sig }
        if due { await refresh(signature: sig) }
    }

    /// Run `sshd -T` now and cache it. A failed run keeps the previous readout (a broken config
    /// does not change what the running sshd does) and is retried on the next change or in 5 min.
    public func refresh(signature sig: [String]? = nil) async {
        let sig = sig ?? signature()
        let r = try? await SSHD.readout(settings, runner: runner)
        state.withLock { s in
            s.runs += 1
            if let r { s.readout = r }
            s.signature = sig
            s.refreshedAt = monotonicNow()
        }
    }

    /// Files only: the pid file names a live sshd.
    ///
    /// The pid file is read again only when it changes (`PathWatched`). Once its pid was seen to
    /// be sshd, that process's /proc/<pid>/comm stays open and each beat reads it again (one
    /// pread): the descriptor holds the process, not the number, so the read fails (ESRCH) once
    /// that sshd is gone, even if a later process is given the same pid.
    func isRunning(pidFile: String) -> Bool {
        var named = pidWatch.value(watching: { [pidFile] }) { PIDFileReading(path: pidFile, pid: Self.readPID(pidFile)) }
        if named.path != pidFile {  // sshd -T named another pid file since
            pidWatch.invalidate()
            named = pidWatch.value(watching: { [pidFile] }) { PIDFileReading(path: pidFile, pid: Self.readPID(pidFile)) }
        }
        guard let pid = named.pid else { return false }
        let procRoot = settings.procRoot
        return comm.withLock { held in
            if let h = held, h.pid == pid {
                if Self.isSSHD(h.fd) { return true }
                close(h.fd); held = nil
                return false
            }
            if let h = held { close(h.fd); held = nil }
            let fd = open(procRoot + "/\(pid)/comm", O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            guard fd >= 0 else { return false }
            guard Self.isSSHD(fd) else { close(fd); return false }
            held = HeldComm(pid: pid, fd: fd)
            return true
        }
    }

    struct PIDFileReading: Sendable { var path: String; var pid: Int32? }
    struct HeldComm: Sendable { var pid: Int32; var fd: Int32 }
    private let pidWatch = PathWatched<PIDFileReading>()
    private let comm = Mutex<HeldComm?>(nil)

    deinit { comm.withLock { if let h = $0 { close(h.fd) } } }

    static func readPID(_ path: String) -> Int32? {
        guard let bytes = try? Files.readBytes(path, limit: 64),
              let pid = Int32(String(decoding: bytes, as: UTF8.self).trimmingWhitespace), pid > 0 else { return nil }
        return pid
    }

    /// The process behind `fd` (its /proc/<pid>/comm) still runs and is sshd.
    static func isSSHD(_ fd: Int32) -> Bool {
        withUnsafeTemporaryAllocation(byteCount: 64, alignment: 1) { buffer in
            let n = pread(fd, buffer.baseAddress, buffer.count, 0)
            guard n > 0 else { return false }
            return String(decoding: UnsafeRawBufferPointer(rebasing: buffer[0..<n]), as: UTF8.self).trimmingWhitespace.hasPrefix("sshd")
        }
    }
}
