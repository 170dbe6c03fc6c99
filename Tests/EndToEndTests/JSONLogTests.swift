import BalctlProtocol
import CurlClient
import Foundation
import Testing

/// `--log-format json` (server) and `BALCTL_LOG_FORMAT=json` (agent): every line they write is
/// one JSON object; the server's request lines carry Hummingbird's request ID.
@Suite(.serialized)
struct JSONLogTests {
    func objects(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { line in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw Harness.HarnessError("not a JSON object: \(line)")
            }
            return o
        }
    }

    @Test("server and agent log one JSON object per line; an operator change and a refused heartbeat are logged with a request ID")
    func jsonLogs() async throws {
        let h = try Harness(extraServerArgs: ["--log-format", "json"])
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("json-logs")
        let e = try await api.member(pool: pool.id, hostname: "json-1")
        var env = h.agentEnv(secret: e.enrollmentSecret, hostname: "json-1", stateDir: h.dir.appendingPathComponent("state").path)
        env["BALCTL_LOG_FORMAT"] = "json"
        h.agents.append(try h.run(try Harness.binary("balctl-heartbeat"), [], env: env, log: "agent.log"))
        _ = try await api.waitForHeartbeat(e.member.id)
        // A stranger's heartbeat: refused, and logged.
        let refused = try await h.session().request("POST", h.base + AgentWire.heartbeatPath,
                                                    headers: [("Authorization", "Bearer " + String(repeating: "ab", count: 24))], body: Array("{}".utf8))
        #expect(refused.status == 401)
        try await Task.sleep(for: .milliseconds(300))

        let server = try objects(h.log("server.log"))
        #expect(server.contains { ($0["message"] as? String)?.contains("listening on https://") == true })
        let created = try #require(server.first { ($0["message"] as? String)?.hasPrefix("POST /api/v1/pools") == true }, "\(h.log("server.log"))")
        #expect((created["hb.request.id"] as? String)?.isEmpty == false)
        #expect(created["level"] as? String == "info")
        let stranger = try #require(server.first { ($0["message"] as? String) == "POST \(AgentWire.heartbeatPath) 401" }, "\(h.log("server.log"))")
        #expect(stranger["status"] as? String == "401")
        #expect(stranger["hb.request.id"] as? String != created["hb.request.id"] as? String)
        // Accepted heartbeats are not logged.
        #expect(!server.contains { ($0["message"] as? String) == "POST \(AgentWire.heartbeatPath) 200" })

        let agent = try objects(h.log("agent.log"))
        #expect(agent.contains { ($0["message"] as? String)?.hasPrefix("balctl-heartbeat") == true && $0["level"] as? String == "info" }, "\(h.log("agent.log"))")
    }
}
