import BalctlProtocol
@testable import ControlPlane
import Foundation
import SQLEngine
import Testing
import TestSupport

// issue 20 item 6: a cache-miss read that began before a rotation or removal must not be
// cached after it.
@Suite("Agent auth cache", .storeEngines)
struct AgentAuthCacheTests {
    @Test("a lookup that read the old secret before a rotation does not cache it: the old secret is refused at once")
    func rotationDuringMiss() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        let key = e.enrollmentSecret.lowercased()
        let t = now()
        // The store's miss path, with the rotation committing between its read and its store.
        let seen = try await f.store.authCache.entry(key, at: t) {
            let before = try await f.store.readAgentEntry(secret: key, at: t)
            _ = try await f.store.rotateSecret(e.member.id, publicURL: "https://cp.example", by: f.admin)
            return before
        }
        #expect(seen?.identity.memberID == e.member.id, "the read saw the secret before the rotation")
        let refused = await cpError {
            _ = try await f.store.authenticateAgent(secret: e.enrollmentSecret, clientIP: Fixture.agentIP, hostname: nil)
        }
        #expect(refused?.kind == .unauthorized)
    }

    @Test("a lookup under way while a member is removed does not bring it back")
    func removalDuringMiss() async throws {
        let f = try await Fixture()
        let (_, e) = try await f.member()
        let key = e.enrollmentSecret.lowercased()
        let t = now()
        _ = try await f.store.authCache.entry(key, at: t) {
            let before = try await f.store.readAgentEntry(secret: key, at: t)
            try await f.store.removeMember(e.member.id, by: f.admin)
            return before
        }
        let refused = await cpError {
            _ = try await f.store.authenticateAgent(secret: e.enrollmentSecret, clientIP: Fixture.agentIP, hostname: nil)
        }
        #expect(refused?.kind == .unauthorized)
    }

    @Test("without an invalidation a lookup is cached until it expires")
    func cachedOtherwise() async throws {
        let cache = AgentAuthCache()
        let entry = AgentAuthCache.Entry(identity: AgentIdentity(memberID: 7, hostname: "h"), allowed: [], expires: 100)
        #expect(try await cache.entry("k", at: 1) { entry }?.identity.memberID == 7)
        #expect(try await cache.entry("k", at: 2) { nil }?.identity.memberID == 7, "a hit does not read")
        #expect(try await cache.entry("k", at: 101) { nil } == nil, "an expired entry is read again")
        // An invalidation during the read: the result serves its own request, and is not kept.
        #expect(try await cache.entry("j", at: 1) { cache.invalidateAll(); return entry } != nil)
        #expect(try await cache.entry("j", at: 2) { nil } == nil)
    }
}

// issue 20 item 7: the history is bounded per member in bytes, big samples are trimmed, and a
// `heartbeats` response is bounded.
@Suite("Heartbeat history bounds", .storeEngines)
struct HistoryBoundsTests {
    /// Records `raw` through the route's own path (envelope reader, group-commit writer).
    func beat(_ f: Fixture, _ e: MemberEnrollment, raw: String) async throws {
        let agent = AgentIdentity(memberID: e.member.id, hostname: e.member.hostname)
        _ = try await HeartbeatWriter(store: f.store, heartbeat: f.heartbeat, queue: f.queue)
            .record(agent, report: try HeartbeatEnvelope.read(raw), raw: raw, ip: Fixture.agentIP)
    }

    func encoded(_ r: HostReport) throws -> String { String(decoding: try JSONEncoder().encode(r), as: UTF8.self) }

    /// A report with a huge plugin stack and command list, as a misbehaving agent might send.
    func oversized(_ f: Fixture, uptime: Double) throws -> String {
        var r = f.report("web-1", uptime: uptime)
        r.stacks = ["haproxy": .object(["rows": .array((0..<5_000).map { .string("backend-\($0),server-\($0),UP,1,0,0,0") })])]
        r.commands = (0..<2_000).map { "plugin.command_\($0)" }
        return try encoded(r)
    }

    func historyRows(_ f: Fixture, _ member: Int64) async throws -> [(report: String, bytes: Int)] {
        try await f.store.db.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT report, bytes FROM heartbeat_history WHERE member_id = ? ORDER BY id", arguments: [member])
                .map { ($0["report"], $0["bytes"]) }
        }
    }

    @Test("an oversized report is kept whole as the latest, and trimmed to the vitals in the history")
    func oversizedSampleTrimmed() async throws {
        let f = try await Fixture()
        f.heartbeat.historySampleSec = 0
        let (_, e) = try await f.member()
        let raw = try oversized(f, uptime: 42)
        #expect(raw.utf8.count > 200_000)
        try await beat(f, e, raw: raw)
        let latest = try await f.store.db.read {
            try String.fetchOne($0, sql: "SELECT report FROM heartbeat_latest WHERE member_id = ?", arguments: [e.member.id])
        }
        #expect(latest == raw, "the latest report is kept as sent")
        let rows = try await historyRows(f, e.member.id)
        #expect(rows.count == 1)
        let sample = try #require(rows.first)
        #expect(sample.report.utf8.count <= f.heartbeat.historySampleMaxBytes)
        #expect(sample.bytes == sample.report.utf8.count)
        let kept = try #require(try await f.store.heartbeatHistory(member: e.member.id, limit: 10, by: f.admin).first?.report)
        #expect(kept.uptimeSec == 42 && kept.load == [0.1, 0.2, 0.3] && kept.cpuPercent == 5)
        #expect(kept.memory.availableBytes == 250 && kept.agentVersion == "0.1.0" && kept.os.prettyName == "Debian 12")
        #expect(kept.stacks.isEmpty && kept.commands.isEmpty)
    }

    @Test("an oversized body that is not a full host report keeps only its envelope in the history")
    func oversizedUndecodable() async throws {
        let f = try await Fixture()
        f.heartbeat.historySampleSec = 0
        let (_, e) = try await f.member()
        let raw = #"{"hostname":"web-1","agentVersion":"9","protocolVersion":1,"jobsInFlight":[],"junk":""#
            + String(repeating: "x", count: 100_000) + #""}"#
        try await beat(f, e, raw: raw)
        let sample = try #require(try await historyRows(f, e.member.id).first)
        #expect(sample.bytes < 1_024, "\(sample.report.prefix(200))")
        #expect(try HeartbeatEnvelope.read(sample.report).agentVersion == "9")
        #expect(try await f.store.member(e.member.id, by: f.admin).heartbeat?.agentVersion == "9")
    }

    @Test("a member's history stays within its byte budget, oldest dropped first; other members keep theirs")
    func perMemberByteBudget() async throws {
        let f = try await Fixture()
        f.heartbeat.historySampleSec = 0
        let (_, a) = try await f.member(hostname: "web-1")
        let (_, b) = try await f.member(hostname: "web-2")
        let size = try encoded(f.report("web-1", uptime: 10)).utf8.count
        f.heartbeat.historyMaxBytesPerMember = size * 5 + size / 2  // room for 5 samples
        for i in 1...3 { try await beat(f, b, raw: try encoded(f.report("web-2", uptime: Double(10 + i)))) }
        for i in 10...40 { try await beat(f, a, raw: try encoded(f.report("web-1", uptime: Double(i)))) }
        let total = try await f.count("SELECT SUM(bytes) FROM heartbeat_history WHERE member_id = ?", [a.member.id])
        #expect(total <= f.heartbeat.historyMaxBytesPerMember)
        let uptimes = try await f.store.heartbeatHistory(member: a.member.id, limit: 100, by: f.admin).map(\.report.uptimeSec)
        #expect(uptimes == [40, 39, 38, 37, 36])
        #expect(try await f.count("SELECT COUNT(*) FROM heartbeat_history WHERE member_id = ?", [b.member.id]) == 3)
    }

    @Test("a heartbeats response stops before the sample that would take it past its byte budget")
    func responseBounded() async throws {
        let f = try await Fixture()
        f.heartbeat.historySampleSec = 0
        let (_, e) = try await f.member()
        for i in 10...29 { try await beat(f, e, raw: try encoded(f.report("web-1", uptime: Double(i)))) }
        let size = try encoded(f.report("web-1", uptime: 29)).utf8.count
        let bounded = try await f.store.heartbeatHistory(member: e.member.id, limit: 1_000, maxBytes: size * 3 + size / 2, by: f.admin)
        #expect(bounded.map(\.report.uptimeSec) == [29, 28, 27])
        #expect(try await f.store.heartbeatHistory(member: e.member.id, limit: 1_000, by: f.admin).count == 20)
    }

    @Test("samples stored before the cap are trimmed, and sized, when the database is migrated")
    func migrationTrimsOldSamples() async throws {
        let f = try await Fixture()  // for its report builder and a scratch directory
        let path = f.dir.appendingPathComponent("old.sqlite").path
        let big = try oversized(f, uptime: 7)
        let small = try encoded(f.report("web-1", uptime: 8))
        do {
            let old = try SQLiteEngine(path: path)
            try await Store.migrator.migrate(old, upTo: "v2: recipe runs and schedules")
            try await old.write { db in
                try db.executeScript("""
                    INSERT INTO accounts(id, name, is_admin, created_at) VALUES (1, 'admin', 1, 0);
                    INSERT INTO pools(id, account_id, name, template, created_at) VALUES (1, 1, 'p', 'generic', 0);
                    INSERT INTO members(id, pool_id, account_id, hostname, allowed_ips, family, role, secret_hash, created_at, secret_rotated_at)
                    VALUES (1, 1, 1, 'web-1', '203.0.113.10', 'debian', 'generic-linux', 'x', 0, 0);
                    """)
                for (t, report) in [(1.0, big), (2.0, small)] {
                    try db.execute(sql: "INSERT INTO heartbeat_history(member_id, received_at, source_ip, report) VALUES (1, ?, '203.0.113.10', ?)",
                                   arguments: [t, report])
                }
            }
        }
        let store = try Store(path: path)
        let rows = try await store.db.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT report, bytes FROM heartbeat_history ORDER BY id").map { ($0["report"] as String, $0["bytes"] as Int) }
        }
        #expect(rows.count == 2)
        #expect(rows.allSatisfy { $0.1 == $0.0.utf8.count })
        #expect(rows.first.map { $0.0.utf8.count <= HeartbeatPolicy().historySampleMaxBytes } == true)
        #expect(try JSONDecoder().decode(HostReport.self, from: Data(rows[0].0.utf8)).uptimeSec == 7)
        #expect(rows.last?.0 == small, "a sample within the cap is untouched")
    }
}
