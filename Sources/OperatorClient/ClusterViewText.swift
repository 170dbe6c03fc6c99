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

    /// `balctl members show`'s report lines. Every string here is the agent's word (os name,
    /// kernel, mounts, stack and command names): a hostile agent put ANSI escapes in them and
    /// they reached the operator's terminal raw beside the sanitised hidden-stack lines. Each is
    /// made printable and cut; the lists are bounded.
    public static func reportLines(_ r: HostReport, now: Double) -> [String] {
        func t(_ s: String, _ n: Int) -> String { MemberFactsView.text(s, n) }
        func list(_ xs: [String], _ limit: Int) -> String {
            let shown = xs.prefix(limit).map { t($0, 64) }.joined(separator: ", ")
            return xs.count > limit ? shown + ", … (\(xs.count - limit) more)" : shown
        }
        var lines: [String] = []
        lines.append("os       \(t(r.os.prettyName, 80)) (\(t(r.os.family, 32))), kernel \(t(r.os.kernel, 80))")
        lines.append("uptime   \(Render.age(r.uptimeSec)); load \(r.load.prefix(3).map { "\($0)" }.joined(separator: " ")); \(r.cpuCount) CPUs")
        lines.append("memory   \(Render.bytes(r.memory.availableBytes)) free of \(Render.bytes(r.memory.totalBytes))")
        for d in r.disks.prefix(64) {
            lines.append("disk     \(t(d.mount, 120)) (\(t(d.fsType, 32))): \(Render.bytes(d.availableBytes)) free of \(Render.bytes(d.totalBytes))")
        }
        let stacks = r.stacks.keys.sorted()
        lines.append("stacks   \(stacks.isEmpty ? "none detected" : list(stacks, 32))")
        lines += hiddenStacks(r.hiddenStacks)
        lines += MemberFactsView.lines(stacks: r.stacks, now: now)
        lines.append("commands \(list(r.commands, 400))")
        if !r.jobsInFlight.isEmpty {
            lines.append("running  \(r.jobsInFlight.prefix(64).map { "job \($0.id)#\($0.attempt)" }.joined(separator: ", "))")
        }
        return lines
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
