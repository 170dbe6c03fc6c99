#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// The `firewall` backup scope: ufw's configuration files and `/etc/default/ufw`, and
/// firewalld's `/etc/firewalld`, whichever exist. A snapshot may come from another member of the
/// account, so what it carries is checked as hostile before any file moves:
/// - only ufw's own configuration files (never `before.init`/`after.init`, scripts ufw runs as
///   root, nor anything else in `/etc/ufw`), and only firewalld's managed files;
/// - the ufw files pass `firewall.restore`'s checks (shell-sourced files plain `KEY=VALUE`,
///   `*.rules` iptables-restore text, `sysctl.conf` network keys only);
/// - hand-written iptables rules the lock-out guard cannot read (`before*.rules`, `after*.rules`,
///   firewalld's `direct.xml`) must equal this host's;
/// - when the files enable the firewall, their rules pass the lock-out guard (SSH in, the control
///   plane out).
/// Once the files are in place, ufw rewrites its rule files from their `### tuple ###` lines —
/// the rules the guard read — so a forged `-A` line never loads; then ufw is reloaded, enabled or
/// disabled as the restored files say. firewalld's configuration is checked and, while the daemon
/// runs, reloaded. A failure there rolls the files back (the backup plugin does that) and runs
/// `activate` again on the previous ones.
struct FirewallBackupScope: BackupScope {
    let settings: FirewallSettings
    var name: String { "firewall" }

    /// ufw's files a snapshot holds (those `firewall.backup` keeps).
    var ufwFiles: [String] { FirewallSettings.ruleFileNames.map { settings.ufwDir + "/" + $0 } }
    /// Rules files the guard cannot read: a snapshot's must equal this host's.
    static let handWrittenUFWFiles = ["before.rules", "before6.rules", "after.rules", "after6.rules"]
    /// Everything a firewall snapshot may have as a root (`ufwDir` itself: a snapshot taken
    /// before the scope listed files; its entries are then checked by name).
    var ownRoots: [String] { ufwFiles + [settings.ufwDir, settings.defaultsFile, settings.firewalldDir] }

    func roots(paths: [String]) throws -> [String] {
        guard paths.isEmpty else { throw ParameterError("the firewall scope takes no paths (it backs up ufw's files in \(settings.ufwDir), \(settings.defaultsFile) and \(settings.firewalldDir) where they exist)") }
        let found = (ufwFiles + [settings.defaultsFile, settings.firewalldDir]).filter(Files.exists)
        guard !found.isEmpty else { throw JobFailure("no firewall configuration on this host (nothing of \(settings.ufwDir), \(settings.defaultsFile), \(settings.firewalldDir))") }
        return found
    }

    func validateStaged(stagingRoot: String, roots: [String], in context: JobContext) async throws {
        if let other = roots.first(where: { !ownRoots.contains($0) }) {
            throw JobFailure("the snapshot's root \(other) is not firewall configuration (ufw's files in \(settings.ufwDir), \(settings.defaultsFile), \(settings.firewalldDir))")
        }
        let stagedUFWDir = stagingRoot + settings.ufwDir
        if Files.exists(stagedUFWDir) {
            for name in Files.list(stagedUFWDir) where !FirewallSettings.ruleFileNames.contains(name) {
                throw JobFailure("the snapshot holds \(settings.ufwDir)/\(name): only ufw's configuration files (\(FirewallSettings.ruleFileNames.joined(separator: ", "))) are restored")
            }
        }
        if roots.contains(where: { $0 != settings.firewalldDir }) {
            let staged = try stagedUFWState(stagingRoot, roots: roots)
            if settings.selectedTool() == .ufw && staged.enabled {
                let guardrail = await LockoutGuard.make(settings, context: context)
                try guardrail.check(staged.rules, defaultIncoming: staged.defaultIncoming, defaultOutgoing: staged.defaultOutgoing,
                                    force: false, what: "restore this firewall snapshot", context: context)
            }
        }
        if roots.contains(settings.firewalldDir) {
            let dir = stagingRoot + settings.firewalldDir
            let managed = FirewalldBackup.managedPaths(in: dir)
            if let stray = Self.allFiles(in: dir).first(where: { !managed.contains($0) }) {
                throw JobFailure("the snapshot holds \(settings.firewalldDir)/\(stray): only firewalld's configuration files are restored")
            }
            var overlay: [String: String] = [:]
            for rel in managed {
                overlay[rel] = try Self.stagedText(dir + "/" + rel, shownAs: settings.firewalldDir + "/" + rel)
            }
            // Passthrough rules are raw iptables arguments the guard cannot read.
            let liveDirect = (try? Files.readBytes(settings.firewalldDir + "/direct.xml", limit: UFWBackup.maxFileBytes, noFollow: true))
                .map { String(decoding: $0, as: UTF8.self) }
            if overlay["direct.xml"] != liveDirect {
                throw JobFailure("the snapshot's \(settings.firewalldDir)/direct.xml differs from this host's: direct rules are raw iptables rules the lock-out guard cannot check (unpack the snapshot with restoreTo and copy it by hand after review)")
            }
            if settings.selectedTool() == .firewalld, await (try FirewalldControl(settings, context)).running() {
                try await Firewalld.guardCheck(try FirewalldState.read(settings, overlay: overlay), settings, context: context,
                                               force: false, what: "restore this firewall snapshot")
            }
        }
    }

    /// Bring the running firewall to what the files in place say.
    func activate(in context: JobContext) async throws {
        switch settings.selectedTool() {
        case .ufw?:
            let ufw = try UFWControl(settings, context)
            let state = try ufw.state()
            let live = try await ufw.liveActive()
            // ufw's reload is a disable then an enable, and an enable whose start fails writes
            // ENABLED=no into ufw.conf (frontend.py, set_enabled): after a failed reload the
            // firewall would stay off at the next boot, and the rollback — which puts back only
            // the files the restore replaced — would read "disabled" and switch it off. So
            // ufw.conf is put back as it was before ufw ran.
            let conf = settings.ufwDir + "/ufw.conf"
            let confBefore = try? Files.readBytes(conf, limit: UFWBackup.maxFileBytes, noFollow: true)
            let confInfo = Files.info(conf)
            do {
                // `ufw logging` rewrites user.rules and user6.rules from their tuple lines
                // (backend_iptables.py update_logging → _write_rules): the rules the guard read
                // are what loads, whatever `-A` lines the snapshot carried. It also updates the
                // running logging chains when ufw.conf says enabled, which fails while ufw is
                // stopped: then ufw.conf says ENABLED=no for it, and `enable` sets it back.
                if state.enabled && !live, let confBefore {
                    try Self.write(conf, Self.withEnabledNo(confBefore), like: confInfo)
                }
                try await ufw.run(["logging", state.logLevel ?? "low"])
                if state.enabled {
                    try await ufw.run(live ? ["reload"] : ["--force", "enable"])
                } else if live {
                    try await ufw.run(["disable"])
                }
            } catch {
                if let confBefore, (try? Files.readBytes(conf, limit: UFWBackup.maxFileBytes, noFollow: true)) != confBefore {
                    try? Self.write(conf, confBefore, like: confInfo)
                }
                throw error
            }
            context.log("ufw \(state.enabled ? (live ? "reloaded" : "enabled") : (live ? "disabled" : "left inactive")) with the restored files")
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

    /// `ufw.conf` with its ENABLED line saying no (added when it has none: ufw.conf wins over
    /// the defaults file).
    static func withEnabledNo(_ conf: [UInt8]) -> [UInt8] {
        var lines = String(decoding: conf, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if let i = lines.firstIndex(where: { $0.hasPrefix("ENABLED=") }) { lines[i] = "ENABLED=no" } else {
            if lines.last == "" { lines.removeLast() }
            lines += ["ENABLED=no", ""]
        }
        return Array(lines.joined(separator: "\n").utf8)
    }

    static func write(_ path: String, _ bytes: [UInt8], like info: Files.Info?) throws {
        do { try SafeFile.write(path, bytes, mode: info?.mode ?? 0o644, owner: Files.owner(like: info)) } catch {
            throw JobFailure("cannot write \(path): \(error)")
        }
    }

    /// Paths of every non-directory under `dir`, relative to it (directories are walked without
    /// following links).
    static func allFiles(in dir: String, prefix: String = "") -> [String] {
        var out: [String] = []
        for name in Files.list(dir) {
            let path = dir + "/" + name, rel = prefix + name
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR { out += allFiles(in: path, prefix: rel + "/") } else { out.append(rel) }
        }
        return out
    }

    /// The ufw state once the staged files are in place (a file the snapshot lacks stays as it
    /// is live), after the same checks `firewall.restore` makes of a backup — on the staged
    /// files: `*.rules` iptables-restore text, `ufw.conf` and the defaults file (which a shell
    /// sources) plain `KEY=VALUE` lines, `sysctl.conf` network keys — and with hand-written
    /// rules files equal to this host's.
    func stagedUFWState(_ stagingRoot: String, roots: [String]) throws -> UFWState {
        var staged: [(name: String, text: String)] = []
        var combined: [String: String] = [:]
        for name in UFWBackup.allNames {
            let live = settings.path(ofBackupName: name)
            let liveText = (try? Files.readBytes(live, limit: UFWBackup.maxFileBytes, noFollow: true)).map { String(decoding: $0, as: UTF8.self) }
            if let text = try Self.stagedText(stagingRoot + live, shownAs: live) {
                if Self.handWrittenUFWFiles.contains(name), text != liveText {
                    throw JobFailure("the snapshot's \(live) differs from this host's: hand-written iptables rules are not checked by the lock-out guard (unpack the snapshot with restoreTo and copy it by hand after review)")
                }
                staged.append((name, text))
                combined[name] = text
            } else {
                combined[name] = liveText
            }
        }
        do { try UFWBackup(createdAt: "", files: staged).validate(requiring: []) } catch let e as JobFailure {
            // The checks speak of "backup: …"; here it is the snapshot's files.
            throw JobFailure("the snapshot's ufw files: " + e.message.replacing("backup: ", with: ""))
        }
        guard combined["ufw.conf"] != nil else { throw JobFailure("neither the snapshot nor this host has \(settings.ufwDir)/ufw.conf") }
        return UFWState(conf: combined["ufw.conf"], defaults: combined[FirewallSettings.defaultsName],
                        userRules: combined["user.rules"], user6Rules: combined["user6.rules"])
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
