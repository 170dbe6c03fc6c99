#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol
import Synchronization

/// The host plugin's heartbeat facts, `stacks.host`:
///
///     "updates":      {"pending":N, "security":M, "manager":"apt", "rebootRequired":bool, "checkedAt":"…Z"}
///     "certificates": {"soonestDays":N, "soonestPath":"…", "expiringWithin30Days":K, "count":C, "checkedAt":"…Z"}
///
/// Both cost a program run or file reads, so neither is made on the heartbeat path: the
/// plugin's periodic work (`refresh`, every minute beside the heartbeat loop) checks updates at
/// most hourly and the configured certificates daily, and `probe()` only returns the last
/// results. A failed check is reported as `{"error", "checkedAt"}` until the next one.
public final class HostFacts: Sendable {
    public struct Settings: Sendable {
        /// Seconds between update checks; 0: never (no `updates` fact).
        public var updatesIntervalSec: Double = 3600
        /// Seconds after the agent starts before the first update check (the agent's own start,
        /// often at boot, is not the moment for an apt or dnf run).
        public var updatesFirstDelaySec: Double = 60
        public var certificatesIntervalSec: Double = 86_400
        /// BALCTL_CERT_PATHS, validated like host.cert_expiry's paths.
        public var certificatePaths: [String] = []
        /// Why BALCTL_CERT_PATHS was refused (then no path is read and the fact says this).
        public var certificatePathsError: String?
        public var tools = PackageTools()
        /// Wall clock (checkedAt, days left); tests fix it.
        public var now: @Sendable () -> Double = { unixNow() }
        /// Interval clock (when the next check is due).
        public var monotonic: @Sendable () -> Double = { monotonicNow() }
        public init() {}

        /// From the environment (agent.env's BALCTL_* values are in it): BALCTL_CERT_PATHS
        /// (comma-separated absolute paths; a path with a comma cannot be given here) and
        /// BALCTL_UPDATES_INTERVAL_SEC (600–86400, or 0 for no update checks; default 3600).
        /// Reading it has no side effects (the control plane builds the plugin too).
        public static func fromEnvironment() -> Settings {
            func env(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
            var s = Settings()
            if let raw = env("BALCTL_CERT_PATHS") { s.setCertificatePaths(raw) }
            if let raw = env("BALCTL_UPDATES_INTERVAL_SEC"), let v = Double(raw.trimmed), v == 0 || (600...86_400).contains(v) {
                s.updatesIntervalSec = v
            }
            return s
        }

        /// `a,b,c` → paths, each checked as host.cert_expiry checks its `paths`.
        public mutating func setCertificatePaths(_ raw: String) {
            let paths = raw.split(separator: ",").map { String($0).trimmed }.filter { !$0.isEmpty }
            certificatePaths = []; certificatePathsError = nil
            do {
                guard paths.count <= CertExpiryHandler.maxPaths else { throw ParameterError("paths: at most \(CertExpiryHandler.maxPaths)") }
                for p in paths { try CertExpiryHandler.validatePath(p) }
                certificatePaths = paths
            } catch let e as ParameterError {
                certificatePathsError = "BALCTL_CERT_PATHS: " + e.message.replacingPrefix("paths: ")
            } catch {
                certificatePathsError = "BALCTL_CERT_PATHS: \(error)"
            }
        }
    }

    /// Paths in the fact are cut to this many bytes (the entry stays well under 512 B).
    static let maxPathBytes = 160
    public static let soonDays = 30

    private struct State {
        var updates: JSONValue?
        var updatesDue: Double
        var installing = 0
        var certificates: JSONValue?
        var certificatesDue = -Double.infinity
    }
    let settings: Settings
    private let state: Mutex<State>

    public init(settings: Settings = .fromEnvironment()) {
        self.settings = settings
        self.state = Mutex(State(updatesDue: settings.monotonic() + settings.updatesFirstDelaySec))
    }

    /// The heartbeat entry: the last results, no program, no file read.
    public func probe() -> JSONValue? {
        let (u, c) = state.withLock { ($0.updates, $0.certificates) }
        var out: [String: JSONValue] = [:]
        if let u { out["updates"] = u }
        if let c { out["certificates"] = c }
        return out.isEmpty ? nil : .object(out)
    }

    /// The periodic work: `refresh` every minute; each check runs only when it is due.
    public var periodicWork: PeriodicWork {
        PeriodicWork(name: "host facts (updates hourly, certificates daily)", intervalSec: 60) { [self] in await refresh() }
    }

    /// host.updates_install brackets its run with these: no check reads apt's or dnf's state
    /// while an install changes it, and the next refresh checks again (the fact is stale).
    public func installing(_ started: Bool) {
        state.withLock { s in
            s.installing += started ? 1 : -1
            if !started { s.updatesDue = -Double.infinity }
        }
    }

    /// Run whatever check is due. Never concurrent with itself (one periodic task calls it).
    public func refresh() async {
        let now = settings.monotonic()
        let (updatesDue, certsDue) = state.withLock { s in
            (settings.updatesIntervalSec > 0 && s.installing == 0 && now >= s.updatesDue, now >= s.certificatesDue)
        }
        if certsDue {
            let fact = await certificatesFact()
            state.withLock { $0.certificates = fact; $0.certificatesDue = now + settings.certificatesIntervalSec }
        }
        if updatesDue {
            let fact = await updatesFact()
            state.withLock { s in
                // An install that began meanwhile makes this reading stale: keep it, check again after.
                s.updates = fact
                s.updatesDue = s.installing > 0 ? -Double.infinity : now + settings.updatesIntervalSec
            }
        }
    }

    private var checkedAt: JSONValue { .string(JSONText.timestamp(unixTime: settings.now())) }

    func updatesFact() async -> JSONValue? {
        let tools = settings.tools
        guard let manager = try? tools.manager(nil) else { return nil }
        let run: PackageTools.Run = { exe, args, timeout, env in
            try await ProcessRunner().run(exe, args, environment: env, timeoutSec: timeout)
        }
        do {
            let counts = try await tools.check(manager, run: run)
            let reboot = await tools.rebootState(manager, run: run)
            return .object([
                "pending": .number(Double(counts.packages.count)), "security": .number(Double(counts.security.count)),
                "manager": .string(manager.name), "rebootRequired": .bool(reboot.required), "checkedAt": checkedAt,
            ])
        } catch {
            return .object(["manager": .string(manager.name), "error": .string(Self.cut("\(error)")), "checkedAt": checkedAt])
        }
    }

    func certificatesFact() async -> JSONValue? {
        if let why = settings.certificatePathsError {
            return .object(["error": .string(Self.cut(why)), "checkedAt": checkedAt])
        }
        let paths = settings.certificatePaths
        guard !paths.isEmpty else { return nil }
        let report = await runBlocking { CertificateExpiry(refreshSec: 0).report(paths) }
        let now = settings.now()
        var soonest: (path: String, notAfter: Double)?
        var count = 0, soon = 0, unreadable = 0
        if case .array(let items) = report {
            for item in items {
                guard case .number(let notAfter)? = item["notAfter"] else { unreadable += 1; continue }
                count += 1
                if (notAfter - now) / 86_400 < Double(Self.soonDays) { soon += 1 }
                if soonest == nil || notAfter < soonest!.notAfter { soonest = (item["path"]?.stringValue ?? "?", notAfter) }
            }
        }
        var out: [String: JSONValue] = [
            "count": .number(Double(count)), "expiringWithin30Days": .number(Double(soon)), "checkedAt": checkedAt,
        ]
        if unreadable > 0 { out["unreadable"] = .number(Double(unreadable)) }
        if let s = soonest {
            out["soonestDays"] = .number(((s.notAfter - now) / 86_400).rounded(.down))
            out["soonestPath"] = .string(Self.cutPath(s.path))
            out["soonestNotAfter"] = .number(s.notAfter)
        }
        return .object(out)
    }

    /// A path too long for the heartbeat keeps its end (the file name), marked with "…".
    static func cutPath(_ path: String) -> String {
        let bytes = Array(path.utf8)
        guard bytes.count > maxPathBytes else { return path }
        var tail = bytes.suffix(maxPathBytes - 3)
        while let f = tail.first, f & 0xC0 == 0x80 { tail = tail.dropFirst() }
        return "…" + String(decoding: tail, as: UTF8.self)
    }

    /// An error message for the heartbeat: at most 200 bytes.
    static func cut(_ s: String) -> String {
        let bytes = Array(s.utf8)
        guard bytes.count > 200 else { return s }
        var head = bytes.prefix(197)
        while let l = head.last, l & 0xC0 == 0x80 { head = head.dropLast() }
        if let l = head.last, l & 0xC0 == 0xC0 { head = head.dropLast() }
        return String(decoding: head, as: UTF8.self) + "…"
    }
}

extension String {
    fileprivate var trimmed: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" || l == "\n" { s = s.dropLast() }
        return String(s)
    }
    fileprivate func replacingPrefix(_ prefix: String) -> String {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : self
    }
}
