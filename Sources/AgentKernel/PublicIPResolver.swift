import BalctlProtocol
import CurlClient
import Synchronization

/// The public IPv4 the heartbeat declares: BALCTL_DECLARE_IP, or (BALCTL_PROBE_PUBLIC_IP=1) what
/// an HTTPS echo service answers. Probes are cached for a minute so a 1 s heartbeat does not
/// hammer the echo service; a failed probe keeps the last good answer. Only the first probe is
/// waited for (so the first report carries the address); later ones run beside the heartbeat, so
/// an echo service that is down or silent never holds a heartbeat attempt past its bound
/// (issue 12, agent side).
public final class PublicIPResolver: Sendable {
    let declared: IPv4?
    let probeURL: String?
    let session: CurlSession?
    let cacheSec: Double

    private struct Cache {
        var ip: IPv4?
        /// When the last probe ended (answered or not).
        var at = -Double.infinity
        var probing = false
    }
    private let cache = Mutex(Cache())

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
        guard probeURL != nil, session != nil else { return nil }
        let (start, first) = cache.withLock { c -> (Bool, Bool) in
            let start = !c.probing && monotonicNow() - c.at >= cacheSec
            if start { c.probing = true }
            return (start, c.at == -.infinity)
        }
        if start && first {
            await probe()
        } else if start {
            Task { await self.probe() }
        }
        return cache.withLock { $0.ip }.map { ($0.description, "probed") }
    }

    private func probe() async {
        guard let probeURL, let session else { return }
        var found: IPv4? = nil
        if let r = try? await session.request("GET", probeURL), r.status == 200 {
            found = IPv4(r.text.trimmingCharacters(in: " \n\r\t"))
        }
        cache.withLock { c in
            if let found { c.ip = found }
            c.at = monotonicNow()
            c.probing = false
        }
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        return String(drop(while: { chars.contains($0) }).reversed().drop(while: { chars.contains($0) }).reversed())
    }
}
