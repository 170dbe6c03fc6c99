import AgentKernel
import BalctlProtocol

/// `ssh.harden`: keys only and no root password login, as a drop-in
/// (`sshd_config.d/50-balctl.conf`: PasswordAuthentication no, KbdInteractiveAuthentication no
/// — with PAM, keyboard-interactive is a password prompt by another name — and PermitRootLogin
/// prohibit-password). Steps: the main config must `Include` the drop-in directory (else refused:
/// the file would do nothing); the lock-out guard (see below); write the drop-in through
/// SafeFile; `sshd -t` (rolled back — the previous drop-in put back, or removed — when it
/// fails); `sshd -T` must show the values in effect (rolled back when an earlier file wins);
/// then `systemctl try-reload-or-restart` (a stopped sshd stays stopped). Same drop-in already
/// there and in effect → "unchanged". Undo: ssh.harden_undo.
///
/// Lock-out guard (PasswordAuthentication no only, `force: true` overrides): each of `users`
/// must have at least one key in the files sshd reads (AuthorizedKeysFile); without `users`,
/// at least one login account (root, or uid ≥ 1000 with a login shell) must have one.
public struct HardenHandler: CommandHandler {
    public struct Parameters: CommandParameters {
        /// Default false: keys only.
        public var passwordAuthentication: Bool?
        /// prohibit-password (default) | no | forced-commands-only.
        public var permitRootLogin: String?
        /// Accounts that must keep a way in (each needs an authorized key).
        public var users: [String]?
        public var force: Bool?

        static let rootModes = ["prohibit-password", "no", "forced-commands-only"]

        public func validate() throws {
            if let m = permitRootLogin, !Self.rootModes.contains(m) {
                throw ParameterError("permitRootLogin: must be one of \(Self.rootModes.joined(separator: ", "))")
            }
            if let users {
                guard (1...32).contains(users.count) else { throw ParameterError("users: 1 to 32 names") }
                for u in users { try UserName.validate(u, field: "users") }
            }
        }

        var wantPassword: Bool { passwordAuthentication ?? false }
        var wantRoot: String { permitRootLogin ?? "prohibit-password" }

        /// The drop-in's text.
        var dropIn: String {
            var s = "# Written by balctl (ssh.harden); ssh.harden_undo removes it. Edits here are overwritten.\n"
            if !wantPassword {
                s += "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            } else {
                s += "PasswordAuthentication yes\n"
            }
            s += "PermitRootLogin \(wantRoot)\n"
            return s
        }
    }

    let settings: SSHSettings
    public init(settings: SSHSettings) { self.settings = settings }
    public static let id = "ssh.harden"
    public static let summary = "Keys-only SSH and no root password login (drop-in, validated with sshd -t, reloaded)"
    public static let parameterHelp = "passwordAuthentication: bool (default false); permitRootLogin: prohibit-password|no|forced-commands-only (default prohibit-password); users: [names] that must keep a key; force: bool (skip the lock-out guard)"
    public static let requiresRoot = true
    public static let lock: String? = SSHPlugin.configLock
    public static let supportsCheckMode = true

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        _ = try SSHD.program(settings)
        let main: [UInt8]
        do { main = try Files.readBytes(settings.configFile, limit: 1 << 20, noFollow: true) } catch {
            throw JobFailure("cannot read \(settings.configFile): \(error.message)")
        }
        guard IncludeCheck.includesDropIn(mainConfig: String(decoding: main, as: UTF8.self), dropIn: settings.dropInFile) else {
            throw JobFailure("\(settings.configFile) does not Include \(settings.dropInDir)/*.conf (before any Match block), "
                             + "so a drop-in would have no effect: add 'Include \(settings.dropInDir)/*.conf' at its top, then retry")
        }
        let before = try await SSHD.readout(settings, runner: context.processes, output: context.output)
        let desired = Array(p.dropIn.utf8)
        let dir = try Self.dropInDirectory(settings, create: !context.checkMode)
        let previous: PinnedDirectory.Entry?
        do { previous = try dir?.read(SSHSettings.dropInName, limit: 1 << 20) } catch {
            throw JobFailure(error.description)
        }
        let result: JSONValue = .object(["dropIn": .string(settings.dropInFile), "before": before.json])
        if previous?.bytes == desired, Self.inEffect(before, p) {
            return .unchanged("unchanged: \(settings.dropInFile) is in place and in effect", result: result)
        }
        if !p.wantPassword && p.force != true { try guardLockout(p, before, context) }
        if context.checkMode {
            return JobOutcome(changed: true, summary: "check mode: would write \(settings.dropInFile) (\(Self.describe(p))), check it with sshd -t and reload", result: result)
        }
        guard let dir else { throw JobFailure("\(settings.dropInDir): cannot be opened") }
        func rollBack() {
            if let previous { try? dir.write(SSHSettings.dropInName, previous.bytes, mode: previous.mode, owner: nil) }
            else { _ = try? dir.remove(SSHSettings.dropInName) }
        }
        do { try dir.write(SSHSettings.dropInName, desired, mode: 0o644, owner: nil) } catch {
            throw JobFailure(error.description)
        }
        if let problem = try await SSHD.test(settings, context: context) {
            rollBack()
            throw JobFailure("sshd -t refused the configuration with the drop-in (rolled back): \(problem)")
        }
        let after: SSHDReadout
        do { after = try await SSHD.readout(settings, runner: context.processes, output: context.output) } catch {
            rollBack(); throw error
        }
        guard Self.inEffect(after, p) else {
            rollBack()
            throw JobFailure("the drop-in does not take effect: sshd -T still says PasswordAuthentication "
                             + "\(after.passwordAuthentication.map { $0 ? "yes" : "no" } ?? "?"), PermitRootLogin \(after.permitRootLogin ?? "?") "
                             + "(an earlier setting wins: sshd keeps the first value it reads; look in \(settings.configFile) "
                             + "above the Include and in drop-ins sorting before \(SSHSettings.dropInName)). Rolled back")
        }
        try await SSHService(settings).reloadIfRunning(context)
        context.log("wrote \(settings.dropInFile); sshd -t passed; reloaded")
        return JobOutcome(changed: true, summary: "hardened: \(Self.describe(p)) (\(settings.dropInFile))",
                          result: .object(["dropIn": .string(settings.dropInFile), "before": before.json, "after": after.json]))
    }

    static func describe(_ p: Parameters) -> String {
        "PasswordAuthentication \(p.wantPassword ? "yes" : "no"), PermitRootLogin \(p.wantRoot)"
    }

    static func inEffect(_ r: SSHDReadout, _ p: Parameters) -> Bool {
        r.passwordAuthentication == p.wantPassword && r.permitRootLogin == p.wantRoot
            && (p.wantPassword || r.kbdInteractiveAuthentication == false)
    }

    /// sshd_config.d, opened without following links; created (0755) when missing and `create`.
    static func dropInDirectory(_ s: SSHSettings, create: Bool) throws -> PinnedDirectory? {
        do {
            if !create && Files.info(s.dropInDir) == nil { return nil }
            return try PinnedDirectory.open(s.dropInDir, create: create ? (0o755, nil) : nil).0
        } catch {
            throw JobFailure("\(s.dropInDir): \(error.message)")
        }
    }

    func guardLockout(_ p: Parameters, _ readout: SSHDReadout, _ context: JobContext) throws {
        if let users = p.users {
            var missing: [String] = []
            for u in users {
                guard let a = settings.accounts.byName(u) else { throw JobFailure("no such user: \(u)") }
                if AuthorizedKeysFile.keyCount(a, patterns: readout.authorizedKeysFiles) == 0 { missing.append(u) }
            }
            if !missing.isEmpty {
                throw JobFailure("refusing to turn password login off: \(missing.joined(separator: ", ")) "
                                 + "\(missing.count == 1 ? "has" : "have") no authorized key and would be locked out "
                                 + "(add one with ssh.authorized_key_add, or pass force: true)")
            }
            return
        }
        let candidates = settings.accounts.all().filter { $0.uid == 0 || ($0.uid >= 1000 && $0.uid != 65534 && $0.canLogIn) }
        if candidates.contains(where: { AuthorizedKeysFile.keyCount($0, patterns: readout.authorizedKeysFiles) > 0 }) { return }
        throw JobFailure("refusing to turn password login off: no login account (root or uid ≥ 1000) has an authorized key, "
                         + "so nobody could log in over SSH (add one with ssh.authorized_key_add, name the accounts with users, or pass force: true)")
    }
}
