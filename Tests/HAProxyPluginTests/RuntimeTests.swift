import AgentKernel
import BalctlProtocol
import Foundation
@testable import HAProxyPlugin
import Testing
import TestSupport

extension HAProxyPluginSuite {
/// drain / ready / maint against a real haproxy with two real HTTP backends.
@Suite struct Runtime {
    let s1 = params(["backend": "be1", "server": "s1"])

    @Test("drain: show stat says DRAIN and new requests stop reaching s1; ready restores; maint likewise")
    func drainReadyMaint() async throws {
        let h = try TestHAProxy()
        try h.start()
        defer { h.stop() }
        let before = try h.spread(20)
        #expect(before["s1"] == 10 && before["s2"] == 10, "round robin over both: \(before)")

        let drain = ServerDrainHandler(settings: h.settings)
        let (drained, out) = try await runJob(drain, s1)
        #expect(drained.changed)
        #expect(drained.summary == "be1/s1: UP → DRAIN")
        #expect(drained.result?["statusAfter"]?.stringValue == "DRAIN")
        #expect(out.contains("set server be1/s1 state drain"))
        #expect(h.statuses() == ["s1": "DRAIN", "s2": "UP"])
        let during = try h.spread(20)
        #expect(during == ["s2": 20], "a drained server gets no new sessions: \(during)")
        let (again, _) = try await runJob(drain, s1)
        #expect(!again.changed && again.summary.contains("already drain"))

        let ready = ServerReadyHandler(settings: h.settings)
        // Check mode says what it would do and changes nothing.
        let (checked, _) = try await runJob(ready, s1, checkMode: true)
        #expect(checked.changed && checked.summary.contains("would set server be1/s1 state ready"))
        #expect(h.statuses()["s1"] == "DRAIN")
        let (readied, _) = try await runJob(ready, s1)
        #expect(readied.changed)
        #expect(h.statuses() == ["s1": "UP", "s2": "UP"])
        let after = try h.spread(20)
        #expect(after["s1"] == 10 && after["s2"] == 10, "s1 is back in rotation: \(after)")
        #expect(try await runJob(ready, s1).0.changed == false)

        let maint = ServerMaintHandler(settings: h.settings)
        let (maintained, _) = try await runJob(maint, s1)
        #expect(maintained.changed)
        #expect(h.statuses()["s1"] == "MAINT")
        #expect(try h.spread(20) == ["s2": 20])
        #expect(try await runJob(maint, s1).0.changed == false)
        // Drain from maintenance is a change too (maint clears, drain sets).
        #expect(try await runJob(drain, s1).0.changed)
        // Out of maintenance haproxy re-checks the server first: "DRAIN 1/3" until it is UP.
        #expect(h.statuses()["s1"]?.hasPrefix("DRAIN") == true)

        #expect(try await runJob(ready, s1).0.changed)
        // Leaving maintenance, haproxy re-checks the server before it counts it UP.
        try waitUntil("s1 UP again") { h.statuses()["s1"] == "UP" }
        let back = try h.spread(20)
        #expect(back["s1"] == 10 && back["s2"] == 10, "\(back)")
    }

    @Test("injection and unknown names are refused before anything is sent to the socket")
    func injectionRefused() async throws {
        let h = try TestHAProxy()
        try h.start()
        defer { h.stop() }
        // The handlers talk to a recording socket that forwards to haproxy's real one.
        let recorder = try RecordingSocket(path: h.dir.file("rec.sock"), upstream: h.socketPath)
        var settings = h.settings
        settings.configPath = try h.dir.write("view.cfg", "global\n    stats socket \(recorder.path) mode 600 level admin\n")
        let drain = ServerDrainHandler(settings: settings)

        let attempts: [[String: String]] = [
            ["backend": "be1/s1; shutdown", "server": "s1"],
            ["backend": "be1", "server": "s1; shutdown sessions server be1/s2"],
            ["backend": "be1", "server": "s1\nset server be1/s2 state maint"],
            ["backend": "be1\r", "server": "s1"],
            ["backend": "be 1", "server": "s1"],
            ["backend": "be1", "server": "s1 s2"],
            ["backend": "", "server": "s1"],
        ]
        for a in attempts {
            let error = await jobError(drain, params(a))
            #expect(error?.contains("haproxy names use only letters, digits") == true, "\(a): \(error ?? "accepted")")
        }
        // Even a caller that skips decoding (calls run directly) is stopped before the socket.
        let (ctx, _) = makeContext()
        await #expect(throws: ParameterError.self) {
            _ = try await drain.run(ServerParameters(backend: "be1", server: "s1;shutdown"), in: ctx)
        }
        #expect(recorder.connections == 0, "nothing may reach haproxy: \(recorder.received)")

        // Well-formed names that haproxy does not have: one `show stat` each, then a refusal.
        let noServer = await jobError(drain, params(["backend": "be1", "server": "s9"]))
        #expect(noServer == "server 'be1/s9' is not in show stat (servers of be1: s1, s2); nothing was sent")
        let noBackend = await jobError(ServerMaintHandler(settings: settings), params(["backend": "be9", "server": "s1"]))
        #expect(noBackend == "backend 'be9' is not in show stat (backends: be1); nothing was sent")
        let frontendAsBackend = await jobError(ServerReadyHandler(settings: settings), params(["backend": "fe", "server": "FRONTEND"]))
        #expect(frontendAsBackend?.contains("backend 'fe' is not in show stat") == true)
        #expect(recorder.received == ["show stat", "show stat", "show stat"])
        #expect(h.statuses() == ["s1": "UP", "s2": "UP"])

        // A valid drain sends exactly: show stat, the admin state, the one set, then the checks.
        _ = try await runJob(drain, s1)
        #expect(Array(recorder.received.dropFirst(3)) == [
            "show stat", "show servers state be1", "set server be1/s1 state drain", "show servers state be1", "show stat",
        ])
        #expect(h.statuses() == ["s1": "DRAIN", "s2": "UP"])
    }

    @Test("a missing or non-admin socket gets an error that names haproxy.admin_socket_enable")
    func missingSocket() async throws {
        let dir = try TempDir()
        var settings = HAProxySettings(configPath: try dir.write("none.cfg", "global\n    maxconn 10\ndefaults\n    mode http\n"),
                                       haproxyBinary: "/usr/sbin/haproxy", stateDir: dir.file("state"),
                                       systemdRunDir: dir.file("no-systemd"), socketTimeoutSec: 1)
        let noLine = await jobError(ServerDrainHandler(settings: settings), s1)
        #expect(noLine?.contains("has no `stats socket … level admin` line") == true)
        #expect(noLine?.contains("haproxy.admin_socket_enable") == true)
        #expect(noLine?.contains("Enable HAProxy admin stats socket") == true)

        settings.configPath = try dir.write("gone.cfg", "global\n    stats socket \(dir.file("gone.sock")) level admin\n")
        let gone = await jobError(ServerReadyHandler(settings: settings), s1)
        #expect(gone?.contains("admin socket \(dir.file("gone.sock")) does not exist") == true)
        #expect(gone?.contains("haproxy.admin_socket_enable") == true)
        #expect(await jobError(ShowStatHandler(settings: settings))?.contains("does not exist") == true)

        settings.configPath = try dir.write("user.cfg", "global\n    stats socket \(dir.file("user.sock")) mode 600\n")
        let user = await jobError(ServerMaintHandler(settings: settings), s1)
        #expect(user?.contains("is level user") == true && user?.contains("haproxy.admin_socket_enable") == true)

        // A file that is not a listening socket.
        let stale = try dir.write("stale.sock", "")
        settings.configPath = try dir.write("stale.cfg", "global\n    stats socket \(stale) level admin\n")
        #expect(await jobError(ServerDrainHandler(settings: settings), s1)?.contains("nothing answers on admin socket") == true)
    }

    @Test("show_stat returns the live table; config_test passes a valid config and fails an invalid one with haproxy's words")
    func showStatAndConfigTest() async throws {
        let h = try TestHAProxy()
        try h.start()
        defer { h.stop() }
        let (stat, out) = try await runJob(ShowStatHandler(settings: h.settings))
        #expect(!stat.changed)
        #expect(stat.summary == "1 frontend(s), 1 backend(s), 2 server(s) (2 UP)")
        let result = try #require(stat.result)
        let table = try #require(StatTable(json: result))
        #expect(table.server("be1", "s2")?.checkStatus == "L4OK")
        #expect(out.contains("PROXY") && out.contains("be1    s1"))

        let (valid, _) = try await runJob(ConfigTestHandler(settings: h.settings))
        #expect(!valid.changed && valid.result?["valid"] == .bool(true))
        try Data("global\n    no_such_keyword 1\n".utf8).write(to: URL(fileURLWithPath: h.configPath))
        let invalid = await jobError(ConfigTestHandler(settings: h.settings))
        #expect(invalid?.contains("haproxy -c rejects the configuration") == true)
        #expect(invalid?.contains("unknown keyword 'no_such_keyword'") == true, "\(invalid ?? "")")
    }
}
}
