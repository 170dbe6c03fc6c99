#if canImport(Glibc)
import Glibc
#endif
import AgentKernel
import BalctlProtocol
@testable import SSHPlugin
import ServiceLaunchers
import Testing
import TestSupport

/// The `stacks.ssh` heartbeat entry: a cached sshd -T readout, no program on the beat.
@Suite struct ProbeTests {
    func waitForRefresh(_ p: SSHProbe, runs: Int) async throws {
        let deadline = monotonicNow() + 20
        while p.readoutRuns < runs || p.report()?["ports"] == nil {
            guard monotonicNow() < deadline else { throw Failure("no refresh") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test func noSSHDNoEntry() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        var s = f.settings(); s.sshd = f.root + "/no-sshd"
        #expect(SSHPlugin(settings: s).prober.report() == nil)
        #expect(await SSHPlugin(settings: s).probe() == nil)
    }

    @Test func cachedReadoutRefreshedOnConfigChange() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        // The config must have settled (FileCache's rule does not apply here, but a write in the
        // same second must still be seen: the stamps include mtime with nanoseconds).
        let p = SSHProbe(settings: f.settings())
        let first = try #require(p.report())
        #expect(first["service"] == .string("ssh") && first["active"] == .bool(false))
        try await waitForRefresh(p, runs: 1)
        let r = try #require(p.report())
        #expect(r == .object(["service": .string("ssh"), "active": .bool(false), "ports": .array([.number(22), .number(2222)]),
                              "passwordAuthentication": .bool(true), "permitRootLogin": .string("prohibit-password")]))
        // A thousand beats: no further sshd run.
        for _ in 0..<1000 { _ = p.report() }
        try await Task.sleep(for: .milliseconds(200))
        #expect(p.readoutRuns == 1)

        // A drop-in appears: refreshed (after the 2 s spacing), and it shows.
        try await Task.sleep(for: .seconds(SSHProbe.minSpacingSec))
        try f.write(f.configDir + "/sshd_config.d/50-balctl.conf", "PasswordAuthentication no\nPermitRootLogin no\n")
        _ = p.report()
        try await waitForRefresh(p, runs: 2)
        let deadline = monotonicNow() + 10
        while p.report()?["permitRootLogin"] != .string("no") {
            guard monotonicNow() < deadline else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(p.report()?["passwordAuthentication"] == .bool(false))
        #expect(p.report()?["permitRootLogin"] == .string("no"))
        #expect(p.readoutRuns == 2)
    }

    /// active: the PidFile names a live sshd — a real one, run as nobody on a loopback port.
    @Test func activeFromARealSSHD() async throws {
        let port = try Loopback.freePort()
        let f = try await SSHFixture(ports: [Int(port)])
        defer { f.stop() }
        try f.write(f.configDir + "/sshd_config", f.text(f.configDir + "/sshd_config")! + "ListenAddress 127.0.0.1\n")
        try await SSHFixture.sh("chmod 777 \(f.root)")
        let p = SSHProbe(settings: f.settings())
        await p.refresh()
        #expect(p.report()?["active"] == .bool(false))
        var pid = pid_t()
        let args = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/sbin/sshd", "-D", "-f", f.configDir + "/sshd_config"]
        let argv = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        #expect(posix_spawnp(&pid, "setpriv", nil, nil, argv, environ) == 0)
        defer { kill(pid, SIGTERM); var st: Int32 = 0; waitpid(pid, &st, 0) }
        let deadline = monotonicNow() + 10
        while p.report()?["active"] != .bool(true) && monotonicNow() < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(p.report()?["active"] == .bool(true))
        #expect(p.report()?["ports"] == .array([.number(Double(port))]))
        // A pid file naming a process that is not sshd does not count.
        try f.write(f.root + "/sshd.pid", "\(getpid())\n")
        #expect(p.report()?["active"] == .bool(false))
    }
}
