import AgentKernel
import BalctlProtocol

/// The two ways to install HAProxy outside a queued job: `balctl-heartbeat --provision-haproxy`
/// (now, in the foreground) and `BALCTL_PROVISION_HAPROXY=1` (once, on the first start of the
/// service: the stamp written on success keeps later starts from repeating it).
public enum HAProxyFirstStart {
    /// Run haproxy.provision now and print its output; the process exit code.
    public static func provisionNow(settings: HAProxySettings = .fromEnvironment(), force: Bool = false) async -> Int32 {
        let output = OutputTail(limit: 64 * 1024)
        let (ok, summary) = await provision(settings: settings, force: force, output: output)
        print(output.text, terminator: "")
        print(summary)
        return ok ? 0 : 1
    }

    /// With BALCTL_PROVISION_HAPROXY set and no stamp yet: provisioning, for the agent to run in
    /// the background on the "haproxy" lock (an install takes minutes, and the heartbeat must not
    /// wait for it). nil when there is nothing to do.
    public static func startupWork(settings: HAProxySettings = .fromEnvironment(), log: AgentLog) -> StartupWork? {
        guard let v = environmentValue("BALCTL_PROVISION_HAPROXY")?.lowercased(),
              ["1", "true", "yes", "on"].contains(v), !Files.exists(settings.stampPath) else { return nil }
        return StartupWork(name: "BALCTL_PROVISION_HAPROXY", lock: ProvisionHandler.lock ?? "haproxy") {
            log.info("BALCTL_PROVISION_HAPROXY: provisioning HAProxy (first start, no \(settings.stampPath))")
            let output = OutputTail(limit: 16 * 1024)
            let (ok, summary) = await provision(settings: settings, force: false, output: output)
            if ok { log.info("BALCTL_PROVISION_HAPROXY: \(summary)") }
            else { log.error("BALCTL_PROVISION_HAPROXY failed (retried on the next start): \(summary)\n\(output.text)") }
        }
    }

    static func provision(settings: HAProxySettings, force: Bool, output: OutputTail) async -> (Bool, String) {
        let context = JobContext(jobID: 0, attempt: 1, command: ProvisionHandler.id, checkMode: false,
                                 timeoutSec: 1800, output: output, processes: ProcessRunner(), host: HostProbe(),
                                 progress: { _, _ in })
        do {
            let outcome = try await ProvisionHandler(settings: settings).run(.init(force: force), in: context)
            return (true, (outcome.changed ? "changed: " : "unchanged: ") + outcome.summary)
        } catch {
            return (false, "error: \(error)")
        }
    }
}
