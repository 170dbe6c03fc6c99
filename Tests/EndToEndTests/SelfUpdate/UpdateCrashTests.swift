import BalctlProtocol
import ControlPlane
import Foundation
import Testing

/// A SIGKILL at each step of an update — download, verify, extract, swap, restart — leaves exactly
/// the old or the new binary installed and working: `--version` runs, a heartbeat is accepted, the
/// next start settles the pending update, and the next update finishes (issue 13).
@Suite(.serialized) struct UpdateCrashTests {
    static let next = "99.0.0"

    @Test(arguments: ["download", "verify", "extract", "swap", "restart"])
    func killedMidUpdate(_ step: String) async throws {
        let kit = try UpdateKit()
        let bundle = try kit.bundle("next", version: Self.next)
        let newBytes = try kit.bundledBinary(bundle)
        let h = try Harness(extraServerArgs: ["--agent-bundle", bundle.path])
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("crash-\(step)")
        let e = try await api.member(pool: pool.id, hostname: "vm-\(step)")
        let host = try kit.install(step)
        let oldBytes = try Data(contentsOf: URL(fileURLWithPath: host.binary))
        var env = h.agentEnv(secret: e.enrollmentSecret, hostname: e.member.hostname, stateDir: host.state)
        env["BALCTL_UPDATE_PUBKEY"] = kit.publicKey
        env["BALCTL_UPDATE_ROLLBACK_SEC"] = "20"

        // Stopped inside the step, then killed.
        var paused = env
        paused["BALCTL_UPDATE_PAUSE_AT"] = step
        let updating = try h.run(host.binary, ["--update"], env: paused, log: "update-\(step).log")
        let marker = host.state + "/update/paused-at-" + step
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: marker) && updating.isRunning && Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(FileManager.default.fileExists(atPath: marker), "never reached \(step): \(h.log("update-\(step).log"))")
        kill(updating.processIdentifier, SIGKILL)
        updating.waitUntilExit()

        let installed = try Data(contentsOf: URL(fileURLWithPath: host.binary))
        let expectNew = step == "restart"
        #expect(installed == (expectNew ? newBytes : oldBytes), "after a kill in \(step) the installed binary is neither the old nor the new one")
        let version = try kit.run(host.binary, ["--version"], env: env)
        #expect(version.output.contains(expectNew ? Self.next : BalctlVersion.current), "\(version.output)")
        let once = try kit.run(host.binary, ["--once"], env: env, check: false, timeout: 60)
        #expect(once.status == 0, "no heartbeat accepted after a kill in \(step): \(once.output)")

        // The service's next start settles the pending update: the new version confirms itself
        // with its first accepted heartbeat; the old one reports the update as interrupted.
        let service = try h.run(host.binary, [], env: env, log: "service-\(step).log")
        let settled = Date().addingTimeInterval(20)
        while (FileManager.default.fileExists(atPath: host.state + "/update/pending.json")
               || !h.log("service-\(step).log").contains("heartbeat")) && Date() < settled {
            try await Task.sleep(for: .milliseconds(50))
        }
        // One heartbeat has gone out with whatever the start settled.
        try await Task.sleep(for: .milliseconds(1500))
        kill(service.processIdentifier, SIGTERM)
        service.waitUntilExit()
        #expect(!FileManager.default.fileExists(atPath: host.state + "/update/pending.json"), "\(h.log("service-\(step).log"))")
        if expectNew {
            #expect(try String(contentsOfFile: host.state + "/update/highest-version", encoding: .utf8) == "\(Self.next)\n")
        } else {
            // And the update, run again, goes through and leaves no scratch file behind.
            let again = try kit.run(host.binary, ["--update"], env: env, timeout: 90)
            #expect(again.output.contains("updated: \(BalctlVersion.current) → \(Self.next)"), "\(again.output)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: host.binary)) == newBytes)
        }
        let binDir = (host.binary as NSString).deletingLastPathComponent
        #expect(UpdateKit.entries(binDir).allSatisfy { $0 == "balctl-heartbeat" || $0 == "balctl-heartbeat.prev" }
, "scratch left: \(UpdateKit.entries(binDir))")
    }

    /// The double fault: the supervising old process dies right after the swap, and the new
    /// binary fails before its own main runs, so nothing in it can roll back. The unit's
    /// ExecStartPre — `balctl-heartbeat.prev --rollback-check` — puts the old binary back once the
    /// deadline has passed (and not before).
    @Test func rollbackCheckBeforeStartCoversADeadSupervisor() async throws {
        let kit = try UpdateKit()
        try kit.startFileServer()
        let broken = kit.dir.appendingPathComponent("broken-agent")
        var bytes = Data("#!/bin/sh\nexit 3\n#".utf8)
        bytes += Data(AgentBundleBuilder.stampMarker) + Data("0.0.1".utf8) + Data(repeating: 0, count: 40)
        try bytes.write(to: broken)
        let bundle = try kit.bundle("broken", version: Self.next, binary: broken.path)
        let host = try kit.install("double-fault")
        let oldBytes = try Data(contentsOf: URL(fileURLWithPath: host.binary))
        var env = kit.env(state: host.state, url: kit.url(bundle))
        env["BALCTL_UPDATE_ROLLBACK_SEC"] = "3"
        env["BALCTL_UPDATE_PAUSE_AT"] = "restart"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: host.binary)
        p.arguments = ["--update"]
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let marker = host.state + "/update/paused-at-restart"
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: marker) && p.isRunning && Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        env["BALCTL_UPDATE_PAUSE_AT"] = nil
        #expect(try Data(contentsOf: URL(fileURLWithPath: host.binary)) != oldBytes, "the swap happened")
        #expect(try kit.run(host.binary, [], env: env, check: false).status == 3, "the new binary fails at start")

        // Before the deadline the check leaves the trial alone…
        try kit.run(host.binary + ".prev", ["--rollback-check"], env: env)
        #expect(try Data(contentsOf: URL(fileURLWithPath: host.binary)) != oldBytes)
        // …after it, the previous binary is back and says so in the events the next heartbeat carries.
        try await Task.sleep(for: .seconds(3.5))
        try kit.run(host.binary + ".prev", ["--rollback-check"], env: env)
        #expect(try Data(contentsOf: URL(fileURLWithPath: host.binary)) == oldBytes)
        #expect(!FileManager.default.fileExists(atPath: host.state + "/update/pending.json"))
        let events = try String(contentsOfFile: host.state + "/update/events.json", encoding: .utf8)
        #expect(events.contains("rolled_back") && events.contains("found before a start"), "\(events)")
        #expect(try kit.run(host.binary, ["--version"], env: env).output.contains(BalctlVersion.current))
    }
}
