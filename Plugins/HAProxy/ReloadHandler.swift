import AgentKernel
import BalctlProtocol

/// `haproxy.reload`: validate with `haproxy -c -f <config>` first (an invalid config is refused
/// with haproxy's own message and nothing is reloaded), then reload: `systemctl reload` where
/// systemd runs, otherwise by signalling the master (master-worker mode) or starting a new
/// haproxy that takes over with `-sf`.
///
/// Idempotence: when the running haproxy started after the last change to its config and to every
/// absolute path the config names (certificates, maps, error files …), it already runs what is on
/// disk, and a re-run reports "unchanged" without reloading. `force: true` reloads anyway.
public struct ReloadHandler: CommandHandler {
    public typealias Parameters = ForceParameters

    public let settings: HAProxySettings
    public init(settings: HAProxySettings = .fromEnvironment()) { self.settings = settings }

    public static let id = "haproxy.reload"
    public static let summary = "Validate the HAProxy config, then reload HAProxy gracefully"
    public static let parameterHelp = "force: bool (reload even when the running haproxy already has the current files; default false)"
    public static let lock: String? = "haproxy"
    public static let supportsCheckMode = true

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        let config = settings.configPath
        let check = try await ConfigCheck.run(settings, file: config, in: context)
        guard check.valid else { throw check.failure("refusing to reload; nothing was reloaded") }
        // Warnings a valid config still has belong in the job output.
        if check.message.contains("[WARNING]") { context.log(check.message) }

        let control = ServiceControl(settings: settings)
        if settings.systemdRunning {
            let state = await control.unitState(context.processes)
            guard ServiceControl.isActive(unitState: state) else {
                throw JobFailure("\(settings.unitName) is \(state): nothing to reload; start it first (systemctl start \(settings.unitName))")
            }
        }
        let serving = control.serving()
        if !settings.systemdRunning && serving.isEmpty { throw JobFailure(control.notRunningMessage) }

        let fresh = InputFreshness(settings: settings, serving: serving)
        if p.force != true, let loaded = fresh.loadedAt, loaded >= fresh.newestChange {
            return .unchanged("haproxy (pid \(fresh.newestPID ?? 0)) started after the last change to \(fresh.newestPath); not reloaded (force: true reloads anyway)",
                              result: .object(["reloaded": .bool(false), "loadedAt": .number(loaded),
                                               "newestChange": .number(fresh.newestChange),
                                               "newestPath": .string(fresh.newestPath)]))
        }
        let why = p.force == true ? "force: true" : fresh.loadedAt == nil
            ? "running processes not visible" : "\(fresh.newestPath) changed after haproxy started"
        if context.checkMode {
            return JobOutcome(changed: true, summary: "check mode: config valid; would reload (\(why))",
                              result: .object(["reloaded": .bool(false), "wouldReload": .bool(true)]))
        }
        let how = try await control.reload(in: context)
        return JobOutcome(changed: true, summary: "reloaded (\(why)): \(how)",
                          result: .object(["reloaded": .bool(true), "method": .string(how)]))
    }
}

/// When the running haproxy loaded its inputs, and when they last changed.
struct InputFreshness {
    /// Start of the newest process serving the config (a reload starts new processes).
    var loadedAt: Double?
    var newestPID: Int32?
    var newestChange: Double = 0
    var newestPath: String = ""

    /// Bound on the files stat'ed (a certificate directory can be large).
    static let maxFiles = 20_000

    init(settings: HAProxySettings, serving: [HAProxyProcess]) {
        if let newest = serving.max(by: { $0.startedAt < $1.startedAt }) {
            loadedAt = newest.startedAt; newestPID = newest.pid
        }
        var paths = [settings.configPath]
        if let bytes = try? Files.readBytes(settings.configPath) {
            paths += HAProxyConfigFile(bytes: bytes).referencedPaths()
        }
        var seen = 0
        func consider(_ path: String, _ info: Files.Info) {
            seen += 1
            if info.mtime > newestChange { newestChange = info.mtime; newestPath = path }
        }
        for path in paths where seen < Self.maxFiles {
            guard let info = Files.info(path) else { continue }
            if info.isRegular { consider(path, info) }
            else if info.isDirectory {
                // A directory of certificates: adding or removing one changes the directory,
                // renewing one changes the file.
                consider(path, info)
                for name in Files.list(path) where seen < Self.maxFiles {
                    if let i = Files.info(path + "/" + name), i.isRegular { consider(path + "/" + name, i) }
                }
            }
        }
    }
}
