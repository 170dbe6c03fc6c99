#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// `firewall.restore`: put back a `firewall.backup` file. The backup is read without following
/// links, must be a regular file of ours (owner = the agent, not writable by others) and is
/// validated whole before any file is touched; the lock-out guard checks the restored rules
/// when the backup enables the firewall. Then the files are replaced (atomically, each keeping
/// its mode and owner) and ufw reloaded, enabled or disabled as the backup says; if ufw fails,
/// the previous files are put back and ufw brought back to how it was.
public struct RestoreHandler: CommandHandler {
    public struct Parameters: CommandParameters {
        /// The name `firewall.backup` returned (`ufw-<stamp>-<hex>`), not a path.
        public var backup: String
        public var force: Bool?
        public func validate() throws {
            guard UFWBackup.isBackupName(backup) || FirewalldBackup.isBackupName(backup) else {
                throw ParameterError("backup: must be a name firewall.backup returned (ufw-<stamp>-<hex> or firewalld-<stamp>-<hex>), not a path")
            }
        }
    }
    let settings: FirewallSettings
    public init(settings: FirewallSettings) { self.settings = settings }
    public static let id = "firewall.restore"
    public static let summary = "Restore the firewall rules and settings (ufw or firewalld) from a firewall.backup file"
    public static let parameterHelp = "backup: name returned by firewall.backup; force: bool (skip the lock-out guard)"
    public static let requiresRoot = true
    public static let lock: String? = FirewallPlugin.lock
    public static let supportsCheckMode = true
    public static let exampleParameters: JSONValue = .object(["backup": .string("ufw-20260101T000000Z-0123456789abcdef")])

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        let path = settings.backupDir + "/" + p.backup
        guard Files.exists(settings.backupDir) else {
            throw JobFailure("no backup \(p.backup): \(settings.backupDir) does not exist")
        }
        // The directory itself must not be a link (and stays 0700).
        do { try SafeFile.makeDirectory(settings.backupDir, mode: 0o700) } catch {
            throw JobFailure("backup directory: \(error)")
        }
        let bytes: [UInt8]
        do { bytes = try Files.readBytes(path, limit: UFWBackup.maxBackupBytes, noFollow: true) } catch {
            throw JobFailure("cannot read backup \(p.backup): \(error)")
        }
        // readBytes refused a link or a non-regular file; the file must also be ours, unshared.
        guard let st = Files.info(path), st.uid == geteuid(), st.mode & 0o022 == 0 else {
            throw JobFailure("backup \(p.backup) is not owned by the agent or is writable by others")
        }
        let firewalld = settings.selectedTool() == .firewalld
        guard firewalld == FirewalldBackup.isBackupName(p.backup) else {
            throw JobFailure("backup \(p.backup) is a \(firewalld ? "ufw" : "firewalld") backup; this host uses \(firewalld ? "firewalld" : "ufw")")
        }
        if firewalld {
            return try await FirewalldBackup.restore(p.backup, bytes: bytes, force: p.force ?? false, settings: settings, context: context)
        }
        let backup = try UFWBackup.decode(bytes)
        let target = UFWState(conf: backup.text("ufw.conf"), defaults: backup.text(FirewallSettings.defaultsName),
                              userRules: backup.text("user.rules"), user6Rules: backup.text("user6.rules"))
        let ufw = try UFWControl(settings, context)
        let live = try await ufw.liveActive()

        var previous: [(name: String, path: String, bytes: [UInt8]?, info: Files.Info?)] = []
        var changed: [String] = []
        for f in backup.files {
            let dest = settings.path(ofBackupName: f.name)
            let current = try? Files.readBytes(dest, limit: UFWBackup.maxFileBytes, noFollow: true)
            previous.append((f.name, dest, current, Files.info(dest)))
            if current != Array(f.text.utf8) { changed.append(f.name) }
        }
        if changed.isEmpty && live == target.enabled {
            return .unchanged("unchanged: the ufw files already match \(p.backup)")
        }
        if target.enabled {
            let guardrail = await LockoutGuard.make(settings, context: context)
            try guardrail.check(target.rules, defaultIncoming: target.defaultIncoming, defaultOutgoing: target.defaultOutgoing,
                                force: p.force ?? false, what: "restore \(p.backup)", context: context)
        }
        let summaryTail = "\(changed.count) files changed (\(changed.joined(separator: ", "))), firewall \(target.enabled ? "enabled" : "disabled"), \(target.rules.count) rules"
        // Red team: a file that exists but could not be read (over 1 MiB, a link) has no copy
        // to put back, so a failed restore would leave it half-written: refuse up front.
        if let unreadable = previous.first(where: { changed.contains($0.name) && $0.bytes == nil && $0.info != nil }) {
            throw JobFailure("cannot keep a copy of \(unreadable.path) to put back on failure (unreadable, a link or over \(UFWBackup.maxFileBytes) bytes)")
        }
        if context.checkMode {
            return JobOutcome(changed: true, summary: "check mode: would restore \(p.backup): \(summaryTail)",
                              result: .object(["changedFiles": .array(changed.map(JSONValue.string))]))
        }
        func write(_ name: String, _ path: String, _ bytes: [UInt8], like info: Files.Info?) throws {
            // A file that was missing gets the mode ufw's package gives it (rules 0640).
            let mode: mode_t = info?.mode ?? (name.hasSuffix(".rules") ? 0o640 : 0o644)
            do { try SafeFile.write(path, bytes, mode: mode, owner: Files.owner(like: info)) } catch {
                throw JobFailure("cannot write \(path): \(error)")
            }
        }
        do {
            for f in backup.files where changed.contains(f.name) {
                let prev = previous.first { $0.name == f.name }
                try write(f.name, settings.path(ofBackupName: f.name), Array(f.text.utf8), like: prev?.info)
            }
            try await activate(ufw, enabled: target.enabled, wasActive: live)
        } catch {
            context.log("restore failed (\(error)); putting the previous files back")
            for prev in previous where changed.contains(prev.name) {
                if let b = prev.bytes { try? write(prev.name, prev.path, b, like: prev.info) }
                // Red team: a file the restore created (absent before, e.g. user6.rules) was left
                // behind with the backup's content; it goes again.
                else if prev.info == nil { unlink(prev.path) }
            }
            try? await activate(ufw, enabled: live, wasActive: (try? await ufw.liveActive()) ?? false)
            throw error
        }
        return JobOutcome(changed: true, summary: "restored \(p.backup): \(summaryTail)",
                          result: .object(["changedFiles": .array(changed.map(JSONValue.string)),
                                           "active": .bool(target.enabled)]))
    }

    private func activate(_ ufw: UFWControl, enabled: Bool, wasActive: Bool) async throws {
        if enabled {
            try await ufw.run(wasActive ? ["reload"] : ["--force", "enable"])
        } else if wasActive {
            try await ufw.run(["disable"])
        }
    }
}
