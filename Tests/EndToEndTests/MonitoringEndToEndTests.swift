import BalctlProtocol
import CurlClient
import Foundation
import Testing

/// The real server, agent and CLI: a threshold set with `balctl` is raised by the agent's own
/// report, listed by `balctl alerts list`, and counted on `/metrics` behind its scrape token.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct MonitoringEndToEndTests {
    @Test("balctl sets a memory threshold; the running agent's report raises it once; alerts list and /metrics show it")
    func thresholdRaisedByAgentReport() async throws {
        let token = "scrape-\(UUID().uuidString)"
        let h = try Harness()
        let tokenFile = h.dir.appendingPathComponent("metrics.token").path
        try Data((token + "\n").utf8).write(to: URL(fileURLWithPath: tokenFile))
        h.extraServerArgs = ["--metrics-token-file", tokenFile]
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("mon")
        let e = try await api.member(pool: pool.id, hostname: "mon-1")

        // Any running host uses more than 1 % of its memory: a threshold bound to be crossed.
        let set = try h.balctl(["members", "thresholds", "set", "\(e.member.id)", "memory", "1", "--clear", "0.5"])
        #expect(set.status == 0, "\(set.text)")
        #expect(set.text.contains("memory") && set.text.contains("member"))
        let bad = try h.balctl(["members", "thresholds", "set", "\(e.member.id)", "memory", "150"])
        #expect(bad.status != 0 && bad.text.contains("raiseAt must be 1–100"), "\(bad.text)")

        try h.startAgent(e)
        var alerts = AlertsView(firing: [], history: [])
        for _ in 0..<100 where alerts.firing.isEmpty {
            try await Task.sleep(for: .milliseconds(200))
            let out = try h.balctl(["alerts", "list", "--json"])
            if out.status == 0 { alerts = try JSONDecoder().decode(AlertsView.self, from: Data(out.text.utf8)) }
        }
        #expect(alerts.firing.map { "\($0.hostname) \($0.metric.rawValue)" } == ["mon-1 memory"])
        // Several more reports above the threshold: still one raise.
        try await Task.sleep(for: .seconds(3))
        let later = try JSONDecoder().decode(AlertsView.self, from: Data(try h.balctl(["alerts", "list", "--json"]).text.utf8))
        #expect(later.history.filter { $0.state == "raised" }.count == 1)
        let table = try h.balctl(["alerts", "list"])
        #expect(table.text.contains("RAISED NOW") && table.text.contains("mon-1"))

        let session = try h.session()
        #expect(try await session.request("GET", h.base + "/metrics").status == 401)
        let scrape = try await session.request("GET", h.base + "/metrics", headers: [("Authorization", "Bearer \(token)")])
        #expect(scrape.status == 200)
        let text = String(decoding: scrape.body, as: UTF8.self)
        #expect(text.contains("balctl_threshold_alerts_firing{metric=\"memory\"} 1"))
        #expect(text.contains("balctl_threshold_alerts_total{metric=\"memory\",state=\"raised\"} 1"))
        #expect(text.contains("balctl_members{pool_id=\"\(pool.id)\",pool=\"mon\",state=\"fresh\"} 1"))

        // Unset: the member has no threshold left; the raised alert ends without a new alert.
        let unset = try h.balctl(["members", "thresholds", "unset", "\(e.member.id)", "memory"])
        #expect(unset.status == 0 && unset.text.contains("no thresholds in effect"), "\(unset.text)")
        var firing = 1
        for _ in 0..<60 where firing > 0 {
            try await Task.sleep(for: .milliseconds(200))
            firing = try JSONDecoder().decode(AlertsView.self, from: Data(try h.balctl(["alerts", "list", "--json"]).text.utf8)).firing.count
        }
        #expect(firing == 0)
        h.stopServer()
    }
}
