import ArgumentParser
import BalctlProtocol
import ControlPlane
import Foundation

/// Issue 12: the failover evaluator's cost per tick on a large fleet, in process (no HTTP, no
/// DNS): pools, members and a provider made through the store, one heartbeat per member through
/// the ingest's batch path, then back-to-back `Failover.tick()` calls — the snapshot read, the
/// plan and the bookkeeping the server's evaluator does every 250 ms.
struct FailoverTickBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failover-ticks",
        abstract: "Failover evaluator cost per tick with POOLS × MEMBERS (haproxy pools, heartbeats stored), all healthy and with some members silent.")

    @Option(help: "Pools with failover settings (haproxy template: the costlier readiness rules).") var pools = 1000
    @Option(help: "Members per pool: one active, the others standbys.") var members = 3
    @Option(help: "Measured ticks per fleet state (the live one runs them 250 ms apart).") var ticks = 120
    @Option(help: "Second run with every Nth member silent (10 = 10 %); 0 skips it.") var silentEvery = 10
    @Option(help: "Goal per tick, in ms.") var goalMs = 5.0

    func run() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-bench-failover-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = ServerConfig(dataDir: dir.appendingPathComponent("data").path)
        let server = try ControlPlane(config: config)
        _ = try server.store.bootstrapAdminIfNeeded()
        let admin = try await server.store.adminOperator()!

        print("setting up \(pools) haproxy pools × \(members) members…")
        var bodies: [String: String] = [:]
        for p in 0..<pools {
            let pool = try await server.store.createPool(CreatePoolRequest(name: "pool-\(p)", template: .haproxy), by: admin)
            for m in 0..<members {
                let host = "p\(p)-m\(m)", k = p * members + m
                _ = try await server.store.addMember(
                    pool: pool.id, CreateMemberRequest(hostname: host, allowedIPs: ["127.0.0.1"], family: .debian, role: nil),
                    publicURL: config.publicURL, by: admin)
                bodies[host] = try Self.body(hostname: host, ip: "81.\(2 + k / 62_500).\(k / 250 % 250).\(k % 250 + 1)")
            }
        }
        let reports = bodies, count = pools * members
        // One heartbeat per member, through the ingest (it derives the columns the evaluator reads).
        _ = try await server.measureStoreIngest(count: count, batch: 32) { reports[$0]! }
        try await server.prepareFailoverBenchmark()

        // The server's situation: every member heartbeats once a second (through the same batch
        // ingest, in this process, competing for the two cores) while the evaluator ticks every
        // 250 ms. Heartbeats change no failover fact, so ticks reuse their snapshot.
        let feeder = Task {
            var rounds: [Double] = []
            while !Task.isCancelled {
                let took = try await server.measureStoreIngest(count: count, batch: 32) { reports[$0]! }
                rounds.append(took)
                try? await Task.sleep(for: .seconds(max(0, 1 - took)))
            }
            return rounds
        }
        let live = try await server.measureFailoverTicks(count: ticks, spacingSec: 0.25)
        feeder.cancel()
        let rounds = try await feeder.value
        report("all \(count) members healthy, each heartbeating once a second while the evaluator ticks every 250 ms", live)
        let ingest = Percentiles(rounds.map { $0 * 1000 })
        print("  (alongside: \(rounds.count) rounds of \(count) heartbeats, p50 \(fixed(ingest(50))) ms per round)")

        // After any change to what a tick reads (settings, a member, a heartbeat fact such as
        // haproxy going inactive), the next tick reads everything again.
        _ = try await server.measureStoreIngest(count: count, batch: 32) { reports[$0]! }
        report("the tick right after a change (full re-read of the fleet)",
               try await server.measureFailoverTicks(count: min(ticks, 50), invalidate: true))

        if silentEvery > 0 {
            _ = try await server.measureStoreIngest(count: count, batch: 32) { reports[$0]! }  // fresh again
            let silenced = try await server.silenceFailoverBenchmarkMembers(every: silentEvery)
            report("\(silenced) of \(count) members silent for 10 min (pools whose active fell silent: automatic failover off, so no DNS write)",
                   try await server.measureFailoverTicks(count: ticks))
        }
    }

    func report(_ what: String, _ m: ControlPlane.FailoverTickMeasurement) {
        let ms = Percentiles(m.seconds.map { $0 * 1000 })
        print("")
        print("failover evaluator, \(m.pools) pools / \(m.members) members, \(what):")
        print("  \(m.seconds.count) ticks: p50 \(fixed(ms(50))) ms, p99 \(fixed(ms(99))) ms, max \(fixed(ms.largest)) ms;"
              + " p99 / goal \(fixed(goalMs, 1)) ms = \(fixed(ms(99) / goalMs, 2))")
        let read = Percentiles(m.snapshotSeconds.map { $0 * 1000 })
        print("  a full snapshot read alone (Store.failoverSnapshot): p50 \(fixed(read(50))) ms, p99 \(fixed(read(99))) ms")
        print("  first (unmeasured) tick: \(m.warmUpSeconds.map { fixed($0 * 1000) + " ms" }.joined(separator: ", "));"
              + " actions decided: \(m.actions.isEmpty ? "none" : m.actions.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
    }

    /// A real-sized report declaring a public IPv4 with haproxy active (a ready standby).
    static func body(hostname: String, ip: String) throws -> String {
        var r = HeartbeatBench.report(hostname: hostname)
        r.publicIPv4 = ip
        r.stacks = ["haproxy": .object(["active": .bool(true), "unit": .string("active")])]
        return String(decoding: try JSONEncoder().encode(r), as: UTF8.self)
    }
}
