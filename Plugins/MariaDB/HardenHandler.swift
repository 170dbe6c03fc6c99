import AgentKernel
import BalctlProtocol

/// `mariadb.harden`: what `mariadb-secure-installation` does, as SQL — drop anonymous accounts,
/// drop root accounts for hosts other than localhost/127.0.0.1/::1, drop the `test` database and
/// the grants on `test` / `test\_%` that let any account use it. (Setting a root password is left
/// out: the agent reaches root over the socket.) Check mode lists what would change; a re-run
/// after a run is "unchanged".
public struct HardenHandler: CommandHandler {
    public typealias Parameters = NoParameters
    let settings: MariaDBSettings

    public static let id = "mariadb.harden"
    public static let summary = "Remove anonymous users, remote root and the test database (mariadb-secure-installation as SQL)"
    public static let requiresRoot = true
    public static let lock: String? = "mariadb"
    public static let supportsCheckMode = true

    init(settings: MariaDBSettings) { self.settings = settings }

    struct Findings: Equatable {
        var anonymous: [(user: String, host: String)] = []
        var remoteRoot: [(user: String, host: String)] = []
        var testDatabase = false
        var testGrants = 0

        static func == (a: Findings, b: Findings) -> Bool {
            a.anonymous.map { "\($0.user)@\($0.host)" } == b.anonymous.map { "\($0.user)@\($0.host)" }
                && a.remoteRoot.map { "\($0.user)@\($0.host)" } == b.remoteRoot.map { "\($0.user)@\($0.host)" }
                && a.testDatabase == b.testDatabase && a.testGrants == b.testGrants
        }

        var isEmpty: Bool { anonymous.isEmpty && remoteRoot.isEmpty && !testDatabase && testGrants == 0 }

        var changes: [String] {
            anonymous.map { "drop anonymous user ''@'\($0.host)'" }
                + remoteRoot.map { "drop remote root 'root'@'\($0.host)'" }
                + (testDatabase ? ["drop database test"] : [])
                + (testGrants > 0 ? ["remove \(testGrants) grant(s) on test / test\\_% from mysql.db"] : [])
        }

        /// The statements, every name from the server quoted as a string literal.
        var statements: [String] {
            anonymous.map { "DROP USER \(MariaDBNames.sqlString($0.user))@\(MariaDBNames.sqlString($0.host))" }
                + remoteRoot.map { "DROP USER \(MariaDBNames.sqlString($0.user))@\(MariaDBNames.sqlString($0.host))" }
                + (testDatabase ? ["DROP DATABASE IF EXISTS test"] : [])
                + (testGrants > 0 ? ["DELETE FROM mysql.db WHERE Db = 'test' OR Db = 'test\\\\_%'", "FLUSH PRIVILEGES"] : [])
        }
    }

    /// One query for all four findings (tagged rows).
    static let query = "SELECT 'A', User, Host FROM mysql.global_priv WHERE User = ''"
        + " UNION ALL SELECT 'R', User, Host FROM mysql.global_priv WHERE User = 'root' AND Host NOT IN ('localhost', '127.0.0.1', '::1')"
        + " UNION ALL SELECT 'T', SCHEMA_NAME, '' FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'test'"
        + " UNION ALL SELECT 'G', COUNT(*), '' FROM mysql.db WHERE Db = 'test' OR Db = 'test\\\\_%'"

    static func findings(_ rows: [[String]]) -> Findings {
        var f = Findings()
        for row in rows where row.count >= 3 {
            switch row[0] {
            case "A": f.anonymous.append((row[1], row[2]))
            case "R": f.remoteRoot.append((row[1], row[2]))
            case "T": f.testDatabase = true
            case "G": f.testGrants = Int(row[1]) ?? 0
            default: break
            }
        }
        return f
    }

    public func run(_ p: NoParameters, in context: JobContext) async throws -> JobOutcome {
        guard settings.installed else { throw JobFailure("MariaDB is not installed here") }
        let client = MariaDBClient(settings: settings, context: context)
        let before: Findings
        do { before = Self.findings(try await client.query(Self.query)) } catch { throw JobFailure("cannot read the grant tables: \(error)") }
        let changes = before.changes
        let listed: JSONValue = .object(["changes": .array(changes.map(JSONValue.string))])
        if before.isEmpty { return .unchanged("already hardened: no anonymous users, no remote root, no test database", result: listed) }
        if context.checkMode {
            return JobOutcome(changed: true, summary: "would make \(changes.count) change(s): \(changes.joined(separator: "; "))", result: listed)
        }
        for sql in before.statements {
            do { _ = try await client.query(sql) } catch { throw JobFailure("\(sql) failed: \(error)") }
            context.log(sql)
        }
        let after = Self.findings(try await client.query(Self.query))
        guard after.isEmpty else { throw JobFailure("still left after hardening: \(after.changes.joined(separator: "; "))", result: listed) }
        return JobOutcome(changed: true, summary: "hardened: \(changes.joined(separator: "; "))", result: listed)
    }
}
