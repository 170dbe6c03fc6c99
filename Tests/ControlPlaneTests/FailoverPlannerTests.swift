import BalctlProtocol
@testable import ControlPlane
import Testing

/// Issue 12: readiness with its reasons, and every guard of the automatic failover decision, as
/// plain functions of a snapshot and the clock.
@Suite("Failover planner: readiness and guards")
struct FailoverPlannerTests {
    static let t0 = 1_000_000.0

    func member(_ id: Int64, _ host: String, age: Double? = 0.5, ip: String? = "81.2.69.\(10)", haproxy: Bool? = true,
                priority: Int = 100, maintenance: Bool = false, streak: Int = 5, now: Double = t0) -> MemberSnapshot {
        MemberSnapshot(id: id, poolID: 1, hostname: host, priority: priority, maintenance: maintenance,
                       lastHeartbeat: age.map { now - $0 }, publicIP: ip.flatMap(IPv4.init), publicIPStreak: streak,
                       haproxyActive: haproxy, haproxyInactiveSince: haproxy == false ? now - (age ?? 0) : nil, lostAlertedAt: nil)
    }

    func pool(_ members: [MemberSnapshot], active: Int64? = 1, template: PoolTemplate = .haproxy, auto: Bool = true,
              delay: Int = 10, spacing: Int = 300, lastFailover: Double? = nil, noStandbyAlerted: Bool = false,
              activeIP: String? = "81.2.69.1", dynamicDNS: Bool = false) -> PoolSnapshot {
        var s = PoolFailoverSettings()
        s.hostname = "lb.example.com"; s.providerID = 1; s.autoFailover = auto; s.delaySec = delay; s.minSpacingSec = spacing
        s.dynamicDNS = dynamicDNS
        return PoolSnapshot(id: 1, name: "edge", template: template, settings: s, activeMemberID: active, activeIP: activeIP,
                            lastFailoverAt: lastFailover, lastAutoFailoverAt: lastFailover, noStandbyAlerted: noStandbyAlerted, pendingIP: nil, pendingRetryAt: nil,
                            members: members)
    }

    func planner(now: Double = t0, baseline: Double = t0 - 3600, allSilent: Bool = false) -> FailoverPlanner {
        FailoverPlanner(readiness: Readiness(now: now, freshSec: 3, baseline: baseline), allSilent: allSilent)
    }

    func promotions(_ actions: [FailoverAction]) -> [Int64] {
        actions.compactMap { if case let .promote(_, to, _, _) = $0 { return to }; return nil }
    }

    @Test("an active member silent for the delay is replaced by the ready standby; not a moment before")
    func promoteAfterDelay() {
        let standby = member(2, "lb-2", ip: "81.2.69.2")
        #expect(promotions(planner().plan(pool([member(1, "lb-1", age: 10.2), standby]))) == [2])
        #expect(promotions(planner().plan(pool([member(1, "lb-1", age: 9.8), standby]))).isEmpty)
    }

    @Test("guard: no automatic failover within one delay of the control plane starting")
    func startupGuard() {
        let p = pool([member(1, "lb-1", age: 600), member(2, "lb-2", ip: "81.2.69.2")])
        #expect(promotions(planner(baseline: Self.t0 - 5).plan(p)).isEmpty)
        #expect(promotions(planner(baseline: Self.t0 - 10).plan(p)) == [2])
    }

    @Test("guard: nothing moves while every member is silent")
    func allSilentGuard() {
        let p = pool([member(1, "lb-1", age: 60), member(2, "lb-2", age: 0.5, ip: "81.2.69.2")])
        #expect(planner(allSilent: true).plan(p).isEmpty)
        let silent = pool([member(1, "lb-1", age: 60), member(2, "lb-2", age: 59, ip: "81.2.69.2")])
        #expect(FailoverPlanner.everyoneSilent([silent], now: Self.t0, freshSec: 3))
        #expect(!FailoverPlanner.everyoneSilent([p], now: Self.t0, freshSec: 3))
        // Members never heard from do not make the control plane "silent".
        #expect(!FailoverPlanner.everyoneSilent([pool([member(1, "lb-1", age: nil)])], now: Self.t0, freshSec: 3))
    }

    @Test("guard: minimum spacing between failovers")
    func spacingGuard() {
        let members = [member(1, "lb-1", age: 30), member(2, "lb-2", ip: "81.2.69.2")]
        #expect(promotions(planner().plan(pool(members, spacing: 300, lastFailover: Self.t0 - 200))).isEmpty)
        #expect(promotions(planner().plan(pool(members, spacing: 300, lastFailover: Self.t0 - 301))) == [2])
    }

    @Test("guard: no failback — a healthy active member is never replaced, whatever the standbys' priority")
    func noFailback() {
        let p = pool([member(1, "lb-1", priority: 500), member(2, "lb-2", ip: "81.2.69.2", priority: 0)], active: 1)
        #expect(planner().plan(p).isEmpty)
    }

    @Test("guard: a standby that is not ready is never promoted; 'no ready standby' is reported once")
    func noReadyStandby() {
        let members = [member(1, "lb-1", age: 30), member(2, "lb-2", age: 30, ip: "81.2.69.2"),
                       member(3, "lb-3", ip: "10.0.0.3"), member(4, "lb-4", ip: "81.2.69.4", maintenance: true),
                       member(5, "lb-5", ip: "81.2.69.5", haproxy: false)]
        let actions = planner().plan(pool(members))
        #expect(promotions(actions).isEmpty)
        #expect(actions.contains { if case .noReadyStandby = $0 { return true }; return false })
        #expect(planner().plan(pool(members, noStandbyAlerted: true)).filter { if case .noReadyStandby = $0 { return true }; return false }.isEmpty)
        // Back to healthy: the flag is cleared so the next outage reports again.
        let healthy = [member(1, "lb-1")] + members.dropFirst()
        #expect(planner().plan(pool(Array(healthy), noStandbyAlerted: true)).contains(.clearNoStandby(pool: 1)))
    }

    @Test("readiness reasons name what is wrong")
    func reasons() {
        let r = Readiness(now: Self.t0, freshSec: 3, baseline: 0)
        let p = pool([])
        #expect(r.standbyProblem(member(2, "a", age: 14.2), pool: p) == "heartbeat 14 s old")
        #expect(r.standbyProblem(member(2, "a", haproxy: false), pool: p) == "haproxy inactive")
        #expect(r.standbyProblem(member(2, "a", haproxy: nil), pool: p) == "haproxy not detected in heartbeat")
        #expect(r.standbyProblem(member(2, "a", ip: nil), pool: p) == "no public IPv4 in heartbeat")
        for privateIP in ["10.1.2.3", "127.0.0.1", "169.254.1.1", "100.64.0.1", "192.168.1.1", "172.16.0.1", "192.0.2.1", "198.51.100.9", "203.0.113.9"] {
            #expect(r.standbyProblem(member(2, "a", ip: privateIP), pool: p)?.contains("is not public") == true, "\(privateIP)")
        }
        #expect(r.standbyProblem(member(2, "a", maintenance: true), pool: p) == "in maintenance")
        #expect(r.standbyProblem(member(2, "a", age: nil), pool: p) == "never sent a heartbeat")
        #expect(r.standbyProblem(member(2, "a"), pool: p) == nil)
        // Generic pools do not watch haproxy; a pool may allow private IPs for testing.
        #expect(r.standbyProblem(member(2, "a", haproxy: nil), pool: pool([], template: .generic)) == nil)
        var lab = pool([]); lab.settings.allowPrivateIPs = true
        #expect(r.standbyProblem(member(2, "a", ip: "10.1.2.3"), pool: lab) == nil)
        // The active member's health.
        #expect(r.active(member(1, "a", age: 14.2), pool: p).reason == "no heartbeat for 14 s")
        #expect(r.active(member(1, "a", age: 0.5, haproxy: false), pool: p).healthy == false)
        #expect(r.active(member(1, "a", age: 0.5, haproxy: false), pool: pool([], template: .generic)).healthy)
    }

    @Test("haproxy inactive on the active member fails over after the delay (haproxy pools only)")
    func haproxyInactive() {
        var active = member(1, "lb-1", haproxy: false)
        active.haproxyInactiveSince = Self.t0 - 11
        let standby = member(2, "lb-2", ip: "81.2.69.2")
        #expect(promotions(planner().plan(pool([active, standby]))) == [2])
        active.haproxyInactiveSince = Self.t0 - 5
        #expect(promotions(planner().plan(pool([active, standby]))).isEmpty)
        active.haproxyInactiveSince = Self.t0 - 11
        #expect(promotions(planner().plan(pool([active, standby], template: .generic))).isEmpty)
    }

    @Test("the best standby: lowest priority number, then the freshest heartbeat")
    func bestStandby() {
        let r = Readiness(now: Self.t0, freshSec: 3, baseline: 0)
        let a = member(2, "a", age: 0.9, ip: "81.2.69.2", priority: 100)
        let b = member(3, "b", age: 0.2, ip: "81.2.69.3", priority: 100)
        let c = member(4, "c", age: 2.0, ip: "81.2.69.4", priority: 50)
        #expect(r.bestStandby(pool([member(1, "x"), a, b]))?.id == 3)
        #expect(r.bestStandby(pool([member(1, "x"), a, b, c]))?.id == 4)
    }

    @Test("no automatic failover when it is off, or DNS is not configured; manual settings unaffected")
    func autoOffOrUnconfigured() {
        let members = [member(1, "lb-1", age: 30), member(2, "lb-2", ip: "81.2.69.2")]
        #expect(promotions(planner().plan(pool(members, auto: false))).isEmpty)
        var p = pool(members); p.settings.hostname = nil
        #expect(promotions(planner().plan(p)).isEmpty)
    }

    @Test("dynamic DNS follows a new address seen in 2 consecutive heartbeats, once")
    func dynamicDNS() {
        let moved = member(1, "lb-1", ip: "81.2.69.77", streak: 1)
        #expect(planner().plan(pool([moved], dynamicDNS: true)).isEmpty)
        let settled = member(1, "lb-1", ip: "81.2.69.77", streak: 2)
        #expect(planner().plan(pool([settled], dynamicDNS: true)) == [.syncAddress(pool: 1, member: 1, ip: IPv4("81.2.69.77")!,
                                                                                     reason: "dynamic DNS: lb-1 reports 81.2.69.77 (was 81.2.69.1)")])
        #expect(planner().plan(pool([settled], activeIP: "81.2.69.77", dynamicDNS: true)).isEmpty)
        #expect(planner().plan(pool([settled], dynamicDNS: false)).isEmpty)
    }

    @Test("heartbeat loss alerts after the delay and recovery alerts once fresh; none while all are silent")
    func heartbeatAlerts() {
        let lost = member(2, "lb-2", age: 11, ip: "81.2.69.2")
        #expect(planner().plan(pool([member(1, "lb-1"), lost])).contains(.heartbeatLost(pool: 1, member: 2, lastHeartbeat: Self.t0 - 11)))
        #expect(planner(allSilent: true).plan(pool([member(1, "lb-1"), lost])).isEmpty)
        var back = member(2, "lb-2", age: 0.5, ip: "81.2.69.2")
        back.lostAlertedAt = Self.t0 - 30
        #expect(planner().plan(pool([member(1, "lb-1"), back])) == [.heartbeatRecovered(pool: 1, member: 2)])
    }
}
