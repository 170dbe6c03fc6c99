import BalctlProtocol
@testable import ControlPlane
import Foundation
import SQLEngine
import Testing
import TestSupport

/// The group-commit writer behind the heartbeat route: many concurrent heartbeats share
/// transactions, yet each gets its own outcome, and a failed batch does not stall the writer.
@Suite("Heartbeat group commit", .timeLimit(.minutes(1)), .storeEngines)
struct HeartbeatWriterTests {
    func envelope(_ f: Fixture, _ hostname: String) throws -> (HeartbeatEnvelope, String) {
        let raw = String(decoding: try JSONEncoder().encode(f.report(hostname)), as: UTF8.self)
        return (try HeartbeatEnvelope.read(raw), raw)
    }

    @Test("400 concurrent heartbeats from 20 members: every job claimed once, by its own member")
    func concurrentClaims() async throws {
        let f = try await Fixture()
        var members: [MemberEnrollment] = []
        for i in 0..<20 {
            let e = try await f.member(hostname: "node-\(i)").enrollment
            try await f.beat(e)  // the agent reports host.echo, so jobs can be enqueued
            members.append(e)
        }
        var expected: [Int64: Set<Int64>] = [:]
        for e in members {
            for _ in 0..<3 { expected[e.member.id, default: []].insert(try await f.enqueue(e.member.id).id) }
        }
        let writer = HeartbeatWriter(store: f.store, heartbeat: f.heartbeat, queue: f.queue)
        let results = try await withThrowingTaskGroup(of: (Int64, [ClaimedJob]).self) { group in
            for round in 0..<20 {
                for e in members {
                    let (env, raw) = try envelope(f, e.member.hostname)
                    let agent = AgentIdentity(memberID: e.member.id, hostname: e.member.hostname)
                    group.addTask {
                        if round % 2 == 0 { await Task.yield() }
                        return (e.member.id, try await writer.record(agent, report: env, raw: raw, ip: Fixture.agentIP).jobs)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 400)
        var claimed: [Int64: [Int64]] = [:]
        for (member, jobs) in results { claimed[member, default: []] += jobs.map(\.id) }
        for e in members {
            let got = claimed[e.member.id] ?? []
            #expect(got.count == 3, "member \(e.member.hostname) claimed \(got)")
            #expect(Set(got) == expected[e.member.id])
        }
        let stored = try await f.store.db.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM heartbeat_latest") }
        #expect(stored == 20)
    }

    @Test("a heartbeat that fails inside a batch fails alone: the others in the batch are kept")
    func failureIsIsolated() async throws {
        let f = try await Fixture()
        var members: [MemberEnrollment] = []
        for i in 0..<30 { members.append(try await f.member(hostname: "node-\(i)").enrollment) }
        let writer = HeartbeatWriter(store: f.store, heartbeat: f.heartbeat, queue: f.queue)
        let (ghostEnv, ghostRaw) = try envelope(f, "ghost")
        let failures = try await withThrowingTaskGroup(of: Bool.self) { group in
            for (n, e) in members.enumerated() {
                let (env, raw) = try envelope(f, e.member.hostname)
                let agent = AgentIdentity(memberID: e.member.id, hostname: e.member.hostname)
                group.addTask { (try? await writer.record(agent, report: env, raw: raw, ip: Fixture.agentIP)) == nil }
                if n == 10 {  // a member that does not exist, in the middle of the crowd
                    group.addTask {
                        (try? await writer.record(AgentIdentity(memberID: 999_999, hostname: "ghost"), report: ghostEnv,
                                                  raw: ghostRaw, ip: Fixture.agentIP)) == nil
                    }
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(failures == 1)
        let stored = try await f.store.db.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM heartbeat_latest") }
        #expect(stored == 30)
    }

    @Test("a batch that fails fails its heartbeats, and the next heartbeat is written")
    func failureDoesNotStall() async throws {
        let f = try await Fixture()
        let e = try await f.member(hostname: "web-1").enrollment
        let writer = HeartbeatWriter(store: f.store, heartbeat: f.heartbeat, queue: f.queue)
        let (env, raw) = try envelope(f, "web-1")
        // A member that does not exist breaks the foreign key: the transaction rolls back.
        await #expect(throws: (any Error).self) {
            _ = try await writer.record(AgentIdentity(memberID: 999_999, hostname: "ghost"), report: env, raw: raw, ip: Fixture.agentIP)
        }
        _ = try await writer.record(AgentIdentity(memberID: e.member.id, hostname: "web-1"), report: env, raw: raw, ip: Fixture.agentIP)
        let member = try await f.store.member(e.member.id, by: f.admin)
        #expect(member.heartbeat != nil)
    }

    @Test("an agent whose report lacks fields the ingest does not need still shows as alive, with the reason")
    func incompleteReportShowsAlive() async throws {
        let f = try await Fixture()
        let e = try await f.member(hostname: "web-1").enrollment
        let writer = HeartbeatWriter(store: f.store, heartbeat: f.heartbeat, queue: f.queue)
        let raw = #"{"hostname":"web-1","agentVersion":"9.9.9","protocolVersion":1,"jobsInFlight":[]}"#
        _ = try await writer.record(AgentIdentity(memberID: e.member.id, hostname: "web-1"),
                                    report: try HeartbeatEnvelope.read(raw), raw: raw, ip: Fixture.agentIP)
        let hb = try #require(try await f.store.member(e.member.id, by: f.admin).heartbeat)
        #expect(hb.agentVersion == "9.9.9" && hb.ageSec < 60)
        #expect(hb.osPretty.contains("report not readable") && hb.osPretty.contains("missing key"), "\(hb.osPretty)")
    }

    @Test("history is sampled every historySampleSec, with and without RETURNING", arguments: [true, false])
    func historySampling(returning: Bool) async throws {
        try #require(!returning || Store.upsertCanReturn, "this SQLite cannot return rows from an upsert")
        let f = try await Fixture()
        let member = try await f.member(hostname: "web-1").enrollment.member.id
        let kept = try await f.store.db.write { db in
            try [1000.0, 1030, 1059.9, 1060, 1100, 1125].map { t in
                try Store.storeLatest(db, member: member, at: t, ip: "203.0.113.10", version: "0.1.0",
                                      report: "{}", sampleSec: 60, returning: returning)
            }
        }
        #expect(kept == [true, false, false, true, false, true])
        let row = try await f.store.db.read { db in
            try SQLRow.fetchOne(db, sql: "SELECT received_at, history_at FROM heartbeat_latest WHERE member_id = ?", arguments: [member])
        }
        #expect(row?["received_at"] == 1125.0 && row?["history_at"] == 1125.0)
    }
}
