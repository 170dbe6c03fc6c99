import AgentKernel
import BackupPlugin
import BalctlProtocol
import Foundation
@testable import MariaDBPlugin
import Testing
import TestSupport

/// The `mariadb` backup scope, against the suite's real mariadbd (an extension of the live suite,
/// so it shares that one server) and the fake control plane's snapshot store.
extension MariaDBLiveTests {
    @Test func backupCreateScopeMariaDBShipsADumpPerDatabaseAndARestoreBringsThemBack() async throws {
        let server = try MariaDBServer.shared()
        let settings = try Self.settings(server)
        try server.sql("""
            CREATE DATABASE scoped_a; USE scoped_a; CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(32));
            INSERT INTO t SELECT seq, CONCAT('a-', seq) FROM seq_1_to_5000;
            CREATE DATABASE scoped_b; USE scoped_b; CREATE TABLE u (id INT PRIMARY KEY);
            INSERT INTO u SELECT seq FROM seq_1_to_10;
            CREATE DATABASE `scoped-dash`;
            """)
        defer { _ = try? server.sql("DROP DATABASE scoped_a; DROP DATABASE scoped_b; DROP DATABASE IF EXISTS scoped_a_back; DROP DATABASE `scoped-dash`") }
        let original = try server.sql("CHECKSUM TABLE scoped_a.t")
        let scope = MariaDBPlugin(settings: settings).backupScopes
        #expect(scope.map(\.name) == ["mariadb"])
        let backup = BackupSettings(stateDir: try MariaDBServer.makeTempDirectory("backup-state", in: server.dir))
        let store = FakeSnapshotServer()

        // Check mode: names what it would dump, makes no file, uploads nothing.
        let (checked, checkOut) = try await runJob(BackupCreateHandler(settings: backup), .object(["scope": .string("mariadb")]),
                                                   checkMode: true, scopes: scope, controlPlane: store)
        #expect(!checked.changed)
        #expect(checkOut.contains("would dump") && checkOut.contains("scoped_a") && checkOut.contains("scoped_b"))
        #expect(MariaDBBackupScope.existingDumps(in: settings.backupsDir).isEmpty)
        #expect(store.uploads.isEmpty)

        // The run: one dump per user database (no system schema; the dashed name skipped, said so).
        let (made, out) = try await runJob(BackupCreateHandler(settings: backup), .object(["scope": .string("mariadb")]),
                                           scopes: scope, controlPlane: store)
        let snapshot = try #require(made.result?["snapshot"]?.stringValue)
        let dumps = MariaDBBackupScope.existingDumps(in: settings.backupsDir)
        #expect(dumps.contains { $0.hasPrefix("scoped_a--") } && dumps.contains { $0.hasPrefix("scoped_b--") })
        #expect(!dumps.contains { $0.hasPrefix("mysql--") || $0.hasPrefix("sys--") || $0.hasPrefix("performance_schema--") })
        #expect(out.contains("skipped database scoped-dash"))
        #expect(made.result?["entries"] == .number(Double(dumps.count)))

        // Lose the local dumps and the database; the snapshot brings the files back, and
        // mariadb.restore loads one into a new name with identical data.
        for name in dumps { try FileManager.default.removeItem(atPath: settings.backupsDir + "/" + name) }
        let (restored, _) = try await runJob(BackupRestoreHandler(settings: backup), .object(["snapshot": .string(snapshot)]),
                                             jobID: 2, scopes: scope, controlPlane: store)
        #expect(restored.changed)
        #expect(MariaDBBackupScope.existingDumps(in: settings.backupsDir) == dumps)
        let dumpA = try #require(dumps.first { $0.hasPrefix("scoped_a--") })
        // mariadb.backups lists them (a symlink named like a dump is not listed).
        try FileManager.default.createSymbolicLink(atPath: settings.backupsDir + "/evil--20260101T000000Z-0123abcd.sql.zst",
                                                   withDestinationPath: "/etc/shadow")
        #expect(try MariaDBBackupScope(settings: settings).roots(paths: []).count == dumps.count, "the link is no root")
        let (listed, _) = try await runJob(BackupsHandler(settings: settings))
        #expect(!listed.changed)
        guard case .array(let entries)? = listed.result?["backups"] else { Issue.record("no list"); return }
        let names = entries.compactMap { $0["backup"]?.stringValue }
        #expect(Set(names) == Set(dumps))
        #expect(entries.contains { $0["backup"]?.stringValue == dumpA && $0["database"] == .string("scoped_a") })
        _ = try await runJob(RestoreHandler(settings: settings), .object(["backup": .string(dumpA), "database": .string("scoped_a_back")]))
        #expect(try server.sql("CHECKSUM TABLE scoped_a_back.t").replacingOccurrences(of: "scoped_a_back.", with: "scoped_a.") == original)
    }

    @Test func aSnapshotLabelledMariaDBMayCarryOnlyDumpFilesOfItsDirectory() async throws {
        let server = try MariaDBServer.shared()
        let settings = try Self.settings(server)
        let scope = MariaDBBackupScope(settings: settings)
        let staging = try MariaDBServer.makeTempDirectory("staging", in: server.dir)
        let good = settings.backupsDir + "/shop--20260101T000000Z-0123abcd.sql.zst"
        try FileManager.default.createDirectory(atPath: staging + settings.backupsDir, withIntermediateDirectories: true)
        try Data([0x28, 0xB5, 0x2F, 0xFD, 0, 0]).write(to: URL(fileURLWithPath: staging + good))
        let (ctx, _) = makeContext()
        try await scope.validateStaged(stagingRoot: staging, roots: [good], in: ctx)
        for hostile in ["/root/.ssh", settings.backupsDir, settings.backupsDir + "/notes.txt", settings.stateDir + "/shop--20260101T000000Z-0123abcd.sql.zst"] {
            await #expect(throws: JobFailure.self, "root \(hostile)") {
                try await scope.validateStaged(stagingRoot: staging, roots: [good, hostile], in: ctx)
            }
        }
        // A file with the right name that is not a zstd stream.
        let plain = settings.backupsDir + "/shop--20260101T000000Z-00000000.sql.zst"
        try Data("DROP DATABASE shop;".utf8).write(to: URL(fileURLWithPath: staging + plain))
        await #expect(throws: JobFailure.self) { try await scope.validateStaged(stagingRoot: staging, roots: [plain], in: ctx) }
        // Paths are refused at capture, before anything runs.
        await #expect(throws: ParameterError.self) { _ = try await scope.capture(paths: ["/etc"], in: ctx) }
    }
}
