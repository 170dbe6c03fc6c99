import AgentKernel

/// The server's options as `my_print_defaults` prints them (one `--name=value` a line), for
/// when the server is down: the cluster address, datadir and provider options the node would
/// start with. Option names are normalised (`-` → `_`); the last value wins, as for mariadbd.
/// Bounded: 2,000 lines, values cut at 4 KB.
struct ServerOptions: Sendable, Equatable {
    var values: [String: String] = [:]

    init(values: [String: String] = [:]) { self.values = values }

    init(output: String) {
        for line in output.split(separator: "\n", omittingEmptySubsequences: true).prefix(2000) {
            guard line.hasPrefix("--") else { continue }
            let body = line.dropFirst(2)
            let name: Substring, value: Substring
            if let eq = body.firstIndex(of: "=") { name = body[..<eq]; value = body[body.index(after: eq)...] } else { name = body; value = "" }
            guard !name.isEmpty, name.utf8.count <= 64 else { continue }
            values[name.replacing("-", with: "_").lowercased()] = clipped(String(value), 4096)
        }
    }

    subscript(_ name: String) -> String? { values[name] }

    var wsrepOn: Bool? { values["wsrep_on"].map(WsrepReadout.isOn) }
    var datadir: String? { values["datadir"].flatMap { $0.hasPrefix("/") ? $0 : nil } }
    var clusterAddress: String? { values["wsrep_cluster_address"] }
    /// `gmcast.listen_addr` from `wsrep_provider_options` (`tcp://host:port`), if set.
    var listenAddress: GroupAddress? {
        guard let opts = values["wsrep_provider_options"] else { return nil }
        for part in opts.split(separator: ";") {
            let kv = part.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, String(kv[0]).trimmingWhitespace == "gmcast.listen_addr" else { continue }
            var v = String(kv[1]).trimmingWhitespace
            if let r = v.firstRange(of: "://") { v = String(v[r.upperBound...]) }
            return GroupAddress.parse(v)
        }
        return nil
    }
}

/// One entry of a `gcomm://` cluster address: host and group-communication port (4567 when
/// not given).
struct GroupAddress: Sendable, Hashable, CustomStringConvertible {
    var host: String
    var port: UInt16

    static let defaultPort: UInt16 = 4567
    static let maxPeers = 16

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// `host`, `host:port`, `[v6]`, `[v6]:port`. Host: letters, digits, `.`, `-`, `_`, `:` (v6),
    /// 1–253 bytes; anything else is refused (nil), never passed to the resolver.
    static func parse(_ text: String) -> GroupAddress? {
        let t = text.trimmingWhitespace
        var host: Substring, portText: Substring? = nil
        if t.hasPrefix("[") {
            guard let close = t.firstIndex(of: "]") else { return nil }
            host = t[t.index(after: t.startIndex)..<close]
            let rest = t[t.index(after: close)...]
            if !rest.isEmpty { guard rest.hasPrefix(":") else { return nil }; portText = rest.dropFirst() }
        } else if let colon = t.lastIndex(of: ":"), t.firstIndex(of: ":") == colon {
            host = t[..<colon]; portText = t[t.index(after: colon)...]
        } else {
            host = Substring(t)
        }
        guard !host.isEmpty, host.utf8.count <= 253,
              host.utf8.allSatisfy({ WsrepReadout.isWordByte($0) || $0 == 0x2E || $0 == 0x2D || $0 == 0x3A }) else { return nil }
        var port = defaultPort
        if let portText {
            guard let p = UInt16(portText), p > 0 else { return nil }
            port = p
        }
        return GroupAddress(host: String(host), port: port)
    }

    /// The peers of `gcomm://a,b:4568,c?pc.wait_prim=no` (options after `?` ignored), at most
    /// `maxPeers`, duplicates dropped; entries that do not parse, and any past `maxPeers`, are
    /// returned apart so the caller can say so (and refuse).
    static func peers(ofClusterAddress address: String) -> (peers: [GroupAddress], unreadable: [String]) {
        var t = address.trimmingWhitespace
        guard t.hasPrefix("gcomm://") else { return ([], t.isEmpty ? [] : [clipped(t, 80)]) }
        t = String(t.dropFirst("gcomm://".count))
        if let q = t.firstIndex(of: "?") { t = String(t[..<q]) }
        var peers: [GroupAddress] = [], bad: [String] = []
        // Past the limit the address is unreadable, not cut short: a peer that is skipped is a
        // peer never probed, and a node running there would get a second cluster beside it.
        var more = 0
        for part in t.split(separator: ",", omittingEmptySubsequences: true) {
            if let a = parse(String(part)) {
                if peers.contains(a) { continue }
                if peers.count < maxPeers { peers.append(a) } else { more += 1 }
            } else if bad.count < maxPeers {
                bad.append(clipped(String(part), 80))
            } else {
                more += 1
            }
        }
        if more > 0 { bad.append("\(more) more (at most \(maxPeers) peers are checked)") }
        return (peers, bad)
    }
}
