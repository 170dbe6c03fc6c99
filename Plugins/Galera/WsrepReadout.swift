import AgentKernel
import BalctlProtocol

/// The node's wsrep state as one query reads it: `wsrep_%` global status and the few variables
/// that say whether this is a Galera node at all, in a single `mariadb` invocation. Values are
/// the server's word and are bounded and shape-checked before they reach a report (a UUID that
/// is not a UUID is dropped: the control plane groups members by it).
struct WsrepReadout: Sendable, Equatable {
    var wsrepOn = false
    var clusterSize: Int?
    /// Primary | non-Primary | Disconnected
    var clusterStatus: String?
    /// Synced | Donor/Desynced | Joining | Joined | Initialized …
    var localState: String?
    var ready: Bool?
    var connected: Bool?
    /// Fraction of time replication was paused by flow control since the last FLUSH STATUS, 0–1.
    var flowControlPaused: Double?
    var clusterStateUUID: String?
    var confID: Int?
    var lastCommitted: Int?
    var nodeName: String?
    var clusterName: String?
    var incomingAddresses: String?
    var clusterAddress: String?
    var datadir: String?

    static let statusNames = ["WSREP_CLUSTER_SIZE", "WSREP_CLUSTER_STATUS", "WSREP_LOCAL_STATE_COMMENT", "WSREP_READY",
                              "WSREP_CONNECTED", "WSREP_FLOW_CONTROL_PAUSED", "WSREP_CLUSTER_STATE_UUID",
                              "WSREP_CLUSTER_CONF_ID", "WSREP_LAST_COMMITTED", "WSREP_INCOMING_ADDRESSES"]
    static let variableNames = ["WSREP_ON", "WSREP_NODE_NAME", "WSREP_CLUSTER_NAME", "WSREP_CLUSTER_ADDRESS", "DATADIR"]

    static var query: String {
        func list(_ names: [String]) -> String { names.map { "'\($0)'" }.joined(separator: ",") }
        return "SELECT 'S', VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN (\(list(statusNames)))"
            + " UNION ALL SELECT 'V', VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME IN (\(list(variableNames)))"
    }

    init() {}

    /// Rows of (tag, name, value); unknown tags and names and short rows are ignored.
    init(rows: [[String]]) {
        var status: [String: String] = [:], vars: [String: String] = [:]
        for row in rows.prefix(256) where row.count >= 3 {
            let name = row[1].uppercased(), value = clipped(row[2], 1024)
            if row[0] == "S" { status[name] = value } else if row[0] == "V" { vars[name] = value }
        }
        wsrepOn = vars["WSREP_ON"].map(Self.isOn) ?? false
        clusterSize = Self.count(status["WSREP_CLUSTER_SIZE"])
        clusterStatus = status["WSREP_CLUSTER_STATUS"].flatMap { Self.word($0, 32) }
        localState = status["WSREP_LOCAL_STATE_COMMENT"].flatMap { Self.word($0, 32) }
        ready = status["WSREP_READY"].map(Self.isOn)
        connected = status["WSREP_CONNECTED"].map(Self.isOn)
        if let f = status["WSREP_FLOW_CONTROL_PAUSED"].flatMap({ Double($0.trimmingWhitespace) }), f.isFinite, f >= 0, f <= 1 {
            flowControlPaused = (f * 10_000).rounded() / 10_000
        }
        clusterStateUUID = status["WSREP_CLUSTER_STATE_UUID"].flatMap(Self.uuid)
        confID = Self.count(status["WSREP_CLUSTER_CONF_ID"])
        lastCommitted = status["WSREP_LAST_COMMITTED"].flatMap { Int($0.trimmingWhitespace) }
        nodeName = vars["WSREP_NODE_NAME"].flatMap { Self.printable($0, 64) }
        clusterName = vars["WSREP_CLUSTER_NAME"].flatMap { Self.printable($0, 64) }
        incomingAddresses = status["WSREP_INCOMING_ADDRESSES"].flatMap { Self.printable($0, 200) }
        clusterAddress = vars["WSREP_CLUSTER_ADDRESS"].flatMap { Self.printable($0, 512) }
        datadir = vars["DATADIR"].flatMap { Self.printable($0, 256) }
    }

    static func isOn(_ s: String) -> Bool {
        let v = s.trimmingWhitespace.uppercased()
        return v == "ON" || v == "1" || v == "TRUE" || v == "YES"
    }

    /// A non-negative count (sizes, conf ids) below a billion; anything else is not believed.
    static func count(_ s: String?) -> Int? {
        guard let s, let n = Int(s.trimmingWhitespace), n >= 0, n < 1_000_000_000 else { return nil }
        return n
    }

    /// A state word: letters, digits, `-`, `/`, `_`, space; at most `max` bytes.
    static func word(_ s: String, _ max: Int) -> String? {
        let t = s.trimmingWhitespace
        guard !t.isEmpty, t.utf8.count <= max, t.utf8.allSatisfy({ isWordByte($0) || $0 == 0x2D || $0 == 0x2F || $0 == 0x20 }) else { return nil }
        return t
    }

    /// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lowercase hex.
    static func uuid(_ s: String) -> String? {
        let t = Array(s.trimmingWhitespace.lowercased().utf8)
        guard t.count == 36 else { return nil }
        for (i, b) in t.enumerated() {
            if [8, 13, 18, 23].contains(i) { guard b == 0x2D else { return nil } } else {
                guard (0x30...0x39).contains(b) || (0x61...0x66).contains(b) else { return nil }
            }
        }
        return String(decoding: t, as: UTF8.self)
    }

    /// Printable ASCII only (control bytes and non-ASCII dropped), clipped.
    static func printable(_ s: String, _ max: Int) -> String? {
        let bytes = s.utf8.filter { $0 >= 0x20 && $0 < 0x7F }.prefix(max)
        return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
    }

    static func isWordByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
    }

    /// The heartbeat's fields (the probe adds up/checkedAgeSec/error).
    var json: [String: JSONValue] {
        var o: [String: JSONValue] = [:]
        func put(_ k: String, _ v: Int?) { if let v { o[k] = .number(Double(v)) } }
        func put(_ k: String, _ v: String?) { if let v { o[k] = .string(v) } }
        func put(_ k: String, _ v: Bool?) { if let v { o[k] = .bool(v) } }
        put("clusterSize", clusterSize)
        put("clusterStatus", clusterStatus)
        put("localState", localState)
        put("ready", ready)
        put("connected", connected)
        if let f = flowControlPaused { o["flowControlPaused"] = .number(f) }
        put("clusterStateUUID", clusterStateUUID)
        put("confID", confID)
        put("lastCommitted", lastCommitted)
        put("nodeName", nodeName)
        put("clusterName", clusterName)
        put("incomingAddresses", incomingAddresses.map { String($0.prefix(160)) })
        return o
    }
}

/// At most `n` bytes of `s`, cut on a character boundary.
func clipped(_ s: String, _ n: Int) -> String {
    guard s.utf8.count > n else { return s }
    var out = "", used = 0
    for ch in s {
        let size = ch.utf8.count
        if used + size > n { break }
        out.append(ch); used += size
    }
    return out
}
