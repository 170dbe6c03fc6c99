import BalctlProtocol
import Foundation
import SQLEngine

/// The pool overview, and the pieces the live stream re-sends (cards, traffic flow, KPIs).
struct OverviewPage {
    let poolID: Int64
    let poolName: String
    let html: String

    /// What the overview shows, read once: members, failover status, history vitals, counts.
    struct Data {
        var pool: PoolView
        var members: [MemberView]
        var status: FailoverStatusView
        var providerName: String
        var vitals: [Int64: [Double]]
        var kpis: [(key: String, label: String, value: String)]
    }

    static func load(server: ControlPlane, pool id: Int64, by op: Operator) async throws -> Data {
        let store = server.store
        let members = try await store.listMembers(pool: id, by: op).map { $0.withLatest(server) }
        let status = try await server.failover.status(pool: id, by: op)
        let providers = try await store.listDNSProviders(by: op)
        let vitals = try await store.cpuHistory(pool: id, samples: 30, by: op)
        let counts = try await store.overviewCounts(pool: id, by: op)
        let healthy = members.filter { ($0.heartbeat?.ageSec ?? .infinity) <= Double(server.config.heartbeat.intervalSec) * 5 }.count
        let last = members.compactMap { $0.heartbeat?.ageSec }.min()
        let outdated = members.filter { $0.heartbeat?.agentOutdated ?? false }.count
        let kpis: [(String, String, String)] = [
            ("members", "members", "\(members.count)"),
            ("healthy", "healthy agents", "\(healthy)/\(members.count)"),
            ("last-checkin", "last check-in", last.map { "\(Int($0)) s ago" } ?? "never"),
            ("snapshots", "snapshots", "\(counts.snapshots)"),
            ("schedules", "schedules", "\(counts.schedules)"),
            ("running-jobs", "running jobs", "\(counts.running)"),
            ("outdated-agents", "outdated agents", "\(outdated)"),
        ]
        return Data(pool: status.pool, members: members, status: status,
                    providerName: providers.first { $0.id == status.settings.providerId }.map { "\($0.name) (\($0.kind.rawValue))" } ?? "no provider",
                    vitals: vitals, kpis: kpis.map { (key: $0.0, label: $0.1, value: $0.2) })
    }

    static func build(server: ControlPlane, pool id: Int64, by op: Operator) async throws -> OverviewPage {
        let d = try await load(server: server, pool: id, by: op)
        let ui = server.dashboard
        let html = ui.render("overview", [
            "pool": ["id": d.pool.id, "name": d.pool.name], "tabOverview": true,
            "kpis": d.kpis.map { ["key": $0.key, "label": $0.label, "value": $0.value] },
            "trafficFlow": trafficFlow(d, ui),
            "cards": d.members.map { ["html": card($0, d, ui)] },
            "clusterView": clusterView(try await server.store.poolClusters(id, by: op), ui) as Any,
        ])
        return OverviewPage(poolID: d.pool.id, poolName: d.pool.name, html: html)
    }

    /// The pool's Galera clusters, or nil when no member reports one (most pools).
    static func clusterView(_ view: PoolClustersView, _ ui: DashboardState) -> String? {
        guard !view.galera.isEmpty || !view.warnings.isEmpty else { return nil }
        func text(_ x: Int?) -> String { x.map(String.init) ?? "–" }
        return ui.render("clusterView", [
            "poolWarnings": view.warnings,
            "clusters": view.galera.map { c -> [String: Any] in
                ["uuid": c.clusterStateUUID ?? "(none reported)", "status": c.status,
                 "statusClass": c.status == "healthy" ? "ready-ok" : "ready-bad", "warnings": c.warnings,
                 "nodes": c.nodes.map { n -> [String: Any] in
                     ["id": n.memberId, "poolID": view.poolId, "hostname": n.hostname, "up": n.up ? "up" : "down",
                      "size": text(n.clusterSize), "component": n.clusterStatus ?? "–", "state": n.localState ?? "–",
                      "conf": text(n.confID), "age": n.reportAgeSec.map { "\(Int($0)) s ago" } ?? "–"]
                 }]
            },
        ])
    }

    static func trafficFlow(_ d: Data, _ ui: DashboardState) -> String {
        let s = d.status.settings
        let active = d.members.first { $0.id == s.activeMemberId }
        return ui.render("trafficFlow", ["poolID": d.pool.id, "hostname": s.hostname as Any, "provider": d.providerName,
                                         "ip": s.activeIP ?? "(no active member)", "activeName": active?.hostname as Any])
    }

    static func card(_ m: MemberView, _ d: Data, _ ui: DashboardState) -> String {
        let r = d.status.members.first { $0.memberId == m.id }
        let role: String = switch r?.role {
        case .active?: "Active"
        case .standby?: "Standby"
        case nil: "Member"
        }
        let hb = m.heartbeat
        let cpu = hb?.cpuPercent.map { String(format: "%.0f %%", $0) } ?? "–"
        return ui.render("memberCard", [
            "id": m.id, "poolID": m.poolId, "hostname": m.hostname, "role": role, "roleClass": role.lowercased(),
            "readiness": r.map { $0.ok ? ($0.role == .active ? "healthy" : "ready") : "not ready: \($0.reason)" } ?? "no failover role",
            "readyClass": (r?.ok ?? false) ? "ready-ok" : "ready-bad",
            "age": hb.map { "\(Int($0.ageSec)) s ago" } ?? "never",
            "receivedISO": (WebTime.fields(hb?.receivedAt)?["iso"] as? String) ?? "",
            "load": hb.map { String(format: "%.2f", $0.load1) } ?? "–", "cpu": cpu,
            "memory": hb.map { String(format: "%.0f %%", $0.memoryUsedPercent) } ?? "–",
            "sparkline": Sparkline.svg(d.vitals[m.id] ?? [], label: "CPU % of \(m.hostname), recent heartbeats"),
            "canMakeActive": r?.role == .standby,
        ])
    }
}

/// A tiny inline SVG line of recent CPU % (0–100), drawn on the server from numbers only.
enum Sparkline {
    /// `x` (≥ 0) with one decimal, as `%.1f` would print it — without Foundation's formatter,
    /// which was a tenth of the overview's render time (50 cards × 30 points × 2).
    static func tenths(_ x: Double) -> String {
        let t = Int((max(0, x) * 10).rounded())
        return "\(t / 10).\(t % 10)"
    }

    static func svg(_ values: [Double], label: String) -> String {
        let w = 120.0, h = 30.0
        let escaped = label.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        guard values.count >= 2 else {
            return "<svg class=\"sparkline\" viewBox=\"0 0 120 30\" role=\"img\" aria-label=\"\(escaped): no history yet\"></svg>"
        }
        let step = w / Double(values.count - 1)
        var points = ""
        points.reserveCapacity(values.count * 10)
        for (i, v) in values.enumerated() {
            let y = h - min(100, max(0, v.isFinite ? v : 0)) / 100 * (h - 2) - 1
            points += tenths(Double(i) * step)
            points += ","
            points += tenths(y)
            points += " "
        }
        return "<svg class=\"sparkline\" viewBox=\"0 0 120 30\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"\(escaped)\"><polyline points=\"\(points)\"/></svg>"
    }
}

extension Store {
    /// The last `samples` CPU % per member of a pool, oldest first, from the heartbeat history.
    /// Only `cpuPercent` is read from each report (a light scan, not a full decode: 50 members ×
    /// 30 samples on every overview).
    func cpuHistory(pool: Int64, samples: Int, by op: Operator) async throws -> [Int64: [Double]] {
        try await db.read { db in
            _ = try Self.pool(db, pool, op)
            let ids = try Int64.fetchAll(db, sql: "SELECT id FROM members WHERE pool_id = ? AND account_id = ?", arguments: [pool, op.accountID])
            var out: [Int64: [Double]] = [:]
            for id in ids {
                let rows = try String.fetchAll(db, sql: "SELECT report FROM heartbeat_history WHERE member_id = ? ORDER BY id DESC LIMIT ?",
                                               arguments: [id, samples])
                out[id] = rows.reversed().compactMap(Self.cpuPercent)
            }
            return out
        }
    }

    /// `"cpuPercent":N` at the top level of a report (the agent's encoder writes it once).
    static func cpuPercent(_ report: String) -> Double? {
        // Bytes, not `String.range(of:)` (Foundation's search was a fifth of the overview's time).
        var report = report
        return report.withUTF8 { bytes -> Double? in
            let key = Array("\"cpuPercent\":".utf8)
            guard bytes.count > key.count else { return nil }
            var i = 0
            let last = bytes.count - key.count
            while i <= last {
                if bytes[i] == key[0] {
                    var j = 1
                    while j < key.count && bytes[i + j] == key[j] { j += 1 }
                    if j == key.count {
                        var end = i + key.count
                        let start = end
                        while end < bytes.count, end - start < 24,
                              (48...57).contains(bytes[end]) || [46, 45, 43, 101, 69].contains(bytes[end]) { end += 1 }
                        return Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self))
                    }
                }
                i += 1
            }
            return nil
        }
    }

    struct OverviewCounts { var snapshots = 0, schedules = 0, running = 0 }

    func overviewCounts(pool: Int64, by op: Operator) async throws -> OverviewCounts {
        try await db.read { db in
            var c = OverviewCounts()
            c.running = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jobs WHERE pool_id = ? AND account_id = ? AND state = 'running'",
                                         arguments: [pool, op.accountID]) ?? 0
            c.schedules = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM schedules s JOIN members m ON m.id = s.member_id WHERE m.pool_id = ? AND s.account_id = ?
                """, arguments: [pool, op.accountID]) ?? 0
            c.snapshots = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM snapshots s JOIN members m ON m.id = s.member_id WHERE m.pool_id = ? AND m.account_id = ?
                """, arguments: [pool, op.accountID]) ?? 0
            return c
        }
    }

    struct MemberLocation { var member: Int64; var pool: Int64; var hostname: String; var lat: Double; var lon: Double }

    func memberLocations(by op: Operator) async throws -> [MemberLocation] {
        try await db.read { db in
            try SQLRow.fetchAll(db, sql: """
                SELECT m.id, m.pool_id, m.hostname, g.lat, g.lon FROM member_geo g JOIN members m ON m.id = g.member_id
                WHERE m.account_id = ? ORDER BY m.id
                """, arguments: [op.accountID]).map {
                MemberLocation(member: $0["id"], pool: $0["pool_id"], hostname: $0["hostname"], lat: $0["lat"], lon: $0["lon"])
            }
        }
    }

    func memberLocation(_ member: Int64, by op: Operator) async throws -> (lat: Double, lon: Double)? {
        try await db.read { db in
            _ = try Self.member(db, member, op)
            return try SQLRow.fetchOne(db, sql: "SELECT lat, lon FROM member_geo WHERE member_id = ?", arguments: [member])
                .map { ($0["lat"], $0["lon"]) }
        }
    }

    func setMemberLocation(_ member: Int64, lat: Double, lon: Double, by op: Operator) async throws {
        guard (-90...90).contains(lat), (-180...180).contains(lon) else {
            throw ControlPlaneError.badRequest("latitude must be −90…90 and longitude −180…180")
        }
        try await db.write { db in
            _ = try Self.member(db, member, op)
            try db.execute(sql: "DELETE FROM member_geo WHERE member_id = ?", arguments: [member])
            try db.execute(sql: "INSERT INTO member_geo(member_id, lat, lon) VALUES (?, ?, ?)", arguments: [member, lat, lon])
            try Self.audit(db, op.accountID, "member.geo", "member:\(member)", "\(lat),\(lon)")
        }
    }
}

extension ControlPlane {
    /// The overview page body of `pool` as `op` sees it (what `GET /pools/{id}` renders inside the
    /// layout), for `balctl-bench dashboard`: returns its size in bytes.
    public func renderOverview(pool: Int64, by op: Operator) async throws -> Int {
        try await OverviewPage.build(server: self, pool: pool, by: op).html.utf8.count
    }
}
