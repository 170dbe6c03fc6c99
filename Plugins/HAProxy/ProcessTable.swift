#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel

/// A live haproxy process as /proc shows it.
public struct HAProxyProcess: Sendable, Equatable {
    public var pid: Int32
    public var ppid: Int32
    /// Unix time it started (10 ms resolution; rounded down).
    public var startedAt: Double
    public var argv: [String]
    /// Where /proc/PID/exe points (the file actually executed, whatever argv says); nil when it
    /// cannot be read.
    public var executable: String?
    /// Real, effective, saved and file-system uid (/proc/PID/status); empty when unreadable.
    public var uids: [uid_t] = []

    /// Started in master-worker mode (`-W`, `-Ws`; Debian's unit uses `-Ws`).
    var masterWorkerFlag: Bool { argv.contains("-W") || argv.contains("-Ws") }

    /// The process's working directory (kept for diagnostics; never used to resolve `-f`).
    var cwd: String?

    /// Its `-f` arguments, as given.
    var configArguments: [String] {
        var out: [String] = []
        var i = 0
        while i < argv.count {
            if argv[i] == "-f", i + 1 < argv.count {
                out.append(argv[i + 1])
                i += 2
            } else { i += 1 }
        }
        return out
    }

    /// Whether its `-f` arguments load `config`: the file itself, or the directory holding it when
    /// it ends in `.cfg` (haproxy's `-f <dir>` loads only the directory's direct `*.cfg` children;
    /// red team finding 5). A relative `-f` never matches (red team finding 3a): it is resolved
    /// against a working directory whose owner may rename it under the process, so the same
    /// string can later name our config although that process never loaded it.
    func loads(_ config: String) -> Bool {
        configArguments.contains { f in
            guard f.hasPrefix("/") else { return false }
            if Self.samePath(f, config) { return true }
            guard config.hasSuffix(".cfg") else { return false }
            var dir = f
            while dir.count > 1 && dir.hasSuffix("/") { dir.removeLast() }
            let parent = Files.dirname(config)
            if dir == parent { return true }
            guard let a = Self.realPath(dir), let b = Self.realPath(parent) else { return false }
            return a == b
        }
    }

    static func samePath(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        guard let ia = Files.info(a), let ib = Files.info(b) else { return false }
        return ia.inode == ib.inode && ia.isRegular && ib.isRegular && realPath(a) == realPath(b)
    }

    static func realPath(_ p: String) -> String? {
        guard let r = realpath(p, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }
}

/// Finds haproxy processes by reading /proc: how "is it running" is answered where systemd is not
/// PID 1, and how a reload finds what to signal.
public struct ProcessTable: Sendable {
    public let procRoot: String

    public init(procRoot: String = "/proc") { self.procRoot = procRoot }

    /// The process `pid` if it is a live (not zombie) haproxy.
    public func haproxy(_ pid: Int32) -> HAProxyProcess? { haproxy(pid, clock: Clock(procRoot: procRoot)) }

    /// Turns "clock ticks after boot" into Unix time. /proc/stat's btime is whole seconds, too
    /// coarse to compare with a config file's mtime; CLOCK_BOOTTIME (the clock a process's start
    /// time counts on) read beside CLOCK_REALTIME is exact. The tick count itself is rounded
    /// down, so a process looks at most one tick (10 ms) older than it is: when in doubt, a
    /// reload counts its haproxy as stale, never as current.
    struct Clock {
        let bootedAt: Double
        let ticksPerSec: Double
        init(procRoot: String) {
            var boot = timespec()
            clock_gettime(CLOCK_BOOTTIME, &boot)
            bootedAt = unixNow() - (Double(boot.tv_sec) + Double(boot.tv_nsec) / 1e9)
            ticksPerSec = Double(max(1, sysconf(Int32(_SC_CLK_TCK))))
        }
    }

    func haproxy(_ pid: Int32, clock: Clock) -> HAProxyProcess? {
        // /proc/PID/stat: "pid (comm) state ppid … starttime(22nd field) …"; comm may hold spaces
        // or parentheses, so split after the last ')'.
        guard let stat = readTextFile("\(procRoot)/\(pid)/stat", limit: 4096),
              let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { return nil }
        let comm = stat[stat.index(after: open)..<close]
        guard comm == "haproxy" else { return nil }
        let rest = stat[stat.index(after: close)...].split(separator: " ")
        // rest[0] = state (field 3), rest[1] = ppid (4), rest[19] = starttime (22). Zombies are
        // not running (and are never reaped where PID 1 is not an init).
        guard rest.count > 19, rest[0] != "Z", rest[0] != "X",
              let ppid = Int32(rest[1]), let ticks = Double(rest[19]) else { return nil }
        let cmdline = readTextFile("\(procRoot)/\(pid)/cmdline", limit: 65536) ?? ""
        let argv = cmdline.split(separator: "\0", omittingEmptySubsequences: false).map(String.init)
        return HAProxyProcess(pid: pid, ppid: ppid, startedAt: clock.bootedAt + ticks / clock.ticksPerSec,
                              argv: argv.last == "" ? Array(argv.dropLast()) : argv,
                              executable: Self.readLink("\(procRoot)/\(pid)/exe"),
                              uids: Self.uids(readTextFile("\(procRoot)/\(pid)/status", limit: 16384) ?? ""),
                              cwd: Self.readLink("\(procRoot)/\(pid)/cwd"))
    }

    /// The four uids of /proc/PID/status's `Uid:` line (real, effective, saved, file system).
    static func uids(_ status: String) -> [uid_t] {
        for line in status.split(separator: "\n") where line.hasPrefix("Uid:") {
            let ids = line.dropFirst(4).split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { uid_t($0) }
            return ids.count == 4 ? ids : []
        }
        return []
    }

    static func readLink(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4097)
        let n = readlink(path, &buf, 4096)
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Every live process named haproxy, trusted or not (anyone can name a process haproxy).
    public func all() -> [HAProxyProcess] {
        let clock = Clock(procRoot: procRoot)
        return Files.list(procRoot).compactMap { Int32($0) }.compactMap { haproxy($0, clock: clock) }
            .sorted { $0.pid < $1.pid }
    }

    /// The live haproxy processes `trust` accepts whose command line loads `config`: what "haproxy
    /// is running" means, and the only processes a reload signals.
    public func serving(_ config: String, trust: ProcessTrust) -> [HAProxyProcess] {
        Self.serving(all(), config: config, trust: trust)
    }

    /// Of `candidates`, the ones that count as serving `config` (red team finding 3b): a trusted
    /// process run by root that loads it, or a trusted process of the haproxy user that loads it
    /// and whose parent is such a root master-worker master (a worker). A process the haproxy
    /// user started itself (`setsid haproxy -W -f /tmp/fifo -f <config>`) is neither a master to
    /// signal nor a sign that haproxy runs.
    static func serving(_ candidates: [HAProxyProcess], config: String, trust: ProcessTrust) -> [HAProxyProcess] {
        let loading = candidates.filter { trust.trusts($0) && $0.loads(config) }
        let roots = loading.filter(\.isRoot)
        let masters = Set(roots.filter(\.masterWorkerFlag).map(\.pid))
        return loading.filter { $0.isRoot || masters.contains($0.ppid) }
    }
}

extension HAProxyProcess {
    /// Every uid (real, effective, saved, file system) is root.
    var isRoot: Bool { !uids.isEmpty && uids.allSatisfy { $0 == 0 } }
}

/// Which processes the agent believes are haproxy (issue 20 item 10). A process's name and command
/// line are whatever its starter chose: any local user can run a program called haproxy with
/// `-f /etc/haproxy/haproxy.cfg -f evil.cfg`. So a process counts only when /proc/PID/exe is the
/// configured haproxy binary (the same file; " (deleted)" after a package upgrade replaced it) and
/// every uid it has is root or the haproxy user (a worker drops to that user). Its command line is
/// read to tell which config it serves and whether it is a master-worker master, never copied.
public struct ProcessTrust: Sendable, Equatable {
    /// The canonical path of the haproxy binary.
    public var executable: String
    /// root and the haproxy user's uid (when that user exists).
    public var owners: Set<uid_t>

    public init(executable: String, owners: Set<uid_t>) { self.executable = executable; self.owners = owners }

    public func trusts(_ p: HAProxyProcess) -> Bool {
        guard let exe = p.executable, exe == executable || exe == executable + " (deleted)" else { return false }
        return !p.uids.isEmpty && p.uids.allSatisfy(owners.contains)
    }
}
