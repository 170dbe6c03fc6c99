import AgentKernel
import BalctlProtocol
import Foundation
@testable import HAProxyPlugin
import Testing
import TestSupport

extension HAProxyPluginSuite {
/// The admin socket's path, its blocking I/O, and the size of what it returns.
@Suite struct SocketSafety {
    func settings(_ dir: TempDir, config: String, socketDir: String) -> HAProxySettings {
        HAProxyPluginSuite.offlineSettings(dir, config: config, socketDir: socketDir)
    }

    @Test("issue 20 item 17: admin_socket_enable only places a socket inside the socket directory, never over a file or through a link")
    func placement() async throws {
        let dir = try TempDir()
        let original = "global\n    maxconn 10\ndefaults\n    mode http\n"
        let config = try dir.write("haproxy.cfg", original)
        let run = dir.file("run")
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        let enable = AdminSocketEnableHandler(settings: settings(dir, config: config, socketDir: run))
        let precious = try dir.write("precious.pem", "key\n")
        _ = try dir.write("run/file.sock", "not a socket\n")
        try FileManager.default.createDirectory(atPath: dir.file("elsewhere"), withIntermediateDirectories: true)
        symlink(dir.file("elsewhere"), run + "/linked")

        let cases: [(String, String)] = [
            (precious, "is outside the socket directory \(run)"),
            (dir.file("etc/haproxy.sock"), "is outside the socket directory"),
            (run + "/../precious.pem", "contains '..'"),
            (run + "/file.sock", "exists and is not a socket"),
            (run + "/linked/admin.sock", "is not a file directly in the socket directory"),
            (run, "is outside the socket directory"),
        ]
        for (path, reason) in cases {
            let error = await jobError(enable, params(["socketPath": path]))
            #expect(error?.contains(reason) == true, "\(path): \(error ?? "accepted")")
        }
        #expect(dir.read("haproxy.cfg") == Data(original.utf8), "the config was never touched")
        #expect(dir.read("precious.pem") == Data("key\n".utf8))
        #expect(dir.read("run/file.sock") == Data("not a socket\n".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("elsewhere")).isEmpty)

        // Directly in the directory, and over an existing socket: fine.
        let (made, _) = try await runJob(enable, params(["socketPath": run + "/admin.sock"]))
        #expect(made.changed, "\(made.summary)")
        let stale = try CannedSocket(path: run + "/stale.sock", answer: "")
        let (over, _) = try await runJob(enable, params(["socketPath": stale.path]))
        #expect(over.changed)
        // The default directory comes from the settings: /run/haproxy.
        #expect(HAProxySettings().socketDir == "/run/haproxy")
    }

    @Test("issue 20 item 20: a wedged admin socket (accepts, never answers) does not hold the cooperative pool")
    func wedgedSocket() async throws {
        let dir = try TempDir()
        let wedged = try CannedSocket(path: dir.file("wedged.sock"), answer: nil)
        let socket = AdminSocket(path: wedged.path, timeoutSec: 2)
        // More calls than the pool has threads: on the pool they would queue behind each other.
        let calls = ProcessInfo.processInfo.activeProcessorCount * 4
        let started = monotonicNow()
        try await withThrowingTaskGroup(of: Double.self) { group in
            for _ in 0..<calls {
                group.addTask {
                    do { _ = try await socket.execute("show stat"); Issue.record("a wedged socket answered") } catch let error as AdminSocketError {
                        #expect(error == .timedOut(wedged.path, 2))
                    } catch { Issue.record("\(error)") }
                    return -1
                }
            }
            // Meanwhile, ordinary async work on the pool (what the heartbeat loop is) still runs.
            // Measured from when the sleep should end: a pool whose threads are all blocked
            // resumes it late.
            group.addTask {
                let due = monotonicNow() + 0.2
                try await Task.sleep(for: .milliseconds(200))
                await withTaskGroup(of: Void.self) { small in
                    for _ in 0..<50 { small.addTask { await Task.yield() } }
                }
                return monotonicNow() - due
            }
            var latency = -1.0
            for try await v in group where v >= 0 { latency = v }
            #expect(latency >= 0 && latency < 0.5, "50 trivial tasks took \(latency)s while \(calls) socket calls were wedged")
        }
        // Each call holds its own thread for its 2 s timeout, all at once: about 2 s in total,
        // not 2 s per pool thread's worth of calls.
        let took = monotonicNow() - started
        #expect(took < 3.5, "\(calls) wedged calls took \(took)s together")

        // The heartbeat probe with a wedged socket: it answers, saying the socket timed out.
        let config = try dir.write("h.cfg", "global\n    stats socket \(wedged.path) mode 600 level admin\n")
        let t0 = monotonicNow()
        let report = try #require(await HAProxyProbe(settings: settings(dir, config: config, socketDir: dir.path)).report())
        #expect(monotonicNow() - t0 < 3)
        #expect(report["adminSocketAnswers"] == .bool(false))
        #expect(report["adminSocketError"]?.stringValue?.contains("did not answer within") == true)
    }

    @Test("issue 20 item 20: a hanging systemctl delays the heartbeat probe by its bound only")
    func hangingSystemctl() async throws {
        let dir = try TempDir()
        try FileManager.default.createDirectory(atPath: dir.file("systemd"), withIntermediateDirectories: true)
        let systemctl = try dir.write("systemctl", "#!/bin/sh\nexec sleep 30\n", mode: 0o755)
        let probe = HAProxyProbe(settings: HAProxySettings(configPath: dir.file("missing.cfg"), haproxyBinary: "/usr/sbin/haproxy",
                                                           systemctl: systemctl, systemdRunDir: dir.file("systemd")))
        let t0 = monotonicNow()
        let report = try #require(await probe.report())
        let took = monotonicNow() - t0
        #expect(report["unitState"] == .string("unknown"))
        #expect(took < HAProxyProbe.programTimeoutSec + 1.5, "the probe took \(took)s")
    }

    @Test("issue 21 item 23: the probe caps stats at 250 rows and reports statsRowsTotal")
    func probeCap() async throws {
        let dir = try TempDir()
        let fake = try CannedSocket(path: dir.file("stats.sock"), answer: CannedSocket.statCSV(rows: 300))
        let config = try dir.write("h.cfg", "global\n    stats socket \(fake.path) mode 600 level admin\n")
        let report = try #require(await HAProxyProbe(settings: settings(dir, config: config, socketDir: dir.path)).report())
        #expect(report["adminSocketAnswers"] == .bool(true))
        let statsJSON = try #require(report["stats"])
        let stats = try #require(StatTable(json: statsJSON))
        #expect(stats.rows.count == HAProxyProbe.maxStatRows)
        #expect(stats.rows.last?.name == "s249", "the first rows, in order")
        #expect(report["statsRowsTotal"] == .number(300))

        // Under the cap: no statsRowsTotal.
        let small = try CannedSocket(path: dir.file("small.sock"), answer: CannedSocket.statCSV(rows: 20))
        let smallConfig = try dir.write("s.cfg", "global\n    stats socket \(small.path) mode 600 level admin\n")
        let smallReport = try #require(await HAProxyProbe(settings: settings(dir, config: smallConfig, socketDir: dir.path)).report())
        let smallJSON = try #require(smallReport["stats"])
        #expect(StatTable(json: smallJSON)?.rows.count == 20)
        #expect(smallReport["statsRowsTotal"] == nil)

        // Long names: the byte bound cuts before the row bound.
        let long = try CannedSocket(path: dir.file("long.sock"), answer: CannedSocket.statCSV(rows: 200, prefix: String(repeating: "n", count: 1000)))
        let longConfig = try dir.write("l.cfg", "global\n    stats socket \(long.path) mode 600 level admin\n")
        let longReport = try #require(await HAProxyProbe(settings: settings(dir, config: longConfig, socketDir: dir.path)).report())
        #expect(longReport["statsRowsTotal"] == .number(200))
        let longJSON = try #require(longReport["stats"])
        #expect(longJSON.jsonString().utf8.count <= HAProxyProbe.maxStatBytes)
    }

    @Test("issue 20 item 14: haproxy.show_stat caps its result (rows and bytes) and says what it cut")
    func showStatCap() async throws {
        let dir = try TempDir()
        for (rows, prefix) in [(3_000, "s"), (600, String(repeating: "x", count: 1000))] {
            let fake = try CannedSocket(path: dir.file("\(rows).sock"), answer: CannedSocket.statCSV(rows: rows, prefix: prefix))
            let config = try dir.write("\(rows).cfg", "global\n    stats socket \(fake.path) mode 600 level admin\n")
            let (outcome, output) = try await runJob(ShowStatHandler(settings: settings(dir, config: config, socketDir: dir.path)))
            let result = try #require(outcome.result)
            let sent = try #require(StatTable(json: result)).rows.count
            #expect(sent > 0 && sent <= ShowStatHandler.maxRows)
            #expect(result["truncated"] == .bool(true))
            #expect(result["rowsTotal"] == .number(Double(rows)))
            #expect(result["rowsSent"] == .number(Double(sent)))
            #expect(outcome.summary.contains("\(rows) server(s)") && outcome.summary.contains("truncated to the first \(sent) of \(rows) rows"))
            let bytes = result.jsonString().utf8.count
            #expect(bytes <= ShowStatHandler.maxResultBytes, "\(bytes) bytes")
            #expect(bytes + output.utf8.count < AgentWire.maxAgentBodyBytes, "the completion fits the body limit")
        }
        // A table that fits is sent whole, without the truncation fields.
        let fake = try CannedSocket(path: dir.file("few.sock"), answer: CannedSocket.statCSV(rows: 5))
        let config = try dir.write("few.cfg", "global\n    stats socket \(fake.path) mode 600 level admin\n")
        let (outcome, _) = try await runJob(ShowStatHandler(settings: settings(dir, config: config, socketDir: dir.path)))
        let fewResult = try #require(outcome.result)
        #expect(StatTable(json: fewResult)?.rows.count == 5)
        #expect(outcome.result?["truncated"] == nil)
    }
}
}

extension HAProxyPluginSuite {
/// Issue 20 item 11 in the plugin: the config, its candidate and its backup are written without
/// following any link planted beside them.
@Suite struct ConfigWrites {
    @Test("issue 20 item 11: links planted at the old fixed temp names (.tmp, .balctl-candidate.tmp, .balctl.bak.tmp) are not written through")
    func plantedLinks() async throws {
        let dir = try TempDir()
        let original = "global\n    maxconn 10\ndefaults\n    mode http\n"
        let config = try dir.write("haproxy.cfg", original, mode: 0o640)
        let settings = HAProxySettings(configPath: config, haproxyBinary: "/usr/sbin/haproxy", stateDir: dir.file("state"),
                                       systemdRunDir: dir.file("no-systemd"), socketDir: dir.path)
        var victims: [String] = []
        for name in ["haproxy.cfg.tmp", "haproxy.cfg.balctl-candidate", "haproxy.cfg.balctl-candidate.tmp", "haproxy.cfg.balctl.bak.tmp"] {
            let victim = try dir.write("victim-\(name)", "precious\n", mode: 0o644)
            symlink(victim, dir.file(name))
            victims.append(victim)
        }
        let (enabled, _) = try await runJob(AdminSocketEnableHandler(settings: settings), params(["socketPath": dir.file("admin.sock")]))
        #expect(enabled.changed)
        for victim in victims {
            #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n", "\(victim) untouched")
            #expect((try FileManager.default.attributesOfItem(atPath: victim)[.posixPermissions] as? Int) == 0o644)
        }
        #expect(try String(contentsOfFile: config, encoding: .utf8).contains("stats socket \(dir.file("admin.sock"))"))
        #expect((try FileManager.default.attributesOfItem(atPath: config)[.type] as? FileAttributeType) == .typeRegular)
        #expect((try FileManager.default.attributesOfItem(atPath: config)[.posixPermissions] as? Int) == 0o640)
        #expect(dir.read("haproxy.cfg.balctl.bak") == Data(original.utf8))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains("balctl-tmp") || $0.contains("balctl-candidate-") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test("issue 20 item 11: a config that is a symlink is refused before anything is written")
    func configLink() async throws {
        let dir = try TempDir()
        let real = try dir.write("real.cfg", "global\n    maxconn 10\ndefaults\n    mode http\n")
        let link = dir.file("haproxy.cfg")
        symlink(real, link)
        let settings = HAProxySettings(configPath: link, haproxyBinary: "/usr/sbin/haproxy", stateDir: dir.file("state"),
                                       systemdRunDir: dir.file("no-systemd"), socketDir: dir.path)
        let error = await jobError(AdminSocketEnableHandler(settings: settings), params(["socketPath": dir.file("admin.sock")]))
        #expect(error?.contains("is a symbolic link") == true, "\(error ?? "accepted")")
        #expect(try String(contentsOfFile: real, encoding: .utf8) == "global\n    maxconn 10\ndefaults\n    mode http\n")
        #expect(!FileManager.default.fileExists(atPath: link + ".balctl.bak"))
    }
}
}
