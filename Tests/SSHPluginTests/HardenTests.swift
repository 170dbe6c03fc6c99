import AgentKernel
import BalctlProtocol
@testable import SSHPlugin
import Testing
import TestSupport

/// ssh.status, ssh.harden and ssh.harden_undo against the real sshd (-T, -t) on a temp config
/// with throwaway host keys; the reload goes to the recording systemctl.
@Suite struct HardenTests {
    @Test func statusReadsSSHDMinusT() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        try f.setService(active: "active", enabled: "enabled")
        let out = try await run(StatusHandler(settings: f.settings()))
        let r = try #require(out.result)
        #expect(!out.changed)
        #expect(r["installed"] == .bool(true) && r["service"] == .string("ssh"))
        #expect(r["active"] == .string("active") && r["enabled"] == .string("enabled"))
        #expect(r["ports"] == .array([.number(22), .number(2222)]))
        // sshd's own defaults where the config says nothing.
        #expect(r["passwordAuthentication"] == .bool(true))
        #expect(r["permitRootLogin"] == .string("prohibit-password"))
        #expect(r["pubkeyAuthentication"] == .bool(true))
        #expect(r["kbdInteractiveAuthentication"] == .bool(false))
        #expect(r["hardened"] == .bool(false))
        #expect(f.text(f.root + "/sshd-calls")?.contains("-T -f \(f.configDir)/sshd_config") == true)
        #expect(f.systemctlCalls() == ["is-active ssh.service", "is-enabled ssh.service"])

        // No sshd: installed false, nothing run.
        var s = f.settings(); s.sshd = f.root + "/no-sshd"
        let none = try await run(StatusHandler(settings: s))
        #expect(none.result?["installed"] == .bool(false))
    }

    @Test func hardenThenUndo() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        let s = f.settings()
        try await SSHFixture.sh("mkdir -m 700 \(f.homes)/alice/.ssh")
        let (line, _) = try await SSHFixture.newKey()
        _ = try await run(AuthorizedKeyAddHandler(settings: s), .object(["user": .string("alice"), "key": .string(line)]))

        let checked = try await run(HardenHandler(settings: s), checkMode: true)
        #expect(checked.changed && checked.summary.contains("would write"))
        #expect(!Files.exists(s.dropInFile))

        let out = try await run(HardenHandler(settings: s))
        #expect(out.changed)
        #expect(f.text(s.dropInFile)?.contains("PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n") == true)
        #expect(out.result?["after"]?["passwordAuthentication"] == .bool(false))
        #expect(f.systemctlCalls().last == "try-reload-or-restart ssh.service")
        let calls = f.text(f.root + "/sshd-calls") ?? ""
        #expect(calls.contains("-t -f \(f.configDir)/sshd_config"))
        // sshd itself now says so.
        let status = try await run(StatusHandler(settings: s))
        #expect(status.result?["passwordAuthentication"] == .bool(false))
        #expect(status.result?["hardened"] == .bool(true))

        let again = try await run(HardenHandler(settings: s))
        #expect(!again.changed && again.summary.hasPrefix("unchanged"))

        // permitRootLogin no: the drop-in is rewritten.
        let stricter = try await run(HardenHandler(settings: s), .object(["permitRootLogin": .string("no")]))
        #expect(stricter.changed && stricter.result?["after"]?["permitRootLogin"] == .string("no"))

        let undoCheck = try await run(HardenUndoHandler(settings: s), checkMode: true)
        #expect(undoCheck.changed && Files.exists(s.dropInFile))
        let undo = try await run(HardenUndoHandler(settings: s))
        #expect(undo.changed && !Files.exists(s.dropInFile))
        #expect(undo.result?["after"]?["passwordAuthentication"] == .bool(true))
        #expect(f.systemctlCalls().last == "try-reload-or-restart ssh.service")
        #expect(try await !run(HardenUndoHandler(settings: s)).changed)
        #expect(Files.list(s.dropInDir).isEmpty)
    }

    @Test func refusedWithoutInclude() async throws {
        let f = try await SSHFixture(mainConfig: "HostKey @K\nPort 22\n")
        defer { f.stop() }
        try f.write(f.configDir + "/sshd_config", "HostKey \(f.configDir)/host_ed25519\nPort 22\n")
        let e = await jobError(HardenHandler(settings: f.settings()), .object(["force": .bool(true)]))
        #expect(e?.contains("does not Include \(f.configDir)/sshd_config.d/*.conf") == true, "\(e ?? "")")
        #expect(!Files.exists(f.settings().dropInFile))
    }

    /// sshd keeps the first value it reads: a setting above the Include beats the drop-in. The
    /// real sshd -T shows it, and the drop-in is rolled back.
    @Test func rolledBackWhenAnEarlierSettingWins() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        try f.write(f.configDir + "/sshd_config", "PasswordAuthentication yes\nInclude \(f.configDir)/sshd_config.d/*.conf\nHostKey \(f.configDir)/host_ed25519\nPort 22\n")
        let e = await jobError(HardenHandler(settings: f.settings()), .object(["force": .bool(true)]))
        #expect(e?.contains("does not take effect") == true && e?.contains("Rolled back") == true, "\(e ?? "")")
        #expect(!Files.exists(f.settings().dropInFile))
        #expect(!f.systemctlCalls().contains { $0.hasPrefix("try-reload") })
    }

    /// sshd -t refusing the result puts the previous drop-in back, byte for byte.
    @Test func rolledBackWhenSSHDMinusTFails() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        let s = f.settings()
        let previous = "# an older balctl drop-in\nPermitRootLogin no\n"
        try f.write(s.dropInFile, previous)
        try f.write(f.root + "/fail-t", "")
        let e = await jobError(HardenHandler(settings: s), .object(["force": .bool(true)]))
        #expect(e?.contains("sshd -t refused") == true && e?.contains("simulated") == true, "\(e ?? "")")
        #expect(f.text(s.dropInFile) == previous)
        #expect(Files.list(s.dropInDir) == [SSHSettings.dropInName])
        #expect(!f.systemctlCalls().contains { $0.hasPrefix("try-reload") })
    }

    @Test func lockoutGuard() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        let s = f.settings()
        // Nobody has a key: refused, nothing written.
        let e = await jobError(HardenHandler(settings: s))
        #expect(e?.contains("no login account") == true, "\(e ?? "")")
        let e2 = await jobError(HardenHandler(settings: s), .object(["users": .array([.string("alice")])]))
        #expect(e2?.contains("alice has no authorized key") == true, "\(e2 ?? "")")
        #expect(!Files.exists(s.dropInFile))
        // Keeping passwords on needs no key.
        let keep = try await run(HardenHandler(settings: s), .object(["passwordAuthentication": .bool(true)]))
        #expect(keep.changed && keep.result?["after"]?["permitRootLogin"] == .string("prohibit-password"))
        // bob gets a key: the default guard passes, but naming alice still refuses.
        let (line, _) = try await SSHFixture.newKey()
        try await SSHFixture.sh("mkdir -m 700 \(f.homes)/bob/.ssh")
        _ = try await run(AuthorizedKeyAddHandler(settings: s), .object(["user": .string("bob"), "key": .string(line)]))
        let e3 = await jobError(HardenHandler(settings: s), .object(["users": .array([.string("alice"), .string("bob")])]))
        #expect(e3?.contains("alice has no authorized key") == true)
        #expect(try await run(HardenHandler(settings: s)).changed)
        // force skips it.
        _ = try await run(HardenUndoHandler(settings: s))
        #expect(try await run(HardenHandler(settings: s), .object(["users": .array([.string("alice")]), "force": .bool(true)])).changed)
    }
}
