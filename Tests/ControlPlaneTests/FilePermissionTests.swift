@testable import ControlPlane
import Foundation
import Testing

/// Who may read what the server writes: its TLS key and its data directory.
@Suite struct FilePermissionTests {
    func mode(_ path: String) -> Int? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return Int(st.st_mode & 0o7777)
    }

    func tempDir() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-perm-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test("issue 21 item 3: the TLS key is created 0600 (never wider), tls/ is 0700, and a planted link is refused")
    func localCA() throws {
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let files = try LocalCA.create(in: root + "/tls")
        #expect(mode(root + "/tls") == 0o700)
        #expect(mode(files.serverKey) == 0o600)
        #expect(mode(files.serverCert) == 0o644 && mode(files.caCert) == 0o644)
        let key = try String(contentsOfFile: files.serverKey, encoding: .utf8)
        #expect(key.contains("PRIVATE KEY"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: root + "/tls").filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "no temp files left: \(leftovers)")

        // Again over an existing directory: a fresh key replaces the old one, still 0600.
        chmod(root + "/tls", 0o755)
        let again = try LocalCA.create(in: root + "/tls")
        #expect(mode(root + "/tls") == 0o700, "an existing tls/ is tightened")
        #expect(try String(contentsOfFile: again.serverKey, encoding: .utf8) != key)
        #expect(mode(again.serverKey) == 0o600)

        // tls/ itself a symlink to somewhere else: refused, nothing written there.
        let elsewhere = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: elsewhere) }
        symlink(elsewhere, root + "/tls-link")
        #expect(throws: (any Error).self) { try LocalCA.create(in: root + "/tls-link") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere).isEmpty)
    }

    @Test("issue 21 item 4: every start leaves the data directory 0700 and the database files 0600")
    func dataDirectory() async throws {
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dir = root + "/data"
        // What demo did before: tls/ created first, its parent (the data directory) left 0755.
        _ = try LocalCA.create(in: dir + "/tls")
        chmod(dir, 0o755)
        let config = ServerConfig(dataDir: dir)
        do {
            let server = try ControlPlane(config: config)
            _ = try server.store.bootstrapAdminIfNeeded()
            #expect(mode(dir) == 0o700)
            #expect(mode(config.databasePath + "-wal") == 0o600, "WAL mode: the -wal file exists and is private")
            for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: config.databasePath + suffix) {
                #expect(mode(config.databasePath + suffix) == 0o600, "balctl.sqlite\(suffix)")
            }
        }

        // An existing installation left readable (older version, or by hand): tightened at start.
        chmod(dir, 0o755)
        for suffix in ["", "-wal", "-shm"] { chmod(config.databasePath + suffix, 0o644) }
        let restarted = try ControlPlane(config: config)
        #expect(mode(dir) == 0o700)
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: config.databasePath + suffix) {
            #expect(mode(config.databasePath + suffix) == 0o600, "balctl.sqlite\(suffix)")
        }
        _ = restarted
    }
}
