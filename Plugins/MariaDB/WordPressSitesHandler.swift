import AgentKernel
import BalctlProtocol

/// `mariadb.wordpress_sites`: the WordPress sites under the configured web roots
/// (`BALCTL_MARIADB_WEB_ROOTS`) and the database each names — DB_NAME, DB_USER, DB_HOST and the
/// table prefix, never the password — each marked whether that database exists on this server
/// (when it answers), so a restore can offer them.
public struct WordPressSitesHandler: CommandHandler {
    public typealias Parameters = NoParameters
    let settings: MariaDBSettings

    public static let id = "mariadb.wordpress_sites"
    public static let summary = "Find WordPress sites (wp-config.php) under the web roots and the databases they use"
    public static let requiresRoot = true
    public static let supportsCheckMode = true

    init(settings: MariaDBSettings) { self.settings = settings }

    public func run(_ p: NoParameters, in context: JobContext) async throws -> JobOutcome {
        let roots = settings.webRoots
        let (sites, truncated) = await runBlocking { WordPressFinder().find(in: roots) }
        var present: Set<String>? = nil
        if settings.installed, let rows = try? await MariaDBClient(settings: settings, context: context)
            .query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA") {
            present = Set(rows.compactMap(\.first))
        }
        let list: [JSONValue] = sites.map { site in
            var o: [String: JSONValue] = ["path": .string(clip(site.path, 512))]
            func put(_ k: String, _ v: String?) { if let v { o[k] = .string(clip(v, 128)) } }
            put("dbName", site.config.dbName)
            put("dbUser", site.config.dbUser)
            put("dbHost", site.config.dbHost)
            put("tablePrefix", site.config.tablePrefix)
            if let present, let name = site.config.dbName { o["databaseExists"] = .bool(present.contains(name)) }
            return .object(o)
        }
        return .unchanged("\(sites.count) WordPress site(s) under \(roots.joined(separator: ", "))\(truncated ? " (search cut short)" : "")",
                          result: .object(["sites": .array(list), "roots": .array(roots.map(JSONValue.string)), "truncated": .bool(truncated)]))
    }
}
