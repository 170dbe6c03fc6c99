#if canImport(Glibc)
import Glibc
#endif
import ServiceLaunchers
import BalctlProtocol
@testable import ControlPlane
import Foundation
import SQLEngine
import Logging
import Testing
import TestSupport

/// Issue 12: the failover decision path end to end inside the control plane — store, planner,
/// leased executor, provider registry — writing through a real BIND9 (one `named` for the suite).
/// Agents are played by `Fixture.beat` (the route's own ingest path); "death" is a heartbeat aged
/// in the database, so a test never waits for the delay.
@Suite("Failover against a real named", .serialized, .bindServer, .storeEngines)
struct FailoverBINDTests {
    let bind: BINDServer
    init() throws { bind = try BINDServer.shared() }

    static let haproxyUp: [String: JSONValue] = ["haproxy": .object(["active": .bool(true), "unit": .string("active")])]
    static let haproxyDown: [String: JSONValue] = ["haproxy": .object(["active": .bool(false), "unit": .string("inactive")])]

    /// A haproxy pool with two members heartbeating with public IPs, an rfc2136 provider on the
    /// suite's named, failover hostname `name`, automatic failover on with a 10 s delay.
    struct Setup {
        let f: Fixture
        let pool: PoolView
        let a: MemberEnrollment
        let b: MemberEnrollment
        let failover: Failover
        let box: SecretBox
        let name: String
    }

    func setup(_ label: String, secret: String? = nil, port: UInt16? = nil, beat: Bool = true) async throws -> Setup {
        let f = try await Fixture()
        let box = try SecretBox.open(dataDir: f.dir.path)
        let pool = try await f.store.createPool(CreatePoolRequest(name: "edge", template: .haproxy), by: f.admin)
        let a = try await f.member(pool: "edge", hostname: "lb-1").enrollment
        let b = try await f.member(pool: "edge", hostname: "lb-2").enrollment
        let provider = try await f.store.addDNSProvider(CreateDNSProviderRequest(
            name: "bind", kind: .rfc2136,
            settings: ["server": "127.0.0.1", "port": "\(port ?? bind.port)", "zone": BINDServer.zone, "keyName": BINDServer.keyName,
                       "timeout": "0.5"],
            secret: secret ?? Data(bind.key.secret).base64EncodedString()), box: box, by: f.admin)
        let name = "\(label).\(BINDServer.zone)"
        _ = try await f.store.updateFailoverSettings(pool: pool.id, UpdateFailoverSettingsRequest(
            hostname: name, providerId: provider.id, ttl: 30, autoFailover: true, delaySec: 10, minSpacingSec: 300,
            alertEmails: ["ops@example.com"]), box: box, by: f.admin)
        if beat {
            try await f.beat(a, publicIP: "81.2.69.11", stacks: Self.haproxyUp)
            try await f.beat(b, publicIP: "81.2.69.12", stacks: Self.haproxyUp)
        }
        // Started an hour ago: the startup guard has its own test.
        let failover = Failover(store: f.store, box: box, heartbeatIntervalSec: 1, logger: Logger(label: "test"), startedAt: now() - 3600)
        return Setup(f: f, pool: pool, a: a, b: b, failover: failover, box: box, name: name)
    }

    /// Ages a member's latest heartbeat by `seconds` (the agent "died" that long ago).
    func age(_ s: Setup, _ e: MemberEnrollment, by seconds: Double) async throws {
        try await s.f.store.db.write { db in
            try db.execute(sql: "UPDATE heartbeat_latest SET received_at = received_at - ? WHERE member_id = ?", arguments: [seconds, e.member.id])
        }
    }

    func events(_ s: Setup) async throws -> [FailoverEventView] {
        try await s.f.store.failoverEvents(pool: s.pool.id, limit: 50, by: s.f.admin)
    }

    @Test("make-active writes the record; the active member's death moves it to the standby once, with the timings recorded")
    func automaticFailover() async throws {
        let s = try await setup("auto")
        let made = try await s.failover.makeActive(member: s.a.member.id, force: false, by: s.f.admin)
        #expect(made.verified == true, "\(made)")
        #expect(try bind.dig(s.name) == ["81.2.69.11"])
        let updatesBefore = try await bind.opcodeCount("UPDATE")

        try await age(s, s.a, by: 11)
        let actions = try await s.failover.tick()
        #expect(actions.contains { if case .promote(_, s.b.member.id, _, _) = $0 { return true }; return false }, "\(actions)")
        #expect(try bind.dig(s.name) == ["81.2.69.12"])
        #expect(try await bind.opcodeCount("UPDATE") == updatesBefore + 1)
        let e = try #require(try await events(s).first)
        #expect(e.kind == "failover" && e.fromMemberId == s.a.member.id && e.toMemberId == s.b.member.id)
        #expect(e.fromIP == "81.2.69.11" && e.toIP == "81.2.69.12" && e.verified == true && e.error == nil)
        let since = try #require(e.unhealthySince), detected = try #require(e.detectedAt), written = try #require(e.dnsWrittenAt)
        #expect(since < detected && detected <= written)
        #expect(e.providerReply?.contains("NOERROR") == true)
        #expect((e.fencingToken ?? 0) >= 2)
        // The settings now name the standby as active; the alert is queued, not sent inline.
        let settings = try await s.f.store.failoverSettings(pool: s.pool.id, by: s.f.admin)
        #expect(settings.activeMemberId == s.b.member.id && settings.activeIP == "81.2.69.12")
        #expect(try await s.f.count("SELECT COUNT(*) FROM alert_outbox WHERE kind = 'failover' AND target = 'ops@example.com'") == 2)
        // No failback: the old active comes back; nothing moves on later ticks.
        try await s.f.beat(s.a, publicIP: "81.2.69.11", stacks: Self.haproxyUp)
        try await s.f.beat(s.b, publicIP: "81.2.69.12", stacks: Self.haproxyUp)
        for _ in 0..<3 { _ = try await s.failover.tick() }
        #expect(try await bind.opcodeCount("UPDATE") == updatesBefore + 1)
        #expect(try bind.dig(s.name) == ["81.2.69.12"])
    }

    @Test("two control planes on one database: one DNS write per failover")
    func twoControlPlanes() async throws {
        let s = try await setup("twocp")
        _ = try await s.failover.makeActive(member: s.a.member.id, force: false, by: s.f.admin)
        let other = Failover(store: s.f.store, box: s.box, heartbeatIntervalSec: 1, logger: Logger(label: "other"), startedAt: now() - 3600)
        #expect(other.executor.owner != s.failover.executor.owner)
        let updatesBefore = try await bind.opcodeCount("UPDATE")
        try await age(s, s.a, by: 11)
        async let one = s.failover.tick()
        async let two = other.tick()
        _ = try await (one, two)
        #expect(try await bind.opcodeCount("UPDATE") == updatesBefore + 1)
        #expect(try await events(s).filter { $0.kind == "failover" }.count == 1)
        #expect(try bind.dig(s.name) == ["81.2.69.12"])
    }

    @Test("a write is refused unless its fencing token is still the pool's current one")
    func fencing() async throws {
        let s = try await setup("fence")
        _ = try await s.failover.makeActive(member: s.a.member.id, force: false, by: s.f.admin)
        // Another control plane holds the pool's lease: this one decides nothing.
        try await s.f.store.db.write { db in
            try db.execute(sql: "UPDATE pool_failover SET lease_owner = 'elsewhere', lease_token = lease_token + 1, lease_expires_at = ? WHERE pool_id = ?",
                           arguments: [now() + 60, s.pool.id])
        }
        let updatesBefore = try await bind.opcodeCount("UPDATE")
        try await age(s, s.a, by: 11)
        _ = try await s.failover.tick()
        #expect(try await bind.opcodeCount("UPDATE") == updatesBefore)
        #expect(try bind.dig(s.name) == ["81.2.69.11"])
    }

    @Test("haproxy inactive on the active member fails over; a standby whose haproxy is down is not promoted")
    func haproxyInactive() async throws {
        let s = try await setup("hap")
        _ = try await s.failover.makeActive(member: s.a.member.id, force: false, by: s.f.admin)
        try await s.f.beat(s.b, publicIP: "81.2.69.12", stacks: Self.haproxyDown)
        try await s.f.beat(s.a, publicIP: "81.2.69.11", stacks: Self.haproxyDown)
        try await s.f.store.db.write { db in
            try db.execute(sql: "UPDATE heartbeat_latest SET haproxy_inactive_since = haproxy_inactive_since - 11 WHERE member_id = ?",
                           arguments: [s.a.member.id])
        }
        _ = try await s.failover.tick()
        #expect(try bind.dig(s.name) == ["81.2.69.11"])  // the standby's haproxy is down too
        let status = try await s.failover.status(pool: s.pool.id, by: s.f.admin)
        #expect(status.members.first { $0.memberId == s.b.member.id }?.reason == "haproxy inactive")
        #expect(status.members.first { $0.memberId == s.a.member.id }?.reason.hasPrefix("haproxy inactive for") == true)
        #expect(try await events(s).first?.kind == "no_ready_standby")
        #expect(try await s.f.count("SELECT COUNT(*) FROM alert_outbox WHERE kind = 'no_ready_standby'") == 1)
        _ = try await s.failover.tick()  // once, not every tick
        #expect(try await s.f.count("SELECT COUNT(*) FROM alert_outbox WHERE kind = 'no_ready_standby'") == 1)

        try await s.f.beat(s.b, publicIP: "81.2.69.12", stacks: Self.haproxyUp)
        _ = try await s.failover.tick()
        #expect(try bind.dig(s.name) == ["81.2.69.12"])
    }

    @Test("manual make-active refuses a standby that is not ready, with the reason; --force overrides; cut picks the next ready standby")
    func manual() async throws {
        let s = try await setup("manual")
        _ = try await s.failover.makeActive(member: s.a.member.id, force: false, by: s.f.admin)
        try await s.f.beat(s.b, publicIP: "10.0.0.12", stacks: Self.haproxyUp)
        let refused = await cpError { _ = try await s.failover.makeActive(member: s.b.member.id, force: false, by: s.f.admin) }
        #expect(refused?.kind == .conflict)
        #expect(refused?.message.contains("not ready: IPv4 10.0.0.12 in heartbeat is not public") == true, "\(String(describing: refused))")
        let noStandby = await cpError { _ = try await s.failover.cut(pool: s.pool.id, by: s.f.admin) }
        #expect(noStandby?.message.contains("no ready standby") == true && noStandby?.message.contains("lb-2") == true)

        try await s.f.beat(s.b, publicIP: "81.2.69.12", stacks: Self.haproxyUp)
        let cut = try await s.failover.cut(pool: s.pool.id, by: s.f.admin)
        #expect(cut.kind == "cut" && cut.verified == true && cut.toMemberId == s.b.member.id)
        #expect(try bind.dig(s.name) == ["81.2.69.12"])
        // Forced: recorded as such, and audit-logged.
        try await s.f.beat(s.a, publicIP: "81.2.69.11", stacks: Self.haproxyDown)
        let forced = try await s.failover.makeActive(member: s.a.member.id, force: true, by: s.f.admin)
        #expect(forced.reason?.contains("forced; not ready: haproxy inactive") == true)
        #expect(try bind.dig(s.name) == ["81.2.69.11"])
        let audit = try await s.f.store.auditLog(by: s.f.admin, limit: 50).map(\.action)
        #expect(audit.contains("failover.make_active") && audit.contains("failover.cut"))
    }

    @Test("a wrong TSIG key is refused by named and the refusal reaches the event; a name outside the zone is refused before sending")
    func providerErrors() async throws {
        let bad = Data(repeating: 7, count: 32).base64EncodedString()
        let s = try await setup("badkey", secret: bad)
        let e = try await s.failover.makeActive(member: s.a.member.id, force: false, by: s.f.admin)
        #expect(e.verified != true)
        #expect(e.error?.contains("authentication") == true, "\(String(describing: e.error))")
        #expect(try bind.dig(s.name).isEmpty)
        #expect(try await s.f.count("SELECT COUNT(*) FROM alert_outbox WHERE kind = 'dns_failed'") == 1)
        // The address stays owed to DNS and is retried.
        #expect(try await s.f.count("SELECT COUNT(*) FROM pool_failover WHERE pending_ip = '81.2.69.11' AND pending_attempts = 1") == 1)
        // Retried once due (not before), backing off: 10 s, then 20 s.
        #expect(try await s.failover.tick().isEmpty)
        try await s.f.store.db.write { try $0.execute(sql: "UPDATE pool_failover SET pending_ip_at = pending_ip_at - 10.5") }
        let retry = try await s.failover.tick()
        #expect(retry == [.syncAddress(pool: s.pool.id, member: s.a.member.id, ip: IPv4("81.2.69.11")!, reason: "retrying the failed DNS write")])
        #expect(try await s.f.count("SELECT COUNT(*) FROM pool_failover WHERE pending_attempts = 2 AND pending_ip_at > ?", [now() + 19]) == 1)
        #expect(try await events(s).first?.kind == "dns_retry")
        #expect(try await s.f.count("SELECT COUNT(*) FROM alert_outbox WHERE kind = 'dns_failed'") == 1)  // retries do not re-alert

        let out = try await setup("out")
        // Saving such a name is refused (RT-12-6)...
        let refused = await cpError {
            _ = try await out.f.store.updateFailoverSettings(pool: out.pool.id, UpdateFailoverSettingsRequest(hostname: "lb.elsewhere.example"),
                                                             box: out.box, by: out.f.admin)
        }
        #expect(refused?.message.contains("not in the provider's zone") == true, "\(String(describing: refused))")
        // ...but a provider's zone can change after the name was saved: the provider still refuses before sending.
        try await out.f.store.db.write { try $0.execute(sql: "UPDATE pool_failover SET hostname = 'lb.elsewhere.example' WHERE pool_id = ?", arguments: [out.pool.id]) }
        let updatesBefore = try await bind.opcodeCount("UPDATE")
        let outside = try await out.failover.makeActive(member: out.a.member.id, force: false, by: out.f.admin)
        #expect(outside.error?.contains("invalid request") == true, "\(String(describing: outside.error))")
        #expect(try await bind.opcodeCount("UPDATE") == updatesBefore)
    }

    @Test("drill: reports the winner and readiness, detects a bad key and an unreachable provider, and changes nothing")
    func drill() async throws {
        let s = try await setup("drill")
        _ = try await s.failover.makeActive(member: s.a.member.id, force: false, by: s.f.admin)
        let serial = try bind.serial()
        let good = try await s.failover.drill(pool: s.pool.id, by: s.f.admin)
        guard case .object(let d)? = good.detail else { Issue.record("no detail"); return }
        #expect(d["ok"] == .bool(true), "\(d)")
        #expect(d["winner"] == .string("lb-2"))
        #expect(d["credentials"]?.stringValue?.hasPrefix("accepted") == true)
        #expect(d["record"] == .array([.object(["ip": .string("81.2.69.11"), "ttl": .number(30)])]))

        let badKey = try await setup("drillbad", secret: Data(repeating: 9, count: 32).base64EncodedString())
        _ = try await badKey.f.store.db.write { db in
            try db.execute(sql: "UPDATE pool_failover SET active_member_id = ? WHERE pool_id = ?", arguments: [badKey.a.member.id, badKey.pool.id])
        }
        let bk = try await badKey.failover.drill(pool: badKey.pool.id, by: badKey.f.admin)
        guard case .object(let bd)? = bk.detail else { Issue.record("no detail"); return }
        #expect(bd["ok"] == .bool(false))
        #expect(bd["credentials"]?.stringValue?.hasPrefix("REFUSED") == true, "\(bd)")

        let silent = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(silent) }
        let silentPort: UInt16 = try #require(Loopback.bind(silent, port: 0))
        let unreachable = try await setup("drilldown", port: silentPort)
        let un = try await unreachable.failover.drill(pool: unreachable.pool.id, by: unreachable.f.admin)
        guard case .object(let ud)? = un.detail else { Issue.record("no detail"); return }
        #expect(ud["ok"] == .bool(false))
        #expect(ud["problems"]?.jsonString().contains("unreachable") == true, "\(ud)")
        // Nothing changed in the zone.
        #expect(try bind.serial() == serial)
        #expect(try bind.dig(s.name) == ["81.2.69.11"])
    }

    @Test("dynamic DNS: a new address seen in two consecutive heartbeats moves the record, once")
    func dynamicDNS() async throws {
        let s = try await setup("dyn")
        _ = try await s.failover.makeActive(member: s.a.member.id, force: false, by: s.f.admin)
        _ = try await s.f.store.updateFailoverSettings(pool: s.pool.id, UpdateFailoverSettingsRequest(dynamicDNS: true), box: s.box, by: s.f.admin)
        try await s.f.beat(s.a, publicIP: "81.2.69.99", stacks: Self.haproxyUp)
        _ = try await s.failover.tick()
        #expect(try bind.dig(s.name) == ["81.2.69.11"])  // seen once: not yet
        let updatesBefore = try await bind.opcodeCount("UPDATE")
        try await s.f.beat(s.a, publicIP: "81.2.69.99", stacks: Self.haproxyUp)
        _ = try await s.failover.tick()
        #expect(try bind.dig(s.name) == ["81.2.69.99"])
        for _ in 0..<3 {
            try await s.f.beat(s.a, publicIP: "81.2.69.99", stacks: Self.haproxyUp)
            _ = try await s.failover.tick()
        }
        #expect(try await bind.opcodeCount("UPDATE") == updatesBefore + 1)
        #expect(try await events(s).first?.kind == "dynamic_dns")
    }

    @Test("startup guard and all-silent guard: no write; one control-plane alert for the silence")
    func startupAndSilence() async throws {
        let s = try await setup("guards")
        _ = try await s.failover.makeActive(member: s.a.member.id, force: false, by: s.f.admin)
        let updatesBefore = try await bind.opcodeCount("UPDATE")
        try await age(s, s.a, by: 60)
        let fresh = Failover(store: s.f.store, box: s.box, heartbeatIntervalSec: 1, logger: Logger(label: "fresh"), startedAt: now() - 5)
        _ = try await fresh.tick()
        #expect(try await bind.opcodeCount("UPDATE") == updatesBefore)  // started 5 s ago, delay 10 s
        // A control plane started one delay ago (the clock is the planner's input; the standby's
        // heartbeat must stay fresh, so the start moves rather than the clock).
        let later = Failover(store: s.f.store, box: s.box, heartbeatIntervalSec: 1, logger: Logger(label: "later"), startedAt: now() - 10.5)
        _ = try await later.tick()
        #expect(try bind.dig(s.name) == ["81.2.69.12"])  // one delay after the start: a real failover

        let t = try await setup("silent")
        _ = try await t.failover.makeActive(member: t.a.member.id, force: false, by: t.f.admin)
        // A second pool of the admin's, and another account with a pool of its own (alerting by
        // mail and webhook): each account gets its own alert, counting only its own pools.
        let second = try await t.f.store.createPool(CreatePoolRequest(name: "edge-2", template: .generic), by: t.f.admin)
        _ = try await t.f.store.updateFailoverSettings(pool: second.id, UpdateFailoverSettingsRequest(alertEmails: ["ops@example.com"]),
                                                       box: t.box, by: t.f.admin)
        let tenant = try await t.f.otherOperator()
        let tenantPool = try await t.f.store.createPool(CreatePoolRequest(name: "tenant-edge", template: .generic), by: tenant)
        let tenantMember = try await t.f.member(pool: "tenant-edge", hostname: "t-1", by: tenant).enrollment
        try await t.f.beat(tenantMember, publicIP: "81.2.70.1")
        _ = try await t.f.store.updateFailoverSettings(pool: tenantPool.id, UpdateFailoverSettingsRequest(
            alertEmails: ["tenant@example.org"], webhookURL: "https://hooks.tenant.example/balctl",
            webhookSecret: String(repeating: "s", count: 32)), box: t.box, by: tenant)
        let before = try await bind.opcodeCount("UPDATE")
        try await age(t, t.a, by: 60)
        try await age(t, t.b, by: 59)
        try await age(t, tenantMember, by: 58)
        for k in 0..<4 { _ = try await t.failover.tick(at: now() + Double(k) * 5) }
        #expect(try await bind.opcodeCount("UPDATE") == before)
        #expect(try bind.dig(t.name) == ["81.2.69.11"])
        let mails = try await t.f.store.db.read { db in
            try String.fetchAll(db, sql: "SELECT target FROM alert_outbox WHERE kind = 'all_silent' AND channel = 'email' ORDER BY target")
        }
        #expect(mails == ["ops@example.com", "tenant@example.org"])
        let hook = try await t.f.store.db.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT pool_id, body FROM alert_outbox WHERE kind = 'all_silent' AND channel = 'webhook'")
                .map { ($0["pool_id"] as Int64, $0["body"] as String) }
        }
        #expect(hook.count == 1 && hook.first?.0 == tenantPool.id)
        let facts = try JSONDecoder().decode(JSONValue.self, from: Data((hook.first?.1 ?? "{}").utf8))["facts"]
        #expect(facts?["pools"] == .number(1), "the tenant's alert counts its own pool only: \(String(describing: facts))")
        #expect(try await t.f.count("SELECT COUNT(*) FROM alert_outbox WHERE kind = 'heartbeat_lost'") == 0)
    }

    @Test("another account sees none of it: pools' failover, members, providers, events")
    func tenantIsolation() async throws {
        let s = try await setup("tenant")
        let other = try await s.f.otherOperator()
        let otherPool = try await s.f.store.createPool(CreatePoolRequest(name: "mine", template: .generic), by: other)
        for attempt in [
            { _ = try await s.failover.status(pool: s.pool.id, by: other) },
            { _ = try await s.failover.makeActive(member: s.a.member.id, force: true, by: other) },
            { _ = try await s.failover.cut(pool: s.pool.id, by: other) },
            { _ = try await s.failover.drill(pool: s.pool.id, by: other) },
            { _ = try await s.f.store.failoverEvents(pool: s.pool.id, limit: 10, by: other) },
            { _ = try await s.f.store.updateFailoverSettings(pool: s.pool.id, UpdateFailoverSettingsRequest(autoFailover: false), box: s.box, by: other) },
            // Linking someone else's provider to one's own pool.
            { _ = try await s.f.store.updateFailoverSettings(pool: otherPool.id, UpdateFailoverSettingsRequest(providerId: 1), box: s.box, by: other) },
            { try await s.f.store.removeDNSProvider(1, by: other) },
            { _ = try await s.f.store.updateMemberFailover(s.a.member.id, UpdateMemberFailoverRequest(maintenance: true), by: other) },
        ] as [@Sendable () async throws -> Void] {
            let e = await cpError(attempt)
            #expect(e?.kind == .notFound, "\(String(describing: e))")
        }
        #expect(try await s.f.store.listDNSProviders(by: other).isEmpty)
        #expect(try bind.dig(s.name).isEmpty)
    }

    @Test("provider secrets are sealed at rest and never returned; settings are validated")
    func secretsAndValidation() async throws {
        let s = try await setup("secrets", beat: false)
        let token = Data(bind.key.secret).base64EncodedString()
        let raw = try await s.f.store.db.read { try Data.fetchOne($0, sql: "SELECT secret FROM dns_providers") }
        #expect(raw != nil && raw!.range(of: Data(token.utf8)) == nil && raw!.range(of: Data(bind.key.secret)) == nil)
        let listed = String(decoding: try JSONEncoder().encode(try await s.f.store.listDNSProviders(by: s.f.admin)), as: UTF8.self)
        #expect(!listed.contains(token))
        // A sealed secret moved to another row does not open.
        let other = SecretBox(key: .init(size: .bits256))
        #expect(throws: SecretBoxError.self) { _ = try other.open(raw!, context: "dns_provider:1") }
        // The key file is private.
        var st = stat()
        #expect(stat(s.f.dir.path + "/secrets.key", &st) == 0 && st.st_mode & 0o777 == 0o600)

        for (req, message) in [(UpdateFailoverSettingsRequest(delaySec: 2), "failover delay"),
                               (UpdateFailoverSettingsRequest(ttl: 5), "TTL"),
                               (UpdateFailoverSettingsRequest(hostname: "not a name"), "failover hostname"),
                               (UpdateFailoverSettingsRequest(alertEmails: ["x\r\nBcc: y@z"]), "not an email"),
                               (UpdateFailoverSettingsRequest(webhookURL: "http://hooks.example.com/x"), "https")] {
            let e = await cpError { _ = try await s.f.store.updateFailoverSettings(pool: s.pool.id, req, box: s.box, by: s.f.admin) }
            #expect(e?.kind == .badRequest && e?.message.contains(message) == true, "\(String(describing: e))")
        }
        let warn = try await s.f.store.updateFailoverSettings(pool: s.pool.id, UpdateFailoverSettingsRequest(delaySec: 5), box: s.box, by: s.f.admin)
        #expect(warn.delaySec == 5 && warn.warnings.contains { $0.contains("below 10 s") })
        let badProvider = await cpError {
            _ = try await s.f.store.addDNSProvider(CreateDNSProviderRequest(name: "x", kind: .rfc2136, settings: ["server": "127.0.0.1", "zone": "a.example"],
                                                                            secret: "c2VjcmV0"), box: s.box, by: s.f.admin)
        }
        #expect(badProvider?.message.contains("'keyName' is required") == true)
        let linked = await cpError { try await s.f.store.removeDNSProvider(1, by: s.f.admin) }
        #expect(linked?.kind == .conflict)
    }
}
