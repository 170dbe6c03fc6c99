import CoreMetrics
import Foundation
import Prometheus
import Synchronization

/// The control plane's Prometheus metrics, served at `GET /metrics`.
///
/// The instruments are swift-metrics types made by a `PrometheusMetricsFactory` over this
/// server's own registry, not through `MetricsSystem.bootstrap`: the process-wide bootstrap is
/// global mutable state that can be set once, and two control planes in one process (tests, the
/// benchmark) must keep their counts apart.
///
/// Counters and histograms are pushed where things happen (this replica's share of the work);
/// the fleet's state (members fresh or stale, jobs by state) is read from the database when
/// scraped, so every replica reports the same figures for it.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

    /// Why a heartbeat was refused, as a label value (a closed set: no caller text in labels).
    enum RefusalReason: String, CaseIterable, Sendable {
        case unauthorized, forbidden, badRequest = "bad_request", tooLarge = "too_large", unavailable, error
    }

    private let accepted: CoreMetrics.Counter
    private let refused: [RefusalReason: CoreMetrics.Counter]
    private let heartbeatSeconds: CoreMetrics.Timer
    private let enqueueToClaim: CoreMetrics.Timer
    private let claimToComplete: CoreMetrics.Timer
    private let leaseExpiries: CoreMetrics.Counter
    private let scheduleFires: CoreMetrics.Counter
    /// Label sets of the scrape-time gauges set last time, so a pool deleted since is dropped.
    private let scrapedGauges = Mutex<Set<GaugeKey>>([])

    struct GaugeKey: Hashable, Sendable {
        var name: String
        var labels: [String]  // flattened name, value, name, value…
    }

    static let heartbeatLabel = "balctl_heartbeat_duration_seconds"
    static let enqueueToClaimLabel = "balctl_job_enqueue_to_claim_seconds"
    static let claimToCompleteLabel = "balctl_job_claim_to_complete_seconds"
    static let dnsWriteLabel = "balctl_dns_write_duration_seconds"

    public init() {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Buckets by what each histogram measures: a heartbeat is handled in about a millisecond,
        // a job waits for its claim tens of milliseconds (wake path) to a heartbeat interval,
        // runs seconds to hours; a DNS write takes tens of milliseconds to seconds.
        let ms: (Int) -> Duration = { .milliseconds($0) }
        factory.durationHistogramBuckets = [
            Self.heartbeatLabel: [ms(1), ms(2), ms(5), ms(10), ms(25), ms(50), ms(100), ms(250), ms(500), .seconds(1), .seconds(5)],
            Self.enqueueToClaimLabel: [ms(10), ms(25), ms(50), ms(100), ms(250), ms(500), .seconds(1), .seconds(2), .seconds(5),
                                       .seconds(10), .seconds(30), .seconds(60), .seconds(300)],
            Self.claimToCompleteLabel: [ms(100), ms(500), .seconds(1), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
                                        .seconds(300), .seconds(900), .seconds(3600), .seconds(4 * 3600)],
            Self.dnsWriteLabel: [ms(10), ms(25), ms(50), ms(100), ms(250), ms(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30)],
        ]
        self.registry = registry
        self.factory = factory
        accepted = Counter(label: "balctl_heartbeats_accepted_total", factory: factory)
        refused = Dictionary(uniqueKeysWithValues: RefusalReason.allCases.map {
            ($0, Counter(label: "balctl_heartbeats_refused_total", dimensions: [("reason", $0.rawValue)], factory: factory))
        })
        heartbeatSeconds = Timer(label: Self.heartbeatLabel, factory: factory)
        enqueueToClaim = Timer(label: Self.enqueueToClaimLabel, factory: factory)
        claimToComplete = Timer(label: Self.claimToCompleteLabel, factory: factory)
        leaseExpiries = Counter(label: "balctl_job_lease_expiries_total", factory: factory)
        scheduleFires = Counter(label: "balctl_schedule_fires_total", factory: factory)
    }

    // MARK: events

    func heartbeatAccepted(seconds: Double) {
        accepted.increment()
        heartbeatSeconds.recordSeconds(seconds)
    }

    func heartbeatRefused(_ error: any Error) {
        refused[Self.reason(error)]?.increment()
    }

    static func reason(_ error: any Error) -> RefusalReason {
        guard let e = error as? ControlPlaneError else {
            return String(describing: type(of: error)).contains("TooManyBytes") ? .tooLarge : .error
        }
        switch e.kind {
        case .unauthorized: return .unauthorized
        case .forbidden: return .forbidden
        case .badRequest, .notFound, .conflict: return .badRequest
        case .payloadTooLarge: return .tooLarge
        case .unavailable, .insufficientStorage: return .unavailable
        }
    }

    /// A heartbeat claimed jobs that waited these many seconds since they were enqueued.
    func jobsClaimed(waits: [Double]) {
        for w in waits { enqueueToClaim.recordSeconds(max(0, w)) }
    }

    func jobCompleted(afterSeconds s: Double) { claimToComplete.recordSeconds(max(0, s)) }
    func leasesExpired(_ n: Int) { if n > 0 { leaseExpiries.increment(by: Int64(n)) } }
    func schedulesFired(_ n: Int) { if n > 0 { scheduleFires.increment(by: Int64(n)) } }

    /// A failover decision carried out (kind: failover, make_active, cut, dynamic_dns, dns_retry).
    func failover(kind: String, ok: Bool) {
        Counter(label: "balctl_failovers_total", dimensions: [("kind", kind), ("result", ok ? "ok" : "failed")], factory: factory).increment()
    }

    /// "rfc2136", "cloudflare", "whm": the provider's type, a closed set.
    static func providerLabel(_ provider: any DNSProvider) -> String {
        let name = String(describing: type(of: provider))
        return (name.hasSuffix("Provider") ? String(name.dropLast(8)) : name).lowercased()
    }

    func dnsWrite(provider: String, seconds: Double, ok: Bool) {
        Timer(label: Self.dnsWriteLabel, dimensions: [("provider", provider), ("result", ok ? "ok" : "failed")], factory: factory)
            .recordSeconds(seconds)
    }

    func alertSent(channel: String, ok: Bool) {
        Counter(label: "balctl_alert_sends_total", dimensions: [("channel", channel), ("result", ok ? "ok" : "failed")], factory: factory)
            .increment()
    }

    /// A threshold alert was raised or cleared (metric: cpu, memory, disk, …).
    func thresholdAlert(metric: String, state: String) {
        Counter(label: "balctl_threshold_alerts_total", dimensions: [("metric", metric), ("state", state)], factory: factory).increment()
    }

    // MARK: scrape

    /// Fleet state read from the database, set on gauges just before the registry is written out.
    struct FleetState: Sendable {
        /// (pool id, pool name, state, count) — state: fresh, stale, never.
        var members: [(pool: Int64, name: String, state: String, count: Int)]
        /// (state, count) for every job state.
        var jobs: [(state: String, count: Int)]
        /// Members with a threshold alert raised, by metric.
        var thresholdsFiring: [(metric: String, count: Int)]
    }

    /// The exposition text (Prometheus text format 0.0.4).
    func render(_ fleet: FleetState) -> [UInt8] {
        var seen = Set<GaugeKey>()
        func set(_ name: String, _ labels: [(String, String)], _ value: Int) {
            registry.makeGauge(name: name, labels: labels).set(Double(value))
            seen.insert(GaugeKey(name: name, labels: labels.flatMap { [$0.0, $0.1] }))
        }
        for m in fleet.members { set("balctl_members", [("pool_id", String(m.pool)), ("pool", m.name), ("state", m.state)], m.count) }
        for j in fleet.jobs { set("balctl_jobs", [("state", j.state)], j.count) }
        for t in fleet.thresholdsFiring { set("balctl_threshold_alerts_firing", [("metric", t.metric)], t.count) }
        let gone = scrapedGauges.withLock { known -> Set<GaugeKey> in
            let gone = known.subtracting(seen)
            known = seen
            return gone
        }
        for key in gone {
            var labels: [(String, String)] = []
            var i = 0
            while i + 1 < key.labels.count { labels.append((key.labels[i], key.labels[i + 1])); i += 2 }
            registry.unregisterGauge(registry.makeGauge(name: key.name, labels: labels))
        }
        return registry.emitToBuffer()
    }
}

extension CoreMetrics.Timer {
    func recordSeconds(_ s: Double) { recordNanoseconds(Int64((s * 1e9).rounded())) }
}
