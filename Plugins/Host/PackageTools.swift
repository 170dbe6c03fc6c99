#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// apt-get / dnf as `host.updates_check`, `host.updates_install` and the heartbeat's hourly
/// updates fact use them: one place that finds the tools, runs the read-only check and says
/// whether the host needs a reboot, so the three never disagree about what "pending" means.
public struct PackageTools: Sendable {
    /// Runs a program (argv array, never a shell) with a bound and an environment: a job's
    /// `context.run`, or a bare `ProcessRunner` on the heartbeat refresher.
    public typealias Run = @Sendable (_ executable: String, _ arguments: [String], _ timeoutSec: Double,
                                      _ environment: [String: String]) async throws -> ProcessResult

    public enum Manager: Sendable, Equatable {
        case apt(String)
        case dnf(String)
        public var name: String { if case .apt = self { "apt" } else { "dnf" } }
        public var path: String { switch self { case .apt(let p), .dnf(let p): p } }
    }

    public struct Counts: Equatable, Sendable {
        public var packages: [String] = []
        public var security: [String] = []
        public init(packages: [String] = [], security: [String] = []) { self.packages = packages; self.security = security }
    }

    /// Where apt-get, dnf and needs-restarting are looked for; tests put fakes first.
    public var searchPath: [String]
    /// Prefix for /var/run/reboot-required and /boot (tests: a temporary root).
    public var root: String
    /// The running kernel's release (`uname -r`); tests fix it.
    public var runningKernel: @Sendable () -> String

    public init(searchPath: [String] = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"],
                root: String = "", runningKernel: @escaping @Sendable () -> String = PackageTools.unameRelease) {
        self.searchPath = searchPath; self.root = root; self.runningKernel = runningKernel
    }

    /// The programs get this environment, not the agent's: the C locale (the parsers read
    /// English output) and a PATH of the system directories (apt-get runs dpkg, and maintainer
    /// scripts run whatever they need, by PATH). The runner drops BALCTL_* anyway.
    public static let environment: [String: String] = [
        "LC_ALL": "C", "LANG": "C", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ]

    /// Simulating apt's upgrade: as root it takes no lock (`Debug::NoLocking`), so a check never
    /// waits for (or blocks) dpkg; `--with-new-pkgs` as the install runs it (a kernel update that
    /// needs a new ABI package counts, instead of being "kept back").
    public static let aptSimulate = ["-s", "-q", "-o", "Debug::NoLocking=1", "--with-new-pkgs", "upgrade"]

    func find(_ name: String) -> String? {
        searchPath.map { $0 + "/" + name }.first { Files.isExecutable($0) }
    }

    /// apt-get or dnf: the one asked for, else whichever is installed (apt-get first).
    public func manager(_ wanted: String?) throws -> Manager {
        if wanted != "dnf", let apt = find("apt-get") { return .apt(apt) }
        if wanted != "apt", let dnf = find("dnf") { return .dnf(dnf) }
        throw JobFailure(wanted.map { "\($0 == "apt" ? "apt-get" : "dnf") not found" } ?? "neither apt-get nor dnf found")
    }

    /// Pending and security updates, read-only (apt simulates, dnf only lists).
    public func check(_ manager: Manager, run: Run) async throws -> Counts {
        let env = Self.environment
        switch manager {
        case .apt(let apt):
            let r = try await run(apt, Self.aptSimulate, 300, env)
            guard r.succeeded else { throw JobFailure("apt-get -s upgrade failed with exit code \(r.exitCode)", exitCode: Int(r.exitCode)) }
            return Self.parseApt(r.output)
        case .dnf(let dnf):
            let r = try await run(dnf, ["-q", "check-update"], 600, env)
            // 100: updates are available; 0: none.
            guard r.exitCode == 0 || r.exitCode == 100, r.signal == nil, !r.timedOut else {
                throw JobFailure("dnf check-update failed with exit code \(r.exitCode)", exitCode: Int(r.exitCode))
            }
            var c = Counts(packages: Self.parseDnfCheckUpdate(r.output))
            let s = try await run(dnf, ["-q", "updateinfo", "list", "--security"], 600, env)
            guard s.succeeded else { throw JobFailure("dnf updateinfo list --security failed with exit code \(s.exitCode)", exitCode: Int(s.exitCode)) }
            c.security = Self.parseDnfSecurity(s.output)
            return c
        }
    }

    // MARK: parsers

    /// `Inst pkg [old] (new origin, origin… [arch])` lines of `apt-get -s upgrade`; a security
    /// update has an origin containing `-security`. Only upgrades count: a line without the
    /// `[old]` version is a new package an upgrade pulls in (a kernel's new ABI package), which
    /// apt's summary counts as "newly installed", not "upgraded".
    public static func parseApt(_ text: String) -> Counts {
        var c = Counts()
        for line in text.split(separator: "\n") where line.hasPrefix("Inst ") {
            let fields = line.split(separator: " ", maxSplits: 2)
            guard fields.count == 3, fields[2].hasPrefix("[") else { continue }
            let name = String(fields[1])
            c.packages.append(name)
            if let open = line.firstIndex(of: "("), line[open...].contains("-security") { c.security.append(name) }
        }
        return c
    }

    /// `name.arch  version  repo` lines of `dnf check-update` (up to "Obsoleting Packages").
    public static func parseDnfCheckUpdate(_ text: String) -> [String] {
        var out: [String] = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("Obsoleting Packages") || line.hasPrefix("Security:") { break }
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count == 3, !line.hasPrefix(" "), let dot = f[0].lastIndex(of: "."), dot != f[0].startIndex,
                  f[1].first?.isNumber == true else { continue }
            out.append(String(f[0][..<dot]))
        }
        return out
    }

    /// `ADVISORY  Severity/Sec.  nevra` lines of `dnf updateinfo list --security`: the packages.
    public static func parseDnfSecurity(_ text: String) -> [String] {
        var out: [String] = []
        var seen = Set<Substring>()
        for line in text.split(separator: "\n") {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count == 3, f[1].hasSuffix("Sec.") || f[1] == "security" else { continue }
            if seen.insert(f[2]).inserted { out.append(String(f[2])) }
        }
        return out
    }

    /// A Debian package name as apt prints it in an `Inst` line (`name` or `name:arch`), before
    /// it goes back to apt-get as an argument: policy-manual §5.6.1 names (lowercase letters,
    /// digits, `+ - .`, starting alphanumeric, ≥ 2 characters), so nothing can read as an option.
    public static func isDebianPackageName(_ s: String) -> Bool {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let name = parts.first, name.utf8.count >= 2, name.utf8.count <= 128 else { return false }
        func alnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) }
        guard let first = name.utf8.first, alnum(first),
              name.utf8.allSatisfy({ alnum($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") })
        else { return false }
        if parts.count == 2 {
            let arch = parts[1]
            guard !arch.isEmpty, arch.utf8.count <= 32, let f = arch.utf8.first, alnum(f),
                  arch.utf8.allSatisfy({ alnum($0) || $0 == UInt8(ascii: "-") }) else { return false }
        }
        return true
    }

    // MARK: reboot required

    public struct RebootState: Equatable, Sendable {
        public var required: Bool
        /// How it was decided, for the operator ("/var/run/reboot-required exists", …).
        public var reason: String
        /// Debian's /var/run/reboot-required.pkgs (≤ 64 names).
        public var packages: [String] = []
        public init(required: Bool, reason: String, packages: [String] = []) {
            self.required = required; self.reason = reason; self.packages = packages
        }
    }

    /// Whether the host should be rebooted to run what is installed.
    /// - /var/run/reboot-required (Debian/Ubuntu: written by update-notifier-common's and
    ///   unattended-upgrades' hooks) exists → yes, with its `.pkgs` list.
    /// - dnf hosts with `needs-restarting` (dnf-utils): `needs-restarting -r` exit 1 → yes, 0 → no.
    /// - Otherwise: the newest kernel in /boot (`vmlinuz-RELEASE`, by modification time, rescue
    ///   images skipped) is not the running one → yes. Stock Debian writes no reboot-required
    ///   file for a kernel update, so apt hosts get this comparison too.
    public func rebootState(_ manager: Manager?, run: Run) async -> RebootState {
        let flag = root + "/var/run/reboot-required"
        if Files.exists(flag) {
            let text = (try? Files.readBytes(flag + ".pkgs", limit: 64 << 10)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            var seen = Set<String>()
            let pkgs = text.split(separator: "\n").map { String($0) }.filter { Self.isDebianPackageName($0) && seen.insert($0).inserted }
            return RebootState(required: true, reason: "/var/run/reboot-required exists", packages: Array(pkgs.prefix(64)))
        }
        if case .dnf? = manager, let nr = find("needs-restarting"),
           let r = try? await run(nr, ["-r"], 120, Self.environment), r.signal == nil, !r.timedOut,
           r.exitCode == 0 || r.exitCode == 1 {
            return RebootState(required: r.exitCode == 1, reason: "needs-restarting -r exited \(r.exitCode)")
        }
        let running = runningKernel()
        guard let newest = newestInstalledKernel() else {
            return RebootState(required: false, reason: "no reboot-required file; no kernel found in /boot to compare")
        }
        return newest == running
            ? RebootState(required: false, reason: "running the newest installed kernel (\(running))")
            : RebootState(required: true, reason: "running kernel \(running), newest installed \(newest)")
    }

    /// The release of the most recently installed `/boot/vmlinuz-RELEASE` (rescue images skipped).
    func newestInstalledKernel() -> String? {
        var best: (release: String, mtime: Double)?
        for name in Files.list(root + "/boot") where name.hasPrefix("vmlinuz-") && !name.contains("rescue") {
            guard let info = Files.info(root + "/boot/" + name), info.isRegular else { continue }
            let release = String(name.dropFirst("vmlinuz-".count))
            if best == nil || info.mtime > best!.mtime { best = (release, info.mtime) }
        }
        return best?.release
    }

    public static func unameRelease() -> String {
        var u = utsname()
        guard uname(&u) == 0 else { return "" }
        return withUnsafeBytes(of: u.release) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
