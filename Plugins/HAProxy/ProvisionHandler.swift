#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// `haproxy.provision`: install HAProxy with apt-get or dnf, and stamp
/// `<state dir>/.haproxy-provisioned`. Already installed → "unchanged" (the stamp is written if it
/// was missing); `force: true` reinstalls. Where systemd runs, the unit is enabled and started.
public struct ProvisionHandler: CommandHandler {
    public typealias Parameters = ForceParameters

    public let settings: HAProxySettings
    public init(settings: HAProxySettings = .fromEnvironment()) { self.settings = settings }

    public static let id = "haproxy.provision"
    public static let summary = "Install HAProxy (apt-get or dnf); force: true reinstalls"
    public static let parameterHelp = "force: bool (reinstall even when installed; default false)"
    public static let requiresRoot = true
    public static let lock: String? = "haproxy"
    public static let supportsCheckMode = true

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        let force = p.force == true
        if let binary = settings.resolvedBinary(), !force {
            let version = await HAProxyVersion.read(binary, context.processes) ?? "unknown version"
            var note = ""
            if !Files.exists(settings.stampPath) && !context.checkMode {
                try writeStamp("haproxy \(version) found installed")
                note = "; stamped \(settings.stampPath)"
            }
            return .unchanged("haproxy \(version) is already installed at \(binary)\(note)",
                              result: .object(["installed": .bool(true), "version": .string(version),
                                               "binary": .string(binary)]))
        }
        guard let pm = settings.packageManager ?? PackageManager.detect() else {
            throw JobFailure("neither apt-get nor dnf found on this host: install haproxy with its package manager, then run haproxy.provision again to stamp it")
        }
        let commands = pm.installCommands(reinstall: force)
        if context.checkMode {
            return JobOutcome(changed: true, summary: "check mode: would run " + commands.map { $0.joined(separator: " ") }.joined(separator: "; "))
        }
        var env = currentEnvironment()
        env["DEBIAN_FRONTEND"] = "noninteractive"
        for (n, argv) in commands.enumerated() {
            await context.progress(argv.dropFirst().joined(separator: " "), percent: Double(n * 80 / commands.count))
            context.log("$ " + argv.joined(separator: " "))
            let r = try await context.run(argv[0], Array(argv.dropFirst()), environment: env)
            guard r.succeeded else {
                let why = r.timedOut ? "timed out" : "exit \(r.exitCode)"
                throw JobFailure("\(([Files.basename(argv[0])] + argv.dropFirst()).joined(separator: " ")) failed (\(why)): \(r.output.lastLines(6))",
                                 exitCode: Int(r.exitCode))
            }
        }
        guard let binary = settings.resolvedBinary() else {
            throw JobFailure("\(Files.basename(pm.program)) reported success but no haproxy executable (\(settings.haproxyBinary)) is installed")
        }
        let version = await HAProxyVersion.read(binary, context.processes) ?? "unknown version"
        if settings.systemdRunning {
            let r = try await context.run(settings.systemctl, ["enable", "--now", settings.unitName], timeoutSec: 120)
            guard r.succeeded else {
                throw JobFailure("haproxy \(version) installed, but systemctl enable --now \(settings.unitName) failed (exit \(r.exitCode)): \(r.output.lastLines(5))",
                                 exitCode: Int(r.exitCode))
            }
        }
        try writeStamp("haproxy \(version) \(force ? "reinstalled" : "installed") with \(Files.basename(pm.program))")
        return JobOutcome(changed: true,
                          summary: "haproxy \(version) \(force ? "reinstalled" : "installed") with \(Files.basename(pm.program))",
                          result: .object(["installed": .bool(true), "version": .string(version),
                                           "binary": .string(binary), "reinstalled": .bool(force)]))
    }

    private func writeStamp(_ line: String) throws {
        do {
            try Files.makeDirectories(settings.stateDir, mode: 0o700)
            try SafeFile.write(settings.stampPath, Array("\(line) at \(Int(unixNow()))\n".utf8), mode: 0o644)
        } catch {
            throw JobFailure("cannot write the provisioning stamp \(settings.stampPath): \(error)")
        }
    }
}

/// `haproxy -v` → "2.6.12-1+deb12u4".
enum HAProxyVersion {
    static func read(_ binary: String, _ runner: ProcessRunner, timeoutSec: Double = 10) async -> String? {
        guard let r = try? await runner.run(binary, ["-v"], timeoutSec: timeoutSec), r.succeeded else { return nil }
        return parse(r.output)
    }

    static func parse(_ output: String) -> String? {
        for line in output.split(separator: "\n") {
            let words = line.split(separator: " ")
            if let v = words.firstIndex(of: "version"), v + 1 < words.count, words[..<v].contains(where: { ["haproxy", "ha-proxy"].contains($0.lowercased()) }) {
                return String(words[v + 1])
            }
        }
        return nil
    }
}
