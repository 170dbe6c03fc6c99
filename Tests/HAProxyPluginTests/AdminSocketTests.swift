import AgentKernel
import BalctlProtocol
import Foundation
@testable import HAProxyPlugin
import Testing
import TestSupport

extension HAProxyPluginSuite {
@Suite struct AdminSocketCommands {
    @Test("enable then disable leaves the config byte-identical (haproxy not running)")
    func enableDisableOffline() async throws {
        let dir = try TempDir()
        let original = TestHAProxy.config(frontendPort: try freePort(), servers: [("s1", try freePort())], socket: nil)
            + "# a trailing comment\n"
        let config = try dir.write("haproxy.cfg", original, mode: 0o640)
        let settings = HAProxySettings(configPath: config, haproxyBinary: "/usr/sbin/haproxy", stateDir: dir.file("state"),
                                       systemdRunDir: dir.file("no-systemd"), socketDir: dir.file("run"))
        // red team finding 1: the socket directory must exist; the socket goes directly in it.
        try FileManager.default.createDirectory(atPath: dir.file("run"), withIntermediateDirectories: true)
        let socket = dir.file("run/admin.sock")
        let p = params(["socketPath": socket])
        let enable = AdminSocketEnableHandler(settings: settings)
        let disable = AdminSocketDisableHandler(settings: settings)

        let (check, _) = try await runJob(enable, p, checkMode: true)
        #expect(check.changed && check.summary.contains("would add to global"))
        #expect(dir.read("haproxy.cfg") == Data(original.utf8), "check mode changes nothing")

        let (enabled, out) = try await runJob(enable, p)
        #expect(enabled.changed)
        #expect(enabled.summary.contains("haproxy is not running; the change applies when it starts"))
        let text = try String(contentsOfFile: config, encoding: .utf8)
        #expect(text.contains("    stats socket \(socket) mode 600 level admin expose-fd listeners  # balctl:admin-socket\n    stats timeout 2m  # balctl:admin-socket\n"))
        #expect(out.contains("added: stats timeout 2m"))
        #expect(dir.read("haproxy.cfg.balctl.bak") == Data(original.utf8), "the previous version is kept")
        #expect(!FileManager.default.fileExists(atPath: config + ".balctl-candidate"))
        let mode = try FileManager.default.attributesOfItem(atPath: config)[.posixPermissions] as? Int
        #expect(mode == 0o640, "the config keeps its mode")
        #expect(try await runJob(ConfigTestHandler(settings: settings)).0.result?["valid"] == .bool(true))

        #expect(try await runJob(enable, p).0.changed == false)
        let (checkOff, _) = try await runJob(disable, p, checkMode: true)
        #expect(checkOff.changed && checkOff.summary.contains("would remove"))
        #expect(try String(contentsOfFile: config, encoding: .utf8) == text)

        let (disabled, _) = try await runJob(disable, p)
        #expect(disabled.changed)
        #expect(dir.read("haproxy.cfg") == Data(original.utf8), "byte-identical to the original")
        #expect(try await runJob(disable, p).0.changed == false)
    }

    @Test("an edit that haproxy -c rejects leaves the config as it was")
    func invalidEditRefused() async throws {
        let dir = try TempDir()
        let original = "global\n    maxconn 10\n    not_a_keyword 1\ndefaults\n    mode http\n"
        let config = try dir.write("haproxy.cfg", original)
        let settings = HAProxySettings(configPath: config, haproxyBinary: "/usr/sbin/haproxy", stateDir: dir.file("state"),
                                       systemdRunDir: dir.file("no-systemd"), socketDir: dir.path)
        let error = await jobError(AdminSocketEnableHandler(settings: settings), params(["socketPath": dir.file("a.sock")]))
        #expect(error?.contains("the edited config does not validate; \(config) was not changed") == true)
        #expect(error?.contains("unknown keyword 'not_a_keyword'") == true)
        #expect(error?.contains(".balctl-candidate") == false, "messages name the real config")
        #expect(dir.read("haproxy.cfg") == Data(original.utf8))
        #expect(!FileManager.default.fileExists(atPath: config + ".balctl.bak"))
        #expect(!FileManager.default.fileExists(atPath: config + ".balctl-candidate"))

        let missing = HAProxySettings(configPath: dir.file("nope.cfg"), systemdRunDir: dir.file("no-systemd"))
        #expect(await jobError(AdminSocketEnableHandler(settings: missing))?.contains("cannot read the HAProxy config") == true)
    }

    @Test("on a running haproxy: enable reloads and the socket answers, drain works through it; disable restores the bytes")
    func enableDisableRunning() async throws {
        let h = try TestHAProxy(withSocket: false)
        try h.start(waitForUp: false)
        defer { h.stop() }
        let original = try #require(h.dir.read("haproxy.cfg"))
        let p = params(["socketPath": h.socketPath])
        #expect(await jobError(ServerDrainHandler(settings: h.settings), params(["backend": "be1", "server": "s1"]))?
            .contains("haproxy.admin_socket_enable") == true)

        let (enabled, _) = try await runJob(AdminSocketEnableHandler(settings: h.settings), p)
        #expect(enabled.changed && enabled.summary.contains("reloaded"), "\(enabled.summary)")
        #expect(enabled.result?["reloaded"] == .bool(true))
        try waitUntil("servers UP") { h.statuses() == ["s1": "UP", "s2": "UP"] }
        let (drained, _) = try await runJob(ServerDrainHandler(settings: h.settings), params(["backend": "be1", "server": "s1"]))
        #expect(drained.changed && h.statuses()["s1"] == "DRAIN")

        let (disabled, _) = try await runJob(AdminSocketDisableHandler(settings: h.settings), p)
        #expect(disabled.changed && disabled.summary.contains("reloaded"))
        #expect(h.dir.read("haproxy.cfg") == original)
        try waitUntil("still serving") { try httpGet(h.frontendPort).status == 200 }
    }
}
}
