import AgentKernel
import BackupPlugin
import BalctlProtocol

/// What restoring one virtual host out of an `openlitespeed` snapshot changes here: its
/// `virtualhost` block (replaced in place, or added after the last one), its `map` lines on the
/// listeners this member has, its vhconf.conf (under `conf/vhosts/`, or inside its root), and
/// the files of its root. The rest of the snapshot (other vhosts, server settings, listeners) is
/// not touched: the member keeps serving its other sites.
///
/// The snapshot comes from a member of the same account, yet it is read as hostile: its config
/// is parsed from the staging copy without following links, the vhost's root must be a web
/// directory (never a system one or OLS's own), its vhconf must live under `conf/vhosts/` or
/// inside its root, and neither may be shared with another virtual host here.
struct OLSVHostRestorePlan {
    let name: String
    let vhRoot: String
    let configFile: String
    /// The vhconf lives inside the root, so it comes with the root's files.
    let configInRoot: Bool
    var change: OLSChange
    var domains: [String] = []
    /// Listeners that map the vhost here, and the snapshot's listeners this member lacks.
    var listeners: [String] = []
    var missingListeners: [String] = []
    /// The snapshot holds the root's files (a root that did not exist at backup time has none).
    let hasFiles: Bool

    static func make(name: String, staged: StagedSnapshot, live: OLSServerModel, settings: OLSSettings) throws -> OLSVHostRestorePlan {
        guard let bytes = try staged.readFile(settings.configPath) else {
            throw JobFailure("\(staged.label) has no regular file \(settings.configPath) (taken with another BALCTL_OLS_ROOT?)")
        }
        let stagedFile: OLSConfigFile
        do { stagedFile = try OLSConfigFile(bytes: bytes) } catch { throw JobFailure("the snapshot's \(settings.configPath) does not parse: \(error)") }
        let snapshot = OLSServerModel(file: stagedFile, settings: settings)
        guard let vh = snapshot.vhost(name), let block = vh.node else {
            if let member = snapshot.vhosts.first(where: { $0.name == name && $0.template != nil }) {
                throw JobFailure("in the snapshot, \(name) is a member of template '\(member.template ?? "?")', not a declared virtual host: restore the whole server (ols-recover-site) instead")
            }
            let names = snapshot.vhosts.filter { $0.template == nil }.map(\.name)
            throw JobFailure("the snapshot has no virtual host '\(name)' (it has: \(names.isEmpty ? "none" : names.joined(separator: ", ")))")
        }
        if let member = live.vhosts.first(where: { $0.name == name && $0.template != nil }) {
            throw JobFailure("here, \(name) is a member of template '\(member.template ?? "?")'; remove it from the template first")
        }

        // Where its files and its vhconf go: checked before anything is read or written.
        let vhRoot = OLSBackupScope.trimmed(vh.vhRoot)
        guard OLSBackupScope.isWebRoot(vhRoot, settings: settings) else {
            throw JobFailure("the snapshot's \(name) has vhRoot \(vhRoot): a system directory or one of OpenLiteSpeed's own; refusing to restore it")
        }
        // A restore puts a site back where it is; it never moves one (a snapshot that did could
        // aim an existing site's files anywhere).
        if let here = live.vhost(name), OLSBackupScope.trimmed(here.vhRoot) != vhRoot {
            throw JobFailure("the snapshot's \(name) has vhRoot \(vhRoot), here it is \(OLSBackupScope.trimmed(here.vhRoot)): a restore does not move a site; remove it here first (ols.vhost_remove) to restore it where the snapshot has it")
        }
        // A site new here goes under the server root or a web root the operator allows: the
        // snapshot must not pick any directory of the host (`/opt/app/bin`, `/var/log/…`).
        if live.vhost(name) == nil, !vhRoot.hasPrefix(OLSBackupScope.trimmed(settings.serverRoot) + "/") {
            let bases = settings.webRoots.map(OLSBackupScope.trimmed)
            guard bases.contains(where: { vhRoot.hasPrefix($0 + "/") }) else {
                throw JobFailure("the snapshot's \(name) has vhRoot \(vhRoot), outside the server root and the web roots (\(bases.joined(separator: ", ")); BALCTL_OLS_WEB_ROOTS sets them): refusing to restore a new site there")
            }
        }
        if let why = OLSBackupScope.restoreRefusal(vhRoot) {
            throw JobFailure("the snapshot's \(name) has vhRoot \(why); refusing to restore it")
        }
        for other in live.vhosts where other.name != name {
            let r = OLSBackupScope.trimmed(other.vhRoot)
            if r == vhRoot || r.hasPrefix(vhRoot + "/") || vhRoot.hasPrefix(r + "/") {
                throw JobFailure("the snapshot's \(name) has vhRoot \(vhRoot), which overlaps \(other.name)'s root \(r) here; restoring it would replace \(other.name)'s files")
            }
        }
        // One spelling (`conf/vhosts/shop//vhconf.conf` is shop's file): compared and written so.
        let conf = OLSBackupScope.trimmed(vh.configFile)
        guard conf.hasPrefix("/"), !conf.split(separator: "/").contains("..") else {
            throw JobFailure("the snapshot's \(name) has configFile \(vh.configFile), not a plain absolute path")
        }
        let inRoot = conf.hasPrefix(vhRoot + "/")
        guard inRoot || conf.hasPrefix(settings.confDir + "/vhosts/") else {
            throw JobFailure("the snapshot's \(name) has configFile \(conf), neither under \(settings.confDir)/vhosts/ nor inside its root \(vhRoot); refusing to write it")
        }
        if let other = live.vhosts.first(where: { $0.name != name && OLSBackupScope.trimmed($0.configFile) == conf }) {
            throw JobFailure("the snapshot's \(name) has configFile \(conf), which is \(other.name)'s here")
        }
        let hasFiles = staged.hasDirectory(vhRoot)
        var change = OLSChange()
        if inRoot {
            guard hasFiles, try staged.readFile(conf) != nil else { throw JobFailure("the snapshot has no \(conf) (\(name)'s configFile, inside its root)") }
        } else {
            guard let vhconfBytes = try staged.readFile(conf) else { throw JobFailure("the snapshot has no regular file \(conf) (\(name)'s configFile)") }
            do { change.writes[conf] = try OLSConfigFile(bytes: vhconfBytes) } catch { throw JobFailure("the snapshot's \(conf) does not parse: \(error)") }
            change.makeDirectories = [settings.confDir + "/vhosts", Files.dirname(conf)]
        }

        // The server config: the vhost's block as the snapshot has it, in place.
        var file = live.file
        let wanted = stagedFile.lines[block.line...block.endLine].map(normalised)
        if let existing = live.vhost(name)?.node {
            if file.lines[existing.line...existing.endLine].map(normalised) != wanted {
                file = try edit { try file.removing(existing.line...existing.endLine).inserting(wanted, at: existing.line) }
            }
        } else {
            let at = OLSTemplates.insertionPoint(in: file, after: "virtualhost", before: "listener")
            file = try edit { try file.inserting(["\n"] + wanted, at: at) }
        }

        // Its domains, on the listeners this member has; a domain another vhost serves here stops it.
        var plan = OLSVHostRestorePlan(name: name, vhRoot: vhRoot, configFile: conf, configInRoot: inRoot, change: change, hasFiles: hasFiles)
        for listener in snapshot.listeners {
            let mine = listener.maps.filter { $0.vhost == name }
            guard !mine.isEmpty else { continue }
            let domains = mine.flatMap(\.domains)
            for d in domains where d != "*" {
                do { try OLSNames.checkDomain(d) } catch { throw JobFailure("the snapshot maps \(name) to '\(d.prefix(80))', not a host name") }
            }
            let here = OLSServerModel(file: file, settings: settings)
            guard let target = here.listeners.first(where: { $0.name == listener.name }) else {
                plan.missingListeners.append(listener.name)
                continue
            }
            for m in target.maps where m.vhost != name {
                if let clash = m.domains.first(where: { d in domains.contains { $0.lowercased() == d.lowercased() } }) {
                    throw JobFailure("listener '\(target.name)' here maps \(clash) to '\(m.vhost)', which the snapshot's \(name) serves: change that mapping first")
                }
            }
            plan.listeners.append(listener.name)
            plan.domains += domains.filter { d in !plan.domains.contains { $0.lowercased() == d.lowercased() } }
            let lines = mine.map { normalised(stagedFile.lines[$0.line]) }
            let current = target.maps.filter { $0.vhost == name }
            if current.map({ normalised(file.lines[$0.line]) }) == lines { continue }
            if let first = current.first {
                file = try edit { try file.removing(current.map { $0.line...$0.line }).inserting(lines, at: first.line) }
            } else {
                let after = target.node.all("map").last?.line ?? target.node.children.last?.endLine ?? target.node.line
                file = try edit { try file.inserting(lines, at: after + 1) }
            }
        }
        if file.lines != live.file.lines { plan.change.serverConfig = file }
        return plan
    }

    /// A line as the file would hold it with "\n" (inserting adapts it to the file's endings).
    static func normalised(_ line: String) -> String { String(line.trimmingTrailingNewline) + "\n" }
}
