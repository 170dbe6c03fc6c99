import AgentKernel
import BalctlProtocol
import Foundation
import HostPlugin
import Testing

@Suite("host.reboot", .serialized)
struct RebootTests {
    /// A fake program that appends its argv (one call per line) to `log`.
    static func fake(_ dir: String, _ name: String, log: String) throws -> String {
        let path = dir + "/" + name
        try "#!/bin/sh\necho \"$*\" >> '\(log)'\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    func settings(_ dir: String, systemd: Bool) throws -> RebootHandler.Settings {
        var s = RebootHandler.Settings()
        s.systemdRunDir = systemd ? dir : dir + "/no-systemd"
        s.systemdRun = try Self.fake(dir, "systemd-run", log: dir + "/calls")
        s.systemctl = "/usr/bin/systemctl"
        s.rebootProgram = try Self.fake(dir, "reboot", log: dir + "/calls")
        return s
    }

    func calls(_ dir: String) -> String { (try? String(contentsOfFile: dir + "/calls", encoding: .utf8)) ?? "" }

    @Test("without confirm: true it is refused, and nothing runs")
    func refused() async throws {
        let dir = tempDir()
        let h = RebootHandler(settings: try settings(dir, systemd: true))
        #expect(await hostJobError(h, .emptyObject) == "host.reboot: confirm: a reboot needs confirm: true")
        #expect(await hostJobError(h, .object(["confirm": .bool(false)])) == "host.reboot: confirm: a reboot needs confirm: true")
        #expect(await hostJobError(h, .object(["confirm": .bool(true), "delaySec": .number(4)])) == "host.reboot: delaySec: must be between 5 and 3600")
        #expect(await hostJobError(h, .object(["confirm": .bool(true), "delaySec": .number(3601)])) == "host.reboot: delaySec: must be between 5 and 3600")
        for bad in injectionStrings {
            #expect(await hostJobError(h, .object(["confirm": .string(bad)]))?.hasPrefix("host.reboot: wrong type at confirm") == true)
            #expect(await hostJobError(h, .object(["confirm": .bool(true), "delaySec": .string(bad)]))?.hasPrefix("host.reboot: wrong type at delaySec") == true)
        }
        #expect(calls(dir) == "")
    }

    @Test("check mode says what would happen and runs nothing")
    func checkMode() async throws {
        let dir = tempDir()
        let (o, _) = try await runHost(RebootHandler(settings: try settings(dir, systemd: true)),
                                       .object(["confirm": .bool(true), "delaySec": .number(30)]), checkMode: true)
        #expect(o.changed == false && o.summary == "would reboot 30 s after this job completes, by systemd timer (systemctl reboot)")
        #expect(calls(dir) == "")
    }

    @Test("with systemd: a transient timer held by PID 1 runs systemctl reboot")
    func systemdTimer() async throws {
        let dir = tempDir()
        let (o, _) = try await runHost(RebootHandler(settings: try settings(dir, systemd: true)), .object(["confirm": .bool(true)]))
        #expect(o.changed && o.summary == "reboot scheduled in 10 s (systemd timer (systemctl reboot))")
        #expect(calls(dir) == "--unit=balctl-reboot-1-1 --description=balctl host.reboot (job 1) --on-active=10s --timer-property=AccuracySec=1s /usr/bin/systemctl reboot\n")
    }

    @Test("without systemd: the job completes first, the detached sleeper calls reboot delaySec later")
    func sleeper() async throws {
        let dir = tempDir()
        let started = Date()
        let (o, _) = try await runHost(RebootHandler(settings: try settings(dir, systemd: false)),
                                       .object(["confirm": .bool(true), "delaySec": .number(5)]))
        #expect(o.changed && Date().timeIntervalSince(started) < 2)
        #expect(calls(dir) == "")  // completed before the reboot
        var waited = 0.0
        while calls(dir).isEmpty && waited < 15 { try await Task.sleep(for: .milliseconds(250)); waited += 0.25 }
        #expect(calls(dir) == "\n")  // reboot called, with no arguments
        #expect(Date().timeIntervalSince(started) >= 5)
    }
}
