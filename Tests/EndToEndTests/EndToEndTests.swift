import BalctlProtocol
import ControlPlane
import CurlClient
import Foundation
import Testing

/// The whole path with real processes and real TLS: `balctl-server serve` and `balctl-heartbeat`
/// binaries, a CA made by the test. Serialized: the timing checks must not compete for 2 cores.
@Suite(.serialized)
struct EndToEndTests {
    @Test("enroll → heartbeat → enqueue → the agent runs the job → completed in the timeline")
    func enrollRunComplete() async throws {
        let h = try Harness()
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("edge")
        let e = try await api.member(pool: pool.id, hostname: "Agent-One")
        #expect(e.enrollmentSecret.count == 48)
        #expect(e.installCommand.contains("BALCTL_ENROLLMENT_SECRET=\(e.enrollmentSecret) sh balctl-agent.sh --enrol --hostname Agent-One --api-base '\(h.base)'"))
        // The OS host name is upper/lower-case insensitive: the agent reports it lower-case.
        var e2 = e; e2.member.hostname = "agent-one"
        try h.startAgent(e2)
        let hb = try await api.waitForHeartbeat(e.member.id)
        #expect(hb.commands.contains("host.echo") && hb.commands.contains("host.collect_facts"))
        #expect(hb.sourceIP == "127.0.0.1")

        let job = try await api.enqueue(e.member.id, "host.echo", .object(["message": .string("over https")]))
        let done = try await api.waitForJob(job.id) { $0.state.isTerminal }
        #expect(done.state == .completed)
        #expect(done.attempt == 1)
        #expect(done.changed == false)
        #expect(done.output?.contains("over https") == true)
        #expect(done.result?["message"]?.stringValue == "over https")
        #expect(done.events?.map(\.kind) == ["enqueued", "claimed", "completed"])

        let facts = try await api.enqueue(e.member.id, "host.collect_facts", .emptyObject)
        let factsDone = try await api.waitForJob(facts.id) { $0.state.isTerminal }
        #expect(factsDone.state == .completed)
        #expect(factsDone.result?["uname"]?.stringValue?.hasPrefix("Linux") == true)

        // The pool timeline has both.
        let timeline: [JobView] = try await api.call("GET", "/pools/\(pool.id)/jobs")
        #expect(Set(timeline.map(\.id)) == [job.id, facts.id])
    }

    @Test("wrong secret 401, wrong IP/hostname/forged proxy header 403, malformed 400, oversized 413, plaintext refused")
    func agentAuthRefusals() async throws {
        let h = try Harness()
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("auth")
        let local = try await api.member(pool: pool.id, hostname: "local-1")
        let remote = try await api.member(pool: pool.id, hostname: "remote-1", ips: ["198.51.100.7"])
        let body = try JSONEncoder().encode(Harness.report(hostname: "local-1"))

        let ok = try await h.agentPost(AgentWire.heartbeatPath, secret: local.enrollmentSecret, body: body)
        #expect(ok.status == 200)
        let reply = try JSONDecoder().decode(HeartbeatReply.self, from: Data(ok.body))
        #expect(reply.heartbeatIntervalSec == 1)

        let wrongSecret = try await h.agentPost(AgentWire.heartbeatPath, secret: String(repeating: "ab", count: 24), body: body)
        #expect(wrongSecret.status == 401)
        let noSecret = try await h.agentPost(AgentWire.heartbeatPath, secret: "", body: body)
        #expect(noSecret.status == 401)

        let remoteBody = try JSONEncoder().encode(Harness.report(hostname: "remote-1"))
        let wrongIP = try await h.agentPost(AgentWire.heartbeatPath, secret: remote.enrollmentSecret, body: remoteBody)
        #expect(wrongIP.status == 403)
        #expect(wrongIP.text.contains("127.0.0.1"))

        let forged = try await h.agentPost(AgentWire.heartbeatPath, secret: remote.enrollmentSecret, body: remoteBody,
                                           headers: [("CF-Connecting-IP", "198.51.100.7"), ("X-Forwarded-For", "198.51.100.7")])
        #expect(forged.status == 403, "a peer that is not a trusted proxy cannot choose its client IP")

        let wrongHost = try await h.agentPost(AgentWire.heartbeatPath, secret: local.enrollmentSecret,
                                              body: try JSONEncoder().encode(Harness.report(hostname: "someone-else")))
        #expect(wrongHost.status == 403)
        #expect(wrongHost.text.contains("hostname"))

        let malformed = try await h.agentPost(AgentWire.heartbeatPath, secret: local.enrollmentSecret, body: Data("{\"hostname\": 12".utf8))
        #expect(malformed.status == 400)
        #expect(malformed.text.contains("malformed JSON") || malformed.text.contains("hostname"))
        let missingKey = try await h.agentPost(AgentWire.heartbeatPath, secret: local.enrollmentSecret, body: Data("{\"hostname\": \"local-1\"}".utf8))
        #expect(missingKey.status == 400)
        #expect(missingKey.text.contains("missing key"))

        let huge = Data(repeating: UInt8(ascii: " "), count: AgentWire.maxAgentBodyBytes + 1)
        let tooLarge = try await h.agentPost(AgentWire.heartbeatPath, secret: local.enrollmentSecret, body: huge)
        #expect(tooLarge.status == 413)

        // Nothing of the refused requests was stored for the remote member.
        #expect(try await api.memberView(remote.member.id).heartbeat == nil)

        // The agent refuses a plaintext API base before sending anything.
        let agent = try h.run(try Harness.binary("balctl-heartbeat"), ["--once"], env: [
            "BALCTL_ENROLLMENT_SECRET": local.enrollmentSecret, "BALCTL_API_BASE": "http://127.0.0.1:\(h.port)",
            "BALCTL_HOSTNAME": "local-1", "BALCTL_STATE_DIR": h.dir.appendingPathComponent("plain").path,
            "BALCTL_ENV_FILE": "/nonexistent",
        ], log: "plain.log")
        agent.waitUntilExit()
        #expect(agent.terminationStatus == 2)
        #expect(h.log("plain.log").contains("refusing plaintext BALCTL_API_BASE"))
    }

    @Test("behind a trusted proxy the forwarded client IP is used, and required")
    func trustedProxyHeaders() async throws {
        let h = try Harness(extraServerArgs: ["--trusted-proxy", "127.0.0.1/32"])
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("proxied")
        let remote = try await api.member(pool: pool.id, hostname: "remote-1", ips: ["198.51.100.7"])
        let body = try JSONEncoder().encode(Harness.report(hostname: "remote-1"))
        // issue 20 item 2: a --trusted-proxy peer's CF-Connecting-IP is not believed (a client
        // behind nginx that passes it through would pick its own address); see --cloudflare-proxy.
        let viaCF = try await h.agentPost(AgentWire.heartbeatPath, secret: remote.enrollmentSecret, body: body,
                                          headers: [("CF-Connecting-IP", "198.51.100.7")])
        #expect(viaCF.status == 403)
        let cfOverXFF = try await h.agentPost(AgentWire.heartbeatPath, secret: remote.enrollmentSecret, body: body,
                                              headers: [("CF-Connecting-IP", "198.51.100.7"), ("X-Forwarded-For", "203.0.113.1")])
        #expect(cfOverXFF.status == 403 && cfOverXFF.text.contains("203.0.113.1"), "X-Forwarded-For decides: \(cfOverXFF.text)")
        let viaXFF = try await h.agentPost(AgentWire.heartbeatPath, secret: remote.enrollmentSecret, body: body,
                                           headers: [("X-Forwarded-For", "203.0.113.1, 198.51.100.7")])
        #expect(viaXFF.status == 200, "the nearest untrusted hop is the client")
        let noHeader = try await h.agentPost(AgentWire.heartbeatPath, secret: remote.enrollmentSecret, body: body)
        #expect(noHeader.status == 403, "behind a proxy a request without a client IP is refused")
        #expect(noHeader.text.contains("no client IP"))
        #expect(try await api.memberView(remote.member.id).heartbeat?.sourceIP == "198.51.100.7")
    }

    @Test("agent SIGKILLed mid-job: re-offered only after the lease, attempt 2 completes once, late attempt 1 gets 409")
    func agentKilledMidJob() async throws {
        let h = try Harness(leaseSec: 3)
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("crash")
        let e = try await api.member(pool: pool.id, hostname: "crashy")
        let state = h.dir.appendingPathComponent("crashy-state").path
        let first = try h.startAgent(e, stateDir: state, log: "agent1.log")
        _ = try await api.waitForHeartbeat(e.member.id)
        let job = try await api.enqueue(e.member.id, "host.echo", .object(["message": .string("survivor"), "delaySeconds": .number(4)]))
        _ = try await api.waitForJob(job.id) { $0.state == .running && $0.progressMessage != nil }

        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        let killedAt = Date()
        // Within the lease the job stays with attempt 1.
        try await Task.sleep(for: .milliseconds(1000))
        let held = try await api.job(job.id)
        #expect(held.state == .running && held.attempt == 1, "re-offered before the lease ran out")

        let requeued = try await api.waitForJob(job.id, timeout: 15) { $0.attempt == 2 }
        #expect(Date().timeIntervalSince(killedAt) >= 2, "lease is 3 s, renewed at most ~1 s before the kill")
        #expect(requeued.events?.contains { $0.kind == "lease_expired" && $0.attempt == 1 } == true)

        // A new agent with the same state dir: it reports attempt 1 as interrupted (stale now), then runs attempt 2.
        try h.startAgent(e, stateDir: state, log: "agent2.log")
        let done = try await api.waitForJob(job.id, timeout: 30) { $0.state.isTerminal }
        #expect(done.state == .completed)
        #expect(done.attempt == 2)
        #expect(done.events?.filter { $0.kind == "completed" }.count == 1)
        #expect(h.log("agent2.log").contains("reporting interrupted after restart"))

        // A late completion from attempt 1 is refused and changes nothing.
        let late = JobCompletion(jobId: job.id, attempt: 1, status: .failed, exitCode: 9, output: "late",
                                 result: nil, changed: true, error: "late", startedAt: nil, finishedAt: nil)
        let r = try await h.agentPost(AgentWire.completePath, secret: e.enrollmentSecret, body: try JSONEncoder().encode(late))
        #expect(r.status == 409)
        let after = try await api.job(job.id)
        #expect(after.state == .completed && after.attempt == 2 && after.exitCode == done.exitCode)
        #expect(after.events?.count == done.events?.count)
        // Issue 21 item 14: a late progress for attempt 1 is refused too (and so is one for the ended attempt 2).
        for attempt in [1, 2] {
            let progress = JobProgress(jobId: job.id, attempt: attempt, message: "late", percent: 50)
            let p = try await h.agentPost(AgentWire.progressPath, secret: e.enrollmentSecret, body: try JSONEncoder().encode(progress))
            #expect(p.status == 409, "progress for attempt \(attempt)")
        }
        #expect(try await api.job(job.id).progressMessage != "late")
        // A repeat of the accepted completion is idempotent.
        let repeatDone = JobCompletion(jobId: job.id, attempt: 2, status: .completed, exitCode: 0, output: "again",
                                       result: nil, changed: false, error: nil, startedAt: nil, finishedAt: nil)
        let again = try await h.agentPost(AgentWire.completePath, secret: e.enrollmentSecret, body: try JSONEncoder().encode(repeatDone))
        #expect(again.status == 200)
        #expect(try await api.job(job.id).output == done.output)
    }

    @Test("control plane restarted mid-job, down longer than the lease: nothing lost, nothing duplicated")
    func controlPlaneRestart() async throws {
        // Issue 21 item 13: the server stays down longer than the lease, and job a outlasts downtime +
        // lease, so only the restart grace (graceRunningLeases) keeps the sweeper's first pass from
        // re-offering it. The agent backs off while the server is down (1, 2, 4, 8 s): its heartbeat
        // comes back 2–7 s after the restart, inside the lease; job a's progress posts sooner.
        let lease = 8, downtime = 10
        let h = try Harness(leaseSec: lease)
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("restart")
        let e = try await api.member(pool: pool.id, hostname: "steady")
        try h.startAgent(e)
        _ = try await api.waitForHeartbeat(e.member.id)
        let running = try await api.enqueue(e.member.id, "host.echo",
                                            .object(["message": .string("kept"), "delaySeconds": .number(Double(downtime + lease + 6))]))
        _ = try await api.waitForJob(running.id) { $0.state == .running }
        // Queued while the agent is busy is fine too; this one is still pending or just claimed at the crash.
        let second = try await api.enqueue(e.member.id, "host.echo", .object(["message": .string("second")]))

        h.stopServer(signal: SIGKILL)
        try await Task.sleep(for: .seconds(downtime))
        try await h.startServer()

        let a = try await api.waitForJob(running.id, timeout: 60) { $0.state.isTerminal }
        let b = try await api.waitForJob(second.id, timeout: 60) { $0.state.isTerminal }
        for job in [a, b] {
            #expect(job.state == .completed)
            #expect(job.attempt == 1, "no job was re-run")
            #expect(job.events?.filter { $0.kind == "claimed" }.count == 1, "claimed once: \(job.events?.map(\.kind) ?? [])")
            #expect(job.events?.filter { $0.kind == "completed" }.count == 1)
            #expect(job.events?.contains { $0.kind == "lease_expired" } == false)
        }
        #expect(a.output?.contains("kept") == true)
        #expect(b.output?.contains("second") == true)
        let all: [JobView] = try await api.call("GET", "/members/\(e.member.id)/jobs")
        #expect(all.count == 2)
    }

    @Test("a long job keeps heartbeats flowing at the configured interval")
    func heartbeatsDuringLongJob() async throws {
        let h = try Harness()
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("busy")
        let e = try await api.member(pool: pool.id, hostname: "busy-1")
        try h.startAgent(e)
        _ = try await api.waitForHeartbeat(e.member.id)
        let job = try await api.enqueue(e.member.id, "host.echo", .object(["message": .string("long"), "delaySeconds": .number(7)]))
        _ = try await api.waitForJob(job.id) { $0.state == .running }

        var seen: [Double] = []
        let until = Date().addingTimeInterval(5)
        while Date() < until {
            if let at = try await api.memberView(e.member.id).heartbeat?.receivedAt, at != seen.last { seen.append(at) }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(try await api.job(job.id).state == .running, "the window must fall inside the job")
        let gaps = zip(seen.dropFirst(), seen).map { $0 - $1 }
        #expect(seen.count >= 4, "heartbeats seen during 5 s of a running job: \(seen.count)")
        #expect((gaps.max() ?? 99) < 2.0, "largest gap between heartbeats: \(gaps.max() ?? 99) s")
        let done = try await api.waitForJob(job.id, timeout: 20) { $0.state.isTerminal }
        #expect(done.state == .completed)
    }

    @Test("account B cannot list, read, enqueue on or cancel account A's members and jobs")
    func tenantIsolation() async throws {
        let h = try Harness()
        try await h.startServer()
        let admin = try h.api()
        let issued: TokenIssued = try await admin.call("POST", "/accounts", CreateAccountRequest(name: "tenant-b", isAdmin: false))
        let b = try h.api(token: issued.token)

        let pool = try await admin.pool("a-pool")
        let e = try await admin.member(pool: pool.id, hostname: "a-host")
        try h.startAgent(e)
        _ = try await admin.waitForHeartbeat(e.member.id)
        let job = try await admin.enqueue(e.member.id, "host.echo", .object(["message": .string("a"), "delaySeconds": .number(3)]))

        #expect(try await b.call("GET", "/pools", as: [PoolView].self).isEmpty)
        #expect(try await b.call("GET", "/members", as: [MemberView].self).isEmpty)
        #expect(try await b.call("GET", "/jobs", as: [JobView].self).isEmpty)
        #expect(try await b.raw("GET", "/members/\(e.member.id)").status == 404)
        #expect(try await b.raw("GET", "/pools/\(pool.id)/members").status == 404)
        #expect(try await b.raw("GET", "/jobs/\(job.id)").status == 404)
        let enqueue = try JSONEncoder().encode(EnqueueJobRequest(command: "host.echo", params: .object(["message": .string("b")])))
        #expect(try await b.raw("POST", "/members/\(e.member.id)/jobs", enqueue).status == 404)
        #expect(try await b.raw("POST", "/jobs/\(job.id)/cancel", Data("{}".utf8)).status == 404)
        #expect(try await b.raw("DELETE", "/pools/\(pool.id)").status == 404)
        #expect(try await b.raw("POST", "/accounts", Data("{\"name\":\"x\"}".utf8)).status == 403)
        // A's data is untouched.
        #expect(try await admin.call("GET", "/members/\(e.member.id)/jobs", as: [JobView].self).count == 1)
        #expect(try await admin.job(job.id).cancelRequested == false)
        // And a token that does not exist is 401.
        #expect(try await h.api(token: "bct_" + String(repeating: "0", count: 40)).raw("GET", "/pools").status == 401)
    }

    @Test("cancel: a pending job at once, a running job through the agent")
    func cancelJobs() async throws {
        let h = try Harness()
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("cancel")
        let e = try await api.member(pool: pool.id, hostname: "cancel-1")
        try h.startAgent(e)
        _ = try await api.waitForHeartbeat(e.member.id)
        let long = try await api.enqueue(e.member.id, "host.echo", .object(["message": .string("x"), "delaySeconds": .number(60)]))
        _ = try await api.waitForJob(long.id) { $0.state == .running }
        let cancelled: JobView = try await api.call("POST", "/jobs/\(long.id)/cancel")
        #expect(cancelled.cancelRequested)
        let done = try await api.waitForJob(long.id, timeout: 15) { $0.state.isTerminal }
        #expect(done.state == .cancelled)
        // The job ends cancelled, after the request. (The agent's first progress post may land
        // just after the request: the test cancels the moment the job is running.)
        let kinds = done.events?.map(\.kind) ?? []
        #expect(kinds.last == "cancelled", "\(kinds)")
        #expect(kinds.firstIndex(of: "cancel_requested").map { $0 < kinds.count - 1 } == true, "\(kinds)")
        // Cancelling again is a conflict; unknown commands and bad params are refused at enqueue.
        #expect(try await api.raw("POST", "/jobs/\(long.id)/cancel", Data("{}".utf8)).status == 409)
        let unknown = try JSONEncoder().encode(EnqueueJobRequest(command: "host.nope", params: nil))
        let r1 = try await api.raw("POST", "/members/\(e.member.id)/jobs", unknown)
        #expect(r1.status == 400 && r1.text.contains("unknown command"))
        let bad = try JSONEncoder().encode(EnqueueJobRequest(command: "host.echo", params: .object(["message": .string("x"), "delaySeconds": .number(-1)])))
        let r2 = try await api.raw("POST", "/members/\(e.member.id)/jobs", bad)
        #expect(r2.status == 400 && r2.text.contains("delaySeconds"))
    }

    @Test("issue 21 item 17: account B cannot create, read, list, edit, delete or cancel A's schedules and recipe runs")
    func tenantIsolationSchedulesAndRecipeRuns() async throws {
        let recipes = FileManager.default.temporaryDirectory.appendingPathComponent("recipes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: recipes, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: recipes) }
        try """
            id: echo-twice
            title: Echo twice
            steps:
              - name: one
                run: host.echo
                with: { message: one }
              - name: two
                run: host.echo
                with: { message: two }
            disable:
              - name: undo
                run: host.echo
                with: { message: undo }
            """.write(to: recipes.appendingPathComponent("echo.yaml"), atomically: true, encoding: .utf8)
        let h = try Harness(extraServerArgs: ["--recipes-dir", recipes.path])
        try await h.startServer()
        let admin = try h.api()
        let issued: TokenIssued = try await admin.call("POST", "/accounts", CreateAccountRequest(name: "tenant-b", isAdmin: false))
        let b = try h.api(token: issued.token)
        let pool = try await admin.pool("a-pool")
        let e = try await admin.member(pool: pool.id, hostname: "a-host")
        // One heartbeat so the member's commands are known; no agent claims anything.
        let beat = try await h.agentPost(AgentWire.heartbeatPath, secret: e.enrollmentSecret,
                                         body: try JSONEncoder().encode(Harness.report(hostname: "a-host")))
        #expect(beat.status == 200)
        let create = CreateScheduleRequest(name: "nightly", cron: "@daily", command: "host.echo", recipe: nil,
                                           params: .object(["message": .string("a")]), enabled: true, missed: nil)
        let schedule: ScheduleView = try await admin.call("POST", "/members/\(e.member.id)/schedules", create)
        let run: RecipeRunView = try await admin.call("POST", "/members/\(e.member.id)/recipes/echo-twice/run", RunRecipeRequest(params: nil))

        let createBody = try JSONEncoder().encode(create)
        let patchBody = try JSONEncoder().encode(UpdateScheduleRequest(cron: "@hourly"))
        let refused: [(String, String, Data?)] = [
            ("POST", "/members/\(e.member.id)/schedules", createBody),
            ("GET", "/members/\(e.member.id)/schedules", nil),
            ("GET", "/schedules/\(schedule.id)", nil),
            ("PATCH", "/schedules/\(schedule.id)", patchBody),
            ("POST", "/schedules/\(schedule.id)/disable", Data("{}".utf8)),
            ("POST", "/schedules/\(schedule.id)/enable", Data("{}".utf8)),
            ("DELETE", "/schedules/\(schedule.id)", nil),
            ("POST", "/members/\(e.member.id)/recipes/echo-twice/run", Data("{}".utf8)),
            ("POST", "/members/\(e.member.id)/recipes/echo-twice/disable", Data("{}".utf8)),
            ("GET", "/members/\(e.member.id)/recipe-runs", nil),
            ("GET", "/recipe-runs/\(run.id)", nil),
            ("POST", "/recipe-runs/\(run.id)/cancel", Data("{}".utf8)),
            ("GET", "/recipes?member=\(e.member.id)", nil),
        ]
        for (method, path, body) in refused {
            let r = try await b.raw(method, path, body)
            #expect(r.status == 404, "\(method) \(path) by account B → \(r.status): \(r.text)")
        }
        #expect(try await b.call("GET", "/schedules", as: [ScheduleView].self).isEmpty)
        // A's schedule and run are untouched.
        let kept: ScheduleView = try await admin.call("GET", "/schedules/\(schedule.id)")
        #expect(kept.enabled && kept.cron == "@daily")
        let runNow: RecipeRunView = try await admin.call("GET", "/recipe-runs/\(run.id)")
        #expect(runNow.state == .running && runNow.steps[0].state == .pending)
        #expect(try await admin.call("GET", "/schedules", as: [ScheduleView].self).map(\.id) == [schedule.id])
    }

    @Test("issue 21 item 21: cancelling a pending job ends it at once; no heartbeat is handed it afterwards")
    func cancelPendingJob() async throws {
        let h = try Harness()
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("cancel-pending")
        let e = try await api.member(pool: pool.id, hostname: "idle-1")
        let body = try JSONEncoder().encode(Harness.report(hostname: "idle-1"))
        #expect(try await h.agentPost(AgentWire.heartbeatPath, secret: e.enrollmentSecret, body: body).status == 200)
        // No agent runs: the job stays pending until an agent heartbeats.
        let job = try await api.enqueue(e.member.id, "host.echo", .object(["message": .string("never")]))
        #expect(job.state == .pending)
        let cancelled: JobView = try await api.call("POST", "/jobs/\(job.id)/cancel")
        #expect(cancelled.state == .cancelled && cancelled.finishedAt != nil)
        #expect(cancelled.events?.map(\.kind) == ["enqueued", "cancelled"])

        let reply = try await h.agentPost(AgentWire.heartbeatPath, secret: e.enrollmentSecret, body: body)
        #expect(reply.status == 200)
        let decoded = try JSONDecoder().decode(HeartbeatReply.self, from: Data(reply.body))
        #expect(decoded.jobs.isEmpty, "a cancelled job is never handed out")
        // A real agent started now gets nothing either.
        try h.startAgent(e)
        try await Task.sleep(for: .seconds(3))
        let after = try await api.job(job.id)
        #expect(after.state == .cancelled && after.events?.map(\.kind) == ["enqueued", "cancelled"])
        #expect(try await api.raw("POST", "/jobs/\(job.id)/cancel", Data("{}".utf8)).status == 409)
    }
}
