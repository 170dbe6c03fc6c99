import AgentKernel
import BalctlProtocol
import Foundation
@testable import HAProxyPlugin
import Testing
import TestSupport

extension HAProxyPluginSuite {
/// What the heartbeat carries under stacks["haproxy"].
@Suite struct Probe {
    @Test("not installed: nothing in the heartbeat")
    func notInstalled() async {
        let plugin = HAProxyPlugin(settings: HAProxySettings(haproxyBinary: "/nonexistent/haproxy"))
        #expect(await plugin.probe() == nil)
    }

    @Test("a running haproxy: version, process, admin socket and live stats; stopped: inactive")
    func running() async throws {
        let h = try TestHAProxy()
        try h.start()
        let plugin = HAProxyPlugin(settings: h.settings)
        let report = try #require(await plugin.probe())
        #expect(report["installed"] == .bool(true))
        #expect(report["version"]?.stringValue?.hasPrefix("2.") == true)
        #expect(report["configPath"]?.stringValue == h.configPath)
        #expect(report["configFound"] == .bool(true))
        #expect(report["active"] == .bool(true))
        #expect(report["activeSource"]?.stringValue == "process")
        #expect(report["adminSocket"]?.stringValue == h.socketPath)
        #expect(report["adminSocketLevel"]?.stringValue == "admin")
        #expect(report["adminSocketAnswers"] == .bool(true))
        let statsJSON = try #require(report["stats"])
        let stats = try #require(StatTable(json: statsJSON))
        #expect(stats.rows.map { "\($0.proxy)/\($0.name)" } == ["fe/FRONTEND", "be1/s1", "be1/s2", "be1/BACKEND"])
        #expect(stats.server("be1", "s1")?.status == "UP")
        #expect(stats.server("be1", "s1")?.checkStatus == "L4OK")
        _ = try h.spread(4)
        let laterJSON = try #require(await plugin.probe()?["stats"])
        let later = try #require(StatTable(json: laterJSON))
        #expect((later.server("be1", "s1")?.bytesOut ?? 0) > 0, "counters move with traffic")

        h.stop()
        try waitUntil("haproxy gone") { h.processes().isEmpty }
        let stopped = try #require(await plugin.probe())
        #expect(stopped["active"] == .bool(false))
        #expect(stopped["adminSocketAnswers"] == .bool(false))
        #expect(stopped["adminSocketError"]?.stringValue?.isEmpty == false)
        #expect(stopped["stats"] == nil)
    }

    @Test("under systemd, active is what systemctl is-active says")
    func systemdState() async throws {
        let dir = try TempDir()
        try FileManager.default.createDirectory(atPath: dir.file("systemd"), withIntermediateDirectories: true)
        for state in ["active", "failed"] {
            let systemctl = try dir.write("systemctl-\(state)", "#!/bin/sh\necho \(state)\n[ \(state) = active ]\n", mode: 0o755)
            let plugin = HAProxyPlugin(settings: HAProxySettings(
                configPath: dir.file("missing.cfg"), haproxyBinary: "/usr/sbin/haproxy", systemctl: systemctl,
                systemdRunDir: dir.file("systemd")))
            let report = try #require(await plugin.probe())
            #expect(report["activeSource"]?.stringValue == "systemd")
            #expect(report["unitState"]?.stringValue == state)
            #expect(report["active"] == .bool(state == "active"))
            #expect(report["configFound"] == .bool(false))
            #expect(report["adminSocket"] == .null)
        }
    }

    /// The config is parsed again only when its stamp changes (issue 18): each kind of change is
    /// seen on the next heartbeat, including a same-size edit with the old mtime put back.
    @Test("config changes are seen on the next report: another size, same size in place, a rename over it, removal")
    func configChangesSeen() async throws {
        let dir = try TempDir()
        let path = dir.file("h.cfg")
        func age(_ p: String) {
            var t = [timespec(tv_sec: time(nil) - 3600, tv_nsec: 0), timespec(tv_sec: time(nil) - 3600, tv_nsec: 0)]
            _ = utimensat(AT_FDCWD, p, &t, 0)
        }
        func config(_ socket: String) -> String { "global\n  stats socket \(dir.path)/\(socket) level admin\n" }
        let plugin = HAProxyPlugin(settings: HAProxySettings(
            configPath: path, haproxyBinary: "/usr/sbin/haproxy", systemdRunDir: dir.file("no-systemd"), socketDir: dir.path))
        func socket() async -> String? { await plugin.probe()?["adminSocket"]?.stringValue }

        _ = try dir.write("h.cfg", config("a.sock")); age(path)
        #expect(await socket() == dir.path + "/a.sock")
        #expect(await socket() == dir.path + "/a.sock")  // from the cache now (the file has settled)
        _ = try dir.write("h.cfg", config("bb.sock")); age(path)
        #expect(await socket() == dir.path + "/bb.sock")
        try await Task.sleep(for: .milliseconds(20))  // past the file-time clock's tick
        _ = try dir.write("h.cfg", config("cc.sock")); age(path)  // same size, same mtime: ctime tells
        #expect(await socket() == dir.path + "/cc.sock")
        _ = try dir.write("new.cfg", config("dd.sock")); age(dir.file("new.cfg"))
        #expect(rename(dir.file("new.cfg"), path) == 0)
        #expect(await socket() == dir.path + "/dd.sock")
        unlink(path)
        let gone = try #require(await plugin.probe())
        #expect(gone["configFound"] == .bool(false) && gone["adminSocket"] == .null)
        // No socket file: the error connect() would give, found without a conversation.
        _ = try dir.write("h.cfg", config("a.sock"))
        let missing = try #require(await plugin.probe())
        #expect(missing["adminSocketAnswers"] == .bool(false))
        #expect(missing["adminSocketError"]?.stringValue == AdminSocketError.missing(dir.path + "/a.sock").description)
    }

    @Test("the config's crt files are reported with their expiry; a new config's certificates are seen at once")
    func certificates() async throws {
        let dir = try TempDir()
        let path = dir.file("h.cfg")
        let pem = TestCertificate.pem
        _ = try dir.write("shop.pem", pem)
        _ = try dir.write("h.cfg", "frontend fe\n  bind :443 ssl crt \(dir.file("shop.pem"))\n")
        let plugin = HAProxyPlugin(settings: HAProxySettings(
            configPath: path, haproxyBinary: "/usr/sbin/haproxy", systemdRunDir: dir.file("no-systemd"), socketDir: dir.path))
        let report = try #require(await plugin.probe())
        #expect(report["certificates"] == .array([.object(["path": .string(dir.file("shop.pem")), "notAfter": .number(TestCertificate.notAfter)])]))
        _ = try dir.write("h.cfg", "frontend fe\n  bind :443 ssl crt \(dir.file("gone.pem"))\n")
        try await Task.sleep(for: .milliseconds(20))
        let changed = try #require(await plugin.probe())
        #expect(changed["certificates"] == .array([.object(["path": .string(dir.file("gone.pem")), "error": .string("not a regular file")])]))
    }

    /// The figure the issue asks for: `swift test --filter HAProxyPluginTests.HAProxyPluginSuite/Probe/heartbeatPayload`.
    @Test("heartbeat payload with a 20-server config stays compact")
    func heartbeatPayload() async throws {
        let dir = try TempDir()
        let servers = (1...20).map { ("web\($0)", 20000 + $0) }  // nothing listens: DOWN rows, full-width check columns
        let config = try dir.write("h.cfg", TestHAProxy.config(frontendPort: try freePort(), servers: servers, socket: dir.file("admin.sock")))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/haproxy")
        p.arguments = ["-f", config, "-db"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { stopProcess(p) }
        let settings = HAProxySettings(configPath: config, haproxyBinary: "/usr/sbin/haproxy", systemdRunDir: dir.file("no-systemd"))
        try waitUntil("stats with all 20 servers checked") {
            guard let csv = try? AdminSocket(path: dir.file("admin.sock")).executeBlocking("show stat"), let t = try? StatTable(csv: csv) else { return false }
            return t.rows.filter { $0.kind == .server && $0.checkStatus == "L4CON" }.count == 20
        }
        let plugin = HAProxyPlugin(settings: settings)
        let probe = try #require(await plugin.probe())
        let statsJSON = try #require(probe["stats"])
        #expect(StatTable(json: statsJSON)?.rows.count == 22, "1 frontend, 20 servers, 1 backend")
        let haproxyBytes = probe.jsonString().utf8.count

        // The whole heartbeat body as the agent sends it, with this host's real facts.
        let host = HostProbe()
        let report = HostReport(
            hostname: "edge-1.example.com", agentVersion: BalctlVersion.current, os: host.osInfo(),
            uptimeSec: host.uptimeSec(), load: host.loadAverages(), cpuPercent: 3.5, cpuCount: host.cpuCount(),
            memory: host.memory(), disks: host.disks(), publicIPv4: "203.0.113.10", publicIPSource: "declared",
            stacks: ["haproxy": probe],
            commands: (["host.echo", "host.collect_facts"] + plugin.handlers.map { type(of: $0).id }).sorted(),
            jobsInFlight: [])
        let total = try JSONEncoder().encode(report).count
        var without = report
        without.stacks = [:]
        let base = try JSONEncoder().encode(without).count
        print("heartbeat payload, 20-server config: haproxy stack \(haproxyBytes) bytes; whole heartbeat \(total) bytes (\(base) without haproxy); at 1 s ≈ \(total * 86_400 / 1_000_000) MB/day uncompressed")
        #expect(haproxyBytes < 2_500, "20 servers must stay near 1.5 KB: \(haproxyBytes)")
        #expect(total < 4_500)
    }

    @Test("rows beyond the cap are counted, not sent")
    func cap() {
        let rows = (0..<300).map { StatRow(proxy: "b", name: "s\($0)", kind: .server, status: "UP", sessions: 0, rate: 0, bytesIn: 0, bytesOut: 0, checkStatus: "L4OK") }
        let json = StatTable(rows: rows).json(limit: HAProxyProbe.maxStatRows)
        #expect(StatTable(json: json)?.rows.count == 250)
    }
}
}
