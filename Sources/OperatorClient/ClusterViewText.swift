import BalctlProtocol

/// `balctl pools show`'s cluster view and `balctl members show`'s hidden-stack lines. Every
/// string that came from an agent is cut and made printable (MemberFactsView.text) before it
/// reaches the terminal.
public enum ClusterViewText {
    /// "mariadb: not detected — MariaDB is not installed: …", one line per hidden stack.
    public static func hiddenStacks(_ hidden: [String: String]?) -> [String] {
        guard let hidden else { return [] }
        return hidden.keys.sorted().prefix(32).map { name in
            "\(MemberFactsView.text(name, 32)): not detected — \(MemberFactsView.text(hidden[name] ?? "", 200))"
        }
    }

    public static func lines(_ v: PoolClustersView) -> [String] {
        var out: [String] = []
        if v.galera.isEmpty { return ["galera   no member reports a Galera node"] }
        for w in v.warnings { out.append("WARNING  " + MemberFactsView.text(w, 400)) }
        for c in v.galera {
            let name = c.clusterStateUUID.map { "cluster \($0)" } ?? "nodes without a cluster UUID"
            out.append("galera   \(name): \(c.status), \(c.nodes.count) node\(c.nodes.count == 1 ? "" : "s")")
            for n in c.nodes {
                var parts = [n.up ? "up" : "DOWN"]
                if let s = n.clusterStatus { parts.append(MemberFactsView.text(s, 32)) }
                if let s = n.localState { parts.append(MemberFactsView.text(s, 32)) }
                if let s = n.clusterSize { parts.append("size \(s)") }
                if let c = n.confID { parts.append("conf \(c)") }
                if let a = n.reportAgeSec { parts.append("seen \(Render.age(a)) ago") }
                out.append("           member \(n.memberId) \(MemberFactsView.text(n.hostname, 64)): \(parts.joined(separator: " · "))")
            }
            for w in c.warnings { out.append("WARNING  " + MemberFactsView.text(w, 400)) }
        }
        return out
    }
}
