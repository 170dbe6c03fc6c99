import AgentKernel
import BalctlProtocol
import Foundation
@testable import HAProxyPlugin
import Testing
import TestSupport

extension HAProxyPluginSuite {
/// Issue 20 item 10: the agent never takes a command line from another process, and only trusts
/// processes whose executable is the configured haproxy binary and whose owner is root or the
/// haproxy user — for reloads and for the heartbeat's "running".
@Suite struct Trust {
    @Test("issue 20 item 10: a process named haproxy is trusted only when its exe is the configured binary and root runs it")
    func trustRules() async throws {
        let dir = try TempDir()
        chmod(dir.path, 0o755)
        let binary = try FakeHAProxy.makeBinary(in: dir.file("bin"))
        let otherBinary = try FakeHAProxy.makeBinary(in: dir.file("other"))
        let config = try dir.write("h.cfg", "global\n    maxconn 10\n")
        let settings = HAProxySettings(configPath: config, haproxyBinary: binary, stateDir: dir.file("state"),
                                       systemdRunDir: dir.file("no-systemd"))
        let control = ServiceControl(settings: settings)
        func probeActive() async -> JSONValue? { await HAProxyProbe(settings: settings).report()?["active"] }

        // Run by nobody, with the configured binary and an extra -f: not haproxy as far as we care.
        let byNobody = try FakeHAProxy(executable: binary, arguments: ["-f", config, "-f", dir.file("evil.cfg")], user: "nobody")
        #expect(ProcessTable().haproxy(byNobody.pid)?.uids.contains(65534) == true, "the fake really runs as nobody")
        #expect(control.serving().isEmpty)
        #expect(await control.isRunning(ProcessRunner()) == false)
        #expect(await probeActive() == .bool(false), "the heartbeat does not report haproxy running")

        // Run by root, but another executable that is also called haproxy.
        let otherExe = try FakeHAProxy(executable: otherBinary, arguments: ["-f", config, "-f", dir.file("evil.cfg")])
        #expect(ProcessTable().haproxy(otherExe.pid)?.executable == otherBinary)
        #expect(control.serving().isEmpty)
        #expect(await probeActive() == .bool(false))

        // The configured binary run by root is trusted (the control: the rules can say yes).
        let trusted = try FakeHAProxy(executable: binary, arguments: ["-f", config])
        #expect(control.serving().map(\.pid) == [trusted.pid])
        #expect(await probeActive() == .bool(true))
        _ = (byNobody, otherExe)
    }

    @Test("issue 20 item 10: a takeover reload builds haproxy's command line from the settings; a newer fake's -f evil.cfg is not copied")
    func takeoverIgnoresFakes() async throws {
        let h = try TestHAProxy()
        try await Task.sleep(for: .milliseconds(100))
        try h.start()
        defer { h.stop() }
        let real = h.processes().map(\.pid)
        #expect(real.count == 1)
        let evil = try h.dir.write("evil.cfg", "global\n    maxconn 1\n")
        let fakeBinary = try FakeHAProxy.makeBinary(in: h.dir.file("fake"))
        // Newer than the real haproxy, naming our config: the process the old code copied.
        let fake = try FakeHAProxy(executable: fakeBinary, arguments: ["-f", h.configPath, "-f", evil, "-p", h.dir.file("passwd")])

        let (reloaded, out) = try await runJob(ReloadHandler(settings: h.settings), .object(["force": .bool(true)]))
        #expect(reloaded.changed, "\(reloaded.summary)")
        #expect(out.contains("starting: /usr/sbin/haproxy -f \(h.configPath) -D -sf \(real[0])"), "\(out)")
        #expect(!out.contains("evil.cfg") && !out.contains("passwd"), "nothing of the fake's command line: \(out)")
        #expect(!reloaded.summary.contains("\(fake.pid)"), "the fake is not signalled")
        let fresh = h.processes().filter { !real.contains($0.pid) }
        #expect(fresh.count == 1)
        #expect(fresh.first?.argv == ["/usr/sbin/haproxy", "-f", h.configPath, "-D", "-sf", "\(real[0])"])
        #expect(!FileManager.default.fileExists(atPath: h.dir.file("passwd")))
        try waitUntil("the new haproxy serves") { try httpGet(h.frontendPort).status == 200 }
    }

    @Test("issue 20 item 10: a real haproxy started by nobody with -f evil.cfg is neither trusted nor copied by a reload")
    func nobodysHAProxy() async throws {
        let dir = try TempDir()
        chmod(dir.path, 0o755)
        let port = try freePort()
        let evilPort = try freePort()
        let config = try dir.write("h.cfg", "global\n    maxconn 10\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nfrontend fe\n    bind 127.0.0.1:\(port)\n")
        let evil = try dir.write("evil.cfg", "frontend evil\n    bind 127.0.0.1:\(evilPort)\n")
        let settings = HAProxySettings(configPath: config, haproxyBinary: "/usr/sbin/haproxy", stateDir: dir.file("state"),
                                       systemdRunDir: dir.file("no-systemd"), reloadWaitSec: 2)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        p.arguments = ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/sbin/haproxy", "-f", config, "-f", evil, "-db"]
        // haproxy returns to its starting directory after reading the config: nobody must be able
        // to enter it (a checkout under a 0700 directory is not), so start it in the test's own.
        p.currentDirectoryURL = URL(fileURLWithPath: dir.path)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer {
            stopProcess(p)
            for q in ProcessTable().all() where q.loads(config) { kill(q.pid, SIGKILL) }
        }
        try waitUntil("nobody's haproxy listens") { (try? httpGet(evilPort)) != nil }
        #expect(ProcessTable().haproxy(p.processIdentifier)?.executable == "/usr/sbin/haproxy")

        let refused = await jobError(ReloadHandler(settings: settings), .object(["force": .bool(true)]))
        #expect(refused?.contains("haproxy is not running with \(config)") == true, "\(refused ?? "")")
        let rootOwned = ProcessTable().all().filter { $0.loads(config) && $0.uids.contains(0) }
        #expect(rootOwned.isEmpty, "no haproxy was started as root from nobody's command line: \(rootOwned.map(\.argv))")
        #expect(await HAProxyProbe(settings: settings).report()?["active"] == .bool(false))
    }
}
}
