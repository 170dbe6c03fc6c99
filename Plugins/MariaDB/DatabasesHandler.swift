import AgentKernel
import BalctlProtocol

/// `mariadb.databases`: every schema with its table count and size (data + index bytes, as
/// information_schema.TABLES reports them), system schemas marked.
public struct DatabasesHandler: CommandHandler {
    public typealias Parameters = NoParameters
    let settings: MariaDBSettings

    public static let id = "mariadb.databases"
    public static let summary = "List MariaDB databases with table counts and sizes"
    public static let supportsCheckMode = true

    init(settings: MariaDBSettings) { self.settings = settings }

    static let query = "SELECT s.SCHEMA_NAME, COUNT(t.TABLE_NAME), COALESCE(SUM(t.DATA_LENGTH + t.INDEX_LENGTH), 0)"
        + " FROM information_schema.SCHEMATA s LEFT JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = s.SCHEMA_NAME"
        + " GROUP BY s.SCHEMA_NAME ORDER BY s.SCHEMA_NAME"

    public func run(_ p: NoParameters, in context: JobContext) async throws -> JobOutcome {
        guard settings.installed else { throw JobFailure("MariaDB is not installed here") }
        let rows: [[String]]
        do { rows = try await MariaDBClient(settings: settings, context: context).query(Self.query) } catch {
            throw JobFailure("cannot list the databases: \(error)")
        }
        var list: [JSONValue] = []
        var total = 0
        for row in rows.prefix(10_000) where row.count >= 3 {
            let size = Int(row[2]) ?? 0
            total += size
            list.append(.object(["name": .string(clip(row[0], 64)), "tables": .number(Double(Int(row[1]) ?? 0)),
                                 "sizeBytes": .number(Double(size)), "system": .bool(MariaDBNames.systemSchemas.contains(row[0].lowercased()))]))
        }
        return .unchanged("\(list.count) databases, \(total) bytes", result: .object(["databases": .array(list), "totalBytes": .number(Double(total))]))
    }
}
