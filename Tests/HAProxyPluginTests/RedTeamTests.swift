import AgentKernel
import BalctlProtocol
import Foundation
@testable import HAProxyPlugin
import Testing
import TestSupport

extension HAProxyPluginSuite {
/// The red team's findings against the merged HAProxy plugin: socket placement, which processes
/// a reload signals, and how `-f` arguments are matched.
@Suite struct RedTeam {
    func settings(_ dir: TempDir, config: String, socketDir: String) -> HAProxySettings {
        HAProxyPluginSuite.offlineSettings(dir, config: config, socketDir: socketDir)
    }

    // red team finding 1
    @Test("red team finding 1: a socket goes directly in an existing, real socket directory under root's directories; nothing is created")
    func socketDirectChild() async throws {
        let dir = try TempDir()
        let original = "global\n    maxconn 10\ndefaults\n    mode http\n"
        let config = try dir.write("haproxy.cfg", original)
        let run = dir.file("run")
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        let enable = AdminSocketEnableHandler(settings: settings(dir, config: config, socketDir: run))

        // The red team's path: a subdirectory the haproxy user could later swap for a link.
        let nested = await jobError(enable, params(["socketPath": run + "/e/passwd"]))
        #expect(nested?.contains("is not a file directly in the socket directory") == true, "\(nested ?? "accepted")")
        #expect(!FileManager.default.fileExists(atPath: run + "/e"), "no directory was created")
        let longName = await jobError(enable, params(["socketPath": run + "/" + String(repeating: "a", count: 65)]))
        #expect(longName?.contains("is not a file directly in the socket directory") == true, "\(longName ?? "accepted")")

        // A socket directory that is missing is not created; one that is a link is refused.
        let missing = await jobError(AdminSocketEnableHandler(settings: settings(dir, config: config, socketDir: dir.file("gone"))),
                                     params(["socketPath": dir.file("gone/admin.sock")]))
        #expect(missing?.contains("does not exist; the agent does not create it") == true, "\(missing ?? "accepted")")
        #expect(!FileManager.default.fileExists(atPath: dir.file("gone")))
        try FileManager.default.createDirectory(atPath: dir.file("target"), withIntermediateDirectories: true)
        symlink(dir.file("target"), dir.file("linkdir"))
        let linked = await jobError(AdminSocketEnableHandler(settings: settings(dir, config: config, socketDir: dir.file("linkdir"))),
                                    params(["socketPath": dir.file("linkdir/admin.sock")]))
        #expect(linked?.contains("is not a directory (a symbolic link or a file)") == true, "\(linked ?? "accepted")")

        // A socket directory inside a directory another user owns (they could rename it).
        let owned = dir.file("owned")
        try FileManager.default.createDirectory(atPath: owned + "/run", withIntermediateDirectories: true)
        chown(owned, 65534, 65534)
        let foreign = await jobError(AdminSocketEnableHandler(settings: settings(dir, config: config, socketDir: owned + "/run")),
                                     params(["socketPath": owned + "/run/admin.sock"]))
        #expect(foreign?.contains("is not a directory owned by root that only root can change") == true, "\(foreign ?? "accepted")")
        #expect(dir.read("haproxy.cfg") == Data(original.utf8), "the config was never touched")
    }

    // red team finding 1
    @Test("red team finding 1: a reload is refused while a socket the agent added lies through a planted link")
    func reloadRevalidatesSockets() async throws {
        let dir = try TempDir()
        let run = dir.file("run")
        let victim = dir.file("victim")
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: true)
        // The line an older agent added for `<run>/e/passwd`; `e` has since become a link.
        let config = try dir.write("h.cfg", "global\n    maxconn 10\n    stats socket \(run)/e/passwd mode 600 level admin expose-fd listeners  \(AdminSocketEdit.marker)\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nfrontend fe\n    bind 127.0.0.1:\(try freePort())\n")
        symlink(victim, run + "/e")
        let log = dir.file("systemctl.log")
        let systemctl = try dir.write("systemctl", "#!/bin/sh\necho \"$@\" >> \(log)\nif [ \"$1\" = is-active ]; then echo active; fi\nexit 0\n", mode: 0o755)
        try FileManager.default.createDirectory(atPath: dir.file("systemd"), withIntermediateDirectories: true)
        let s = HAProxySettings(configPath: config, haproxyBinary: "/usr/sbin/haproxy", stateDir: dir.file("state"),
                                systemctl: systemctl, systemdRunDir: dir.file("systemd"), reloadWaitSec: 1, socketDir: run)
        let refused = await jobError(ReloadHandler(settings: s), .object(["force": .bool(true)]))
        #expect(refused?.contains("refusing to reload") == true && refused?.contains("\(run)/e/passwd") == true, "\(refused ?? "reloaded")")
        let calls = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(!calls.contains("reload"), "systemctl reload was not run: \(calls)")

        // Disabling that socket is how to recover: the line goes, and the reload then proceeds.
        let (disabled, _) = try await runJob(AdminSocketDisableHandler(settings: s), params(["socketPath": run + "/e/passwd"]))
        #expect(disabled.changed && disabled.summary.contains("reloaded"), "\(disabled.summary)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: victim).isEmpty)
    }

    // red team finding 4
    @Test("red team finding 4: two spellings of one socket path are one socket for enable and disable")
    func canonicalSocketPath() async throws {
        let hand = HAProxyConfigFile(text: "global\n    stats socket /run/haproxy//admin.sock mode 600 level admin\n")
        #expect(try AdminSocketEdit.enable(hand, socketPath: "/run/haproxy/admin.sock") == nil, "already declared")
        let base = HAProxyConfigFile(text: "global\n    maxconn 10\n")
        let on = try #require(try AdminSocketEdit.enable(base, socketPath: "/run/haproxy/admin.sock"))
        let off = try #require(AdminSocketEdit.disable(on.config, socketPath: "/run/haproxy//./admin.sock"))
        #expect(off.config.bytes == base.bytes, "the socket and our stats timeout are gone")

        // The handler refuses the doubled slash outright.
        let dir = try TempDir()
        let config = try dir.write("haproxy.cfg", "global\n    maxconn 10\ndefaults\n    mode http\n")
        let error = await jobError(AdminSocketEnableHandler(settings: settings(dir, config: config, socketDir: dir.path)),
                                   params(["socketPath": dir.path + "//x.sock"]))
        #expect(error?.contains("is not a file directly in the socket directory") == true, "\(error ?? "accepted")")
    }

    // red team finding 3a
    @Test("red team finding 3a: a root haproxy whose -f is relative is not ours, even when it resolves to our config")
    func relativeConfigArgument() async throws {
        let dir = try TempDir()
        chmod(dir.path, 0o755)
        let binary = try FakeHAProxy.makeBinary(in: dir.file("bin"))
        let config = try dir.write("h.cfg", "global\n    maxconn 10\n")
        let s = HAProxySettings(configPath: config, haproxyBinary: binary, stateDir: dir.file("state"),
                                systemdRunDir: dir.file("no-systemd"))
        let fake = try FakeHAProxy(executable: binary, arguments: ["-f", "h.cfg"], cwd: dir.path)
        #expect(ProcessTable().haproxy(fake.pid)?.cwd == dir.path, "its cwd would resolve h.cfg to our config")
        #expect(ServiceControl(settings: s).serving().isEmpty)
        #expect(await HAProxyProbe(settings: s).report()?["active"] == .bool(false))
        // And a relative -f beside ours is another config: refused, never taken over.
        let mixed = HAProxyProcess(pid: 5, ppid: 1, startedAt: 0, argv: ["haproxy", "-f", config, "-f", "h.cfg"])
        #expect(throws: JobFailure.self) { try ServiceControl(settings: s).refuseOtherConfigs([mixed]) }
    }

    // red team finding 3b
    @Test("red team finding 3b: a haproxy the haproxy user starts itself is neither a master to signal nor 'active'")
    func haproxyUserMaster() async throws {
        let dir = try TempDir()
        chmod(dir.path, 0o755)
        let binary = try FakeHAProxy.makeBinary(in: dir.file("bin"))
        let config = try dir.write("h.cfg", "global\n    maxconn 10\n")
        let s = HAProxySettings(configPath: config, haproxyBinary: binary, stateDir: dir.file("state"),
                                systemdRunDir: dir.file("no-systemd"), haproxyUser: "haproxy")
        let byUser = try FakeHAProxy(executable: binary, arguments: ["-W", "-f", config], user: "haproxy")
        #expect(ProcessTable().haproxy(byUser.pid)?.uids.allSatisfy { $0 != 0 } == true, "the fake runs as the haproxy user")
        #expect(ServiceControl(settings: s).serving().isEmpty)
        #expect(await HAProxyProbe(settings: s).report()?["active"] == .bool(false))
        #expect(await ServiceControl(settings: s).isRunning(ProcessRunner()) == false, "so no reload signals it")

        // The rule itself: a haproxy-user worker counts under a root master-worker master only.
        let trust = ProcessTrust(executable: "/usr/sbin/haproxy", owners: [0, 102])
        func proc(_ pid: Int32, _ ppid: Int32, _ uid: uid_t, _ flags: [String]) -> HAProxyProcess {
            HAProxyProcess(pid: pid, ppid: ppid, startedAt: 0, argv: ["haproxy"] + flags + ["-f", "/etc/haproxy/haproxy.cfg"],
                           executable: "/usr/sbin/haproxy", uids: [uid, uid, uid, uid])
        }
        let all = [proc(10, 1, 0, ["-Ws"]), proc(11, 10, 102, ["-Ws"]), proc(20, 1, 102, ["-W"]), proc(21, 20, 102, ["-W"]),
                   proc(30, 1, 0, []), proc(31, 30, 102, [])]
        #expect(ProcessTable.serving(all, config: "/etc/haproxy/haproxy.cfg", trust: trust).map(\.pid) == [10, 11, 30])
    }

    // red team finding 3b
    @Test("red team finding 3b: a master-worker master that also loads another file is not signalled")
    func masterWithOtherConfig() async throws {
        let h = try TestHAProxy()
        let extra = try h.dir.write("extra.cfg", "# someone else's file\n")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/haproxy")
        p.arguments = ["-W", "-db", "-f", extra, "-f", h.configPath]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        h.child = p
        defer { h.stop() }
        try waitUntil("master and worker") { h.processes().count == 2 && (try? httpGet(h.frontendPort)) != nil }
        let before = Set(h.processes().map(\.pid))
        let refused = await jobError(ReloadHandler(settings: h.settings), .object(["force": .bool(true)]))
        #expect(refused?.contains("also loads \(extra)") == true, "\(refused ?? "reloaded")")
        try await Task.sleep(for: .milliseconds(300))
        #expect(Set(h.processes().map(\.pid)) == before, "the master was not signalled: no new worker")
    }

    // red team finding 5
    @Test("red team finding 5: -f <directory> loads only the directory's direct *.cfg children")
    func directoryArgument() {
        let p = HAProxyProcess(pid: 1, ppid: 0, startedAt: 0, argv: ["haproxy", "-f", "/etc/haproxy/"])
        #expect(p.loads("/etc/haproxy/haproxy.cfg"))
        #expect(!p.loads("/etc/haproxy/conf.d/site.cfg"), "not a direct child")
        #expect(!p.loads("/etc/haproxy/haproxy.conf"), "not a .cfg")
        #expect(!HAProxyProcess(pid: 1, ppid: 0, startedAt: 0, argv: ["haproxy", "-f", "/etc/hap"]).loads("/etc/haproxy/haproxy.cfg"))
    }
}
}
