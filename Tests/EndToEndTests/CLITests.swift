import BalctlProtocol
import Foundation
import TestSupport
import Testing

/// The `balctl` binary itself: what it refuses, how it reports it, and `--follow` through an outage.
@Suite(.serialized)
struct CLITests {
    @Test("issue 21 item 1: plain http to a non-loopback host is refused with exit 1 before anything is sent")
    func refusesTokenToOtherHosts() async throws {
        // Each URL starts like a loopback one but names 127.0.0.2 (still loopback, so the test
        // sends nothing off the machine): the listener there must see nothing.
        let listener = try LoopbackListener(address: "127.0.0.2")
        defer { listener.stop() }
        let p = listener.port
        for server in ["http://127.0.0.1@127.0.0.2:\(p)", "http://localhost@127.0.0.2:\(p)", "http://[::1]@127.0.0.2:\(p)",
                       "http://192.0.2.2:19430"] {
            let r = try await Harness.cli(["pools", "list", "--server", server, "--token", "bct_secret"])
            #expect(r.status == 1, "\(server): \(r.stderr)")
            #expect(r.stderr.contains("refused") && !r.stderr.contains("cannot reach"), "\(server): \(r.stderr)")
        }
        #expect(listener.connections == 0)
        // Control: the loopback address itself is allowed, and the listener sees the token.
        let ok = try await Harness.cli(["pools", "list", "--server", "http://127.0.0.2:\(p)", "--token", "bct_secret"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(listener.requests.count == 1)
        #expect(listener.requests.first?.contains("Bearer bct_secret") == true)
    }

    @Test("issue 21 item 10: a token with CR/LF is a clear error (exit 1), not a crash; nothing is sent")
    func tokenWithLineBreak() async throws {
        let listener = try LoopbackListener()
        defer { listener.stop() }
        for token in ["bct_secret\r\nX-Injected: 1", "bct_secret\n"] {
            let r = try await Harness.cli(["pools", "list", "--server", "http://127.0.0.1:\(listener.port)", "--token", token])
            #expect(!r.signalled, "crashed: \(r.stderr)")
            #expect(r.status == 1, "\(r.stderr)")
            #expect(r.stderr.contains("line break"), "\(r.stderr)")
        }
        #expect(listener.connections == 0)
    }

    @Test("issue 21 item 10: path segments are percent-encoded (`recipes show 'a b'` is a 404, not 'cannot reach')")
    func pathSegmentsEncoded() async throws {
        let h = try Harness()
        try await h.startServer()
        for id in ["a b", "x/y", ".."] {
            let r = try await Harness.cli(["recipes", "show", id, "--server", h.base, "--token", h.adminToken, "--ca-file", h.tls.caCert])
            #expect(r.status == 1, "\(id): \(r.stderr)")
            #expect(r.stderr.contains("no recipe") && r.stderr.contains("HTTP 404"), "\(id): \(r.stderr)")
        }
    }

    @Test("issue 21 item 12: `jobs follow` waits through a server restart instead of exiting 3")
    func followSurvivesRestart() async throws {
        let h = try Harness()
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("follow")
        let e = try await api.member(pool: pool.id, hostname: "follow-1")
        // A job is accepted once the member has reported its commands; the agent then stops, so
        // the job waits (pending) through the outage and runs after it.
        let agent = try h.startAgent(e)
        _ = try await api.waitForHeartbeat(e.member.id)
        kill(agent.processIdentifier, SIGTERM)
        agent.waitUntilExit()
        let job = try await api.enqueue(e.member.id, "host.echo", .object(["message": .string("after the restart")]))
        let follow = try Harness.CLIRun(["jobs", "follow", "\(job.id)", "--server", h.base, "--token", h.adminToken,
                                         "--ca-file", h.tls.caCert])
        try await Task.sleep(for: .seconds(1))
        h.stopServer()
        try await Task.sleep(for: .seconds(3))
        #expect(follow.process.isRunning, "the follow must wait for the server, not give up")
        try await h.startServer()
        try h.startAgent(e)
        let r = try await follow.finish(timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("completed") && r.stdout.contains("after the restart"), "\(r.stdout)")
        #expect(r.stderr.contains("retrying"), "\(r.stderr)")
    }

    @Test("issue 21 item 12: an explicitly given --recipes-dir that does not exist stops `serve` at start")
    func missingRecipesDirRefused() async throws {
        let h = try Harness()
        let missing = h.dir.appendingPathComponent("no-such-recipes").path
        let server = try h.run(try Harness.binary("balctl-server"), [
            "serve", "--data-dir", h.dataDir, "--port", "\(h.port)", "--plain-http", "--recipes-dir", missing,
        ], log: "server.log")
        let deadline = Date().addingTimeInterval(20)
        while server.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        if server.isRunning { kill(server.processIdentifier, SIGKILL) }
        server.waitUntilExit()
        #expect(server.terminationReason == .exit && server.terminationStatus != 0, "serve must refuse to start")
        #expect(h.log("server.log").contains("\(missing): no such directory"), "\(h.log("server.log"))")
    }
}

/// The harness refuses binaries older than their sources (`swift test` without `swift build`).
@Suite struct HarnessFreshnessTests {
    func touch(_ path: String, _ date: Date) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path, contents: Data("x".utf8))
        try FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: path)
    }

    @Test("issue 21 Also: a source newer than the binary (at any depth) fails with 'run swift build'; docs do not count")
    func staleBinaryRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-fresh-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let now = Date()
        let binary = dir + "/bin/balctl"
        try touch(binary, now)
        try touch(dir + "/Sources/A/Old.swift", now.addingTimeInterval(-60))
        try touch(dir + "/Plugins/P/README.md", now.addingTimeInterval(60))
        try Harness.checkFresh(binary: binary, sources: [dir + "/Sources", dir + "/Plugins"])

        try touch(dir + "/Plugins/P/Deep/Newer.swift", now.addingTimeInterval(60))
        do {
            try Harness.checkFresh(binary: binary, sources: [dir + "/Sources", dir + "/Plugins"])
            Issue.record("a stale binary passed the check")
        } catch {
            #expect("\(error)".contains("Newer.swift") && "\(error)".contains("run `swift build`"), "\(error)")
        }
        try touch(dir + "/Sources/CCurl/shim.h", now.addingTimeInterval(60))
        #expect(throws: Harness.HarnessError.self) { try Harness.checkFresh(binary: binary, sources: [dir + "/Sources"]) }
    }

    @Test("issue 21 Also: every binary the tests run has its source list")
    func everyBinaryListed() {
        #expect(Set(Harness.sourceDirs.keys) == ["balctl-server", "balctl-heartbeat", "balctl"])
        for (_, dirs) in Harness.sourceDirs {
            for d in dirs { #expect(FileManager.default.fileExists(atPath: Harness.repoRoot.appendingPathComponent(d).path), "\(d)") }
        }
    }
}
