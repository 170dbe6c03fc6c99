import BalctlProtocol

public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

/// The agent's settings: `/etc/balctl/agent.env` merged with the environment (the environment
/// wins), names as in the product docs.
public struct AgentConfig: Sendable {
    public static let defaultEnvFile = "/etc/balctl/agent.env"

    public var enrollmentSecret: String
    /// Control-plane origin, https:// only.
    public var apiBase: String
    /// Bootstrap interval; the control plane's reply is authoritative.
    public var intervalSec: Int
    public var hostname: String
    public var declareIP: IPv4?
    public var probePublicIP: Bool
    public var publicIPURL: String
    /// PEM CA bundle to trust instead of the system store.
    public var caFile: String?
    /// In-flight job records live here so a restarted agent can report lost jobs.
    public var stateDir: String
    /// On SIGTERM, how long running jobs may take to finish before they are stopped.
    public var shutdownGraceSec: Int
    public var logLevel: AgentLog.Level
    /// `BALCTL_LOG_FORMAT=json`: log lines as JSON objects (default: journald priority prefixes).
    public var logJSON = false

    static func truthy(_ v: String?) -> Bool {
        guard let v = v?.lowercased() else { return false }
        return ["1", "true", "yes", "on"].contains(v)
    }

    /// Merge file and environment; validate everything a heartbeat depends on.
    public static func load(file: [String: String], environment: [String: String]) throws -> AgentConfig {
        var merged = file
        for (k, v) in environment where k.hasPrefix("BALCTL_") { merged[k] = v }

        guard let secret = merged["BALCTL_ENROLLMENT_SECRET"], !secret.isEmpty else {
            throw ConfigError("BALCTL_ENROLLMENT_SECRET is not set (the 48-hex secret shown when the member was added)")
        }
        guard Enrollment.isWellFormedSecret(secret) else {
            throw ConfigError("BALCTL_ENROLLMENT_SECRET must be 48 hex characters (not the member id)")
        }
        guard let base = merged["BALCTL_API_BASE"], !base.isEmpty else {
            throw ConfigError("BALCTL_API_BASE is not set (your control plane's https:// origin)")
        }
        let apiBase = base.hasSuffix("/") ? String(base.dropLast()) : base
        guard apiBase.lowercased().hasPrefix("https://") else {
            throw ConfigError("refusing plaintext BALCTL_API_BASE \(apiBase): the agent speaks HTTPS only")
        }
        var interval = 1
        if let s = merged["BALCTL_INTERVAL_SEC"], !s.isEmpty {
            guard let i = Int(s), AgentWire.intervalRange.contains(i) else {
                throw ConfigError("BALCTL_INTERVAL_SEC must be a whole number from 1 to 60")
            }
            interval = i
        }
        var declare: IPv4? = nil
        if let s = merged["BALCTL_DECLARE_IP"], !s.isEmpty {
            guard let ip = IPv4(s) else { throw ConfigError("BALCTL_DECLARE_IP \(s) is not an IPv4 address") }
            declare = ip
        }
        let ipURL = merged["BALCTL_PUBLIC_IP_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "https://api.ipify.org"
        if truthy(merged["BALCTL_PROBE_PUBLIC_IP"]) && !ipURL.lowercased().hasPrefix("https://") {
            throw ConfigError("refusing plaintext BALCTL_PUBLIC_IP_URL \(ipURL)")
        }
        var grace = 20
        if let s = merged["BALCTL_SHUTDOWN_GRACE_SEC"], !s.isEmpty {
            guard let g = Int(s), (0...3600).contains(g) else {
                throw ConfigError("BALCTL_SHUTDOWN_GRACE_SEC must be 0–3600")
            }
            grace = g
        }
        let level: AgentLog.Level
        switch merged["BALCTL_LOG_LEVEL"]?.lowercased() {
        case "debug": level = .debug
        case "warning", "warn": level = .warning
        case "error": level = .error
        default: level = .info
        }
        var logJSON = false
        switch merged["BALCTL_LOG_FORMAT"]?.lowercased() {
        case nil, "", "text", "journal": break
        case "json": logJSON = true
        case let other?: throw ConfigError("BALCTL_LOG_FORMAT must be text or json, not '\(other.prefix(20))'")
        }
        let hostname = merged["BALCTL_HOSTNAME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? HostProbe.systemHostname()
        return AgentConfig(
            enrollmentSecret: secret.lowercased(), apiBase: apiBase, intervalSec: interval,
            hostname: hostname, declareIP: declare,
            probePublicIP: truthy(merged["BALCTL_PROBE_PUBLIC_IP"]), publicIPURL: ipURL,
            caFile: merged["BALCTL_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 },
            stateDir: merged["BALCTL_STATE_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/var/lib/balctl",
            shutdownGraceSec: grace, logLevel: level, logJSON: logJSON)
    }
}
