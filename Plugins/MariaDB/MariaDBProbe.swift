import AgentKernel
import BalctlProtocol

/// Detection and the health readout for the heartbeat's `mariadb` entry. `report()` runs no
/// program: it returns what the last `refresh()` read. `refresh()` (the plugin's periodic work,
/// every `refreshIntervalSec`, and `mariadb.status`) runs one `mariadb` client invocation and,
/// where systemd runs, `systemctl is-active`.
///
/// Shape (< 1 KB): {installed, up, version, service, datadir, socket, cpanel, checkedAgeSec,
/// role, uptimeSec, connections, maxConnections, maxUsedConnections, threadsRunning,
/// slowQueries, bufferPoolHitPercent, readOnly, wsrep{clusterStatus, localState, clusterSize},
/// error}; nil (the stack hidden) when no server binary is installed.
public final class MariaDBProbe: Sendable {
    let settings: MariaDBSettings

    struct State: Sendable {
        var health: HealthReadout?
        var up = false
        var checkedAt: Double?
        var error: String?
        var service: String?
        /// Kept from the last time the server answered, for a report while it is down.
        var lastVersion: String?
        var lastDatadir: String?
    }
    private let state = Locked(State())
    /// Whether a server binary is installed and cPanel manages it: stats looked at again only
    /// when those files' directories change (package installs), not on every beat.
    struct Presence: Sendable { var installed: Bool; var cpanel: Bool }
    private let presenceWatch = PathWatched<Presence>()
    var presence: Presence {
        let settings = self.settings
        return presenceWatch.value(watching: { settings.presencePaths }) {
            Presence(installed: settings.installed, cpanel: settings.cpanelManaged)
        }
    }

    public init(settings: MariaDBSettings) { self.settings = settings }

    /// Why the stack is hidden here (nil: it is installed). Said by `mariadb.status`.
    public var absenceReason: String? {
        presence.installed ? nil
            : "MariaDB is not installed: no server binary at \(([settings.server] + settings.serverAlternatives).joined(separator: " or "))"
    }

    /// Read the server's health now (one client run) and remember it.
    @discardableResult
    func refresh(runner: ProcessRunner = ProcessRunner()) async -> State {
        guard settings.installed else { return state.value }
        let client = MariaDBClient(settings: settings, runner: runner)
        var service: String? = nil
        if Files.info("/run/systemd/system")?.isDirectory == true, Files.isExecutable(settings.systemctl),
           let r = try? await runner.run(settings.systemctl, ["is-active", settings.unit], timeoutSec: 5) {
            // is-active prints active / inactive / failed / activating; exit status aside.
            let word = r.output.trimmingWhitespace
            if !word.isEmpty, word.utf8.count <= 32, !word.contains(" ") { service = word }
        }
        do {
            let rows = try await client.query(HealthReadout.query)
            let h = HealthReadout(rows: rows)
            return state.withLock { s in
                s = State(health: h, up: true, checkedAt: unixNow(), error: nil, service: service,
                          lastVersion: h.version ?? s.lastVersion, lastDatadir: h.datadir ?? s.lastDatadir)
                return s
            }
        } catch {
            let message = clip("\(error)", 200)
            return state.withLock { s in
                s.health = nil; s.up = false; s.checkedAt = unixNow(); s.error = message; s.service = service
                return s
            }
        }
    }

    public func report() -> JSONValue? {
        let found = presence
        guard found.installed else { return nil }
        return .object(entry(state.value, cpanel: found.cpanel))
    }

    func entry(_ s: State, cpanel: Bool) -> [String: JSONValue] {
        var o: [String: JSONValue] = ["installed": .bool(true), "up": .bool(s.up), "cpanel": .bool(cpanel)]
        if let h = s.health { o.merge(h.json) { a, _ in a } }
        if let v = s.health?.version ?? s.lastVersion { o["version"] = .string(clip(v, 64)) }
        o["socket"] = .string(clip((s.health?.socket ?? settings.socket), 128))
        if let d = s.health?.datadir ?? s.lastDatadir { o["datadir"] = .string(clip(d, 128)) }
        if let svc = s.service { o["service"] = .string(svc) }
        if let at = s.checkedAt { o["checkedAgeSec"] = .number((max(0, unixNow() - at)).rounded()) }
        if let e = s.error { o["error"] = .string(e) }
        return o
    }
}
