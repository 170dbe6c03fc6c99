import BalctlProtocol
import Foundation
import HTTPTypes
import Hummingbird

/// Wire protocol v1: the three agent endpoints.
struct AgentRoutes {
    let server: ControlPlane

    func register(_ router: Router<BalctlRequestContext>) {
        let limit = AgentWire.maxAgentBodyBytes
        router.post(RouterPath(AgentWire.heartbeatPath)) { request, context in
            let started = ContinuousClock.now
            do {
                let response = try await heartbeat(request, context)
                server.metrics.heartbeatAccepted(seconds: (ContinuousClock.now - started).seconds)
                return response
            } catch {
                server.metrics.heartbeatRefused(error)
                throw error
            }
        }
        router.get(RouterPath(AgentWire.waitPath)) { request, context in
            // Same bearer, address and member checks as every agent route; nothing is read.
            let (agent, _) = try await authenticate(request, context)
            let woken = await server.wakes.wait(member: agent.memberID, timeoutSec: server.config.agentWaitSec)
            return try jsonResponse(["wake": woken])
        }
        router.post(RouterPath(AgentWire.progressPath)) { request, context in
            let (agent, _) = try await authenticate(request, context)
            let raw = try await request.body.collect(upTo: limit)
            let progress = try decode(JobProgress.self, raw)
            try await server.store.recordProgress(progress, member: agent.memberID, policy: server.config.queue)
            return try jsonResponse(["ok": true])
        }
        router.post(RouterPath(AgentWire.completePath)) { request, context in
            let (agent, _) = try await authenticate(request, context)
            let raw = try await request.body.collect(upTo: limit)
            let completion = try decode(JobCompletion.self, raw)
            let metrics = server.metrics
            let state = try await server.store.recordCompletion(completion, member: agent.memberID) { metrics.jobCompleted(afterSeconds: $0) }
            return try jsonResponse(["state": state.rawValue])
        }
        registerSnapshots(router)
    }

    /// `POST /api/agents/heartbeat`: store the report, renew leases, claim jobs.
    private func heartbeat(_ request: Request, _ context: BalctlRequestContext) async throws -> Response {
        // Who is calling is settled from the headers before the body is read (issue 20 item
        // 8): a stranger gets its 401/403 without the server taking in its body.
        let (agent, ip) = try await authenticate(request, context)
        let raw = try await request.body.collect(upTo: AgentWire.maxAgentBodyBytes)
        // Only what the ingest acts on is read here; the report is stored as sent and
        // decoded in full when someone reads it. Decoding every field (and every plugin's
        // stats) of every heartbeat was the largest cost on this path.
        guard let text = raw.withUnsafeReadableBytes({ String(validating: $0, as: UTF8.self) }) else {
            throw ControlPlaneError.badRequest("the body is not valid UTF-8")
        }
        let report = try HeartbeatEnvelope.read(text)
        guard report.hostname.lowercased() == agent.hostname.lowercased() else {
            throw ControlPlaneError.forbidden("hostname '\(report.hostname)' does not match the enrolled hostname '\(agent.hostname)' (set BALCTL_HOSTNAME)")
        }
        guard report.protocolVersion == AgentWire.protocolVersion else {
            throw ControlPlaneError.badRequest("protocol version \(report.protocolVersion) is not supported (expected \(AgentWire.protocolVersion))")
        }
        let claimed = try await server.heartbeats.record(agent, report: report, raw: text, ip: ip)
        server.metrics.jobsClaimed(waits: claimed.claimWaits)
        server.thresholds.offer(member: agent.memberID, report: text)
        let body = try server.heartbeatReply.body(serverTime: now(), jobs: claimed.jobs, cancels: claimed.cancels)
        return Response(status: .ok, headers: jsonHeaders, body: .init(byteBuffer: body))
    }

    /// Snapshot transfers: begin, parts (up to 64 MiB each, hash checked), commit, and reads
    /// for restores. Same bearer authentication as every agent route.
    private func registerSnapshots(_ router: Router<BalctlRequestContext>) {
        let backups = server.backups
        router.post(RouterPath(SnapshotWire.beginPath)) { request, context in
            let (agent, _) = try await authenticate(request, context)
            let req = try decode(SnapshotBeginRequest.self, try await request.body.collect(upTo: AgentWire.maxAgentBodyBytes))
            return try jsonResponse(try await backups.begin(req, member: agent))
        }
        router.put("/api/agents/snapshots/:snapshot/:kind/:index") { request, context in
            let (agent, _) = try await authenticate(request, context)
            let index = try partIndex(context)
            // Streamed to the store as it arrives (no 16 MiB gathered first): see `putPart`.
            var body = request.body.makeAsyncIterator()
            let part = try await backups.putPart(try snapshotID(context), kind: context.parameters.get("kind") ?? "", index: index,
                                                 sha256: request.headers[HTTPField.Name(SnapshotWire.hashHeader)!], member: agent,
                                                 chunks: { try await body.next() })
            return try jsonResponse(part)
        }
        router.post("/api/agents/snapshots/:snapshot/commit") { request, context in
            let (agent, _) = try await authenticate(request, context)
            let req = try decode(SnapshotCommitRequest.self, try await request.body.collect(upTo: AgentWire.maxAgentBodyBytes))
            return try jsonResponse(try await backups.commit(try snapshotID(context), req, member: agent))
        }
        router.get("/api/agents/snapshots/:snapshot") { request, context in
            let (agent, _) = try await authenticate(request, context)
            return try jsonResponse(try await backups.agentInfo(try snapshotID(context), member: agent))
        }
        router.get("/api/agents/snapshots/:snapshot/:kind/:index") { request, context in
            let (agent, _) = try await authenticate(request, context)
            let bytes = try await backups.agentPart(try snapshotID(context), kind: context.parameters.get("kind") ?? "",
                                                    index: try partIndex(context), member: agent)
            return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }

    /// From the headers alone (the heartbeat's hostname is checked once its body is read).
    private func authenticate(_ request: Request, _ context: BalctlRequestContext) async throws -> (AgentIdentity, IPv4) {
        let ip = ClientIP.resolve(
            peer: ClientIP.peerIPv4(context.peer),
            cfConnectingIP: request.headers[.cfConnectingIP],
            forwardedFor: request.headers[.xForwardedFor],
            trustedProxies: server.config.trustedProxies,
            cloudflareProxies: server.config.cloudflareProxies)
        let agent = try await server.store.authenticateAgent(secret: bearer(request), clientIP: ip, hostname: nil)
        return (agent, ip!)  // authenticateAgent refuses a nil IP
    }
}

/// The operator API (`/api/v1`), used by the `balctl` CLI.
struct OperatorRoutes {
    let server: ControlPlane
    var store: Store { server.store }

    func register(_ router: Router<BalctlRequestContext>) {
        let api = router.group(RouterPath(OperatorAPI.prefix)).add(middleware: OperatorAuthMiddleware(store: store))
        let limit = 64 * 1024


        api.get("whoami") { _, context in
            let op = try context.requireOperator()
            return try jsonResponse(AccountView(id: op.accountID, name: op.name, isAdmin: op.isAdmin, createdAt: 0))
        }
        api.get("accounts") { _, c in try jsonResponse(try await store.listAccounts(by: c.requireOperator())) }
        api.post("accounts") { r, c in
            let (req, _) = try await decodeBody(CreateAccountRequest.self, r, limit: limit)
            return try jsonResponse(try await store.createAccount(req, by: c.requireOperator()), status: .created)
        }
        api.post("tokens") { r, c in
            let (req, _) = try await decodeBody(CreateTokenRequest.self, r, limit: limit)
            return try jsonResponse(try await store.createToken(req, by: c.requireOperator()), status: .created)
        }
        api.get("audit") { r, c in
            try jsonResponse(try await store.auditLog(by: c.requireOperator(), limit: limitParam(r)))
        }
        api.get("commands") { _, c in
            _ = try c.requireOperator()
            return try jsonResponse(server.catalogue.infos)
        }

        // Pools
        api.get("pools") { _, c in try jsonResponse(try await store.listPools(by: c.requireOperator())) }
        api.post("pools") { r, c in
            let (req, _) = try await decodeBody(CreatePoolRequest.self, r, limit: limit)
            return try jsonResponse(try await store.createPool(req, by: c.requireOperator()), status: .created)
        }
        api.get("pools/:pool") { _, c in try jsonResponse(try await store.pool(pathID(c, "pool"), by: c.requireOperator())) }
        api.patch("pools/:pool") { r, c in
            let (req, _) = try await decodeBody(RenamePoolRequest.self, r, limit: limit)
            return try jsonResponse(try await store.renamePool(pathID(c, "pool"), req, by: c.requireOperator()))
        }
        api.delete("pools/:pool") { _, c in
            try await store.deletePool(pathID(c, "pool"), by: c.requireOperator())
            return Response(status: .noContent)
        }
        api.get("pools/:pool/members") { _, c in
            try jsonResponse(try await store.listMembers(pool: pathID(c, "pool"), by: c.requireOperator()).map { $0.withLatest(server) })
        }
        api.post("pools/:pool/members") { r, c in
            let (req, _) = try await decodeBody(CreateMemberRequest.self, r, limit: limit)
            return try jsonResponse(try await store.addMember(
                pool: pathID(c, "pool"), req, install: server.installContext, by: c.requireOperator()).withLatest(server), status: .created)
        }
        api.get("pools/:pool/clusters") { _, c in
            try jsonResponse(try await store.poolClusters(pathID(c, "pool"), by: c.requireOperator()))
        }
        api.get("pools/:pool/jobs") { r, c in
            try jsonResponse(try await store.listJobs(member: nil, pool: pathID(c, "pool"), limit: limitParam(r), by: c.requireOperator()))
        }

        // Members
        api.get("members") { _, c in try jsonResponse(try await store.listMembers(pool: nil, by: c.requireOperator()).map { $0.withLatest(server) }) }
        api.get("members/:member") { _, c in
            try jsonResponse(try await store.member(pathID(c, "member"), by: c.requireOperator()).withLatest(server))
        }
        api.patch("members/:member") { r, c in
            let (req, _) = try await decodeBody(UpdateMemberRequest.self, r, limit: limit)
            return try jsonResponse(try await store.updateMember(pathID(c, "member"), req, by: c.requireOperator()))
        }
        api.delete("members/:member") { _, c in
            try await store.removeMember(pathID(c, "member"), by: c.requireOperator())
            return Response(status: .noContent)
        }
        api.post("members/:member/rotate-secret") { _, c in
            try jsonResponse(try await store.rotateSecret(pathID(c, "member"), install: server.installContext,
                                                          by: c.requireOperator()).withLatest(server))
        }
        api.get("members/:member/heartbeats") { r, c in
            try jsonResponse(try await store.heartbeatHistory(member: pathID(c, "member"), limit: limitParam(r),
                                                              maxBytes: server.config.heartbeat.historyResponseMaxBytes,
                                                              by: c.requireOperator()))
        }
        api.get("members/:member/report") { _, c in
            guard let record = try await store.latestReport(member: pathID(c, "member"), by: c.requireOperator()) else {
                throw ControlPlaneError.notFound("member has not sent a heartbeat yet")
            }
            return try jsonResponse(record)
        }
        api.get("members/:member/jobs") { r, c in
            try jsonResponse(try await store.listJobs(member: pathID(c, "member"), pool: nil, limit: limitParam(r), by: c.requireOperator()))
        }
        api.post("members/:member/jobs") { r, c in
            let (req, _) = try await decodeBody(EnqueueJobRequest.self, r, limit: limit)
            return try jsonResponse(try await store.enqueue(
                member: pathID(c, "member"), req, catalogue: server.catalogue, policy: server.config.queue,
                by: c.requireOperator()), status: .created)
        }

        // Jobs
        api.get("jobs") { r, c in
            try jsonResponse(try await store.listJobs(member: nil, pool: nil, limit: limitParam(r), by: c.requireOperator()))
        }
        api.get("jobs/:job") { _, c in try jsonResponse(try await store.job(pathID(c, "job"), by: c.requireOperator())) }
        api.post("jobs/:job/cancel") { _, c in
            try jsonResponse(try await store.cancelJob(pathID(c, "job"), by: c.requireOperator()))
        }

        // Backups
        let backups = server.backups
        api.get("members/:member/backups") { _, c in
            try jsonResponse(try await backups.list(member: pathID(c, "member"), by: c.requireOperator()))
        }
        api.get("members/:member/backup-policy") { _, c in
            try jsonResponse(try await backups.policy(member: pathID(c, "member"), by: c.requireOperator()))
        }
        api.put("members/:member/backup-policy") { r, c in
            let (req, _) = try await decodeBody(BackupPolicyView.self, r, limit: limit)
            return try jsonResponse(try await backups.setPolicy(member: pathID(c, "member"), req, by: c.requireOperator()))
        }
        api.get("backups/:snapshot") { _, c in try jsonResponse(try await backups.show(snapshotID(c), by: c.requireOperator())) }
        api.delete("backups/:snapshot") { _, c in
            try await backups.delete(snapshotID(c), by: c.requireOperator())
            return try jsonResponse(["deleted": true])
        }
        api.post("backups/:snapshot/restore") { r, c in
            let (req, _) = try await decodeBody(SnapshotRestoreRequest.self, r, limit: limit)
            return try jsonResponse(try await backups.restore(snapshotID(c), req, server: server, by: c.requireOperator()), status: .created)
        }
        api.get("backup-quota") { _, c in try jsonResponse(try await backups.quota(account: nil, by: c.requireOperator())) }
        api.get("accounts/:account/backup-quota") { _, c in
            try jsonResponse(try await backups.quota(account: pathID(c, "account"), by: c.requireOperator()))
        }
        api.put("accounts/:account/backup-quota") { r, c in
            let (req, _) = try await decodeBody(SetBackupQuotaRequest.self, r, limit: limit)
            return try jsonResponse(try await backups.setQuota(account: pathID(c, "account"), req, by: c.requireOperator()))
        }
    }
}

@Sendable func snapshotID(_ context: BalctlRequestContext) throws -> String {
    let id = context.parameters.get("snapshot") ?? ""
    guard SnapshotLocation.isValidSnapshotID(id) else { throw ControlPlaneError.notFound("no snapshot '\(id.prefix(64))'") }
    return id
}

@Sendable func partIndex(_ context: BalctlRequestContext) throws -> Int {
    guard let text = context.parameters.get("index"), text.count <= 6, let i = Int(text), i >= 0 else {
        throw ControlPlaneError.badRequest("the part index must be a number 0–\(SnapshotWire.maxParts - 1)")
    }
    return i
}

extension MemberView {
    /// The member as shown to operators: with the agent version it should run, so clients can
    /// flag an outdated agent.
    func withLatest(_ server: ControlPlane) -> MemberView {
        var m = self
        m.heartbeat?.latestAgentVersion = server.latestAgentVersion
        return m
    }
}

extension MemberEnrollment {
    func withLatest(_ server: ControlPlane) -> MemberEnrollment {
        var e = self
        e.member = e.member.withLatest(server)
        return e
    }
}
