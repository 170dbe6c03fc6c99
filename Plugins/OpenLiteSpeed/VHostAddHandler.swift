import AgentKernel
import BalctlProtocol

/// `ols.vhost_add`: declare a virtual host in httpd_config.conf, write its vhconf.conf, map its
/// domains on the listeners — checked, written with a backup, read back, reloaded, rolled back on
/// any failure (`OLSEditor`). Check mode shows the diff. Re-running with the same name, domains
/// and listeners reports "unchanged".
public struct VHostAddHandler: CommandHandler {
    public struct Parameters: CommandParameters {
        public var name: String
        public var domains: [String]
        /// Listener names to map the domains on (default: every listener).
        public var listeners: [String]?
        /// Absolute document root (default `$VH_ROOT/html/`, i.e. `<server root>/<name>/html/`).
        public var docRoot: String?
        /// `lsphp82`, `82` or `8.2`: the LSPHP serving `.php` (default: the server's handler).
        public var lsphp: String?

        public func validate() throws {
            try OLSNames.checkVHost(name)
            guard !OLSNames.isOLSDirectory(name) else { throw ParameterError("name '\(name)' is one of OpenLiteSpeed's own directories under its server root") }
            guard (1...100).contains(domains.count) else { throw ParameterError("domains must list 1–100 host names") }
            for d in domains { try OLSNames.checkDomain(d) }
            guard Set(domains.map { $0.lowercased() }).count == domains.count else { throw ParameterError("domains repeats a name") }
            for l in listeners ?? [] { try OLSNames.checkVHost(l, field: "listeners") }
            if let docRoot { try OLSNames.checkPath(docRoot, field: "docRoot") }
            if let lsphp { _ = try OLSNames.lsphp(lsphp) }
        }
    }

    public let settings: OLSSettings
    public init(settings: OLSSettings = .fromEnvironment()) { self.settings = settings }

    public static let id = "ols.vhost_add"
    public static let summary = "Add an OpenLiteSpeed virtual host with its domains (validated, reloaded, rolled back on failure)"
    public static let parameterHelp = "name: vhost name (required); domains: [host name] (required, '*.' allowed); listeners: [listener] (default all); docRoot: absolute path (default $VH_ROOT/html/); lsphp: lsphp82 | 82 | 8.2"
    public static let exampleParameters: JSONValue = .object(["name": .string("shop"), "domains": .array([.string("shop.example.com")])])
    public static let requiresRoot = true
    public static let lock: String? = "openlitespeed"
    public static let supportsCheckMode = true

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        let model = try OLSServerModel.load(settings)
        let wanted = p.listeners ?? model.listeners.map(\.name)
        guard !wanted.isEmpty else { throw JobFailure("httpd_config.conf has no listener to map \(p.name) on") }
        for l in wanted where !model.listeners.contains(where: { $0.name == l }) {
            throw JobFailure("no listener '\(l)' (listeners: \(model.listeners.map(\.name).joined(separator: ", ")))")
        }
        if let existing = model.vhosts.first(where: { $0.name == p.name }) {
            let same = Set(existing.domains.map { $0.lowercased() }) == Set(p.domains.map { $0.lowercased() }) && Set(existing.listeners) == Set(wanted)
            guard same else { throw JobFailure("virtual host '\(p.name)' exists with other domains or listeners (\(existing.domains.joined(separator: ", "))); remove it first (ols.vhost_remove)") }
            return .unchanged("virtual host \(p.name) exists with these domains and listeners", result: .object(["vhost": .string(p.name)]))
        }
        for l in model.listeners where wanted.contains(l.name) {
            for m in l.maps {
                if let clash = m.domains.first(where: { d in p.domains.contains { $0.lowercased() == d.lowercased() } }) {
                    throw JobFailure("listener '\(l.name)' already maps \(clash) to '\(m.vhost)'")
                }
            }
        }
        let lsphp = try p.lsphp.map(OLSNames.lsphp)
        if let lsphp, !Files.isExecutable(settings.serverRoot + "/\(lsphp)/bin/lsphp") {
            throw JobFailure("\(lsphp) is not installed (\(settings.serverRoot)/\(lsphp)/bin/lsphp); installed: \(OLSServerModel.installedLSPHP(settings).joined(separator: ", "))")
        }

        var file = model.file
        if let lsphp { file = try edit { try OLSTemplates.ensureProcessor(lsphp, in: file) } }
        let indent = OLSTemplates.indent(of: file)
        let at = OLSTemplates.insertionPoint(in: file, after: "virtualhost", before: "listener")
        file = try edit { try file.inserting(OLSTemplates.vhostBlock(name: p.name, indent: indent), at: at) }
        for name in wanted {
            guard let l = file.all("listener").first(where: { $0.value == name }) else { continue }
            let after = l.all("map").last?.line ?? l.children.last?.endLine ?? l.line
            let lineIndent = l.children.first.map { file.indentation(ofLine: $0.line) } ?? indent
            let mapLine = lineIndent + OLSTemplates.pad("map") + p.name + " " + p.domains.joined(separator: ", ") + "\n"
            file = try edit { try file.inserting([mapLine], at: after + 1) }
        }
        let dir = settings.confDir + "/vhosts/" + p.name
        let vhconf = try edit { try OLSConfigFile(bytes: Array(OLSTemplates.vhostConfig(docRoot: p.docRoot ?? "$VH_ROOT/html/", lsphp: lsphp).utf8)) }
        var change = OLSChange(serverConfig: file, writes: [dir + "/vhconf.conf": vhconf])
        change.makeDirectories = [settings.confDir + "/vhosts", dir]
        let name = p.name, domains = Set(p.domains.map { $0.lowercased() })
        let applied = try await OLSEditor(settings: settings).apply(change, in: context) { m in
            guard let vh = m.vhost(name) else { return "virtual host \(name) is not in the config" }
            guard Set(vh.domains.map { $0.lowercased() }).isSuperset(of: domains) else { return "\(name) is not mapped to every domain" }
            return Files.exists(vh.configFile) ? nil : "\(vh.configFile) is missing"
        }
        var summary = context.checkMode ? "check mode: would add virtual host \(p.name)" : "added virtual host \(p.name) (\(p.domains.joined(separator: ", "))); \(applied.note)"
        let docRoot = p.docRoot ?? settings.serverRoot + "/\(p.name)/html"
        if !Files.exists(docRoot) { summary += "; its document root \(docRoot) does not exist yet: create it and upload the site" }
        return JobOutcome(changed: true, summary: summary, result: .object(["vhost": .string(p.name), "diff": .string(applied.diff)]))
    }
}

/// An edit's parse error is a bug in the edit, reported as a job failure with the line.
func edit<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as OLSParseError { throw JobFailure("the edited configuration does not parse (\(e)); nothing was changed") }
}
