import BalctlProtocol

/// What one evaluator tick decided for one pool or member.
enum FailoverAction: Sendable, Equatable {
    /// Move the record to `to` (an automatic failover).
    case promote(pool: Int64, to: Int64, reason: String, unhealthySince: Double)
    /// The active member is down and no standby may take over: an event and an alert, once.
    case noReadyStandby(pool: Int64, reason: String, unhealthySince: Double)
    /// The active member is healthy again: the next outage may alert "no ready standby" again.
    case clearNoStandby(pool: Int64)
    /// Point the record at the active member's address (dynamic DNS, or a retry of a failed write).
    case syncAddress(pool: Int64, member: Int64, ip: IPv4, reason: String)
    case heartbeatLost(pool: Int64, member: Int64, lastHeartbeat: Double)
    case heartbeatRecovered(pool: Int64, member: Int64)
}

/// The decisions of one tick, from a snapshot and the clock alone (no I/O), so every guard is
/// tested as a plain function. Guards:
/// - no automatic failover within one delay of the control plane starting, or of it hearing any
///   member again after an all-silent outage (`Readiness.baseline`);
/// - none while every member is silent (the control plane's own network is down, not the fleet);
/// - none within `minSpacingSec` of the pool's last automatic failover;
/// - no failback: only an unhealthy active member is ever replaced, never a healthy one;
/// - a standby that is not ready is never promoted automatically ("no ready standby" instead, once).
struct FailoverPlanner: Sendable {
    var readiness: Readiness
    /// Every member of every pool is silent (see `FailoverEvaluator`).
    var allSilent: Bool

    func plan(_ pools: [PoolSnapshot]) -> [FailoverAction] {
        pools.flatMap(plan)
    }

    func plan(_ pool: PoolSnapshot) -> [FailoverAction] {
        var actions = heartbeatAlerts(pool)
        guard let active = pool.active else { return actions }
        let now = readiness.now
        let health = readiness.active(active, pool: pool)
        let dnsConfigured = pool.settings.hostname != nil && pool.settings.providerID != nil
        if health.healthy {
            if pool.noStandbyAlerted { actions.append(.clearNoStandby(pool: pool.id)) }
            guard dnsConfigured else { return actions }
            if let pending = pool.pendingIP.flatMap(IPv4.init), now >= pool.pendingRetryAt ?? 0 {
                actions.append(.syncAddress(pool: pool.id, member: active.id, ip: pending, reason: "retrying the failed DNS write"))
            } else if pool.pendingIP == nil, pool.settings.dynamicDNS, let ip = active.publicIP, active.publicIPStreak >= 2,
                      ip.description != pool.activeIP, ip.isPublic || pool.settings.allowPrivateIPs {
                actions.append(.syncAddress(pool: pool.id, member: active.id, ip: ip,
                                            reason: "dynamic DNS: \(active.hostname) reports \(ip) (was \(pool.activeIP ?? "none"))"))
            }
            return actions
        }
        guard pool.settings.autoFailover, dnsConfigured, !allSilent, let since = health.unhealthySince,
              now - since >= Double(pool.settings.delaySec) else { return actions }
        if let last = pool.lastAutoFailoverAt, now - last < Double(pool.settings.minSpacingSec) { return actions }
        let reason = "\(active.hostname): \(health.reason)"
        if let best = readiness.bestStandby(pool) {
            actions.append(.promote(pool: pool.id, to: best.id, reason: reason, unhealthySince: since))
        } else if !pool.noStandbyAlerted {
            actions.append(.noReadyStandby(pool: pool.id, reason: reason, unhealthySince: since))
        }
        return actions
    }

    /// A member silent for longer than the pool's delay alerts once; its next fresh heartbeat
    /// alerts its recovery. Nothing while everything is silent (one control-plane alert instead).
    func heartbeatAlerts(_ pool: PoolSnapshot) -> [FailoverAction] {
        guard !allSilent else { return [] }
        return pool.members.compactMap { m in
            guard let last = m.lastHeartbeat else { return nil }
            let silentFor = readiness.now - max(last, readiness.baseline)
            if m.lostAlertedAt == nil, silentFor > Double(pool.settings.delaySec) {
                return .heartbeatLost(pool: pool.id, member: m.id, lastHeartbeat: last)
            }
            if m.lostAlertedAt != nil, readiness.now - last <= readiness.freshSec {
                return .heartbeatRecovered(pool: pool.id, member: m.id)
            }
            return nil
        }
    }

    /// True when members have been heard from but none within `freshSec`: the control plane
    /// cannot reach its fleet, and moving DNS would only make things worse. Heartbeats older than
    /// `baseline` count from it (right after a start, nobody is silent yet).
    static func everyoneSilent(_ pools: [PoolSnapshot], now: Double, freshSec: Double, baseline: Double = -.infinity) -> Bool {
        var heardAny = false
        for pool in pools {
            for m in pool.members {
                guard let last = m.lastHeartbeat else { continue }
                if now - max(last, baseline) <= freshSec { return false }
                heardAny = true
            }
        }
        return heardAny
    }
}
