/// Member alert thresholds (the "Monitoring" tab): what is watched, the shapes the operator API
/// takes and returns. Evaluated by the control plane on the reports agents send.

/// A watched figure. Most raise when the value climbs to `raiseAt`; `tlsExpiry` (days left)
/// raises when it falls to it.
public enum ThresholdMetric: String, Codable, Sendable, CaseIterable {
    /// Busy CPU share since the previous report, %.
    case cpu
    /// Memory in use (total − available), %.
    case memory
    /// Space used per mount, %; one alert per mount.
    case disk
    /// 1-minute load average divided by the CPU count.
    case load
    /// Seconds since the member's last heartbeat.
    case heartbeatAge = "heartbeat_age"
    /// HAProxy servers (backend members) whose status is DOWN.
    case haproxyDown = "haproxy_down"
    /// Days until a TLS certificate the member reports expires; one alert per certificate.
    case tlsExpiry = "tls_expiry"

    /// True when a *low* value is the problem.
    public var raisesBelow: Bool { self == .tlsExpiry }

    public var unit: String {
        switch self {
        case .cpu, .memory, .disk: return "%"
        case .load: return "per core"
        case .heartbeatAge: return "s"
        case .haproxyDown: return "down"
        case .tlsExpiry: return "days"
        }
    }

    /// Values an operator may set `raiseAt` to.
    public var range: ClosedRange<Double> {
        switch self {
        case .cpu, .memory, .disk: return 1...100
        case .load: return 0.05...1000
        case .heartbeatAge: return 2...7 * 86400
        case .haproxyDown: return 1...100_000
        case .tlsExpiry: return 1...365
        }
    }

    /// The clearing level when none is given: far enough from `raiseAt` that a value hovering
    /// at the threshold does not raise and clear on alternate reports.
    public func defaultClear(raiseAt: Double) -> Double {
        switch self {
        case .cpu, .memory, .disk: return max(0, raiseAt - 5)
        case .load: return raiseAt * 0.9
        case .heartbeatAge: return raiseAt / 2
        case .haproxyDown: return raiseAt - 1
        case .tlsExpiry: return raiseAt + 1
        }
    }
}

/// One threshold as set on a pool (a preset for its members) or a member (overrides the pool's).
public struct ThresholdSetting: Codable, Sendable, Hashable {
    public var metric: ThresholdMetric
    /// Raise at this value or beyond (at or below, for `tls_expiry`).
    public var raiseAt: Double
    /// Clear at this value or back (at or above, for `tls_expiry`). Default: see `defaultClear`.
    public var clearAt: Double
    /// false on a member: the pool's preset does not apply to it.
    public var enabled: Bool

    public init(metric: ThresholdMetric, raiseAt: Double, clearAt: Double? = nil, enabled: Bool = true) {
        self.metric = metric; self.raiseAt = raiseAt
        self.clearAt = clearAt ?? metric.defaultClear(raiseAt: raiseAt); self.enabled = enabled
    }

    /// Nil when valid, else why not.
    public var problem: String? {
        guard raiseAt.isFinite, clearAt.isFinite else { return "raiseAt and clearAt must be numbers" }
        guard metric.range.contains(raiseAt) else {
            return "\(metric.rawValue): raiseAt must be \(Render.number(metric.range.lowerBound))–\(Render.number(metric.range.upperBound)) \(metric.unit)"
        }
        if metric.raisesBelow {
            guard clearAt > raiseAt else { return "\(metric.rawValue): clearAt must be above raiseAt (it raises when the value falls)" }
        } else {
            guard clearAt < raiseAt, clearAt >= 0 else { return "\(metric.rawValue): clearAt must be 0 or more and below raiseAt" }
        }
        return nil
    }
}

/// `PUT …/thresholds/{metric}`.
public struct SetThresholdRequest: Codable, Sendable {
    public var raiseAt: Double
    public var clearAt: Double?
    public var enabled: Bool?
    public init(raiseAt: Double, clearAt: Double? = nil, enabled: Bool? = nil) {
        self.raiseAt = raiseAt; self.clearAt = clearAt; self.enabled = enabled
    }
}

/// A member's thresholds in effect, and where each comes from.
public struct EffectiveThreshold: Codable, Sendable, Hashable {
    public var setting: ThresholdSetting
    /// `member` or `pool`.
    public var source: String
    public init(setting: ThresholdSetting, source: String) { self.setting = setting; self.source = source }
}

public struct ThresholdsView: Codable, Sendable {
    /// The member's (or pool's) own settings.
    public var own: [ThresholdSetting]
    /// For a member: what applies (its own, else the pool's presets; disabled ones left out).
    public var effective: [EffectiveThreshold]?
    public init(own: [ThresholdSetting], effective: [EffectiveThreshold]?) { self.own = own; self.effective = effective }
}

/// A threshold alert raised now, or a raise/clear in the alert history.
public struct ThresholdAlertView: Codable, Sendable, Hashable {
    public var memberId: Int64
    public var hostname: String
    public var poolId: Int64
    public var metric: ThresholdMetric
    /// The mount (disk) or certificate (tls_expiry); empty for member-wide figures.
    public var subject: String
    /// `raised` or `cleared`.
    public var state: String
    public var value: Double
    public var raiseAt: Double
    public var clearAt: Double
    public var at: Double
    public init(memberId: Int64, hostname: String, poolId: Int64, metric: ThresholdMetric, subject: String, state: String,
                value: Double, raiseAt: Double, clearAt: Double, at: Double) {
        self.memberId = memberId; self.hostname = hostname; self.poolId = poolId; self.metric = metric; self.subject = subject
        self.state = state; self.value = value; self.raiseAt = raiseAt; self.clearAt = clearAt; self.at = at
    }
}

/// `GET /api/v1/alerts`: what is raised now and the latest raises and clears.
public struct AlertsView: Codable, Sendable {
    public var firing: [ThresholdAlertView]
    public var history: [ThresholdAlertView]
    public init(firing: [ThresholdAlertView], history: [ThresholdAlertView]) { self.firing = firing; self.history = history }
}
