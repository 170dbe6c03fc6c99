import BalctlProtocol
@testable import ControlPlane
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServiceLifecycle
import Testing
import TestSupport

/// The SSE fan-out: one poller per watched pool, the server-wide bound, the Status tab's live
/// rows, and streams that end on graceful shutdown.
@Suite("Dashboard live updates hub", .timeLimit(.minutes(2)))
struct DashboardHubTests {
    /// Ticks received within `seconds`.
    static func collect(_ ticks: AsyncStream<DashboardTick>, for seconds: Double) async -> [DashboardTick] {
        await withTaskGroup(of: [DashboardTick].self) { g in
            g.addTask {
                var out: [DashboardTick] = []
                for await t in ticks { out.append(t) }
                return out
            }
            // The collector runs until cancelled (the stream stays open).
            try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            g.cancelAll()
            return await g.next() ?? []
        }
    }

    @Test("many streams of one pool share one poller: one fingerprint read per tick, not one per stream")
    func sharedPoller() async throws {
        let env = try await DashboardFormsEnv()
        let hub = DashboardHub(intervalSec: 0.05)
        var subs: [(id: UInt64, ticks: AsyncStream<DashboardTick>)] = []
        for _ in 0..<20 { subs.append(try await hub.subscribe(server: env.server, pool: env.pool.id, op: env.admin)) }
        let (pollers, streams) = (await hub.pollerCount, await hub.streamCount)
        #expect(pollers == 1 && streams == 20)
        let ticks = await Self.collect(subs[0].ticks, for: 0.6)
        let reads = await hub.reads
        #expect(ticks.count >= 3, "\(ticks.count) ticks")
        // ~12 rounds in 0.6 s for all 20 streams (per-stream polling would be ~240).
        #expect(reads >= 3 && reads <= 20, "\(reads) reads")
        // Nothing changed after the first round: one render.
        #expect(await hub.renders == 1)
        #expect(Set(ticks.map(\.version)) == [1])
        for s in subs { await hub.unsubscribe(s.id) }
        let (pollersAfter, streamsAfter) = (await hub.pollerCount, await hub.streamCount)
        #expect(pollersAfter == 0 && streamsAfter == 0)
        // The unshared mode (the bench's "before") polls once per stream.
        let solo = DashboardHub(intervalSec: 0.05, shared: false)
        var held: [(id: UInt64, ticks: AsyncStream<DashboardTick>)] = []
        for _ in 0..<5 { held.append(try await solo.subscribe(server: env.server, pool: env.pool.id, op: env.admin)) }
        #expect(await solo.pollerCount == 5)
        for s in held { await solo.unsubscribe(s.id) }
    }

    @Test("past maxStreams a new stream is refused; a freed place is taken again")
    func serverBound() async throws {
        let env = try await DashboardFormsEnv()
        let hub = DashboardHub(maxStreams: 2, intervalSec: 0.05)
        // Each stream is held to the end: a dropped stream frees its place by itself (its
        // onTermination unsubscribes), which made the refusal below race that cleanup.
        let a = try await hub.subscribe(server: env.server, pool: env.pool.id, op: env.admin)
        let b = try await hub.subscribe(server: env.server, pool: env.pool.id, op: env.admin)
        await #expect(throws: DashboardHub.Full.self) { _ = try await hub.subscribe(server: env.server, pool: env.pool.id, op: env.admin) }
        await hub.unsubscribe(a.id)
        let c = try await hub.subscribe(server: env.server, pool: env.pool.id, op: env.admin)
        #expect(await hub.streamCount == 2)
        withExtendedLifetime((a, b, c)) {}
    }

    @Test("the Status tab's rows: a heartbeat with the server drained is a new tick with its new status")
    func haproxyRowsAreLive() async throws {
        let env = try await DashboardFormsEnv()
        let before = try await DashboardPieces.render(server: env.server, pool: env.pool.id, by: env.admin)
        let key = "h\(env.member.member.id)/be_web/web1"
        #expect(before.first { $0.key == key }?.text.contains("\"status\":\"UP\"") == true)
        let hub = DashboardHub(intervalSec: 0.05)
        let sub = try await hub.subscribe(server: env.server, pool: env.pool.id, op: env.admin)
        try await Task.sleep(for: .milliseconds(200))
        try await env.beat(env.member, status: "DRAIN")
        let ticks = await Self.collect(sub.ticks, for: 0.5)
        let last = try #require(ticks.last)
        #expect(last.version >= 2)
        let piece = try #require(last.pieces.first { $0.key == key })
        #expect(piece.text.hasPrefix("event: haproxy\n") && piece.text.contains("\"status\":\"DRAIN\""))
        #expect(piece.text.contains("\"memberID\":\(env.member.member.id)") && piece.text.contains("\"backend\":\"be_web\""))
        await hub.unsubscribe(sub.id)
    }

    @Test("an open stream ends on graceful shutdown, and the server stops")
    func streamsEndOnShutdown() async throws {
        let env = try await DashboardFormsEnv()
        var config = env.server.config
        config.host = "127.0.0.1"
        config.port = 0
        let server = try ControlPlane(config: config)
        let (port, portCont) = AsyncStream.makeStream(of: Int.self)
        let group = try await server.serviceGroup { portCont.yield($0) }
        let running = Task { try await group.run() }
        var ports = port.makeAsyncIterator()
        let p = try #require(await ports.next())
        let (cookie, _) = try await server.application().test(.router) { c in try await DashboardPageTests.signIn(c, "ops") }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-sse-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        curl.arguments = ["-sN", "--max-time", "60", "-o", out.path, "-H", "Cookie: \(cookie)", "http://127.0.0.1:\(p)/pools/\(env.pool.id)/events"]
        try curl.run()
        defer { if curl.isRunning { curl.terminate() } }
        // The stream is open (its first line written) and stays open.
        for _ in 0..<50 where ((try? String(contentsOf: out, encoding: .utf8)) ?? "").isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        #expect(((try? String(contentsOf: out, encoding: .utf8)) ?? "").hasPrefix("retry: 3000"))
        try await Task.sleep(for: .milliseconds(1500))
        #expect(curl.isRunning, "the stream ended by itself")
        let asked = ContinuousClock.now
        await group.triggerGracefulShutdown()
        while curl.isRunning, ContinuousClock.now - asked < .seconds(10) { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!curl.isRunning, "the stream was still open 10 s after shutdown began")
        #expect(curl.terminationStatus == 0, "curl ended with \(curl.terminationStatus) (0: the server finished the response)")
        try await running.value
        #expect(ContinuousClock.now - asked < .seconds(10))
        #expect(await server.dashboard.hub.streamCount == 0)
    }
}

@Suite("Dashboard overview pieces")
struct DashboardOverviewPieceTests {
    @Test("cpuPercent reads the top-level number from a report's bytes", arguments: [
        ("{\"a\":1,\"cpuPercent\":12.5,\"x\":2}", 12.5), ("{\"cpuPercent\":0}", 0), ("{\"cpuPercent\":1e2}", 100),
        ("{\"cpuPercent\":-3.25,\"load\":[1]}", -3.25),
    ])
    func cpuPercent(report: String, expected: Double) {
        #expect(Store.cpuPercent(report) == expected)
    }

    @Test("no cpuPercent, or not a number: nil", arguments: ["{}", "{\"cpuPercent\":\"x\"}", "{\"cpuPercent\":", ""])
    func cpuPercentMissing(report: String) {
        #expect(Store.cpuPercent(report) == nil)
    }

    @Test("sparkline points: one decimal, as %.1f prints them")
    func tenths() {
        for x in [0.0, 0.04, 0.05, 1.0, 12.34, 29.96, 120.0] {
            #expect(Sparkline.tenths(x) == String(format: "%.1f", x), "\(x)")
        }
        let svg = Sparkline.svg([0, 50, 100], label: "cpu <of> \"x\"")
        #expect(svg.contains("points=\"0.0,29.0 60.0,15.0 120.0,1.0 \"") && svg.contains("cpu &lt;of&gt; &quot;x&quot;"))
    }
}
