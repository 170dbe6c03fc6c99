#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// The `firewall` backup scope: ufw's configuration (`/etc/ufw`, `/etc/default/ufw`) and
/// firewalld's (`/etc/firewalld`), whichever exist. A restore is held to the same rules as
/// `firewall.restore`: the staged rules pass the lock-out guard (SSH in, the control plane out)
/// before any file moves, and once the files are in place the firewall is brought to what they
/// say — ufw reloaded, enabled or disabled as the restored `ufw.conf` says; firewalld's
/// configuration checked and, while the daemon runs, reloaded. A failure there rolls the files
/// back (the backup plugin does that) and runs `activate` again on the previous ones.
struct FirewallBackupScope: BackupScope {
    let settings: FirewallSettings
    var name: String { "firewall" }

    /// Everything a firewall snapshot may hold.
    var ownRoots: [String] { [settings.ufwDir, settings.defaultsFile, settings.firewalldDir] }

    func roots(paths: [String]) throws -> [String] {
        guard paths.isEmpty else { throw ParameterError("the firewall scope takes no paths (it backs up \(ownRoots.joined(separator: ", ")) where they exist)") }
        let found = ownRoots.filter(Files.exists)
        guard !found.isEmpty else { throw JobFailure("no firewall configuration on this host (none of \(ownRoots.joined(separator: ", ")))") }
        return found
    }

    /// Roots must be this scope's own; the staged rules must not lock the host out.
    func validateStaged(stagingRoot: String, roots: [String], in context: JobContext) async throws {
        if let other = roots.first(where: { !ownRoots.contains($0) }) {
            throw JobFailure("the snapshot's root \(other) is not firewall configuration (\(ownRoots.joined(separator: ", ")))")
        }
        switch settings.selectedTool() {
        case .ufw? where roots.contains(settings.ufwDir):
            let staged = try stagedUFWState(stagingRoot, roots: roots)
            guard staged.enabled else { return }
            let guardrail = await LockoutGuard.make(settings, context: context)
            try guardrail.check(staged.rules, defaultIncoming: staged.defaultIncoming, defaultOutgoing: staged.defaultOutgoing,
                                force: false, what: "restore this firewall snapshot", context: context)
        case .firewalld? where roots.contains(settings.firewalldDir):
            let fw = try FirewalldControl(settings, context)
            guard await fw.running() else { return }
            let dir = stagingRoot + settings.firewalldDir
            var overlay: [String: String] = [:]
            for rel in FirewalldBackup.managedPaths(in: dir) {
                overlay[rel] = try Self.stagedText(dir + "/" + rel, shownAs: settings.firewalldDir + "/" + rel)
            }
            try await Firewalld.guardCheck(try FirewalldState.read(settings, overlay: overlay), settings, context: context,
                                           force: false, what: "restore this firewall snapshot")
        default:
            // The snapshot holds the other tool's files (or neither tool is installed): they are
            // put back as files; nothing here runs them.
            return
        }
    }

    /// Bring the running firewall to what the files in place say.
    func activate(in context: JobContext) async throws {
        switch settings.selectedTool() {
        case .ufw?:
            let ufw = try UFWControl(settings, context)
            let wanted = try ufw.state().enabled
            let live = try await ufw.liveActive()
            let args = wanted ? (live ? ["reload"] : ["--force", "enable"]) : (live ? ["disable"] : [])
            guard !args.isEmpty else {
                context.log("ufw left inactive, as the restored ufw.conf says")
                return
            }
            // ufw's reload is a disable then an enable, and an enable whose start fails writes
            // ENABLED=no into ufw.conf (frontend.py, set_enabled): after a failed reload the
            // firewall would stay off at the next boot, and the rollback — which puts back only
            // the files the restore replaced — would read "disabled" and switch it off. So
            // ufw.conf is put back as it was before ufw ran.
            let conf = settings.ufwDir + "/ufw.conf"
            let confBefore = try? Files.readBytes(conf, limit: UFWBackup.maxFileBytes, noFollow: true)
            let confInfo = Files.info(conf)
            do { try await ufw.run(args) } catch {
                if let confBefore, (try? Files.readBytes(conf, limit: UFWBackup.maxFileBytes, noFollow: true)) != confBefore {
                    try? SafeFile.write(conf, confBefore, mode: confInfo?.mode ?? 0o644, owner: Files.owner(like: confInfo))
                }
                throw error
            }
            context.log("ufw \(wanted ? (live ? "reloaded" : "enabled") : "disabled") with the restored files")
        case .firewalld?:
            let fw = try FirewalldControl(settings, context)
            let running = await fw.running()
            try await fw.checkConfig(running: running)
            guard running else {
                context.log("firewalld is not running: restored configuration checked, not loaded")
                return
            }
            try await fw.reload()
            guard await fw.running() else { throw JobFailure("firewall-cmd --reload ran but firewalld is not running") }
        case nil:
            context.log("neither ufw nor firewalld is installed: files restored, nothing reloaded")
        }
    }

    /// The ufw state the staged files describe, after the same checks `firewall.restore` makes
    /// of a backup: `*.rules` must be iptables-restore input, `ufw.conf` and the defaults file
    /// (which a shell sources) plain `KEY=VALUE` lines. A file the snapshot lacks is read live.
    func stagedUFWState(_ stagingRoot: String, roots: [String]) throws -> UFWState {
        let defaultsStaged = roots.contains(settings.defaultsFile)
        var files: [(name: String, text: String)] = []
        for name in UFWBackup.allNames {
            let live = settings.path(ofBackupName: name)
            let text: String?
            if name == FirewallSettings.defaultsName && !defaultsStaged {
                text = (try? Files.readBytes(live, limit: UFWBackup.maxFileBytes, noFollow: true)).map { String(decoding: $0, as: UTF8.self) }
            } else {
                text = try Self.stagedText(stagingRoot + live, shownAs: live)
            }
            if let text { files.append((name, text)) }
        }
        let staged = UFWBackup(createdAt: "", files: files)
        do { try staged.validate() } catch let e as JobFailure {
            // The checks speak of "backup: …"; here it is the snapshot's files.
            throw JobFailure("the snapshot's ufw files: " + e.message.replacing("backup: ", with: ""))
        }
        return UFWState(conf: staged.text("ufw.conf"), defaults: staged.text(FirewallSettings.defaultsName),
                        userRules: staged.text("user.rules"), user6Rules: staged.text("user6.rules"))
    }

    /// A staged file's text: nil when the snapshot does not hold it; refused when it is not a
    /// regular file (a staged link would make root read whatever it points to) or too large.
    static func stagedText(_ path: String, shownAs: String) throws -> String? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw JobFailure("the snapshot's \(shownAs) is not a regular file") }
        do {
            return String(decoding: try Files.readBytes(path, limit: UFWBackup.maxFileBytes, noFollow: true), as: UTF8.self)
        } catch {
            throw JobFailure("cannot read the snapshot's \(shownAs): \(error)")
        }
    }
}
