import AgentKernel
import BalctlProtocol

/// `ols.lsphp_set`: serve a vhost's `.php` with an installed LSPHP version. Adds the version's
/// `extprocessor` to httpd_config.conf when it has none, and sets the vhost's `scripthandler`
/// (`add lsapi:lsphpNN php`) in its vhconf.conf. Checked, reloaded and rolled back like every
/// edit; already set reports "unchanged".
public struct LSPHPSetHandler: CommandHandler {
    public struct Parameters: CommandParameters {
        public var vhost: String
        public var lsphp: String
        public func validate() throws {
            try OLSNames.checkVHost(vhost, field: "vhost")
            _ = try OLSNames.lsphp(lsphp)
        }
    }

    public let settings: OLSSettings
    public init(settings: OLSSettings = .fromEnvironment()) { self.settings = settings }

    public static let id = "ols.lsphp_set"
    public static let summary = "Switch an OpenLiteSpeed virtual host's PHP to an installed LSPHP version"
    public static let parameterHelp = "vhost: vhost name (required); lsphp: lsphp82 | 82 | 8.2 (required, must be installed)"
    public static let exampleParameters: JSONValue = .object(["vhost": .string("shop"), "lsphp": .string("8.2")])
    public static let requiresRoot = true
    public static let lock: String? = "openlitespeed"
    public static let supportsCheckMode = true

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        let lsphp = try OLSNames.lsphp(p.lsphp)
        let model = try OLSServerModel.load(settings)
        guard let vh = model.vhost(p.vhost) else { throw JobFailure("no virtual host \(p.vhost) (see ols.vhosts)") }
        guard Files.isExecutable(settings.serverRoot + "/\(lsphp)/bin/lsphp") else {
            let installed = OLSServerModel.installedLSPHP(settings)
            throw JobFailure("\(lsphp) is not installed (\(settings.serverRoot)/\(lsphp)/bin/lsphp); installed: \(installed.isEmpty ? "none" : installed.joined(separator: ", "))")
        }
        let bytes: [UInt8]
        do { bytes = try Files.readBytes(vh.configFile, noFollow: true) } catch { throw JobFailure("cannot read \(vh.configFile) (a link or not a regular file is never read through): \(error)") }
        let conf: OLSConfigFile
        do { conf = try OLSConfigFile(bytes: bytes) } catch { throw JobFailure("\(vh.configFile): \(error)") }
        if model.phpHandler(conf) == lsphp && model.processors.contains(where: { $0.name == lsphp }) {
            return .unchanged("\(p.vhost) already serves PHP with \(lsphp)")
        }
        let server = try edit { try OLSTemplates.ensureProcessor(lsphp, in: model.file) }
        var newConf: OLSConfigFile
        if let handler = conf.first("scripthandler"), let add = handler.all("add").first(where: { OLSServerModel.list($0.value).dropFirst().contains("php") }) {
            let line = conf.indentation(ofLine: add.line) + OLSTemplates.pad("add") + "lsapi:\(lsphp) php\n"
            newConf = try edit { try conf.replacing(line: add.line, with: line) }
        } else if let handler = conf.first("scripthandler") {
            let line = (handler.children.first.map { conf.indentation(ofLine: $0.line) } ?? "  ") + OLSTemplates.pad("add") + "lsapi:\(lsphp) php\n"
            newConf = try edit { try conf.inserting([line], at: handler.endLine) }
        } else {
            newConf = try edit { try conf.inserting(["\n"] + OLSTemplates.scriptHandlerBlock(lsphp), at: conf.lines.count) }
        }
        let change = OLSChange(serverConfig: server.lines == model.file.lines ? nil : server, writes: [vh.configFile: newConf])
        let name = p.vhost
        let applied = try await OLSEditor(settings: settings).apply(change, in: context) { m in
            guard let v = m.vhost(name) else { return "virtual host \(name) vanished" }
            return m.phpHandler(m.vhostConfig(v)) == lsphp ? nil : "\(name)'s PHP handler is not \(lsphp)"
        }
        let summary = context.checkMode ? "check mode: would serve \(p.vhost)'s PHP with \(lsphp)" : "\(p.vhost) serves PHP with \(lsphp); \(applied.note)"
        return JobOutcome(changed: true, summary: summary, result: .object(["vhost": .string(p.vhost), "lsphp": .string(lsphp), "diff": .string(applied.diff)]))
    }
}
