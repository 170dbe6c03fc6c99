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

/// Red team: the `firewall` backup scope against hostile snapshots (a compromised member of the
/// account crafts the files it snapshots; a restore elsewhere runs as root). Each test asserts
/// the SAFE behaviour. Real ufw runs in the suite's namespace (`extension UFWRealTests`).
extension UFWRealTests {
    /// Run inside the namespace, tolerating failure; the output.
    func rtInNS(_ ns: UFWNamespace, _ argv: [String]) async -> String {
        (try? await ns.inNamespace(argv)) ?? "(failed)"
    }

    func rtRead(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }
    func rtWrite(_ path: String, _ text: String) throws { try text.write(toFile: path, atomically: true, encoding: .utf8) }

    /// An enabled ufw allowing SSH, as a host being restored onto would be.
    func rtEnabledWithSSH(_ s: FirewallSettings) async throws {
        _ = try await runJob(AllowHandler(settings: s), .object(["port": .number(22), "protocol": .string("tcp")]))
        _ = try await runJob(EnableHandler(settings: s))
    }

    /// /etc/ufw/before.init is executed by ufw-init (`before.init start`) on every reload/enable,
    /// as root. A compromised member's agent can upload a `firewall` snapshot of the whole
    /// directory, an executable before.init in it: it must not run on restore.
    @Test func redTeamFirewallScopeSnapshotBeforeInitIsNotExecuted() async throws {
        let f = try await scopeFixture()
        let (ns, s, scopes, backup, store) = (f.ns, f.s, f.scopes, f.backup, f.store)
        let marker = ns.root + "/pwned-before-init"
        unlink(marker)
        defer {
            try? FileManager.default.removeItem(atPath: s.ufwDir + "/before.init")
            _ = try? FileManager.default.copyItem(atPath: "/etc/ufw/before.init", toPath: s.ufwDir + "/before.init")
            unlink(marker)
        }
        try await rtEnabledWithSSH(s)

        // The hostile member's before.init: a root shell script, executable.
        let original = try rtRead(s.ufwDir + "/before.init")
        try UFWNamespace.write(s.ufwDir + "/before.init", "#!/bin/sh\nid > \(marker)\nexit 0\n", mode: 0o755)
        let hostile = try await snapshot(store, backup, [WholeDirectoryFirewallScope(roots: [s.ufwDir, s.defaultsFile])], jobID: 101)
        try FileManager.default.removeItem(atPath: s.ufwDir + "/before.init")
        try UFWNamespace.write(s.ufwDir + "/before.init", original, mode: 0o640)
        #expect(!Files.exists(marker))

        let err = await restoreError(hostile, backup, scopes, store, jobID: 102)
        let ran = Files.exists(marker) ? ((try? rtRead(marker)) ?? "?") : nil
        #expect(ran == nil, "the snapshot's before.init ran as: \(ran ?? "") (restore: \(err ?? "succeeded"))")
        #expect(err?.contains("only ufw's configuration files") == true, "\(err ?? "restore succeeded")")
    }

    /// A snapshot whose only root is the defaults file (/etc/default/ufw, sourced by ufw-init's
    /// shell) was once left unchecked on a ufw host (no ufw directory among its roots).
    @Test func redTeamFirewallScopeDefaultsOnlySnapshotIsStillChecked() async throws {
        let f = try await scopeFixture()
        let (ns, s, scopes, backup, store) = (f.ns, f.s, f.scopes, f.backup, f.store)
        let marker = ns.root + "/pwned-defaults"
        unlink(marker)
        defer { unlink(marker) }
        try await rtEnabledWithSSH(s)

        // The hostile member has no /etc/ufw (or moved it): its snapshot's only root is the
        // defaults file, with a command a shell runs when it sources it.
        var other = s
        other.ufwDir = ns.root + "/no-ufw-dir"
        let defaults = try rtRead(s.defaultsFile)
        let hostile = try await snapshot(f, editing: [s.defaultsFile: defaults + "IPV6=yes; id > \(marker)\n"],
                                         scopes: FirewallPlugin(settings: other).backupScopes, jobID: 111)

        let err = await restoreError(hostile, backup, scopes, store, jobID: 112)
        let ran = Files.exists(marker) ? ((try? rtRead(marker)) ?? "?") : nil
        #expect(ran == nil, "the snapshot's /etc/default/ufw ran a command as: \(ran ?? "") (restore: \(err ?? "succeeded"))")
        #expect(err?.contains("not a plain KEY=VALUE") == true, "\(err ?? "restore succeeded")")
        #expect(try rtRead(s.defaultsFile) == defaults)
    }

    /// ufw (frontend and ufw-init) reads /etc/default/ufw and then ufw.conf: ENABLED from the
    /// defaults file holds when ufw.conf has no ENABLED line. The scope reads ENABLED from
    /// ufw.conf only, so such a snapshot skips the lock-out guard — and ufw starts at the next
    /// boot with rules that drop SSH.
    @Test func redTeamFirewallScopeEnabledInDefaultsFilePassesTheGuard() async throws {
        let f = try await scopeFixture()
        let (ns, s, scopes, backup, store) = (f.ns, f.s, f.scopes, f.backup, f.store)

        // Hostile: no rules (default incoming DROP), ufw.conf without ENABLED, defaults ENABLED=yes.
        let conf = try rtRead(s.ufwDir + "/ufw.conf")
        let defaults = try rtRead(s.defaultsFile)
        let hostile = try await snapshot(f, editing: [
            s.ufwDir + "/ufw.conf": conf.split(separator: "\n").filter { !$0.hasPrefix("ENABLED=") }.joined(separator: "\n") + "\n",
            s.defaultsFile: defaults + "ENABLED=yes\n"], jobID: 121)

        // The host: SSH allowed (ufw inactive, as after reset).
        _ = try await runJob(AllowHandler(settings: s), .object(["port": .number(22), "protocol": .string("tcp")]))
        let err = await restoreError(hostile, backup, scopes, store, jobID: 122)
        #expect(err?.contains("SSH (port 22/tcp) would not be allowed in") == true, "restore: \(err ?? "succeeded")")
        if err == nil {
            // What the next boot does (ufw.service runs `ufw-init start quiet`).
            _ = await rtInNS(ns, ["/lib/ufw/ufw-init", "start", "quiet"])
            let status = await rtInNS(ns, ["/usr/sbin/ufw", "status", "verbose"])
            let ipt = try await ns.iptables()
            #expect(!(status.contains("Status: active") && !ipt.contains("--dport 22 -j ACCEPT")),
                    "after boot: \(status)\n\(ipt)")
        }
    }

    /// The guard reads user.rules' `### tuple ###` comments; ufw loads the `-A` lines. A tuple
    /// that says "allow 22" over a line that drops 22 passes the guard and locks SSH out.
    @Test func redTeamFirewallScopeUserRulesTupleDisagreesWithIptablesLine() async throws {
        let f = try await scopeFixture()
        let (ns, s, scopes, backup, store) = (f.ns, f.s, f.scopes, f.backup, f.store)
        try await rtEnabledWithSSH(s)

        let rules = try rtRead(s.ufwDir + "/user.rules")
        let hostileRules = rules.replacingOccurrences(of: "--dport 22 -j ACCEPT", with: "--dport 22 -j DROP")
        try #require(hostileRules != rules && hostileRules.contains("### tuple ### allow tcp 22 0.0.0.0/0"))
        let hostile = try await snapshot(f, editing: [s.ufwDir + "/user.rules": hostileRules], jobID: 131)

        let err = await restoreError(hostile, backup, scopes, store, jobID: 132)
        let ipt = try await ns.iptables()
        #expect(!ipt.contains("--dport 22 -j DROP"), "restore: \(err ?? "succeeded"); live iptables:\n\(ipt)")
        // ufw rewrote the file from its tuples: the forged line is gone from disk too.
        #expect(try !rtRead(s.ufwDir + "/user.rules").contains("--dport 22 -j DROP"))
        #expect(try rtRead(s.ufwDir + "/user.rules").contains("--dport 22 -j ACCEPT"))
    }

    /// before.rules are loaded ahead of user.rules; the guard never reads them. A DROP of 22 at
    /// the top of ufw-before-input passes the line checks and the guard.
    @Test func redTeamFirewallScopeBeforeRulesDropSSH() async throws {
        let f = try await scopeFixture()
        let (ns, s, scopes, backup, store) = (f.ns, f.s, f.scopes, f.backup, f.store)
        try await rtEnabledWithSSH(s)

        let before = try rtRead(s.ufwDir + "/before.rules")
        let hostileBefore = before.replacingOccurrences(of: "\n-A ufw-before-input -i lo -j ACCEPT",
                                                        with: "\n-A ufw-before-input -p tcp --dport 22 -j DROP\n-A ufw-before-input -i lo -j ACCEPT")
        try #require(hostileBefore != before)
        let hostile = try await snapshot(f, editing: [s.ufwDir + "/before.rules": hostileBefore], jobID: 141)

        let err = await restoreError(hostile, backup, scopes, store, jobID: 142)
        let ipt = try await ns.iptables()
        #expect(!ipt.contains("--dport 22 -j DROP"), "restore: \(err ?? "succeeded"); live iptables:\n\(ipt)")
    }

    /// Staged ufw files that are not regular files (FIFO — a read would block — directory) or
    /// larger than 1 MiB are refused before anything is read or moved.
    @Test func redTeamFirewallScopeStagedOddFilesAreRefused() async throws {
        let ns = try UFWSuite.shared()
        try await ns.reset()
        let scope = FirewallBackupScope(settings: scopeSettings(ns))
        let (ctx, _) = makeContext()
        let staging = ns.root + "/rt-staging"
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let dir = staging + scope.settings.ufwDir
        // (A ufw.conf the snapshot lacks is not refused: the live one stays and is what counts.)
        for (name, kind) in [("user.rules", "fifo"), ("ufw.conf", "dir"), ("user.rules", "huge")] {
            try? FileManager.default.removeItem(atPath: staging)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for f in ["user.rules", "user6.rules", "ufw.conf"] {
                try FileManager.default.copyItem(atPath: scope.settings.ufwDir + "/" + f, toPath: dir + "/" + f)
            }
            try FileManager.default.removeItem(atPath: dir + "/" + name)
            switch kind {
            case "fifo": #expect(mkfifo(dir + "/" + name, 0o644) == 0)
            case "dir": try FileManager.default.createDirectory(atPath: dir + "/" + name, withIntermediateDirectories: false)
            case "huge":
                let big = "*filter\n" + String(repeating: "# padding padding padding padding\n", count: 40_000) + "COMMIT\n"
                try rtWrite(dir + "/" + name, big)
            default: break
            }
            await #expect(throws: JobFailure.self, "\(name) as \(kind)") {
                try await scope.validateStaged(stagingRoot: staging, roots: [scope.settings.ufwDir], in: ctx)
            }
        }
        // Roots spelled differently from the scope's own are refused.
        for hostile in [scope.settings.ufwDir + "/", scope.settings.ufwDir + "/../ufw", scope.settings.ufwDir + "/.", "/etc/ufw/../.."] {
            await #expect(throws: JobFailure.self, "root \(hostile)") {
                try await scope.validateStaged(stagingRoot: staging, roots: [hostile], in: ctx)
            }
        }
    }
}

/// What a compromised member's agent could upload as a `firewall` snapshot: whole directories
/// (our scope lists ufw's files one by one).
struct WholeDirectoryFirewallScope: BackupScope {
    let roots: [String]
    var name: String { "firewall" }
    func roots(paths: [String]) throws -> [String] { roots }
}
