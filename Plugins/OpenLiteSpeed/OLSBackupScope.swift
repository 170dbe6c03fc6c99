#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// The `openlitespeed` backup scope: the configuration directory (`<server root>/conf`: the
/// server config, vhost configs, templates, certificates kept there) and every virtual host's
/// root (document root, its own certificates and logs). A restored server config must parse and
/// pass the structural test (with `$SERVER_ROOT` read from the staging copy) before it goes live;
/// activation reloads OLS when it runs.
struct OLSBackupScope: BackupScope {
    let settings: OLSSettings
    var name: String { "openlitespeed" }

    func roots(paths: [String]) throws -> [String] {
        guard paths.isEmpty else { throw ParameterError("the openlitespeed scope takes no paths (it backs up \(settings.confDir) and the vhost roots)") }
        guard settings.installed else { throw JobFailure("OpenLiteSpeed is not installed here (BALCTL_OLS_ROOT=\(settings.serverRoot))") }
        let model = try OLSServerModel.load(settings)
        var roots = [settings.confDir]
        // A vhost root that is a system directory is not backed up (nor restored: see below).
        for vh in model.vhosts where Files.info(vh.vhRoot)?.isDirectory == true && Self.isWebRoot(Self.trimmed(vh.vhRoot), settings: settings) {
            roots.append(Self.trimmed(vh.vhRoot))
        }
        let unique = Array(Set(roots)).sorted()
        return unique.filter { r in !unique.contains(where: { $0 != r && r.hasPrefix($0 + "/") }) }
    }

    /// A path as one spelling: repeated slashes collapsed, `.` components dropped, no trailing
    /// slash (`..` is kept, for `isSystemPath` to refuse). Every comparison of paths that come
    /// from a config (a snapshot's is hostile) goes through this: `//etc`, `/srv/./www/` and
    /// `conf/vhosts/shop//vhconf.conf` must not pass for other paths.
    static func trimmed(_ p: String) -> String {
        let parts = p.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        return p.hasPrefix("/") ? "/" + parts.joined(separator: "/") : parts.joined(separator: "/")
    }

    static let systemPrefixes = ["/etc", "/root", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/boot",
                                 "/proc", "/sys", "/dev", "/run", "/var/lib", "/var/spool", "/var/cache", "/opt/balctl"]

    /// What a virtual host root may be, in a backup and in a restore: not a system directory,
    /// and under the server root only a direct child that is none of OLS's own directories
    /// (`bin`, `admin`, `lsphp82`…: a restored `bin/lswsctrl` would run as root on activation).
    static func isWebRoot(_ raw: String, settings: OLSSettings) -> Bool {
        let p = trimmed(raw), serverRoot = trimmed(settings.serverRoot)
        guard p.hasPrefix("/"), !p.split(separator: "/").contains(".."), p != serverRoot else { return false }
        // Under the server root first: its own default place, /usr/local/lsws, is below /usr.
        if p.hasPrefix(serverRoot + "/") {
            let rest = p.dropFirst(serverRoot.count + 1)
            return !rest.contains("/") && !OLSNames.isOLSDirectory(String(rest))
        }
        return !isSystemPath(p)
    }

    /// Why a snapshot's vhost root may not be restored here, beyond `isWebRoot` (nil: it may).
    /// The snapshot names the directory root writes into, so a compromised member could aim it
    /// at a place whose files are credentials rather than a site: a hidden directory (`.ssh`,
    /// `.config`) or a user's home directory itself (`/home/alice/.ssh/…` would come with it).
    static func restoreRefusal(_ raw: String, passwd: String? = nil) -> String? {
        let p = trimmed(raw)
        if let hidden = p.split(separator: "/").first(where: { $0.hasPrefix(".") }) {
            return "\(p) has a hidden component (\(hidden))"
        }
        let table = passwd ?? (try? Files.readBytes("/etc/passwd", limit: 4 << 20)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            if fields.count >= 7, trimmed(String(fields[5])) == p { return "\(p) is the home directory of user \(fields[0])" }
        }
        return nil
    }

    /// `/`, a top-level directory, a system directory or anything below one; also a path with
    /// `..` or `.` components (the staged config is not trusted to be tidy).
    static func isSystemPath(_ raw: String) -> Bool {
        let p = trimmed(raw)
        let parts = p.split(separator: "/")
        if parts.count < 2 || parts.contains(where: { $0 == ".." || $0 == "." }) || !p.hasPrefix("/") { return true }
        return systemPrefixes.contains { p == $0 || p.hasPrefix($0 + "/") }
    }

    func validateStaged(stagingRoot: String, roots: [String], in context: JobContext) async throws {
        let staged = stagingRoot + settings.configPath
        var st = stat()
        guard lstat(staged, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw JobFailure("the snapshot has no regular file \(settings.configPath)")
        }
        let file: OLSConfigFile
        do { file = try OLSConfigFile(bytes: try Files.readBytes(staged)) } catch {
            throw JobFailure("the restored \(settings.configPath) does not parse: \(error)")
        }
        // Only the conf directory and vhost roots the restored config declares.
        let stagedSettings = OLSSettings(serverRoot: stagingRoot + settings.serverRoot, stateDir: settings.stateDir)
        let model = OLSServerModel(file: file, settings: settings)
        let allowed = Set([settings.confDir] + model.vhosts.map { Self.trimmed($0.vhRoot) })
        if let stray = roots.first(where: { !allowed.contains($0) }) {
            throw JobFailure("the snapshot's root \(stray) is neither \(settings.confDir) nor a virtual host root its config declares")
        }
        // The restored config itself names the vhost roots, so a snapshot from a compromised
        // member could declare `vhRoot /root/` to have /root restored: a vhost root is a web
        // directory, never a system one.
        if let system = roots.first(where: { $0 != settings.confDir && !Self.isWebRoot($0, settings: settings) }) {
            throw JobFailure("the snapshot's virtual host root \(system) is a system directory or one of OpenLiteSpeed's own; refusing to restore it")
        }
        for root in roots where root != settings.confDir {
            if let why = Self.restoreRefusal(root) { throw JobFailure("the snapshot's virtual host root \(why); refusing to restore it") }
        }
        // The structural test against the staged tree (vhost configs, templates, MIME table are
        // read there; LSPHP binaries and certificates outside the snapshot are checked live).
        let check = OLSCheck.structural(try OLSConfigFile(bytes: try Files.readBytes(staged)), settings: stagedSettings)
        let blocking = check.errors.filter { !$0.contains("is not an executable") && !$0.contains("keyFile") && !$0.contains("certFile") }
        guard blocking.isEmpty else { throw JobFailure("the restored OpenLiteSpeed config fails its test: \(blocking.prefix(10).joined(separator: "; "))") }
    }

    func activate(in context: JobContext) async throws {
        let control = OLSControl(settings: settings)
        guard control.runningPID() != nil else { context.log("OpenLiteSpeed is not running: the restored files apply when it starts"); return }
        _ = try await control.cycle("reload", in: context)
    }
}
