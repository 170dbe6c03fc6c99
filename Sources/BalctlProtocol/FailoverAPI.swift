/// Operator API types for failover and DNS providers (issue 12). Times are Unix seconds.

/// The DNS services failover can write through.
public enum DNSProviderKind: String, Codable, Sendable, CaseIterable {
    /// RFC 2136 dynamic update with TSIG (BIND, Knot, PowerDNS).
    case rfc2136
    case cloudflare
    /// cPanel/WHM JSON API.
    case whm
}

/// A saved provider account. Its secret (TSIG key, API token) is never returned.
public struct DNSProviderView: Codable, Sendable {
    public var id: Int64
    public var name: String
    public var kind: DNSProviderKind
    /// The non-secret settings (server, port, zone, key name, base URL, user).
    public var settings: [String: String]
    public var createdAt: Double
    /// Pools linked to it.
    public var pools: [Int64]
    public init(id: Int64, name: String, kind: DNSProviderKind, settings: [String: String], createdAt: Double, pools: [Int64]) {
        self.id = id; self.name = name; self.kind = kind; self.settings = settings; self.createdAt = createdAt
        self.pools = pools
    }
}

/// `settings` by kind:
/// - rfc2136: `server` (IPv4), `port` (default 53), `zone`, `keyName`; `secret` = the TSIG key (base64, HMAC-SHA256)
/// - cloudflare: `zone`, optional `baseURL`; `secret` = API token
/// - whm: `baseURL`, `user`, `zone`; `secret` = API token
public struct CreateDNSProviderRequest: Codable, Sendable {
    public var name: String
    public var kind: DNSProviderKind
    public var settings: [String: String]
    public var secret: String
    public init(name: String, kind: DNSProviderKind, settings: [String: String], secret: String) {
        self.name = name; self.kind = kind; self.settings = settings; self.secret = secret
    }
}

/// A pool's failover settings. Webhook secret: write-only (`webhookSecretSet` says whether one is stored).
public struct FailoverSettingsView: Codable, Sendable {
    public var poolId: Int64
    public var hostname: String?
    public var providerId: Int64?
    public var ttl: Int
    public var proxied: Bool
    public var autoFailover: Bool
    public var delaySec: Int
    public var minSpacingSec: Int
    public var dynamicDNS: Bool
    public var allowPrivateIPs: Bool
    public var alertEmails: [String]
    public var webhookURL: String?
    public var webhookSecretSet: Bool
    public var activeMemberId: Int64?
    public var activeIP: String?
    public var lastFailoverAt: Double?
    /// Advice that does not stop the settings from applying (a delay under 10 s, no provider yet…).
    public var warnings: [String]
    public init(poolId: Int64, hostname: String?, providerId: Int64?, ttl: Int, proxied: Bool, autoFailover: Bool,
                delaySec: Int, minSpacingSec: Int, dynamicDNS: Bool, allowPrivateIPs: Bool, alertEmails: [String],
                webhookURL: String?, webhookSecretSet: Bool, activeMemberId: Int64?, activeIP: String?,
                lastFailoverAt: Double?, warnings: [String]) {
        self.poolId = poolId; self.hostname = hostname; self.providerId = providerId; self.ttl = ttl
        self.proxied = proxied; self.autoFailover = autoFailover; self.delaySec = delaySec
        self.minSpacingSec = minSpacingSec; self.dynamicDNS = dynamicDNS; self.allowPrivateIPs = allowPrivateIPs
        self.alertEmails = alertEmails; self.webhookURL = webhookURL; self.webhookSecretSet = webhookSecretSet
        self.activeMemberId = activeMemberId; self.activeIP = activeIP; self.lastFailoverAt = lastFailoverAt
        self.warnings = warnings
    }
}

/// Fields left out are unchanged. `providerId` 0 unlinks the provider; an empty `webhookURL` removes the webhook.
public struct UpdateFailoverSettingsRequest: Codable, Sendable {
    public var hostname: String?
    public var providerId: Int64?
    public var ttl: Int?
    public var proxied: Bool?
    public var autoFailover: Bool?
    public var delaySec: Int?
    public var minSpacingSec: Int?
    public var dynamicDNS: Bool?
    public var allowPrivateIPs: Bool?
    public var alertEmails: [String]?
    public var webhookURL: String?
    public var webhookSecret: String?
    public init(hostname: String? = nil, providerId: Int64? = nil, ttl: Int? = nil, proxied: Bool? = nil,
                autoFailover: Bool? = nil, delaySec: Int? = nil, minSpacingSec: Int? = nil, dynamicDNS: Bool? = nil,
                allowPrivateIPs: Bool? = nil, alertEmails: [String]? = nil, webhookURL: String? = nil,
                webhookSecret: String? = nil) {
        self.hostname = hostname; self.providerId = providerId; self.ttl = ttl; self.proxied = proxied
        self.autoFailover = autoFailover; self.delaySec = delaySec; self.minSpacingSec = minSpacingSec
        self.dynamicDNS = dynamicDNS; self.allowPrivateIPs = allowPrivateIPs; self.alertEmails = alertEmails
        self.webhookURL = webhookURL; self.webhookSecret = webhookSecret
    }
}

/// Per-member failover settings.
public struct UpdateMemberFailoverRequest: Codable, Sendable {
    /// Lower wins among ready standbys (then the freshest heartbeat).
    public var priority: Int?
    public var maintenance: Bool?
    public init(priority: Int? = nil, maintenance: Bool? = nil) { self.priority = priority; self.maintenance = maintenance }
}

public enum FailoverRole: String, Codable, Sendable {
    case active, standby
}

/// One member as failover sees it.
public struct MemberReadinessView: Codable, Sendable {
    public var memberId: Int64
    public var hostname: String
    public var role: FailoverRole
    public var priority: Int
    public var maintenance: Bool
    /// Active: healthy. Standby: ready to be promoted.
    public var ok: Bool
    /// "healthy", "ready", or why not: "heartbeat 14 s old", "haproxy inactive", "no public IPv4 in heartbeat".
    public var reason: String
    public var heartbeatAgeSec: Double?
    public var publicIPv4: String?
    public init(memberId: Int64, hostname: String, role: FailoverRole, priority: Int, maintenance: Bool, ok: Bool,
                reason: String, heartbeatAgeSec: Double?, publicIPv4: String?) {
        self.memberId = memberId; self.hostname = hostname; self.role = role; self.priority = priority
        self.maintenance = maintenance; self.ok = ok; self.reason = reason; self.heartbeatAgeSec = heartbeatAgeSec
        self.publicIPv4 = publicIPv4
    }
}

public struct FailoverStatusView: Codable, Sendable {
    public var pool: PoolView
    public var settings: FailoverSettingsView
    public var members: [MemberReadinessView]
    /// The standby an automatic failover would promote now, if any.
    public var nextStandbyId: Int64?
    public var lastEvent: FailoverEventView?
    public init(pool: PoolView, settings: FailoverSettingsView, members: [MemberReadinessView], nextStandbyId: Int64?,
                lastEvent: FailoverEventView?) {
        self.pool = pool; self.settings = settings; self.members = members; self.nextStandbyId = nextStandbyId
        self.lastEvent = lastEvent
    }
}

/// One failover decision or check, with its timings and the provider's reply.
public struct FailoverEventView: Codable, Sendable {
    public var id: Int64
    public var poolId: Int64
    public var at: Double
    /// failover, make_active, cut, dynamic_dns, drill, no_ready_standby, all_silent, dns_failed
    public var kind: String
    public var reason: String?
    public var fromMemberId: Int64?
    public var toMemberId: Int64?
    public var fromIP: String?
    public var toIP: String?
    public var unhealthySince: Double?
    public var detectedAt: Double?
    public var dnsWrittenAt: Double?
    public var providerReply: String?
    public var verified: Bool?
    public var error: String?
    public var fencingToken: Int64?
    public var decidedBy: String?
    /// The drill's report, or other structured detail.
    public var detail: JSONValue?
    public init(id: Int64, poolId: Int64, at: Double, kind: String, reason: String?, fromMemberId: Int64?,
                toMemberId: Int64?, fromIP: String?, toIP: String?, unhealthySince: Double?, detectedAt: Double?,
                dnsWrittenAt: Double?, providerReply: String?, verified: Bool?, error: String?, fencingToken: Int64?,
                decidedBy: String?, detail: JSONValue?) {
        self.id = id; self.poolId = poolId; self.at = at; self.kind = kind; self.reason = reason
        self.fromMemberId = fromMemberId; self.toMemberId = toMemberId; self.fromIP = fromIP; self.toIP = toIP
        self.unhealthySince = unhealthySince; self.detectedAt = detectedAt; self.dnsWrittenAt = dnsWrittenAt
        self.providerReply = providerReply; self.verified = verified; self.error = error
        self.fencingToken = fencingToken; self.decidedBy = decidedBy; self.detail = detail
    }
}

public struct MakeActiveRequest: Codable, Sendable {
    /// Promote even a standby that is not ready (the reason is recorded).
    public var force: Bool?
    public init(force: Bool? = nil) { self.force = force }
}
