import BalctlProtocol
import CurlClient
import Synchronization

/// The public IPv4 the heartbeat declares: BALCTL_DECLARE_IP, or (BALCTL_PROBE_PUBLIC_IP=1) what
/// an HTTPS echo service answers. Probes are cached for a minute so a 1 s heartbeat does not
/// hammer the echo service; a failed probe keeps the last good answer.
public final class PublicIPResolver: Sendable {
    let declared: IPv4?
    let probeURL: String?
    let session: CurlSession?
    let cacheSec: Double
    private let cache = Mutex<(ip: IPv4?, at: Double)>((nil, -.infinity))

    public init(config: AgentConfig, cacheSec: Double = 60) {
        declared = config.declareIP
        probeURL = config.declareIP == nil && config.probePublicIP ? config.publicIPURL : nil
        var options = CurlSession.Options(requireHTTPS: true)
        options.timeoutMs = 3_000
        options.maxResponseBytes = 256
        session = probeURL == nil ? nil : try? CurlSession(options: options)
        self.cacheSec = cacheSec
    }

    public func current() async -> (ip: String, source: String)? {
        if let declared { return (declared.description, "declared") }
        guard let probeURL, let session else { return nil }
        let (cached, at) = cache.withLock { $0 }
        if monotonicNow() - at < cacheSec { return cached.map { ($0.description, "probed") } }
        var ip = cached
        if let r = try? await session.request("GET", probeURL), r.status == 200,
           let found = IPv4(r.text.trimmingCharacters(in: " \n\r\t")) {
            ip = found
        }
        cache.withLock { $0 = (ip, monotonicNow()) }
        return ip.map { ($0.description, "probed") }
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        return String(drop(while: { chars.contains($0) }).reversed().drop(while: { chars.contains($0) }).reversed())
    }
}
