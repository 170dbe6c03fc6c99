import AgentKernel
import BalctlProtocol

/// The server's health as one query reads it: global status and variables, tagged S/V, in a
/// single `mariadb` invocation (`query`). Parsed from rows; anything missing stays nil.
struct HealthReadout: Sendable, Equatable {
    var version: String?
    var uptimeSec: Int?
    var threadsConnected: Int?
    var maxConnections: Int?
    var maxUsedConnections: Int?
    var threadsRunning: Int?
    var slowQueries: Int?
    /// 100 × (1 − disk reads / read requests) of the InnoDB buffer pool, 2 decimals; nil before
    /// any read request.
    var bufferPoolHitPercent: Double?
    var datadir: String?
    var socket: String?
    var readOnly: Bool?
    /// standalone | primary (replicas connected) | replica (replication threads running) | galera
    var role = "standalone"
    var wsrepClusterStatus: String?
    var wsrepLocalState: String?
    var wsrepClusterSize: Int?

    static let statusNames = ["UPTIME", "THREADS_CONNECTED", "THREADS_RUNNING", "MAX_USED_CONNECTIONS", "SLOW_QUERIES",
                              "INNODB_BUFFER_POOL_READ_REQUESTS", "INNODB_BUFFER_POOL_READS", "SLAVES_RUNNING",
                              "SLAVES_CONNECTED", "WSREP_CLUSTER_STATUS", "WSREP_LOCAL_STATE_COMMENT", "WSREP_CLUSTER_SIZE"]
    static let variableNames = ["VERSION", "MAX_CONNECTIONS", "DATADIR", "SOCKET", "WSREP_ON", "READ_ONLY"]

    /// One statement, so one client run reads status and variables at the same moment.
    static var query: String {
        func list(_ names: [String]) -> String { names.map { "'\($0)'" }.joined(separator: ",") }
        return "SELECT 'S', VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN (\(list(statusNames)))"
            + " UNION ALL SELECT 'V', VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME IN (\(list(variableNames)))"
    }

    /// Rows of (tag, name, value); unknown tags, names and short rows are ignored. Values are
    /// bounded (a string field keeps 256 bytes) so a hostile value cannot grow the heartbeat.
    init(rows: [[String]]) {
        var status: [String: String] = [:], vars: [String: String] = [:]
        for row in rows where row.count >= 3 {
            let name = row[1].uppercased(), value = clip(row[2], 256)
            if row[0] == "S" { status[name] = value } else if row[0] == "V" { vars[name] = value }
        }
        func int(_ s: String?) -> Int? { s.flatMap { Int($0.trimmingWhitespace) } }
        version = vars["VERSION"]
        uptimeSec = int(status["UPTIME"])
        threadsConnected = int(status["THREADS_CONNECTED"])
        maxConnections = int(vars["MAX_CONNECTIONS"])
        maxUsedConnections = int(status["MAX_USED_CONNECTIONS"])
        threadsRunning = int(status["THREADS_RUNNING"])
        slowQueries = int(status["SLOW_QUERIES"])
        if let requests = int(status["INNODB_BUFFER_POOL_READ_REQUESTS"]), let reads = int(status["INNODB_BUFFER_POOL_READS"]),
           requests > 0, reads >= 0 {
            let hit = max(0, 1 - Double(reads) / Double(requests)) * 100
            bufferPoolHitPercent = (hit * 100).rounded() / 100
        }
        datadir = vars["DATADIR"]
        socket = vars["SOCKET"]
        readOnly = vars["READ_ONLY"].map { $0.uppercased() == "ON" || $0 == "1" }
        if vars["WSREP_ON"]?.uppercased() == "ON" {
            role = "galera"
            wsrepClusterStatus = status["WSREP_CLUSTER_STATUS"]
            wsrepLocalState = status["WSREP_LOCAL_STATE_COMMENT"]
            wsrepClusterSize = int(status["WSREP_CLUSTER_SIZE"])
        } else if (int(status["SLAVES_RUNNING"]) ?? 0) > 0 {
            role = "replica"
        } else if (int(status["SLAVES_CONNECTED"]) ?? 0) > 0 {
            role = "primary"
        }
    }

    init() {}

    /// The compact form for the heartbeat (and `mariadb.status`).
    var json: [String: JSONValue] {
        var o: [String: JSONValue] = ["role": .string(role)]
        func put(_ k: String, _ v: Int?) { if let v { o[k] = .number(Double(v)) } }
        func put(_ k: String, _ v: String?) { if let v { o[k] = .string(clip(v, 128)) } }
        put("version", version)
        put("uptimeSec", uptimeSec)
        put("connections", threadsConnected)
        put("maxConnections", maxConnections)
        put("maxUsedConnections", maxUsedConnections)
        put("threadsRunning", threadsRunning)
        put("slowQueries", slowQueries)
        if let b = bufferPoolHitPercent { o["bufferPoolHitPercent"] = .number(b) }
        if let r = readOnly { o["readOnly"] = .bool(r) }
        if role == "galera" {
            var w: [String: JSONValue] = [:]
            if let s = wsrepClusterStatus { w["clusterStatus"] = .string(clip(s, 32)) }
            if let s = wsrepLocalState { w["localState"] = .string(clip(s, 32)) }
            if let n = wsrepClusterSize { w["clusterSize"] = .number(Double(n)) }
            o["wsrep"] = .object(w)
        }
        return o
    }
}
