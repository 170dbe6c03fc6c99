import AgentKernel
import BalctlProtocol

/// `ols.vhost_remove`: take a virtual host out of httpd_config.conf (its block, the blank line
/// before it, and every listener `map` line for it) and remove its vhconf.conf when it lives in
/// the standard place (`conf/vhosts/<name>/`; a copy is kept under the state dir). The document
/// root and logs are never touched. Checked, reloaded and rolled back like every edit; removing a
/// vhost that is not there reports "unchanged".
public struct VHostRemoveHandler: CommandHandler {
    public struct Parameters: CommandParameters {
        public var name: String
        public func validate() throws { try OLSNames.checkVHost(name) }
    }

    public let settings: OLSSettings
    public init(settings: OLSSettings = .fromEnvironment()) { self.settings = settings }

    public static let id = "ols.vhost_remove"
    public static let summary = "Remove an OpenLiteSpeed virtual host and its listener mappings (document root kept)"
    public static let parameterHelp = "name: vhost name (required)"
    public static let exampleParameters: JSONValue = .object(["name": .string("shop")])
    public static let requiresRoot = true
    public static let lock: String? = "openlitespeed"
    public static let supportsCheckMode = true

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        let model = try OLSServerModel.load(settings)
        guard let vh = model.vhosts.first(where: { $0.name == p.name }) else {
            return .unchanged("no virtual host \(p.name); nothing to remove")
        }
        guard let block = vh.node else {
            throw JobFailure("\(p.name) is a member of template '\(vh.template ?? "?")': remove it from the template instead")
        }
        let file = model.file
        var ranges: [ClosedRange<Int>] = [block.line...block.endLine]
        if block.line > 0, OLSConfigFile.content(file.lines[block.line - 1]).isEmpty { ranges[0] = (block.line - 1)...block.endLine }
        for l in model.listeners {
            for m in l.maps where m.vhost == p.name {
                // A map line naming only this vhost goes whole.
                ranges.append(m.line...m.line)
            }
        }
        let edited = try edit { try file.removing(ranges) }
        var change = OLSChange(serverConfig: edited)
        let standardDir = settings.confDir + "/vhosts/" + p.name
        if vh.configFile == standardDir + "/vhconf.conf" {
            change.removals = [vh.configFile]
            change.removeEmptyDirectories = [standardDir]
        } else if !vh.configFile.isEmpty {
            context.log("kept \(vh.configFile): it is not in \(standardDir)/")
        }
        let name = p.name
        let applied = try await OLSEditor(settings: settings).apply(change, in: context) { m in
            m.vhosts.contains { $0.name == name } ? "virtual host \(name) is still in the config" : nil
        }
        let summary = context.checkMode ? "check mode: would remove virtual host \(p.name)" : "removed virtual host \(p.name) (document root \(vh.vhRoot) kept); \(applied.note)"
        return JobOutcome(changed: true, summary: summary, result: .object(["vhost": .string(p.name), "diff": .string(applied.diff)]))
    }
}
