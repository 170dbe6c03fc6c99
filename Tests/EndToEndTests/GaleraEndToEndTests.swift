import BalctlProtocol
import Foundation
import TestSupport
import Testing

/// `balctl pools show` and `balctl members show` against a real control plane (issue 16): three
/// Galera members' heartbeats posted over the agent route — one node down, the other two at size 2
/// — and a member whose MariaDB and Galera stacks are hidden with their reasons. The pool view
/// groups the cluster and prints the WARNING lines; members show prints "not detected — reason".
/// (The readouts themselves come from a real cluster in GaleraPluginTests.)
@Suite(.serialized)
struct GaleraEndToEndTests {
    static let uuid = "04aaad88-ebce-11f1-93d5-e6ceda60e39c"

    static func galera(up: Bool, size: Int, conf: Int) -> JSONValue {
        var o: [String: JSONValue] = ["up": .bool(up), "clusterStateUUID": .string(uuid)]
        if up {
            o["clusterSize"] = .number(Double(size)); o["clusterStatus"] = .string("Primary")
            o["localState"] = .string("Synced"); o["confID"] = .number(Double(conf)); o["ready"] = .bool(true)
        } else {
            o["clusterStatus"] = .string("Disconnected"); o["error"] = .string("mariadb failed (exit 1)")
        }
        return .object(o)
    }

    @Test("pools show warns about a degraded Galera cluster; members show prints hidden stacks with their reasons")
    func poolsShowAndHiddenStacks() async throws {
        let h = try Harness()
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("db")
        var members: [MemberEnrollment] = []
        for (i, (up, size)) in [(true, 2), (true, 2), (false, 0)].enumerated() {
            let e = try await api.member(pool: pool.id, hostname: "db-\(i + 1)")
            members.append(e)
            var r = Harness.report(hostname: "db-\(i + 1)")
            r.stacks = ["galera": Self.galera(up: up, size: size, conf: 7)]
            let posted = try await h.agentPost(AgentWire.heartbeatPath, secret: e.enrollmentSecret, body: try JSONEncoder().encode(r))
            #expect(posted.status == 200, "\(posted.text)")
        }
        let web = try await api.member(pool: pool.id, hostname: "web-1")
        var r = Harness.report(hostname: "web-1")
        r.hiddenStacks = ["mariadb": "MariaDB is not installed: no server binary at /usr/sbin/mariadbd or /usr/sbin/mysqld",
                          "galera": "wsrep is off (not a Galera node)\u{1B}[2J"]
        let posted = try await h.agentPost(AgentWire.heartbeatPath, secret: web.enrollmentSecret, body: try JSONEncoder().encode(r))
        #expect(posted.status == 200, "\(posted.text)")

        let shown = try h.balctl(["pools", "show", "\(pool.id)"])
        #expect(shown.status == 0, "\(shown.text)")
        for line in [
            "galera   cluster \(Self.uuid): degraded, 3 nodes",
            "member \(members[0].member.id) db-1: up · Primary · Synced · size 2 · conf 7",
            "member \(members[2].member.id) db-3: DOWN · Disconnected",
            "WARNING  db-3: MariaDB is down (Disconnected)",
            "WARNING  db-1 sees 2 of the 3 nodes this pool has in the cluster",
            "WARNING  db-2 sees 2 of the 3 nodes this pool has in the cluster",
        ] {
            #expect(shown.text.contains(line), "missing '\(line)' in:\n\(shown.text)")
        }
        #expect(!shown.text.contains("web-1:"), "a member without galera is not in the view")
        let json = try h.balctl(["pools", "show", "\(pool.id)", "--json"])
        #expect(json.status == 0, "\(json.text)")
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(json.text.utf8))
        guard case .array(let groups)? = decoded["clusters"]?["galera"] else { Issue.record("no clusters.galera in \(json.text)"); return }
        #expect(groups.first?["status"] == .string("degraded"))
        #expect(groups.first?["clusterStateUUID"] == .string(Self.uuid))

        let web1 = try h.balctl(["members", "show", "\(web.member.id)"])
        #expect(web1.status == 0, "\(web1.text)")
        #expect(web1.text.contains("galera: not detected — wsrep is off (not a Galera node)?[2J"), "\(web1.text)")
        #expect(web1.text.contains("mariadb: not detected — MariaDB is not installed: no server binary at /usr/sbin/mariadbd or /usr/sbin/mysqld"))
        #expect(!web1.text.contains("\u{1B}"), "no escape sequence reaches the terminal")
    }
}
