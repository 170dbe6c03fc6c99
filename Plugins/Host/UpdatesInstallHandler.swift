import AgentKernel
import BalctlProtocol

/// `host.updates_install`: installs pending updates (all, or security only) without a question
/// asked, then says what was upgraded and whether the host needs a reboot.
///
/// apt, all: `apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
/// --with-new-pkgs upgrade`. Not `dist-upgrade`: an unattended run must never remove a package;
/// `--with-new-pkgs` still installs the new packages an update depends on (a kernel's new ABI
/// package), which plain `upgrade` would keep back. Changed config files keep the local version
/// (confold; confdef takes the maintainer's answer where there is one).
///
/// apt, security only: the packages `apt-get -s upgrade` shows from a `-security` origin (the
/// same list `host.updates_check` counts) go to `apt-get install --only-upgrade NAME…`. Chosen
/// over `unattended-upgrade`, whose origins depend on a config file the agent does not own and
/// which is not always installed, and over a temporary sources list, whose `apt-get update`
/// would drop the other suites' lists. apt installs each package's candidate (the newest
/// version), which can come from -updates when that suite has a newer one than -security.
///
/// dnf: `dnf -y upgrade` / `dnf -y upgrade --security`.
public struct UpdatesInstallHandler: CommandHandler {
    public struct Parameters: CommandParameters {
        /// Only packages with a security update.
        public var securityOnly: Bool?
        /// "apt" or "dnf"; nil: whichever is installed (apt-get first).
        public var manager: String?
        /// apt: `apt-get update` first (default true); dnf refreshes expired metadata itself.
        public var refresh: Bool?
        public func validate() throws {
            if let m = manager, !["apt", "dnf"].contains(m) {
                throw ParameterError("manager: must be \"apt\" or \"dnf\"")
            }
        }
    }

    let tools: PackageTools
    /// Told when an install starts (true) and ends (false): the heartbeat refresher does not
    /// check meanwhile and checks again right after (see `HostFacts.installing`).
    let installing: @Sendable (Bool) -> Void
    public init(tools: PackageTools = PackageTools(), installing: @escaping @Sendable (Bool) -> Void = { _ in }) {
        self.tools = tools; self.installing = installing
    }
    public static let id = "host.updates_install"
    public static let summary = "Install pending updates (all or security only), non-interactive; says if a reboot is required"
    public static let parameterHelp = "securityOnly: bool (default false); manager: \"apt\" | \"dnf\" (default: detected); refresh: bool (apt-get update first, default true)"
    public static let requiresRoot = true
    public static let supportsCheckMode = true
    public static let lock: String? = "host.packages"
    /// Long work (a whole upgrade, dump or transfer): an hour unless the job says otherwise.
    public static let defaultTimeoutSec: Int? = 3600
    /// The output tail kept in the result.
    public static let resultTailBytes = 4096
    /// Below this job timeout the output warns: an upgrade stopped by the timeout leaves dpkg
    /// half-configured.
    public static let recommendedTimeoutSec = 1800

    /// What apt's and dpkg's helpers must not ask: debconf's questions (noninteractive),
    /// apt-listchanges' pager, ucf's config prompts, needrestart's service menu (list only: the
    /// agent restarts no service the operator did not ask for).
    public static let aptEnvironment: [String: String] = PackageTools.environment.merging([
        "DEBIAN_FRONTEND": "noninteractive", "APT_LISTCHANGES_FRONTEND": "none",
        "UCF_FORCE_CONFFOLD": "1", "NEEDRESTART_MODE": "l",
    ]) { $1 }
    static let dpkgOptions = ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        let securityOnly = p.securityOnly ?? false
        let manager = try tools.manager(p.manager)
        let run: PackageTools.Run = { try await context.run($0, $1, timeoutSec: $2, environment: $3) }
        let what = securityOnly ? "security update" : "update"
        func plural(_ n: Int) -> String { "\(n) \(what)\(n == 1 ? "" : "s")" }

        if context.checkMode {
            // What host.updates_check reports; nothing is refreshed or installed.
            let counts = try await tools.check(manager, run: run)
            let targets = securityOnly ? counts.security : counts.packages
            let reboot = await tools.rebootState(manager, run: run)
            return .unchanged("would install \(plural(targets.count)) (\(manager.name)); reboot required now: \(reboot.required ? "yes" : "no")",
                              result: result(manager, securityOnly, upgraded: [], pending: targets, reboot: reboot, tail: nil, wouldInstall: true))
        }
        if context.timeoutSec < Self.recommendedTimeoutSec {
            context.log("note: the job timeout is \(context.timeoutSec) s; an upgrade stopped by it leaves packages half-configured (dpkg --configure -a). Enqueue with --timeout 3600 for large upgrades.")
        }

        let installTimeout = Double(context.timeoutSec)
        installing(true)
        defer { installing(false) }
        switch manager {
        case .apt(let apt):
            if p.refresh ?? true {
                let r = try await run(apt, ["-q", "update"], 600, Self.aptEnvironment)
                guard r.succeeded else { throw JobFailure("apt-get update failed with exit code \(r.exitCode)", exitCode: Int(r.exitCode)) }
            }
            let counts = try await tools.check(manager, run: run)
            let before = securityOnly ? counts.security : counts.packages
            if before.isEmpty {
                let reboot = await tools.rebootState(manager, run: run)
                return .unchanged("no \(what)s to install (apt)", result: result(manager, securityOnly, upgraded: [], pending: [], reboot: reboot, tail: nil))
            }
            var args = ["-y", "-q"] + Self.dpkgOptions
            if securityOnly {
                // Names from apt's own output, checked again before they become arguments.
                if let bad = before.first(where: { !PackageTools.isDebianPackageName($0) }) {
                    throw JobFailure("apt-get -s upgrade printed a package name that is not one ('\(CertExpiryHandler.printable(bad))'): nothing installed")
                }
                args += ["install", "--only-upgrade"] + before
            } else {
                args += ["--with-new-pkgs", "upgrade"]
            }
            return try await finishApt(apt, args, before: before, securityOnly: securityOnly, timeout: installTimeout, context: context, run: run)
        case .dnf(let dnf):
            let counts = try await tools.check(manager, run: run)
            let before = securityOnly ? counts.security : counts.packages
            if before.isEmpty {
                let reboot = await tools.rebootState(manager, run: run)
                return .unchanged("no \(what)s to install (dnf)", result: result(manager, securityOnly, upgraded: [], pending: [], reboot: reboot, tail: nil))
            }
            let r = try await run(dnf, ["-y", "upgrade"] + (securityOnly ? ["--security"] : []), installTimeout, PackageTools.environment)
            let tail = Self.tail(r.output)
                guard r.succeeded else {
                throw JobFailure("dnf upgrade failed with exit code \(r.exitCode)", exitCode: Int(r.exitCode),
                                 result: .object(["outputTail": .string(tail)]))
            }
            let again = try await tools.check(manager, run: run)
            return outcome(manager, securityOnly, before: before, after: securityOnly ? again.security : again.packages, tail: tail,
                           reboot: await tools.rebootState(manager, run: run), context: context)
        }
    }

    private func finishApt(_ apt: String, _ args: [String], before: [String], securityOnly: Bool, timeout: Double,
                           context: JobContext, run: PackageTools.Run) async throws -> JobOutcome {
        let manager = PackageTools.Manager.apt(apt)
        let r = try await run(apt, args, timeout, Self.aptEnvironment)
        let tail = Self.tail(r.output)
        guard r.succeeded else {
            throw JobFailure("apt-get \(securityOnly ? "install --only-upgrade" : "upgrade") failed with exit code \(r.exitCode)",
                             exitCode: Int(r.exitCode), result: .object(["outputTail": .string(tail)]))
        }
        // What was upgraded: what the simulation listed before and no longer lists (robust where
        // the output tail has lost apt's own summary line on a large upgrade).
        let again = try await tools.check(manager, run: run)
        return outcome(manager, securityOnly, before: before, after: securityOnly ? again.security : again.packages, tail: tail,
                       reboot: await tools.rebootState(manager, run: run), context: context)
    }

    private func outcome(_ manager: PackageTools.Manager, _ securityOnly: Bool, before: [String], after: [String], tail: String,
                         reboot: PackageTools.RebootState, context: JobContext) -> JobOutcome {
        let left = Set(after)
        let upgraded = before.filter { !left.contains($0) }
        let what = securityOnly ? "security update" : "update"
        var summary = "\(upgraded.count) \(what)\(upgraded.count == 1 ? "" : "s") installed (\(manager.name))"
        if !after.isEmpty { summary += "; \(after.count) still pending" }
        summary += reboot.required ? "; reboot required" : "; no reboot required"
        context.log("reboot: \(reboot.reason)")
        return JobOutcome(changed: true, summary: summary,
                          result: result(manager, securityOnly, upgraded: upgraded, pending: after, reboot: reboot, tail: tail))
    }

    private func result(_ manager: PackageTools.Manager, _ securityOnly: Bool, upgraded: [String], pending: [String],
                        reboot: PackageTools.RebootState, tail: String?, wouldInstall: Bool = false) -> JSONValue {
        let cap = UpdatesCheckHandler.maxListed
        var r: [String: JSONValue] = [
            "manager": .string(manager.name),
            "securityOnly": .bool(securityOnly),
            "rebootRequired": .bool(reboot.required),
            "rebootReason": .string(reboot.reason),
        ]
        if wouldInstall {
            r["wouldInstall"] = .number(Double(pending.count))
            r["packages"] = .array(pending.prefix(cap).map { .string($0) })
        } else {
            r["upgraded"] = .number(Double(upgraded.count))
            r["packages"] = .array(upgraded.prefix(cap).map { .string($0) })
            r["stillPending"] = .number(Double(pending.count))
        }
        if !reboot.packages.isEmpty { r["rebootPackages"] = .array(reboot.packages.map { .string($0) }) }
        if let tail { r["outputTail"] = .string(tail) }
        return .object(r)
    }

    /// The last `resultTailBytes` of the output, starting at a line (and never inside a UTF-8
    /// sequence): the full tail is the job's output.
    public static func tail(_ text: String) -> String {
        let bytes = Array(text.utf8)
        guard bytes.count > resultTailBytes else { return text }
        var cut = bytes.suffix(resultTailBytes)
        if let nl = cut.firstIndex(of: UInt8(ascii: "\n")), nl < cut.endIndex - 1 { cut = cut[(nl + 1)...] }
        while let f = cut.first, f & 0xC0 == 0x80 { cut = cut.dropFirst() }
        return String(decoding: cut, as: UTF8.self)
    }
}
