import BalctlProtocol
import CurlClient
import Foundation
import SQLEngine

/// Pool failover settings, member priorities and maintenance, status and events.
extension Store {
    /// Delays the product allows (10–120 s); 3–9 s is accepted with a warning (a heartbeat or two
    /// lost to a busy network then fails the pool over).
    static let delayRange = 3...120
    static let recommendedDelay = 10...120

    static func failoverSettingsView(_ db: any SQLConnection, pool: Int64) throws -> FailoverSettingsView {
        let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM pool_failover WHERE pool_id = ?", arguments: [pool])
        let s = row.map(PoolFailoverSettings.init(row:)) ?? PoolFailoverSettings()
        var warnings: [String] = []
        if !recommendedDelay.contains(s.delaySec) {
            warnings.append("failover delay \(s.delaySec) s is below 10 s: a short network hiccup can fail the pool over")
        }
        if s.autoFailover && (s.hostname == nil || s.providerID == nil) {
            warnings.append("automatic failover is on but the pool has no failover hostname or DNS provider: nothing will move")
        }
        if s.autoFailover && (row?["active_member_id"] as Int64?) == nil {
            warnings.append("no active member yet: run `balctl failover make-active MEMBER` once")
        }
        let emails = (row?["alert_emails"] as String? ?? "").split(separator: ",").map(String.init)
        return FailoverSettingsView(
            poolId: pool, hostname: s.hostname, providerId: s.providerID, ttl: s.ttl, proxied: s.proxied,
            autoFailover: s.autoFailover, delaySec: s.delaySec, minSpacingSec: s.minSpacingSec, dynamicDNS: s.dynamicDNS,
            allowPrivateIPs: s.allowPrivateIPs, alertEmails: emails, webhookURL: row?["webhook_url"],
            webhookSecretSet: (row?["webhook_secret"] as Data?) != nil, activeMemberId: row?["active_member_id"],
            activeIP: row?["active_ip"], lastFailoverAt: row?["last_failover_at"], warnings: warnings)
    }

    public func failoverSettings(pool: Int64, by op: Operator) async throws -> FailoverSettingsView {
        try await db.read { db in
            _ = try Self.pool(db, pool, op)
            return try Self.failoverSettingsView(db, pool: pool)
        }
    }

    /// At most this many alert addresses per pool: each alert is one mail per address.
    static let maxAlertEmails = 20

    public func updateFailoverSettings(pool: Int64, _ req: UpdateFailoverSettingsRequest, box: SecretBox,
                                       allowLoopbackHTTP: Bool = false, by op: Operator) async throws -> FailoverSettingsView {
        if let h = req.hostname, !h.isEmpty {
            do { _ = try DNSName(h) } catch { throw ControlPlaneError.badRequest("failover hostname: \(error.message)") }
            guard h.contains(".") else { throw ControlPlaneError.badRequest("failover hostname must be a fully qualified name (lb.example.com)") }
        }
        if let d = req.delaySec, !Self.delayRange.contains(d) {
            throw ControlPlaneError.badRequest("failover delay must be 10–120 s (3–9 s allowed with a warning), not \(d)")
        }
        if let s = req.minSpacingSec, !(0...86_400).contains(s) {
            throw ControlPlaneError.badRequest("minimum spacing between failovers must be 0–86400 s")
        }
        // What the mailer will accept, checked by the mailer's own rule (red team RT-12-7), at most
        // `maxAlertEmails`, no duplicates (RT-12-5: the relay must not become a bulk mailer).
        let emails = try req.alertEmails.map { list -> [String] in
            let trimmed = list.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard trimmed.count <= Self.maxAlertEmails else {
                throw ControlPlaneError.badRequest("at most \(Self.maxAlertEmails) alert emails per pool (use a list address)")
            }
            guard Set(trimmed.map { $0.lowercased() }).count == trimmed.count else {
                throw ControlPlaneError.badRequest("an alert email is listed twice")
            }
            for e in trimmed {
                do { try SMTPMailer.checkAddress(e, "alert email") } catch {
                    throw ControlPlaneError.badRequest("'\(e.unicodeScalars.map { $0.value < 0x20 ? "?" : String($0) }.joined())' is not an email address: \(error)")
                }
            }
            return trimmed
        }
        if let url = req.webhookURL, !url.isEmpty { try Self.checkProviderURL(url, what: "webhook URL", allowLoopbackHTTP: allowLoopbackHTTP) }
        return try await db.write { db in
            let pool = try Self.pool(db, pool, op)
            try db.execute(sql: "INSERT INTO pool_failover(pool_id) VALUES (?) ON CONFLICT DO NOTHING", arguments: [pool.id])
            var changes: [String] = []
            func set(_ column: String, _ value: (any SQLValueConvertible)?, _ label: String) throws {
                try db.execute(sql: "UPDATE pool_failover SET \(column) = ? WHERE pool_id = ?", arguments: [value, pool.id])
                changes.append(label)
            }
            if let h = req.hostname { try set("hostname", h.isEmpty ? nil : h.lowercased(), "hostname \(h.isEmpty ? "cleared" : h)") }
            if let p = req.providerId {
                if p == 0 { try set("provider_id", nil, "provider unlinked") } else {
                    _ = try Self.dnsProvider(db, p, op)
                    try set("provider_id", p, "provider \(p)")
                }
            }
            if let v = req.proxied { try set("proxied", v, "proxied \(v)") }
            if let v = req.autoFailover { try set("auto_failover", v, "automatic failover \(v ? "on" : "off")") }
            if let v = req.delaySec { try set("delay_sec", v, "delay \(v) s") }
            if let v = req.minSpacingSec { try set("min_spacing_sec", v, "spacing \(v) s") }
            if let v = req.dynamicDNS { try set("dynamic_dns", v, "dynamic DNS \(v ? "on" : "off")") }
            if let v = req.allowPrivateIPs { try set("allow_private_ips", v, "private IPs \(v ? "allowed" : "refused")") }
            if let v = emails { try set("alert_emails", v.joined(separator: ","), "alert emails \(v.count)") }
            // The audit names the webhook's host only: its path may carry a token.
            if let v = req.webhookURL {
                try set("webhook_url", v.isEmpty ? nil : v, "webhook \(v.isEmpty ? "removed" : URLComponents(string: v)?.host ?? "set")")
            }
            if let v = req.webhookSecret {
                guard v.utf8.count >= 16, v.utf8.count <= 1024 else { throw ControlPlaneError.badRequest("the webhook secret must be 16–1024 bytes") }
                try set("webhook_secret", try box.seal(v, context: "webhook:\(pool.id)"), "webhook secret set")
            }
            // The TTL and the hostname are checked against the provider they will be written through.
            let row = try SQLRow.fetchOne(db, sql: """
                SELECT p.kind, p.settings, f.hostname FROM pool_failover f LEFT JOIN dns_providers p ON p.id = f.provider_id WHERE f.pool_id = ?
                """, arguments: [pool.id])
            let kind = (row?["kind"] as String?).flatMap(DNSProviderKind.init)
            // A hostname outside the provider's zone would only fail during an outage (RT-12-6).
            if let hostname: String = row?["hostname"], let settingsText: String = row?["settings"],
               let zone = (try? JSONTree.decode([String: String].self, from: settingsText))?["zone"] {
                do { _ = try DNSName.inZone(hostname, try DNSName(zone)) } catch {
                    throw ControlPlaneError.badRequest("failover hostname \(hostname) is not in the provider's zone \(zone)")
                }
            }
            let ttl = try req.ttl ?? Int.fetchOne(db, sql: "SELECT ttl FROM pool_failover WHERE pool_id = ?", arguments: [pool.id]) ?? 60
            try Self.checkTTL(ttl, kind: kind)
            if let v = req.ttl { try set("ttl", v, "ttl \(v)") }
            try Self.audit(db, op.accountID, "failover.settings", "pool:\(pool.id)", changes.joined(separator: "; "))
            return try Self.failoverSettingsView(db, pool: pool.id)
        }
    }

    /// Cloudflare: 1 (automatic) or 30–86400; others 30–86400 (a failover record must expire fast
    /// enough to matter, and no resolver honours less than 30 s reliably).
    static func checkTTL(_ ttl: Int, kind: DNSProviderKind?) throws {
        // 1 is Cloudflare's automatic; without a provider linked it waits for one.
        if (kind == .cloudflare || kind == nil) && ttl == 1 { return }
        guard (30...86_400).contains(ttl) else {
            throw ControlPlaneError.badRequest("TTL must be 30–86400 s\(kind == .cloudflare ? " (or 1 for Cloudflare's automatic)" : "")")
        }
    }

    public func updateMemberFailover(_ id: Int64, _ req: UpdateMemberFailoverRequest, by op: Operator) async throws -> MemberView {
        if let p = req.priority, !(0...1000).contains(p) { throw ControlPlaneError.badRequest("priority must be 0–1000 (lower wins)") }
        return try await db.write { db in
            let m = try Self.member(db, id, op)
            if let p = req.priority { try db.execute(sql: "UPDATE members SET standby_priority = ? WHERE id = ?", arguments: [p, id]) }
            if let v = req.maintenance { try db.execute(sql: "UPDATE members SET maintenance = ? WHERE id = ?", arguments: [v, id]) }
            try Self.audit(db, op.accountID, "member.failover", "member:\(id)",
                           "\(m.hostname): priority \(req.priority.map(String.init) ?? "unchanged"), maintenance \(req.maintenance.map { $0 ? "on" : "off" } ?? "unchanged")")
            return try Self.member(db, id, op)
        }
    }

    static func failoverEventView(_ row: SQLRow) -> FailoverEventView {
        FailoverEventView(
            id: row["id"], poolId: row["pool_id"], at: row["at"], kind: row["kind"], reason: row["reason"],
            fromMemberId: row["from_member_id"], toMemberId: row["to_member_id"], fromIP: row["from_ip"], toIP: row["to_ip"],
            unhealthySince: row["unhealthy_since"], detectedAt: row["detected_at"], dnsWrittenAt: row["dns_written_at"],
            providerReply: row["provider_reply"], verified: row["verified"], error: row["error"],
            fencingToken: row["fencing_token"], decidedBy: row["decided_by"],
            detail: (row["detail"] as String?).flatMap { try? JSONTree.parse($0) })
    }

    static func failoverEvent(_ db: any SQLConnection, _ id: Int64) throws -> FailoverEventView? {
        try SQLRow.fetchOne(db, sql: "SELECT * FROM failover_events WHERE id = ?", arguments: [id]).map(failoverEventView)
    }

    public func failoverEvents(pool: Int64, limit: Int, by op: Operator) async throws -> [FailoverEventView] {
        try await db.read { db in
            _ = try Self.pool(db, pool, op)
            return try SQLRow.fetchAll(db, sql: "SELECT * FROM failover_events WHERE pool_id = ? ORDER BY id DESC LIMIT ?",
                                    arguments: [pool, limit]).map(Self.failoverEventView)
        }
    }

    static func recordFailoverEvent(_ db: any SQLConnection, pool: Int64, kind: String, reason: String?, from: Int64? = nil,
                                    unhealthySince: Double? = nil, detail: JSONValue? = nil, error: String? = nil,
                                    decidedBy: String) throws -> Int64 {
        let t = now()
        return try db.insertReturningID(sql: """
            INSERT INTO failover_events(pool_id, at, kind, reason, from_member_id, unhealthy_since, detected_at, error, decided_by, detail)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [pool, t, kind, reason, from, unhealthySince, t, error, decidedBy, detail?.jsonString()])
    }
}
