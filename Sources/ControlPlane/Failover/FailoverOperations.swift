import BalctlProtocol
import Foundation
import SQLEngine

/// What operators do by hand: status, make-active, cut, and the drill.
extension Failover {
    func snapshot(pool id: Int64, by op: Operator) async throws -> (PoolView, PoolSnapshot) {
        try await store.db.read { db in
            let view = try Store.pool(db, id, op)
            guard let snap = try Store.failoverSnapshot(db, pool: id) else { throw ControlPlaneError.notFound("no pool \(id)") }
            return (view, snap)
        }
    }

    public func status(pool id: Int64, by op: Operator) async throws -> FailoverStatusView {
        let (view, snap) = try await snapshot(pool: id, by: op)
        let r = readiness()
        return try await store.db.read { db in
            FailoverStatusView(
                pool: view, settings: try Store.failoverSettingsView(db, pool: id), members: r.view(snap),
                nextStandbyId: r.bestStandby(snap)?.id,
                lastEvent: try SQLRow.fetchOne(db, sql: "SELECT * FROM failover_events WHERE pool_id = ? ORDER BY id DESC LIMIT 1",
                                            arguments: [id]).map(Store.failoverEventView))
        }
    }

    /// Make `member` the pool's active member and point the record at it, now. Refused with the
    /// reason when the member is not ready, unless `force`.
    public func makeActive(member memberID: Int64, force: Bool, by op: Operator) async throws -> FailoverEventView {
        let member = try await store.member(memberID, by: op)
        let (_, snap) = try await snapshot(pool: member.poolId, by: op)
        guard let m = snap.members.first(where: { $0.id == memberID }) else { throw ControlPlaneError.notFound("no member \(memberID)") }
        if snap.activeMemberID == memberID {
            throw ControlPlaneError.conflict("\(m.hostname) is already the active member of pool \(snap.name)")
        }
        var reason = "make-active by \(op.name)"
        if let problem = readiness().standbyProblem(m, pool: snap) {
            guard force else {
                throw ControlPlaneError.conflict("\(m.hostname) is not ready: \(problem) (use --force to promote it anyway)")
            }
            reason += " (forced; not ready: \(problem))"
        }
        guard let ip = m.publicIP else { throw ControlPlaneError.conflict("\(m.hostname) has no public IPv4 in its heartbeat: nothing to point DNS at") }
        return try await move(snap, to: m, ip: ip, kind: .makeActive, reason: reason, by: op)
    }

    /// Promote the next ready standby (the one an automatic failover would pick).
    public func cut(pool id: Int64, by op: Operator) async throws -> FailoverEventView {
        let (_, snap) = try await snapshot(pool: id, by: op)
        let r = readiness()
        guard let best = r.bestStandby(snap), let ip = best.publicIP else {
            let why = r.view(snap).filter { $0.role == .standby }.map { "\($0.hostname): \($0.reason)" }
            throw ControlPlaneError.conflict("no ready standby in pool \(snap.name)\(why.isEmpty ? " (it has none)" : ": " + why.joined(separator: "; "))")
        }
        return try await move(snap, to: best, ip: ip, kind: .cut, reason: "cut to standby by \(op.name)", by: op)
    }

    private func move(_ snap: PoolSnapshot, to m: MemberSnapshot, ip: IPv4, kind: FailoverExecutor.Kind, reason: String,
                      by op: Operator) async throws -> FailoverEventView {
        guard snap.settings.hostname != nil, snap.settings.providerID != nil else {
            throw ControlPlaneError.conflict("pool \(snap.name) has no failover hostname or DNS provider (balctl failover settings)")
        }
        let claimed = clock.withLock { $0.busy.insert(snap.id).inserted }
        guard claimed else { throw ControlPlaneError.conflict("a DNS change for pool \(snap.name) is in progress; try again") }
        defer { _ = clock.withLock { $0.busy.remove(snap.id) } }
        let decision = FailoverExecutor.Decision(pool: snap.id, kind: kind, expectedActive: snap.activeMemberID, to: m.id, ip: ip,
                                                 reason: reason, unhealthySince: nil, detectedAt: now(), operatorName: op.name)
        guard let event = try await executor.execute(decision) else {
            throw ControlPlaneError.conflict("pool \(snap.name) changed meanwhile (another failover or control plane); check `balctl failover status`")
        }
        return event
    }

    /// Everything a real failover would do, short of changing anything: who would win and why,
    /// each standby's readiness, the provider reachable and the credentials accepted, the record
    /// as served now. Recorded as a `drill` event.
    public func drill(pool id: Int64, by op: Operator) async throws -> FailoverEventView {
        let (_, snap) = try await snapshot(pool: id, by: op)
        let r = readiness()
        var detail: [String: JSONValue] = [:]
        var problems: [String] = []
        let members = r.view(snap)
        detail["members"] = try JSONValue.from(members)
        if let best = r.bestStandby(snap) {
            detail["winner"] = .string(best.hostname)
            detail["winnerIP"] = .string(best.publicIP?.description ?? "")
            detail["winnerWhy"] = .string("ready; priority \(best.priority); heartbeat \(Readiness.seconds(r.now - (best.lastHeartbeat ?? r.now))) old")
        } else {
            problems.append("no ready standby")
        }
        if snap.activeMemberID == nil { problems.append("no active member") }
        if !snap.settings.autoFailover { problems.append("automatic failover is off") }
        if let hostname = snap.settings.hostname, let providerID = snap.settings.providerID {
            detail["hostname"] = .string(hostname)
            do {
                let provider = try await store.db.read { try Store.provider($0, id: providerID, box: self.executor.box) }
                do {
                    detail["credentials"] = .string("accepted: \(try await provider.verifyCredentials().text)")
                } catch {
                    detail["credentials"] = .string("REFUSED: \(error)")
                    problems.append("credentials: \(error)")
                }
                do {
                    let served = try await provider.currentAddresses(name: hostname)
                    detail["record"] = .array(served.map { .object(["ip": .string($0.ip.description), "ttl": .number(Double($0.ttl))]) })
                    if let expected = snap.activeIP, served.map(\.ip.description) != [expected] {
                        problems.append("the record serves \(served.map(\.description)) but the active member's address is \(expected)")
                    }
                } catch {
                    detail["record"] = .string("unreadable: \(error)")
                    problems.append("reading the record: \(error)")
                }
            } catch {
                problems.append("provider: \(error)")
            }
        } else {
            problems.append("no failover hostname or DNS provider")
        }
        detail["problems"] = .array(problems.map { .string($0) })
        detail["ok"] = .bool(problems.isEmpty)
        let summary = problems.isEmpty ? "drill passed" : "drill found \(problems.count) problem(s): \(problems.joined(separator: "; "))"
        let owner = executor.owner
        let report = JSONValue.object(detail)
        return try await store.db.write { db in
            let eventID = try Store.recordFailoverEvent(db, pool: id, kind: "drill", reason: summary, from: snap.activeMemberID,
                                                        detail: report, decidedBy: "operator \(op.name) via \(owner)")
            try Store.audit(db, op.accountID, "failover.drill", "pool:\(id)", summary)
            guard let event = try Store.failoverEvent(db, eventID) else { throw ControlPlaneError.notFound("event vanished") }
            return event
        }
    }
}
