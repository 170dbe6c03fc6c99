import AgentKernel
import BalctlProtocol
import Foundation
import HostPlugin
import Testing

@Suite("host.set_hostname")
struct SetHostnameTests {
    func setup(systemd: Bool) throws -> (String, SetHostnameHandler) {
        let dir = tempDir()
        try FileManager.default.createDirectory(atPath: dir + "/etc", withIntermediateDirectories: true)
        try "old-name\n".write(toFile: dir + "/etc/hostname", atomically: true, encoding: .utf8)
        try "127.0.0.1\tlocalhost\n127.0.1.1\told-name\n::1\tlocalhost ip6-localhost\n".write(toFile: dir + "/etc/hosts", atomically: true, encoding: .utf8)
        // A fake hostnamectl: records its call and writes /etc/hostname as the real one does.
        let fake = dir + "/hostnamectl"
        try "#!/bin/sh\necho \"$*\" >> '\(dir)/calls'\necho \"$2\" > '\(dir)/etc/hostname'\n".write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        var s = SetHostnameHandler.Settings()
        s.root = dir
        s.systemdRunDir = systemd ? dir : dir + "/none"
        s.hostnamectl = fake
        return (dir, SetHostnameHandler(settings: s))
    }
    func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    @Test("with systemd: hostnamectl, /etc/hosts updated, warning in the reply; re-run unchanged")
    func systemd() async throws {
        let (dir, h) = try setup(systemd: true)
        let (o, _) = try await runHost(h, .object(["hostname": .string("web-1.example.com")]))
        #expect(o.changed && o.summary.contains("balctl members update ID --hostname web-1.example.com"))
        #expect(read(dir + "/calls") == "set-hostname web-1.example.com\n")
        #expect(read(dir + "/etc/hosts") == "127.0.0.1\tlocalhost\n127.0.1.1\tweb-1.example.com\tweb-1\n::1\tlocalhost ip6-localhost\n")
        guard case .object(let r)? = o.result else { Issue.record("no result"); return }
        #expect(r["previous"] == .string("old-name") && r["enrolledHostnameCommand"] == .string("balctl members update ID --hostname web-1.example.com"))
        let (again, _) = try await runHost(h, .object(["hostname": .string("web-1.example.com")]))
        #expect(!again.changed && again.summary == "hostname is already web-1.example.com")
        #expect(read(dir + "/calls") == "set-hostname web-1.example.com\n")
    }

    @Test("without systemd: /etc/hostname written atomically, a 127.0.1.1 line added when missing")
    func noSystemd() async throws {
        let (dir, h) = try setup(systemd: false)
        try "127.0.0.1 localhost\n".write(toFile: dir + "/etc/hosts", atomically: true, encoding: .utf8)
        let (o, _) = try await runHost(h, .object(["hostname": .string("db2")]))
        #expect(o.changed)
        #expect(read(dir + "/etc/hostname") == "db2\n")
        #expect(read(dir + "/etc/hosts") == "127.0.0.1 localhost\n127.0.1.1\tdb2\n")
        #expect(read(dir + "/calls") == "")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/etc").sorted() == ["hostname", "hosts"])
        let (again, _) = try await runHost(h, .object(["hostname": .string("db2")]))
        #expect(!again.changed)
    }

    @Test("a symlinked /etc/hosts is refused, not followed")
    func symlink() async throws {
        let (dir, h) = try setup(systemd: false)
        try "victim\n".write(toFile: dir + "/victim", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: dir + "/etc/hosts")
        try FileManager.default.createSymbolicLink(atPath: dir + "/etc/hosts", withDestinationPath: dir + "/victim")
        let e = await hostJobError(h, .object(["hostname": .string("db2")]))
        #expect(e?.hasPrefix("cannot write \(dir)/etc/hosts") == true, "\(String(describing: e))")
        #expect(read(dir + "/victim") == "victim\n")
    }

    @Test("check mode says what would happen and changes nothing")
    func checkMode() async throws {
        let (dir, h) = try setup(systemd: true)
        let (o, _) = try await runHost(h, .object(["hostname": .string("new")]), checkMode: true)
        #expect(!o.changed && o.summary.hasPrefix("would run hostnamectl set-hostname new and set the 127.0.1.1 line of"))
        #expect(read(dir + "/calls") == "" && read(dir + "/etc/hostname") == "old-name\n")
    }

    @Test("RFC 1123 violations and injection strings are refused before anything runs")
    func refused() async throws {
        let (dir, h) = try setup(systemd: true)
        let cases: [(String, String)] = [
            ("", "hostname: must not be empty"),
            ("Web1", "hostname: only lowercase letters, digits, '-' and '.' are allowed"),
            ("a_b", "hostname: only lowercase letters, digits, '-' and '.' are allowed"),
            ("-a", "hostname: a label must not start or end with '-'"),
            ("a-.b", "hostname: a label must not start or end with '-'"),
            ("a..b", "hostname: each label must be 1–63 characters"),
            ("a.", "hostname: each label must be 1–63 characters"),
            (String(repeating: "a", count: 64), "hostname: each label must be 1–63 characters"),
            ((0..<64).map { _ in "abc" }.joined(separator: "."), "hostname: at most 253 bytes"),
        ]
        for (name, message) in cases {
            #expect(await hostJobError(h, .object(["hostname": .string(name)])) == "host.set_hostname: " + message, "\(name)")
        }
        for bad in injectionStrings + ["web1; rm -rf /", "web1\n"] {
            let e = await hostJobError(h, .object(["hostname": .string(bad)]))
            #expect(e?.hasPrefix("host.set_hostname: hostname: ") == true, "\(bad): \(String(describing: e))")
        }
        #expect(try SetHostnameHandler.decodeParameters(.object(["hostname": .string(String(repeating: "a", count: 63) + ".b")])).hostname.count == 65)
        #expect(read(dir + "/calls") == "")
    }
}
