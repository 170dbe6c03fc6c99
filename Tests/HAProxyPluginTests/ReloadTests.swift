import AgentKernel
import BalctlProtocol
import Foundation
@testable import HAProxyPlugin
import Testing
import TestSupport

extension HAProxyPluginSuite {
@Suite struct Reload {
    func write(_ path: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    @Test("an invalid config is refused with haproxy's message and the running haproxy keeps the old one; a valid one reloads")
    func reload() async throws {
        let h = try TestHAProxy()
        // Process start times are known to a clock tick or two: a haproxy started within ~20 ms
        // of its config's last change counts as stale (a reload too many, never one too few).
        try await Task.sleep(for: .milliseconds(100))
        try h.start()
        defer { h.stop() }
        let reload = ReloadHandler(settings: h.settings)
        let good = try String(contentsOfFile: h.configPath, encoding: .utf8)

        // haproxy started after its config was written: nothing to do.
        let (fresh, _) = try await runJob(reload)
        #expect(!fresh.changed, "\(fresh.summary)")
        #expect(fresh.summary.contains("started after the last change"))

        let pids = h.processes().map(\.pid)
        #expect(pids.count == 1)
        try write(h.configPath, good.replacingOccurrences(of: "    default_backend be1", with: "    default_backend be1\n    bogus_directive_xyz on"))
        for p: JSONValue in [.emptyObject, .object(["force": .bool(true)])] {
            let refused = await jobError(reload, p)
            #expect(refused?.contains("refusing to reload; nothing was reloaded") == true)
            #expect(refused?.contains("unknown keyword 'bogus_directive_xyz' in 'frontend' section") == true, "haproxy's own message: \(refused ?? "")")
        }
        try await Task.sleep(for: .milliseconds(300))
        #expect(h.processes().map(\.pid) == pids, "nothing was reloaded")
        let served = try h.spread(10)
        #expect(served["s1"] == 5 && served["s2"] == 5, "the old config still serves: \(served)")
        #expect(h.child?.isRunning == true)

        // A valid change: reloaded by a new haproxy that takes over (-sf), which serves the new config.
        try write(h.configPath, good.replacingOccurrences(of: "    default_backend be1", with: "    default_backend be1\n    http-response set-header X-Balctl-Generation 2"))
        let (check, _) = try await runJob(reload, checkMode: true)
        #expect(check.changed && check.summary.contains("would reload"))
        #expect(h.processes().map(\.pid) == pids, "check mode reloads nothing")
        let (reloaded, out) = try await runJob(reload)
        #expect(reloaded.changed, "\(reloaded.summary)")
        #expect(reloaded.summary.contains("-sf \(pids[0])"))
        #expect(out.contains("-D -sf \(pids[0])"))
        let newPIDs = h.processes().map(\.pid).filter { !pids.contains($0) }
        #expect(newPIDs.count == 1)
        try waitUntil("the new config answers") { try httpGet(h.frontendPort).headers["x-balctl-generation"] == "2" }
        try waitUntil("the old haproxy finished and exited") { h.child?.isRunning == false }
        #expect(try h.spread(10).values.reduce(0, +) == 10)

        // Re-run: the running haproxy has the current file.
        let (again, _) = try await runJob(reload)
        #expect(!again.changed, "\(again.summary)")
        // A file the config names changed after haproxy started: reload again.
        let errorFile = try h.dir.write("503.http", "HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\ndown\n")
        try write(h.configPath, good.replacingOccurrences(of: "    balance roundrobin", with: "    balance roundrobin\n    errorfile 503 \(errorFile)"))
        #expect(try await runJob(reload).0.changed)
        #expect(try await runJob(reload).0.changed == false)
        try await Task.sleep(for: .milliseconds(50))
        _ = try h.dir.write("503.http", "HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\nstill down\n")
        #expect(try await runJob(reload).0.changed, "a newer error file means haproxy runs stale inputs")
        // force: true reloads a current haproxy.
        let before = Set(h.processes().map(\.pid))
        let (forced, _) = try await runJob(reload, .object(["force": .bool(true)]))
        #expect(forced.changed && forced.summary.contains("force: true"))
        #expect(!Set(h.processes().map(\.pid)).subtracting(before).isEmpty)

        // Not running at all: a clear refusal.
        h.stop()
        try waitUntil("haproxy gone") { h.processes().isEmpty }
        let notRunning = await jobError(reload)
        #expect(notRunning?.contains("haproxy is not running with \(h.configPath)") == true, "\(notRunning ?? "")")
    }

    @Test("in master-worker mode a reload signals the master, which replaces its worker")
    func masterWorker() async throws {
        let h = try TestHAProxy()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/haproxy")
        p.arguments = ["-W", "-db", "-f", h.configPath]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        h.child = p
        defer { h.stop() }
        try waitUntil("master and worker") { h.processes().count == 2 && (try? httpGet(h.frontendPort)) != nil }
        let before = h.processes()
        let master = try #require(before.first { $0.pid == p.processIdentifier })
        try Data((try String(contentsOfFile: h.configPath, encoding: .utf8) + "\n").utf8).write(to: URL(fileURLWithPath: h.configPath))
        let (reloaded, _) = try await runJob(ReloadHandler(settings: h.settings))
        #expect(reloaded.summary.contains("SIGUSR2 to the haproxy master (pid \(master.pid))"), "\(reloaded.summary)")
        #expect(h.processes().contains { $0.pid == master.pid }, "the master stays")
        #expect(h.processes().contains { !before.map(\.pid).contains($0.pid) }, "a new worker")
        try waitUntil("still serving") { try httpGet(h.frontendPort).status == 200 }
        #expect(try await runJob(ReloadHandler(settings: h.settings)).0.changed == false)
    }

    @Test("under systemd a reload goes through systemctl (a fake one here: systemd is not PID 1)")
    func systemd() async throws {
        let dir = try TempDir()
        let log = dir.file("systemctl.log")
        let systemctl = try dir.write("systemctl", "#!/bin/sh\necho \"$@\" >> \(log)\nif [ \"$1\" = is-active ]; then echo \"$STATE\"; fi\nexit 0\n", mode: 0o755)
        try FileManager.default.createDirectory(atPath: dir.file("systemd"), withIntermediateDirectories: true)
        let config = try dir.write("h.cfg", "global\n    maxconn 10\ndefaults\n    mode http\nfrontend fe\n    bind 127.0.0.1:\(try freePort())\n")
        let settings = HAProxySettings(configPath: config, haproxyBinary: "/usr/sbin/haproxy", stateDir: dir.file("state"),
                                       systemctl: systemctl, systemdRunDir: dir.file("systemd"), reloadWaitSec: 1)
        setenv("STATE", "inactive", 1)
        let inactive = await jobError(ReloadHandler(settings: settings))
        #expect(inactive == "haproxy.service is inactive: nothing to reload; start it first (systemctl start haproxy.service)")
        setenv("STATE", "active", 1)
        let (done, _) = try await runJob(ReloadHandler(settings: settings))
        #expect(done.changed && done.summary.contains("systemctl reload haproxy.service"))
        unsetenv("STATE")
        let calls = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(calls == ["is-active haproxy.service", "is-active haproxy.service", "reload haproxy.service"])
    }
}
}
