#if canImport(Glibc)
import Glibc
#endif
import AgentKernel
import BackupPlugin
import BalctlProtocol
@testable import FirewallPlugin
import Foundation
import Testing
import TestSupport

/// The `firewall` backup scope against real ufw in the suite's namespace and the fake control
/// plane's snapshot store: a snapshot brings rules back and the running firewall takes them; the
/// lock-out guard and the shell-sourced file checks refuse before anything moves; a reload that
/// fails rolls the files back and ufw keeps running the previous rules.
extension UFWRealTests {
    /// The namespace's settings, with firewalld's directory inside it (absent): the host's
    /// /etc/firewalld (CI installs firewalld) is never a root of these snapshots.
    func scopeSettings(_ ns: UFWNamespace) -> FirewallSettings {
        var s = ns.settings()
        s.firewalldDir = ns.root + "/no-firewalld"
        return s
    }

    /// What a firewall-scope test works with: the suite's namespace (reset), settings pointing
    /// into it, the scope, a backup state directory and a fake control plane.
    struct ScopeFixture {
        let ns: UFWNamespace
        let s: FirewallSettings
        let scopes: [any BackupScope]
        let backup: BackupSettings
        let store = FakeSnapshotServer()
    }

    func scopeFixture() async throws -> ScopeFixture {
        let ns = try UFWSuite.shared()
        try await ns.reset()
        let s = scopeSettings(ns)
        return ScopeFixture(ns: ns, s: s, scopes: FirewallPlugin(settings: s).backupScopes,
                            backup: BackupSettings(stateDir: ns.root + "/backup-state"))
    }

    /// A `firewall` snapshot taken while each file in `edits` held the given text (by `scopes`,
    /// default the fixture's); every file gets its previous content back afterwards.
    func snapshot(_ f: ScopeFixture, editing edits: [String: String], scopes: [any BackupScope]? = nil, jobID: Int64) async throws -> String {
        var previous: [String: String] = [:]
        for (path, text) in edits {
            previous[path] = try String(contentsOfFile: path, encoding: .utf8)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        defer { for (path, text) in previous { try? text.write(toFile: path, atomically: true, encoding: .utf8) } }
        return try await snapshot(f.store, f.backup, scopes ?? f.scopes, jobID: jobID)
    }

    func snapshot(_ store: FakeSnapshotServer, _ backup: BackupSettings, _ scopes: [any BackupScope], jobID: Int64) async throws -> String {
        let (made, _) = try await runJob(BackupCreateHandler(settings: backup), .object(["scope": .string("firewall")]),
                                         jobID: jobID, scopes: scopes, controlPlane: store)
        return try #require(made.result?["snapshot"]?.stringValue)
    }

    func restoreError(_ id: String, _ backup: BackupSettings, _ scopes: [any BackupScope], _ store: FakeSnapshotServer, jobID: Int64) async -> String? {
        do {
            _ = try await runJob(BackupRestoreHandler(settings: backup), .object(["snapshot": .string(id)]),
                                 jobID: jobID, scopes: scopes, controlPlane: store)
            return nil
        } catch { return "\(error)" }
    }

    @Test func backupScopeFirewallBringsUFWRulesBackAndRefusesWhatWouldLockTheHostOut() async throws {
        let f = try await scopeFixture()
        let (ns, s, scopes, backup, store) = (f.ns, f.s, f.scopes, f.backup, f.store)
        #expect(scopes.map(\.name) == ["firewall"])
        #expect(try scopes[0].roots(paths: []) == ["user.rules", "user6.rules", "before.rules", "before6.rules", "after.rules", "after6.rules", "ufw.conf", "sysctl.conf"].map { s.ufwDir + "/" + $0 } + [s.defaultsFile])

        for port in [22, 8080] {
            _ = try await runJob(AllowHandler(settings: s), .object(["port": .number(Double(port)), "protocol": .string("tcp")]))
        }
        _ = try await runJob(EnableHandler(settings: s))
        #expect(try await ns.iptables().contains("--dport 8080 -j ACCEPT"))
        let good = try await snapshot(store, backup, scopes, jobID: 1)
        let rulesInSnapshot = try String(contentsOfFile: s.ufwDir + "/user.rules", encoding: .utf8)

        // The rule goes and ufw is disabled; the restore puts the files back and, as the
        // restored ufw.conf says, enables ufw with them.
        _ = try await runJob(DeleteHandler(settings: s), .object(["port": .number(8080), "protocol": .string("tcp")]))
        _ = try await runJob(DisableHandler(settings: s))
        #expect(try await ns.status().contains("inactive"))
        let (restored, out) = try await runJob(BackupRestoreHandler(settings: backup), .object(["snapshot": .string(good)]),
                                               jobID: 2, scopes: scopes, controlPlane: store)
        #expect(restored.changed, "\(restored.summary)")
        #expect(out.contains("ufw enabled with the restored files"), "\(out)")
        #expect(try await ns.status().contains("Status: active"))
        #expect(try await ns.iptables().contains("--dport 8080 -j ACCEPT"))
        #expect(try String(contentsOfFile: s.ufwDir + "/user.rules", encoding: .utf8) == rulesInSnapshot)

        // Again: every file already matches.
        let (again, _) = try await runJob(BackupRestoreHandler(settings: backup), .object(["snapshot": .string(good)]),
                                          jobID: 3, scopes: scopes, controlPlane: store)
        #expect(!again.changed, "\(again.summary)")

        // A snapshot of an enabled ufw without the SSH allow: refused by the lock-out guard,
        // the live files and rules untouched.
        _ = try await runJob(DeleteHandler(settings: s), .object(["port": .number(22), "protocol": .string("tcp"), "force": .bool(true)]))
        let lockout = try await snapshot(store, backup, scopes, jobID: 4)
        _ = try await runJob(AllowHandler(settings: s), .object(["port": .number(22), "protocol": .string("tcp")]))
        let liveBefore = try String(contentsOfFile: s.ufwDir + "/user.rules", encoding: .utf8)
        let refused = await restoreError(lockout, backup, scopes, store, jobID: 5)
        #expect(refused?.contains("rejects the restored files") == true && refused?.contains("SSH (port 22/tcp) would not be allowed in") == true,
                "\(refused ?? "no error")")
        #expect(try String(contentsOfFile: s.ufwDir + "/user.rules", encoding: .utf8) == liveBefore)
        #expect(try await ns.iptables().contains("--dport 22 -j ACCEPT"))

        // A shell-sourced file with a command in it (ufw.conf is sourced by ufw's scripts):
        // refused before anything moves.
        let conf = try String(contentsOfFile: s.ufwDir + "/ufw.conf", encoding: .utf8)
        let sourced = try await snapshot(f, editing: [s.ufwDir + "/ufw.conf": conf + "LOGLEVEL=low touch /tmp/pwned\n"], jobID: 6)
        let sourcedError = await restoreError(sourced, backup, scopes, store, jobID: 7)
        #expect(sourcedError?.contains("ufw.conf line") == true && sourcedError?.contains("not a plain KEY=VALUE") == true, "\(sourcedError ?? "no error")")
        #expect(try String(contentsOfFile: s.ufwDir + "/ufw.conf", encoding: .utf8) == conf)

        // Hand-written iptables rules the guard cannot read: refused unless equal to this host's.
        let before = try String(contentsOfFile: s.ufwDir + "/before.rules", encoding: .utf8)
        let handWritten = try await snapshot(f, editing: [s.ufwDir + "/before.rules":
            before.replacingOccurrences(of: "\nCOMMIT", with: "\n-A ufw-before-input -p tcp --dport 22 -j DROP\nCOMMIT")], jobID: 8)
        let handWrittenError = await restoreError(handWritten, backup, scopes, store, jobID: 9)
        #expect(handWrittenError?.contains("before.rules differs from this host's") == true, "\(handWrittenError ?? "no error")")
        #expect(try String(contentsOfFile: s.ufwDir + "/before.rules", encoding: .utf8) == before)

        // A ufw.conf ufw itself refuses (LOGLEVEL=bogus passes the KEY=VALUE check): activation
        // fails, the files roll back, and ufw runs the previous rules, still enabled.
        #expect(conf.contains("LOGLEVEL=low"))
        let failing = try await snapshot(f, editing: [s.ufwDir + "/ufw.conf": conf.replacingOccurrences(of: "LOGLEVEL=low", with: "LOGLEVEL=bogus")], jobID: 10)
        let rolledBack = await restoreError(failing, backup, scopes, store, jobID: 11)
        #expect(rolledBack?.contains("could not take the restored files") == true && rolledBack?.contains("the previous files are active again") == true,
                "\(rolledBack ?? "no error")")
        #expect(try String(contentsOfFile: s.ufwDir + "/ufw.conf", encoding: .utf8) == conf)
        #expect(try await ns.status().contains("Status: active"))
        let ipt = try await ns.iptables()
        #expect(ipt.contains("--dport 8080 -j ACCEPT") && ipt.contains("--dport 22 -j ACCEPT"))
    }

    /// ufw's reload is a disable then an enable; an enable whose start fails writes ENABLED=no
    /// into ufw.conf (ufw's frontend.py, set_enabled). Here a wrapper makes `reload` do exactly
    /// that — the real `ufw disable`, then exit 1 — and the scope must put ufw.conf back, so the
    /// rollback re-enables the firewall on the previous files and it still starts at boot.
    @Test func aFailedUFWReloadDoesNotLeaveTheFirewallDisabled() async throws {
        let f = try await scopeFixture()
        let (ns, scopes, backup, store) = (f.ns, f.scopes, f.backup, f.store)
        var s = f.s
        for port in [22, 8080] {
            _ = try await runJob(AllowHandler(settings: s), .object(["port": .number(Double(port)), "protocol": .string("tcp")]))
        }
        _ = try await runJob(EnableHandler(settings: s))
        let id = try await snapshot(store, backup, scopes, jobID: 1)
        _ = try await runJob(AllowHandler(settings: s), .object(["port": .number(9090), "protocol": .string("tcp")]))

        let failingUFW = ns.root + "/bin/ufw-reload-fails"
        try "#!/bin/sh\nif [ \"$1\" = reload ]; then \(ns.ufwWrapper) disable >/dev/null; echo 'ERROR: problem running ufw-init' >&2; exit 1; fi\nexec \(ns.ufwWrapper) \"$@\"\n"
            .write(toFile: failingUFW, atomically: true, encoding: .utf8)
        chmod(failingUFW, 0o755)
        s.ufw = failingUFW
        let failing = FirewallPlugin(settings: s).backupScopes
        let error = await restoreError(id, backup, failing, store, jobID: 2)
        #expect(error?.contains("ufw reload failed") == true && error?.contains("the previous files are active again") == true, "\(error ?? "no error")")
        #expect(try String(contentsOfFile: s.ufwDir + "/ufw.conf", encoding: .utf8).contains("ENABLED=yes"))
        #expect(try await ns.status().contains("Status: active"))
        #expect(try await ns.iptables().contains("--dport 9090 -j ACCEPT"), "the previous rules run again")
    }

    @Test func aSnapshotLabelledFirewallMayCarryOnlyFirewallConfiguration() async throws {
        let ns = try UFWSuite.shared()
        try await ns.reset()
        let scope = FirewallBackupScope(settings: scopeSettings(ns))
        let (ctx, _) = makeContext()
        let staging = ns.root + "/staging"
        try FileManager.default.createDirectory(atPath: staging + "/root/.ssh", withIntermediateDirectories: true)
        for hostile in ["/root/.ssh", "/etc", ns.root, scope.settings.ufwDir + "/../../etc"] {
            await #expect(throws: JobFailure.self, "root \(hostile)") {
                try await scope.validateStaged(stagingRoot: staging, roots: [scope.settings.ufwDir, hostile], in: ctx)
            }
        }
        // A staged user.rules that is a link (to a file root could read) is refused, not followed.
        try FileManager.default.createDirectory(atPath: staging + scope.settings.ufwDir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: scope.settings.ufwDir + "/ufw.conf", toPath: staging + scope.settings.ufwDir + "/ufw.conf")
        try FileManager.default.createSymbolicLink(atPath: staging + scope.settings.ufwDir + "/user.rules", withDestinationPath: "/etc/shadow")
        let linked = await #expect(throws: JobFailure.self) {
            try await scope.validateStaged(stagingRoot: staging, roots: [scope.settings.ufwDir], in: ctx)
        }
        #expect(linked?.message.contains("is not a regular file") == true, "\(String(describing: linked))")
        #expect(throws: ParameterError.self) { try scope.roots(paths: ["/etc"]) }
    }
}
