import AgentKernel
import BalctlProtocol
import Foundation
@testable import MariaDBPlugin
import Testing
import TestSupport

/// Against a real mariadbd (one for the whole suite, TestSupport's `.mariadbServer`).
@Suite(.serialized, .mariadbServer)
struct MariaDBLiveTests {
    /// Settings for the suite's server, with a private state directory inside the server's
    /// own (removed with it when the suite ends).
    static func settings(_ server: MariaDBServer) throws -> MariaDBSettings {
        var s = MariaDBSettings(stateDir: try MariaDBServer.makeTempDirectory("state", in: server.dir))
        s.socket = server.socket
        s.user = "root"
        s.systemctl = "/nonexistent/systemctl"  // the probe must not ask the host's systemd about a test server
        try FileManager.default.createDirectory(atPath: s.stateDir, withIntermediateDirectories: true)
        return s
    }

    static func statusNumber(_ g: [String: String], _ k: String) -> Int { Int(g[k] ?? "") ?? -1 }

    @Test func healthMatchesShowGlobalStatusAndTheEntryIsSmall() async throws {
        let server = try MariaDBServer.shared()
        let settings = try Self.settings(server)
        let plugin = MariaDBPlugin(settings: settings)
        // Before any refresh the heartbeat says installed, not up, and nothing else was read.
        guard case .object(let before)? = await plugin.probe() else { Issue.record("no entry"); return }
        #expect(before["up"] == .bool(false))
        #expect(before["uptimeSec"] == nil)

        let state = await plugin.prober.refresh()
        let status = try server.globals("STATUS"), vars = try server.globals("VARIABLES")
        let h = try #require(state.health)
        #expect(state.up)
        #expect(h.version == vars["version"])
        #expect(h.maxConnections == Self.statusNumber(vars, "max_connections"))
        #expect(h.slowQueries == Self.statusNumber(status, "slow_queries"))
        #expect(h.threadsConnected == Self.statusNumber(status, "threads_connected"))
        #expect(h.maxUsedConnections == Self.statusNumber(status, "max_used_connections"))
        #expect(abs((h.uptimeSec ?? -100) - Self.statusNumber(status, "uptime")) <= 2)
        #expect((h.threadsRunning ?? 0) >= 1)
        let requests = Double(Self.statusNumber(status, "innodb_buffer_pool_read_requests"))
        let reads = Double(Self.statusNumber(status, "innodb_buffer_pool_reads"))
        let expectedHit = (1 - reads / requests) * 100
        #expect(abs((h.bufferPoolHitPercent ?? -1) - expectedHit) < 0.5)
        #expect(h.datadir == vars["datadir"])
        #expect(h.socket == server.socket)
        #expect(h.role == "standalone")

        // The heartbeat entry is the cached readout, under 1 KB.
        let entry = try #require(await plugin.probe())
        let bytes = try JSONEncoder().encode(entry)
        #expect(bytes.count < 1024, "entry is \(bytes.count) bytes")
        guard case .object(let o) = entry else { Issue.record("not an object"); return }
        #expect(o["up"] == .bool(true))
        #expect(o["maxConnections"] == .number(Double(h.maxConnections!)))
        #expect(o["slowQueries"] == .number(Double(h.slowQueries!)))
        #expect(o["role"] == .string("standalone"))
        #expect(o["datadir"] == .string(vars["datadir"]!))
    }

    /// The probe on the heartbeat path runs no program: with every tool replaced by a recording
    /// fake, a thousand probes record nothing; the periodic work does run the client.
    @Test func theHeartbeatProbeRunsNoProgramThePeriodicWorkDoes() async throws {
        let server = try MariaDBServer.shared()
        var settings = try Self.settings(server)
        let fakes = try FakeTools(in: settings.stateDir)
        settings.client = fakes.path("mariadb"); settings.admin = fakes.path("mariadb-admin"); settings.dump = fakes.path("mariadb-dump")
        settings.refreshIntervalSec = 0.2
        let plugin = MariaDBPlugin(settings: settings)
        let started = Date()
        for _ in 0..<1000 { _ = await plugin.probe() }
        #expect(Date().timeIntervalSince(started) < 2)
        #expect(fakes.calls().isEmpty)
        let work = try #require(plugin.periodicWork)
        let loop = Task { await work.loop() }
        defer { loop.cancel() }
        let deadline = Date().addingTimeInterval(10)
        while fakes.calls().count < 2 && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(fakes.calls().count >= 2, "the periodic work refreshes again and again")
        #expect(fakes.calls().allSatisfy { $0.first == "mariadb" })
    }

    /// A password is handed to the client in an option file of mode 600, never on the command line.
    @Test func aPasswordGoesThroughAPrivateOptionFile() async throws {
        let server = try MariaDBServer.shared()
        try server.sql("CREATE USER IF NOT EXISTS 'balctl_probe'@'localhost' IDENTIFIED BY 'pa ss\"wo\\\\rd'; GRANT PROCESS ON *.* TO 'balctl_probe'@'localhost'")
        var settings = try Self.settings(server)
        settings.user = "balctl_probe"
        let pw = settings.stateDir + "/password"
        try "pa ss\"wo\\rd\n".write(toFile: pw, atomically: true, encoding: .utf8)
        settings.passwordFile = pw
        let prober = MariaDBProbe(settings: settings)
        let state = await prober.refresh()
        #expect(state.up, "\(state.error ?? "")")
        #expect(state.health?.maxConnections != nil)
        // The option file is gone after the run.
        #expect((try? FileManager.default.contentsOfDirectory(atPath: settings.runDir))?.isEmpty ?? true)
        // With a wrong password the refresh fails (so the file really carried the password).
        try "wrong\n".write(toFile: pw, atomically: true, encoding: .utf8)
        let failed = await prober.refresh()
        #expect(!failed.up)
        #expect(failed.error?.contains("Access denied") == true)
        try server.sql("DROP USER 'balctl_probe'@'localhost'")
    }

    @Test func backupThenRestoreGivesIdenticalChecksums() async throws {
        let server = try MariaDBServer.shared()
        let settings = try Self.settings(server)
        try server.sql("""
            CREATE DATABASE shop;
            USE shop;
            CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(64), price DECIMAL(10,2), note TEXT, raw VARBINARY(16));
            CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, item INT, at_price DECIMAL(10,2));
            CREATE TRIGGER items_ai AFTER INSERT ON items FOR EACH ROW INSERT INTO audit (item, at_price) VALUES (NEW.id, NEW.price);
            INSERT INTO items SELECT seq, CONCAT('item-', seq, IF(seq % 7 = 0, '\\t\\n''"\\\\', '')), seq * 1.25, REPEAT('x', seq % 50), UNHEX(MD5(seq)) FROM seq_1_to_100000;
            CREATE VIEW expensive AS SELECT id, name FROM items WHERE price > 100000;
            CREATE FUNCTION total_price() RETURNS DECIMAL(20,2) READS SQL DATA RETURN (SELECT SUM(price) FROM items);
            """)
        let original = try server.sql("CHECKSUM TABLE shop.items, shop.audit")
        #expect(try server.sql("SELECT COUNT(*) FROM shop.items").trimmingCharacters(in: .whitespacesAndNewlines) == "100000")

        let (made, _) = try await runJob(BackupHandler(settings: settings), .object(["database": .string("shop")]))
        guard case .object(let r)? = made.result, case .string(let name)? = r["backup"], case .string(let path)? = r["path"] else {
            Issue.record("no backup in the result"); return
        }
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attrs[.posixPermissions] as? Int) == 0o600)
        let head = try FileHandle(forReadingFrom: URL(fileURLWithPath: path)).read(upToCount: 4) ?? Data()
        #expect(Array(head) == [0x28, 0xB5, 0x2F, 0xFD], "a zstd frame")

        // Into a new name: identical data, the view, trigger and routine come along, the old is untouched.
        let (restored, _) = try await runJob(RestoreHandler(settings: settings), .object(["backup": .string(name), "database": .string("shop_copy")]))
        #expect(restored.changed)
        let copy = try server.sql("CHECKSUM TABLE shop_copy.items, shop_copy.audit")
        #expect(copy.replacingOccurrences(of: "shop_copy.", with: "shop.") == original)
        #expect(try server.sql("CHECKSUM TABLE shop.items, shop.audit") == original)
        #expect(try server.sql("SELECT COUNT(*) FROM expensive", database: "shop_copy") == (try server.sql("SELECT COUNT(*) FROM expensive", database: "shop")))
        #expect(try server.sql("SELECT total_price()", database: "shop_copy") == (try server.sql("SELECT total_price()", database: "shop")))
        #expect(try server.sql("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'shop_copy'") == "items_ai\n")
        // The copy's view reads the copy's table, not the original's.
        #expect(try server.sql("SELECT VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = 'shop_copy'").contains("`shop`") == false)
        try server.sql("INSERT INTO shop_copy.items VALUES (100001, 'new', 1, '', NULL)")
        #expect(try server.sql("SELECT COUNT(*) FROM shop.audit") == "100000\n")
        #expect(try server.sql("SELECT COUNT(*) FROM shop_copy.audit") == "100001\n")

        // Over the old one: refused without confirm, nothing touched.
        let refused = await jobError(RestoreHandler(settings: settings), .object(["backup": .string(name)]))
        #expect(refused?.contains("exists") == true)
        #expect(refused?.contains("confirm: true") == true)
        #expect(try server.sql("CHECKSUM TABLE shop.items, shop.audit") == original)

        // With confirm: the old one is backed up first, then replaced by the backup's content.
        try server.sql("INSERT INTO shop.items VALUES (200000, 'later', 9, '', NULL); CREATE TABLE shop.extra (x INT)")
        let (over, _) = try await runJob(RestoreHandler(settings: settings), .object(["backup": .string(name), "confirm": .bool(true)]))
        guard case .object(let o)? = over.result, case .string(let previous)? = o["previousBackup"] else { Issue.record("no previous backup named"); return }
        #expect(FileManager.default.fileExists(atPath: settings.backupsDir + "/" + previous))
        #expect(try server.sql("CHECKSUM TABLE shop.items, shop.audit") == original)
        #expect(try server.sql("SHOW TABLES LIKE 'extra'", database: "shop").isEmpty)

        // The databases list sees both with their sizes.
        let (dbs, _) = try await runJob(DatabasesHandler(settings: settings))
        guard case .object(let d)? = dbs.result, case .array(let list)? = d["databases"] else { Issue.record("no list"); return }
        let shop = list.first { if case .object(let e) = $0, e["name"] == .string("shop") { return true }; return false }
        guard case .object(let e)? = shop, case .number(let size)? = e["sizeBytes"] else { Issue.record("shop not listed"); return }
        #expect(size > 1_000_000)
        #expect(e["tables"] == .number(3))  // items, audit, the view
        try server.sql("DROP DATABASE shop; DROP DATABASE shop_copy")
    }

    @Test func aFailedRestoreIntoANewNameLeavesNothingBehind() async throws {
        let server = try MariaDBServer.shared()
        let settings = try Self.settings(server)
        try FileManager.default.createDirectory(atPath: settings.backupsDir, withIntermediateDirectories: true)
        let name = "junk--20260101T000000Z-0123abcd.sql.zst"
        try Data("this is not zstd".utf8).write(to: URL(fileURLWithPath: settings.backupsDir + "/" + name))
        let error = await jobError(RestoreHandler(settings: settings), .object(["backup": .string(name), "database": .string("junk_new")]))
        #expect(error?.contains("zstd") == true, "\(error ?? "")")
        #expect(try server.sql("SHOW DATABASES LIKE 'junk_new'").isEmpty)
        let missing = await jobError(RestoreHandler(settings: settings), .object(["backup": .string("gone--20260101T000000Z-0123abcd.sql.zst")]))
        #expect(missing?.contains("no backup") == true)
    }

    @Test func hardenListsThenFixesThenIsUnchanged() async throws {
        let server = try MariaDBServer.shared()
        let settings = try Self.settings(server)
        let anonymousBefore = try server.sql("SELECT COUNT(*) FROM mysql.global_priv WHERE User = ''")
        #expect(anonymousBefore != "0\n", "a fresh install has anonymous users")
        let (check, _) = try await runJob(HardenHandler(settings: settings), checkMode: true)
        #expect(check.changed)
        guard case .object(let c)? = check.result, case .array(let changes)? = c["changes"] else { Issue.record("no changes listed"); return }
        let text = changes.compactMap { if case .string(let s) = $0 { return s }; return nil }
        #expect(text.contains("drop anonymous user ''@'localhost'"))
        #expect(text.contains("drop database test"))
        #expect(text.contains("drop remote root 'root'@'127.0.0.1'") == false, "127.0.0.1 is local")
        #expect(text.contains { $0.hasPrefix("remove ") && $0.contains("test") })
        // Check mode changed nothing.
        #expect(try server.sql("SELECT COUNT(*) FROM mysql.global_priv WHERE User = ''") == anonymousBefore)
        #expect(try server.sql("SHOW DATABASES LIKE 'test'") == "test\n")

        let (run, _) = try await runJob(HardenHandler(settings: settings))
        #expect(run.changed)
        #expect(try server.sql("SELECT COUNT(*) FROM mysql.global_priv WHERE User = ''") == "0\n")
        #expect(try server.sql("SHOW DATABASES LIKE 'test'").isEmpty)
        #expect(try server.sql("SELECT COUNT(*) FROM mysql.db WHERE Db LIKE 'test%'") == "0\n")
        #expect(try server.sql("SELECT COUNT(*) FROM mysql.global_priv WHERE User = 'root' AND Host NOT IN ('localhost', '127.0.0.1', '::1')") == "0\n")
        #expect(try server.sql("SELECT COUNT(*) FROM mysql.global_priv WHERE User = 'root' AND Host = 'localhost'") == "1\n")

        let (again, _) = try await runJob(HardenHandler(settings: settings))
        #expect(!again.changed)
        #expect(again.summary.contains("already hardened"))
    }

    @Test func configTestPassesAGoodFileAndNamesTheErrorInABadOne() async throws {
        var settings = try Self.settings(try MariaDBServer.shared())
        let good = settings.stateDir + "/good.cnf", bad = settings.stateDir + "/bad.cnf"
        try "[mysqld]\nmax_connections = 77\n".write(toFile: good, atomically: true, encoding: .utf8)
        try "[mysqld]\nno_such_option = 1\n".write(toFile: bad, atomically: true, encoding: .utf8)
        settings.configFile = good
        let (ok, out) = try await runJob(ConfigTestHandler(settings: settings))
        #expect(!ok.changed)
        #expect(out.utf8.count < 16_384, "the option listing is not copied into the job output")
        settings.configFile = bad
        let error = await jobError(ConfigTestHandler(settings: settings))
        #expect(error?.contains("no_such_option") == true, "\(error ?? "")")
    }

    @Test func restartRunsSystemctlThenWaitsForTheServer() async throws {
        let server = try MariaDBServer.shared()
        var settings = try Self.settings(server)
        let fakes = try FakeTools(in: settings.stateDir)
        settings.systemctl = fakes.path("systemctl")
        settings.unit = "mariadb"
        let (check, _) = try await runJob(RestartHandler(settings: settings), checkMode: true)
        #expect(check.summary.contains("would run"))
        #expect(fakes.calls().isEmpty)
        let (done, _) = try await runJob(RestartHandler(settings: settings))
        #expect(done.changed)
        #expect(fakes.calls() == [["systemctl", "restart", "mariadb"]])
        // A systemctl that fails: the job fails with its output.
        settings.systemctl = fakes.path("false-systemctl")
        let error = await jobError(RestartHandler(settings: settings))
        #expect(error?.contains("failed") == true)
    }

    @Test func flushPrivilegesAndStatus() async throws {
        let server = try MariaDBServer.shared()
        var settings = try Self.settings(server)
        let (flushed, _) = try await runJob(FlushPrivilegesHandler(settings: settings))
        #expect(flushed.changed)
        let (status, _) = try await runJob(StatusHandler(settings: settings, probe: MariaDBProbe(settings: settings)))
        #expect(status.summary.contains("up"))
        settings.socket = settings.stateDir + "/no-such.sock"
        let down = await jobError(StatusHandler(settings: settings, probe: MariaDBProbe(settings: settings)))
        #expect(down?.contains("does not answer") == true)
    }
}

/// Recording fakes: each tool appends its name and arguments (one per line, a blank line after)
/// to a log and exits 0 (`false-*` exits 1).
struct FakeTools {
    let dir: String
    let log: String

    init(in parent: String) throws {
        dir = parent + "/fakes"
        log = dir + "/calls.log"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for tool in ["mariadb", "mariadb-admin", "mariadb-dump", "systemctl", "mariadbd", "false-systemctl"] {
            let exit = tool.hasPrefix("false-") ? 1 : 0
            let script = "#!/bin/sh\n{ echo \(tool); for a in \"$@\"; do echo \"$a\"; done; echo; } >> '\(log)'\necho \(tool) was called\nexit \(exit)\n"
            try script.write(toFile: path(tool), atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path(tool))
        }
    }

    func path(_ tool: String) -> String { dir + "/" + tool }

    func calls() -> [[String]] {
        guard let text = try? String(contentsOfFile: log, encoding: .utf8) else { return [] }
        return text.components(separatedBy: "\n\n").filter { !$0.isEmpty }.map { $0.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) }
            .map { $0.filter { !$0.isEmpty } }
    }
}
