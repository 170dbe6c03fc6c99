import AgentKernel
import BalctlProtocol
import Foundation
@testable import MariaDBPlugin
import Testing
import TestSupport

/// Parameters, detection, parsers and discovery: no server needed.
@Suite(.serialized)
struct MariaDBOfflineTests {
    static func fakeSettings() throws -> (MariaDBSettings, FakeTools) {
        var s = MariaDBSettings(stateDir: try MariaDBServer.makeTempDirectory("balctl-mariadb-offline"))
        let fakes = try FakeTools(in: s.stateDir)
        s.client = fakes.path("mariadb"); s.admin = fakes.path("mariadb-admin"); s.dump = fakes.path("mariadb-dump")
        s.systemctl = fakes.path("systemctl"); s.server = fakes.path("mariadbd"); s.serverAlternatives = []
        s.socket = s.stateDir + "/sock"
        return (s, fakes)
    }

    /// The temp directory `fakeSettings` made (the state dir's parent).
    static func remove(_ s: MariaDBSettings) {
        try? FileManager.default.removeItem(atPath: (s.stateDir as NSString).deletingLastPathComponent)
    }

    static let injections = [
        "shop; DROP DATABASE mysql", "shop`; DROP DATABASE x; --", "shop' OR '1'='1", "--all-databases", "-e",
        "../../etc/passwd", "/etc/passwd", "shop name", "shop\n", "shop\u{0}", "", String(repeating: "a", count: 65),
        "shöp", "shop$(id)", "shop|id", "shop.sql", "shop\\", "${IFS}", "shop\u{202E}",
    ]

    @Test func injectionStringsInEveryParameterAreRefusedBeforeAnythingRuns() async throws {
        let (settings, fakes) = try Self.fakeSettings()
        defer { Self.remove(settings) }
        let goodBackup = "shop--20260101T000000Z-0123abcd.sql.zst"
        for bad in Self.injections {
            let e1 = await jobError(BackupHandler(settings: settings), .object(["database": .string(bad)]))
            #expect(e1?.contains("database must be") == true, "backup database \(bad.debugDescription): \(e1 ?? "accepted")")
            let e2 = await jobError(RestoreHandler(settings: settings), .object(["backup": .string(bad)]))
            #expect(e2?.contains("backup must be") == true, "restore backup \(bad.debugDescription): \(e2 ?? "accepted")")
            let e3 = await jobError(RestoreHandler(settings: settings), .object(["backup": .string(goodBackup), "database": .string(bad)]))
            #expect(e3?.contains("database must be") == true, "restore database \(bad.debugDescription): \(e3 ?? "accepted")")
            // A backup name whose database part is hostile.
            let e4 = await jobError(RestoreHandler(settings: settings), .object(["backup": .string(bad + "--20260101T000000Z-0123abcd.sql.zst")]))
            #expect(e4 != nil, "restore backup built on \(bad.debugDescription) accepted")
        }
        for level in [0, 20, -1, 1000] {
            #expect(await jobError(BackupHandler(settings: settings), .object(["zstdLevel": .number(Double(level))]))?.contains("zstdLevel") == true)
        }
        // Wrong types and unknown keys.
        #expect(await jobError(BackupHandler(settings: settings), .object(["database": .number(1)])) != nil)
        #expect(await jobError(RestoreHandler(settings: settings), .object(["backup": .string(goodBackup), "confirm": .string("yes")])) != nil)
        #expect(await jobError(RestoreHandler(settings: settings), .object(["backup": .string(goodBackup), "force": .bool(true)]))?.contains("unexpected parameter") == true)
        // System schemas and whole-server dumps are refused as restore targets.
        #expect(await jobError(RestoreHandler(settings: settings), .object(["backup": .string(goodBackup), "database": .string("mysql")]))?.contains("system schema") == true)
        #expect(await jobError(RestoreHandler(settings: settings), .object(["backup": .string("all-databases--20260101T000000Z-0123abcd.sql.zst")]))?.contains("every database") == true)
        // Commands without parameters refuse any.
        let plugin = MariaDBPlugin(settings: settings)
        for h in plugin.handlers {
            let registered = HandlerRegistry(plugins: [plugin]).handlers[type(of: h).id]!
            if type(of: h).id == "mariadb.backup" || type(of: h).id == "mariadb.restore" { continue }
            let (ctx, _) = makeContext(command: type(of: h).id)
            await #expect(throws: ParameterError.self) { try await registered.run(.object(["database": .string("x; DROP")]), ctx) }
        }
        #expect(fakes.calls().isEmpty, "no program ran: \(fakes.calls())")
    }

    @Test func theStackIsHiddenWithAReasonWhenMariaDBIsAbsent() async throws {
        var (settings, fakes) = try Self.fakeSettings()
        defer { Self.remove(settings) }
        settings.server = settings.stateDir + "/no-mariadbd"
        let plugin = MariaDBPlugin(settings: settings)
        #expect(await plugin.probe() == nil)
        #expect(plugin.periodicWork == nil)
        #expect(plugin.prober.absenceReason?.contains("not installed") == true)
        let error = await jobError(StatusHandler(settings: settings, probe: plugin.prober))
        #expect(error?.contains("MariaDB is not installed: no server binary at \(settings.stateDir)/no-mariadbd") == true)
        // The catalogue still lists every command (the control plane validates against it).
        let ids = Set(HandlerRegistry(plugins: [plugin]).commandIDs)
        #expect(ids == ["mariadb.status", "mariadb.restart", "mariadb.config_test", "mariadb.flush_privileges", "mariadb.databases",
                        "mariadb.backup", "mariadb.restore", "mariadb.harden", "mariadb.wordpress_sites", "mariadb.backups"])
        #expect(fakes.calls().isEmpty)
        // Installed (a server binary exists): the entry is there even before the first refresh.
        let (installed, _) = try Self.fakeSettings()
        defer { Self.remove(installed) }
        #expect(await MariaDBPlugin(settings: installed).probe() != nil)
    }

    @Test func healthReadoutParsesRolesAndBoundsValues() {
        let galera = HealthReadout(rows: [["V", "WSREP_ON", "ON"], ["S", "WSREP_CLUSTER_STATUS", "Primary"], ["S", "WSREP_LOCAL_STATE_COMMENT", "Synced"],
                                          ["S", "WSREP_CLUSTER_SIZE", "3"], ["S", "INNODB_BUFFER_POOL_READ_REQUESTS", "1000"], ["S", "INNODB_BUFFER_POOL_READS", "10"]])
        #expect(galera.role == "galera")
        #expect(galera.wsrepClusterSize == 3)
        #expect(galera.bufferPoolHitPercent == 99)
        #expect(HealthReadout(rows: [["S", "SLAVES_RUNNING", "1"]]).role == "replica")
        #expect(HealthReadout(rows: [["S", "SLAVES_CONNECTED", "2"]]).role == "primary")
        #expect(HealthReadout(rows: [["S", "INNODB_BUFFER_POOL_READ_REQUESTS", "0"]]).bufferPoolHitPercent == nil)
        let huge = HealthReadout(rows: [["V", "VERSION", String(repeating: "é", count: 5000)], ["V", "DATADIR", String(repeating: "/x", count: 5000)],
                                        ["V", "WSREP_ON", "ON"], ["S", "WSREP_LOCAL_STATE_COMMENT", String(repeating: "z", count: 5000)]])
        let bytes = (try? JSONEncoder().encode(JSONValue.object(huge.json)))?.count ?? .max
        #expect(bytes < 1024)
    }

    @Test func parsersSurviveFuzzingWithinATimeBound() {
        var rng = SplitMix64(seed: 0x5EED_16)
        let batchSample = Array("S\tUPTIME\t12\nV\tVERSION\t10.11.19-MariaDB\nV\tDATADIR\t/var/lib/mysql/\nA\t\tlocal\\thost\\n\\\\\n".utf8)
        let wpSample = Array(Self.wpConfig.utf8)
        let started = Date()
        for round in 0..<3000 {
            for (sample, which) in [(batchSample, 0), (wpSample, 1)] {
                var input = sample
                switch round % 3 {
                case 0: input = Array(sample.prefix(Int.random(in: 0...sample.count, using: &rng)))
                case 1:
                    for _ in 0..<Int.random(in: 1...8, using: &rng) where !input.isEmpty {
                        input[Int.random(in: 0..<input.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                    }
                default: input = (0..<Int.random(in: 0...400, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                }
                if which == 0 {
                    let rows = BatchOutput.parse(input, maxRows: 100, maxFields: 8)
                    #expect(rows.count <= 100 && rows.allSatisfy { $0.count <= 8 })
                    _ = HealthReadout(rows: rows)
                    _ = HardenHandler.findings(rows)
                } else {
                    let c = WordPressConfig(bytes: input)
                    #expect([c.dbName, c.dbUser, c.dbHost, c.tablePrefix].allSatisfy { ($0?.utf8.count ?? 0) <= 4 * WordPressConfig.maxString })
                }
            }
        }
        // Big inputs are cut at their bound, in bounded time.
        let big = [UInt8](repeating: UInt8(ascii: "'"), count: 4 << 20)
        _ = WordPressConfig(bytes: big)
        _ = BatchOutput.parse([UInt8](repeating: 10, count: 1 << 20), maxRows: 1000)
        #expect(Date().timeIntervalSince(started) < 20)
        #expect(BatchOutput.parse(Array("a\\tb\tc\\\\d\\ne\nNULL\t\n".utf8)) == [["a\tb", "c\\d\ne"], ["NULL", ""]])
    }

    static let wpConfig = """
        <?php
        /** The name of the database for WordPress */
        define( 'DB_NAME', "shop_wp" );
        // define('DB_NAME', 'commented_out');
        # define('DB_USER', 'hash_comment');
        /* define('DB_HOST', 'block_comment'); */
        define('DB_USER','shop_user');
        define( 'DB_PASSWORD', 'never-stored-s3cret' );
        define (  "DB_HOST" ,  'localhost:/run/mysqld/mysqld.sock'  ) ;
        define( 'DB_NAME', 'second_define_ignored' );
        $table_prefix = 'wp_shop_';
        define( 'AUTH_KEY', 'put your unique phrase here' );
        """

    @Test func wordPressDiscoveryFindsRealLookingConfigs() async throws {
        let (settings0, fakes) = try Self.fakeSettings()
        defer { Self.remove(settings0) }
        var settings = settings0
        let root = settings.stateDir + "/www"
        let fm = FileManager.default
        func put(_ rel: String, _ text: String) throws {
            let path = root + "/" + rel
            try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        try put("shop.example/public_html/wp-config.php", Self.wpConfig)
        try put("blog.example/wp-config.php", "<?php\r\ndefine('DB_NAME','blog');\r\ndefine(\"DB_USER\",\"blogger\");\r\n//define('DB_HOST','x');\r\n")
        try put("blog.example/wp-content/plugins/x/wp-config.php", "<?php define('DB_NAME','inside_wp_content');")
        try put(".hidden/wp-config.php", "<?php define('DB_NAME','hidden');")
        try put("plain/index.php", "<?php echo 1;")
        // A link to a directory elsewhere is not followed.
        let outside = settings.stateDir + "/outside"
        try fm.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "<?php define('DB_NAME','outside');".write(toFile: outside + "/wp-config.php", atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: root + "/linked", withDestinationPath: outside)
        settings.webRoots = [root, settings.stateDir + "/missing-root"]

        let (outcome, _) = try await runJob(WordPressSitesHandler(settings: settings))
        guard case .object(let r)? = outcome.result, case .array(let sites)? = r["sites"] else { Issue.record("no sites"); return }
        let objects = sites.compactMap { if case .object(let o) = $0 { return o }; return nil }
        #expect(objects.count == 2)
        let shop = try #require(objects.first { $0["path"] == .string(root + "/shop.example/public_html/wp-config.php") })
        #expect(shop["dbName"] == .string("shop_wp"))
        #expect(shop["dbUser"] == .string("shop_user"))
        #expect(shop["dbHost"] == .string("localhost:/run/mysqld/mysqld.sock"))
        #expect(shop["tablePrefix"] == .string("wp_shop_"))
        let blog = try #require(objects.first { $0["path"] == .string(root + "/blog.example/wp-config.php") })
        #expect(blog["dbName"] == .string("blog"))
        #expect(blog["dbUser"] == .string("blogger"))
        #expect(blog["dbHost"] == nil)
        let text = String(decoding: try JSONEncoder().encode(outcome.result!), as: UTF8.self)
        #expect(!text.contains("never-stored-s3cret"))
        #expect(!text.contains("outside") && !text.contains("hidden") && !text.contains("inside_wp_content") && !text.contains("commented_out"))
        // The fake client answered nothing useful: databaseExists is false, and nothing else ran.
        #expect(fakes.calls().allSatisfy { $0.first == "mariadb" })
    }

    @Test func theOptionFileQuotesAndRefusesLineBreaks() throws {
        let text = try MariaDBClient.optionFile(user: "bal\"ctl", password: "p\\w\"d")
        #expect(text == "[client]\nuser=\"bal\\\"ctl\"\npassword=\"p\\\\w\\\"d\"\n")
        #expect(try MariaDBClient.optionFile(user: "root", password: nil) == nil)
        #expect(throws: (any Error).self) { try MariaDBClient.optionFile(user: nil, password: "a\npassword=b") }
    }

    @Test func backupNamesAreStrict() {
        #expect(MariaDBNames.isBackupName("shop--20260101T000000Z-0123abcd.sql.zst"))
        #expect(MariaDBNames.backupSource("all-databases--20260101T000000Z-0123abcd.sql.zst") == "all-databases")
        #expect(!MariaDBNames.isBackupName("shop--20260101T000000Z-0123abcd.sql.zst/../x"))
        #expect(!MariaDBNames.isBackupName("../shop--20260101T000000Z-0123abcd.sql.zst"))
        #expect(!MariaDBNames.isBackupName(".shop--20260101T000000Z-0123abcd.sql.zst"))
        #expect(MariaDBNames.sqlString("a'b\\c") == "'a''b\\\\c'")
    }
}
