import BalctlProtocol

/// Whether the active member is healthy and which standbys are ready, each with the reason an
/// operator reads in `balctl failover status`. Pure: the same inputs give the same answer, which
/// is what the evaluator, the manual actions and the drill all rely on.
struct Readiness: Sendable {
    /// Now.
    var now: Double
    /// A standby's heartbeat is fresh when at most this old (3 heartbeat intervals).
    var freshSec: Double
    /// Silence before this moment does not count (control plane start, end of an all-silent
    /// outage): a member cannot have been unhealthy for longer than the control plane could hear it.
    var baseline: Double

    struct ActiveHealth: Sendable, Equatable {
        var healthy: Bool
        var reason: String
        /// When it stopped being healthy, counted from `baseline` at the earliest (nil: healthy).
        var unhealthySince: Double?
    }

    func active(_ m: MemberSnapshot, pool: PoolSnapshot) -> ActiveHealth {
        let delay = Double(pool.settings.delaySec)
        guard let last = m.lastHeartbeat else {
            return ActiveHealth(healthy: false, reason: "never sent a heartbeat", unhealthySince: baseline)
        }
        let age = now - last
        if age > delay {
            return ActiveHealth(healthy: false, reason: "no heartbeat for \(Self.seconds(age))",
                                unhealthySince: max(last, baseline))
        }
        if pool.watchesHAProxy, m.haproxyActive == false {
            let since = max(m.haproxyInactiveSince ?? last, baseline)
            return ActiveHealth(healthy: false, reason: "haproxy inactive for \(Self.seconds(now - since))", unhealthySince: since)
        }
        if age > freshSec {
            // Not unhealthy until the delay has passed; say how late it is.
            return ActiveHealth(healthy: true, reason: "heartbeat \(Self.seconds(age)) old (fails over after \(pool.settings.delaySec) s)",
                                unhealthySince: nil)
        }
        return ActiveHealth(healthy: true, reason: "healthy", unhealthySince: nil)
    }

    /// nil when ready, else why not.
    func standbyProblem(_ m: MemberSnapshot, pool: PoolSnapshot) -> String? {
        guard let last = m.lastHeartbeat else { return "never sent a heartbeat" }
        let age = now - last
        if age > freshSec { return "heartbeat \(Self.seconds(age)) old" }
        if pool.watchesHAProxy {
            switch m.haproxyActive {
            case false?: return "haproxy inactive"
            case nil: return "haproxy not detected in heartbeat"
            case true?: break
            }
        }
        guard let ip = m.publicIP else { return "no public IPv4 in heartbeat" }
        if !ip.isPublic && !pool.settings.allowPrivateIPs {
            return "IPv4 \(ip) in heartbeat is not public (private, loopback, link-local, CGNAT or documentation range)"
        }
        if m.maintenance { return "in maintenance" }
        return nil
    }

    /// The standby a failover would promote: ready, lowest priority number, then the freshest
    /// heartbeat, then the oldest member.
    func bestStandby(_ pool: PoolSnapshot, excluding: Int64? = nil) -> MemberSnapshot? {
        pool.members
            .filter { $0.id != pool.activeMemberID && $0.id != excluding && standbyProblem($0, pool: pool) == nil }
            .min { a, b in
                if a.priority != b.priority { return a.priority < b.priority }
                if a.lastHeartbeat != b.lastHeartbeat { return (a.lastHeartbeat ?? 0) > (b.lastHeartbeat ?? 0) }
                return a.id < b.id
            }
    }

    /// Every member with its role and reason.
    func view(_ pool: PoolSnapshot) -> [MemberReadinessView] {
        pool.members.map { m in
            let isActive = m.id == pool.activeMemberID
            let ok: Bool, reason: String
            if isActive {
                let h = active(m, pool: pool)
                (ok, reason) = (h.healthy, h.reason)
            } else {
                let problem = standbyProblem(m, pool: pool)
                (ok, reason) = (problem == nil, problem ?? "ready")
            }
            return MemberReadinessView(memberId: m.id, hostname: m.hostname, role: isActive ? .active : .standby,
                                       priority: m.priority, maintenance: m.maintenance, ok: ok, reason: reason,
                                       heartbeatAgeSec: m.lastHeartbeat.map { max(0, now - $0) },
                                       publicIPv4: m.publicIP?.description)
        }
    }

    static func seconds(_ s: Double) -> String { "\(Int(s.rounded(.down))) s" }
}
