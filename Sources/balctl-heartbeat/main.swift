#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Dispatch
import FoundationEssentials
import AgentKernel
import BalctlPlugins
import HAProxyPlugin
import BalctlProtocol

let usage = """
    balctl-heartbeat \(BalctlVersion.current): the balctl agent

    usage:
      balctl-heartbeat                      heartbeat and run jobs until SIGTERM (the service)
      balctl-heartbeat --once               one heartbeat and its jobs; exit 0 when all completed
      BALCTL_ENROLLMENT_SECRET=K balctl-heartbeat --enrol --hostname H --api-base https://…  [--ca-file F]
                       [--update-pubkey KEY] [--update-url https://…]
                                            write the config file (mode 600)
      balctl-heartbeat --update             install the signed agent.zip at BALCTL_UPDATE_URL now
                                            (checks, trial heartbeat, rollback; restarts the service)
      balctl-heartbeat --provision-haproxy  install HAProxy now (apt-get or dnf) and exit
      balctl-heartbeat --version
    options:
      --env-file PATH    config file (default /etc/balctl/agent.env, or $BALCTL_ENV_FILE)
      --bench-heartbeats N [--bench-spacing-ms M] [--bench-wait]
                         send N heartbeats M ms apart (default 0), then print memory and CPU
                         (--bench-wait: with the long poll parked beside them, as in service)
    Settings come from the config file and BALCTL_* environment variables (the environment wins).
    """

func fail(_ message: String, code: Int32 = 2) -> Never {
    let bytes = Array("balctl-heartbeat: \(message)\n".utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(code)
}

// Blocks of 1 MiB and more (snapshot parts, downloads) are mapped and unmapped on their own,
// so their memory leaves the process when freed. glibc's default raises this threshold
// to the size of the largest block freed (up to 32 MiB), after which 16 MiB parts live in the
// heap and stay resident after a backup or restore.
@_silgen_name("mallopt") func glibcMallopt(_ option: Int32, _ value: Int32) -> Int32
_ = glibcMallopt(-3 /* M_MMAP_THRESHOLD */, 1 << 20)

// MARK: arguments
var args = Array(CommandLine.arguments.dropFirst())
var flags: Set<String> = []
var options: [String: String] = [:]
let valued: Set<String> = ["--key", "--hostname", "--api-base", "--env-file", "--ca-file",
                           "--update-pubkey", "--update-url", "--bench-heartbeats", "--bench-spacing-ms"]
while !args.isEmpty {
    let a = args.removeFirst()
    if valued.contains(a) {
        guard !args.isEmpty else { fail("\(a) needs a value") }
        options[a] = args.removeFirst()
    } else if ["--once", "--enrol", "--enroll", "--version", "--help", "-h", "--provision-haproxy",
                "--update", "--update-trial", "--rollback-check", "--bench-wait"].contains(a) {
        flags.insert(a == "--enroll" ? "--enrol" : a)
    } else {
        fail("unknown argument \(a)\n\n\(usage)")
    }
}

if flags.contains("--help") || flags.contains("-h") { print(usage); exit(0) }
if flags.contains("--version") { print("balctl-heartbeat \(BalctlVersion.current)"); exit(0) }

let env = currentEnvironment()
let envFile = options["--env-file"] ?? env["BALCTL_ENV_FILE"] ?? AgentConfig.defaultEnvFile

// MARK: enrol
if flags.contains("--enrol") {
    // The secret preferably comes from the environment: a command line is readable by every
    // user on the host (/proc/*/cmdline). --key is kept for hand use.
    guard let key = options["--key"] ?? env["BALCTL_ENROLLMENT_SECRET"].flatMap({ $0.isEmpty ? nil : $0 }),
          let hostname = options["--hostname"], let apiBase = options["--api-base"] else {
        fail("--enrol needs BALCTL_ENROLLMENT_SECRET (or --key), --hostname and --api-base")
    }
    guard Enrollment.isWellFormedSecret(key) else { fail("--key must be the 48-hex enrollment secret") }
    guard apiBase.lowercased().hasPrefix("https://") else {
        fail("refusing plaintext --api-base \(apiBase): the agent speaks HTTPS only")
    }
    guard !hostname.isEmpty, hostname.utf8.count <= 253,
          hostname.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") })
    else { fail("--hostname \(hostname) is not a host name") }
    // Keep settings already in the file (e.g. BALCTL_DECLARE_IP) and replace the enrollment.
    var values = EnvFile.load(envFile) ?? [:]
    values["BALCTL_ENROLLMENT_SECRET"] = key.lowercased()
    values["BALCTL_HOSTNAME"] = hostname
    values["BALCTL_API_BASE"] = apiBase
    if let ca = options["--ca-file"] { values["BALCTL_CA_FILE"] = ca }
    if let key = options["--update-pubkey"] {
        guard let raw = Data(base64Encoded: key), raw.count == Ed25519.publicKeyBytes else {
            fail("--update-pubkey must be the base64 Ed25519 public key `balctl-server signing-key create` printed")
        }
        values["BALCTL_UPDATE_PUBKEY"] = key
    }
    if let url = options["--update-url"] {
        guard url.lowercased().hasPrefix("https://") else { fail("refusing plaintext --update-url \(url): updates are fetched over HTTPS only") }
        values["BALCTL_UPDATE_URL"] = url
    }
    // A re-run with the same settings rewrites nothing (the installer relies on it to say
    // "nothing changed" and to skip the restart).
    if let existing = EnvFile.load(envFile), existing == values, access(envFile, F_OK) == 0 {
        print("unchanged: \(envFile)")
        exit(0)
    }
    do {
        try EnvFile.write(values.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, to: envFile)
    } catch { fail("\(error)", code: 1) }
    print("wrote \(envFile) (mode 600)")
    exit(0)
}

// MARK: run
var fileValues = EnvFile.load(envFile) ?? [:]
// Plugins read their BALCTL_* settings (BALCTL_HAPROXY_CONFIG …) from the environment, as under
// systemd's EnvironmentFile=; a manual run gets the file's values too, the environment winning.
for (k, v) in fileValues where k.hasPrefix("BALCTL_") { setenv(k, v, 0) }
if flags.contains("--provision-haproxy") { exit(await HAProxyFirstStart.provisionNow()) }
// MARK: rollback check (the unit's ExecStartPre, run from the previous binary)
// The one case the supervising old process cannot cover: it died during the trial and the new
// binary fails before its own main runs, so systemd restarts a broken binary forever. Run from
// `balctl-heartbeat.prev` (the known-good one) before every start, this puts it back once the
// pending update's deadline has passed. No network, no configuration beyond the state dir.
if flags.contains("--rollback-check") {
    let stateDir = env["BALCTL_STATE_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        ?? fileValues["BALCTL_STATE_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/var/lib/balctl"
    let state = UpdateState(stateDir: stateDir)
    if let p = state.pending(), unixNow() > p.deadline, p.to != BalctlVersion.current {
        _ = UpdateSupervisor.rollBack(p, state: state,
                                      reason: "\(p.to) had no heartbeat accepted by the deadline (found before a start)",
                                      log: AgentLog(minimum: .info))
    }
    exit(0)
}

// What a trial run of a new binary needs besides the environment.
let passOn: [String] = options["--env-file"].map { ["--env-file", $0] } ?? []

// MARK: update now (operator)
if flags.contains("--update") {
    var merged = fileValues
    for (k, v) in env where k.hasPrefix("BALCTL_") { merged[k] = v }
    if let ca = options["--ca-file"] { merged["BALCTL_CA_FILE"] = ca }
    let log = AgentLog(minimum: .info)
    do {
        let settings = try UpdateSettings.load(merged)
        let state = UpdateState(stateDir: settings.stateDir)
        switch try await AgentUpdater(settings: settings, state: state).run(log: { print($0) }) {
        case .unchanged(let v):
            print("unchanged: already at \(v)")
            exit(0)
        case .wouldInstall:
            exit(0)
        case .installed(let pending):
            switch await UpdateSupervisor.trial(pending, state: state, arguments: passOn, log: log) {
            case .confirmed:
                print("updated: \(pending.from) → \(pending.to)")
                if access("/run/systemd/system", F_OK) == 0 {
                    // The service still runs the old binary in memory.
                    let r = try? await ProcessRunner().run("systemctl", ["try-restart", "balctl-heartbeat.service"], timeoutSec: 60)
                    print(r?.succeeded == true ? "restarted balctl-heartbeat.service" : "restart balctl-heartbeat.service to run \(pending.to)")
                }
                exit(0)
            case .rolledBack(let why):
                fail(why, code: 4)
            }
        }
    } catch let e as UpdateRefusal {
        fail("update refused (\(e.check.rawValue)): \(e.message)", code: 3)
    } catch {
        fail("update failed: \(error)", code: 3)
    }
}
if let ca = options["--ca-file"] { fileValues["BALCTL_CA_FILE"] = ca }
let config: AgentConfig
do {
    config = try AgentConfig.load(file: fileValues, environment: env)
} catch {
    fail("\(error)", code: 2)
}
let agent: Agent
do {
    agent = try Agent(config: config, plugins: AllPlugins.list)
} catch {
    fail("\(error)", code: 1)
}

if flags.contains("--once") {
    exit(await agent.runOnce() ? 0 : 1)
}

if flags.contains("--update-trial") {
    exit(await agent.trialBeat() ? 0 : 1)
}

if let n = options["--bench-heartbeats"].flatMap(Int.init) {
    let spacing = options["--bench-spacing-ms"].flatMap(Int.init) ?? 0
    var before = rusage(); getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &before)
    let ok = await agent.benchHeartbeats(count: n, spacingMs: spacing, holdingWait: flags.contains("--bench-wait"))
    var after = rusage(); getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &after)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    let cpu = seconds(after.ru_utime) - seconds(before.ru_utime) + seconds(after.ru_stime) - seconds(before.ru_stime)
    var status: [String: String] = [:]
    for line in (readTextFile("/proc/self/status") ?? "").split(separator: "\n") {
        let parts = line.split(separator: ":", maxSplits: 1)
        if parts.count == 2 { status[String(parts[0])] = parts[1].split(whereSeparator: { $0 == " " || $0 == "\t" }).first.map(String.init) }
    }
    print("{\"heartbeats\":\(n),\"ok\":\(ok),\"cpuSec\":\(cpu),\"rssAnonKB\":\(status["RssAnon"] ?? "0"),\"vmRSSKB\":\(status["VmRSS"] ?? "0"),\"vmHWMKB\":\(status["VmHWM"] ?? "0")}")
    exit(ok == n ? 0 : 1)
}

// The service: SIGTERM or SIGINT stops the loop; running jobs get the grace period.
signal(SIGPIPE, SIG_IGN)
// The handler is in place before the loop starts, so a SIGTERM early in the start is not lost.
// (It is set up outside top-level code: a closure written here would be main-actor isolated,
// and dispatch runs it on its own queue.)
let stopRequested = Locked(false)
let running = Locked<Task<AgentRunEnd, Never>?>(nil)
let sources = onTerminationSignals {
    stopRequested.withLock { $0 = true }
    running.value?.cancel()
}
let loop = Task { await agent.run() }
running.withLock { $0 = loop }
if stopRequested.value { loop.cancel() }
let end = await loop.value
switch end {
case .stopped:
    break
case .restartIntoUpdate(let pending):
    // Prove the new binary before handing over. A SIGTERM meanwhile stops the trial: the new
    // version has not proved itself, so the previous one is put back (and reported), and the
    // service stops as asked.
    let trial = Task { await UpdateSupervisor.trial(pending, state: agent.updates, arguments: passOn, log: agent.log) }
    let stopTrial = onTerminationSignals { trial.cancel() }
    _ = await trial.value
    withExtendedLifetime(stopTrial) {}
    if trial.isCancelled { exit(0) }
    UpdateSupervisor.exec(pending.binaryPath, arguments: Array(CommandLine.arguments.dropFirst()))
case .rolledBack(let path):
    UpdateSupervisor.exec(path, arguments: Array(CommandLine.arguments.dropFirst()))
}
withExtendedLifetime(sources) {}
exit(0)
