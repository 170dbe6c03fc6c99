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
        let plugin = SSHPlugin(settings: f.settings())
        let p = plugin.prober
        // Before the periodic work first ran: service and state only, nothing run.
        #expect(p.report() == .object(["service": .string("ssh"), "active": .bool(false)]))
        #expect(p.readoutRuns == 0)
        let work = try #require(plugin.periodicWork)
        #expect(work.intervalSec == SSHProbe.checkSec)
        await work.run()
        #expect(p.readoutRuns == 1)
        #expect(p.report() == .object(["service": .string("ssh"), "active": .bool(false), "ports": .array([.number(22), .number(2222)]),
                                       "passwordAuthentication": .bool(true), "permitRootLogin": .string("prohibit-password")]))
        // A thousand beats run nothing; nor does the periodic work while nothing changed.
        for _ in 0..<1000 { _ = await plugin.probe() }
        for _ in 0..<20 { await work.run() }
        #expect(p.readoutRuns == 1)
        #expect(f.text(f.root + "/sshd-calls")?.split(separator: "\n").count == 1)

        // A drop-in appears: the next periodic run reads sshd again, and the beat shows it.
        try f.write(f.configDir + "/sshd_config.d/50-balctl.conf", "PasswordAuthentication no\nPermitRootLogin no\n")
        await work.run()
        #expect(p.readoutRuns == 2)
        #expect(p.report()?["passwordAuthentication"] == .bool(false))
        #expect(p.report()?["permitRootLogin"] == .string("no"))
        // Edited in place (same name): seen too.
        try f.write(f.configDir + "/sshd_config.d/50-balctl.conf", "PasswordAuthentication no\nPermitRootLogin yes\n")
        await work.run()
        #expect(p.report()?["permitRootLogin"] == .string("yes"))
        // Five minutes later without a change: read again.
        await p.refreshIfDue(now: monotonicNow() + SSHProbe.refreshSec + 1)
        #expect(p.readoutRuns == 4)
        // A broken config keeps the last good readout.
        try f.write(f.configDir + "/sshd_config.d/50-balctl.conf", "Bogus yes\n")
        await work.run()
        #expect(p.readoutRuns == 5)
        #expect(p.report()?["permitRootLogin"] == .string("yes"))
    }

    /// active: the PidFile names a live sshd — a real one, run as nobody on a loopback port.
    @Test func activeFromARealSSHD() async throws {
        let port = try Loopback.freePort()
        let f = try await SSHFixture(ports: [Int(port)])
        defer { f.stop() }
        try f.write(f.configDir + "/sshd_config", f.text(f.configDir + "/sshd_config")! + "ListenAddress 127.0.0.1\n")
        try await SSHFixture.sh("chmod 777 \(f.root)")
        let p = SSHProbe(settings: f.settings())
        await p.refreshIfDue()
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

    /// The probe keeps the live sshd's /proc/<pid>/comm open between beats: the process ending
    /// must show even though the pid file still names its pid, and a new one must show again.
    @Test func aProcessThatEndsIsSeenWithThePIDFileUnchanged() async throws {
        let f = try await SSHFixture(ports: [22])
        defer { f.stop() }
        let p = SSHProbe(settings: f.settings())
        await p.refreshIfDue()
        // A program whose comm is "sshd" (a copy of sleep), as sshd's pid file would name it.
        let fake = f.root + "/sshd-fake/sshd"
        try await SSHFixture.sh("mkdir -p \(f.root)/sshd-fake && cp /bin/sleep \(fake)")
        func spawn() -> pid_t {
            var pid = pid_t()
            let argv = [strdup(fake), strdup("60"), nil]
            defer { argv.forEach { free($0) } }
            #expect(posix_spawn(&pid, fake, nil, nil, argv, environ) == 0)
            return pid
        }
        let first = spawn()
        try f.write(f.root + "/sshd.pid", "\(first)\n")
        #expect(p.report()?["active"] == .bool(true))
        #expect(p.report()?["active"] == .bool(true))

        kill(first, SIGKILL)
        var status: Int32 = 0
        waitpid(first, &status, 0)
        #expect(p.report()?["active"] == .bool(false), "the pid file still names \(first), which is gone")
        #expect(p.report()?["active"] == .bool(false))

        let second = spawn()
        defer { kill(second, SIGKILL); waitpid(second, &status, 0) }
        try f.write(f.root + "/sshd.pid", "\(second)\n")
        #expect(p.report()?["active"] == .bool(true))
    }
}
