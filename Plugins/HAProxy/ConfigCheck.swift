import AgentKernel
import BalctlProtocol

/// `haproxy -c -f <file>`: haproxy's own verdict on a config, with its own words.
struct ConfigCheck: Sendable {
    var valid: Bool
    var exitCode: Int32
    /// What haproxy printed (alerts, warnings, "Configuration file is valid").
    var message: String

    /// Check `file`; in messages `file` is shown as `shownAs` (a candidate written beside the
    /// real config is reported under the real config's name).
    static func run(_ settings: HAProxySettings, file: String, shownAs: String? = nil,
                    in context: JobContext) async throws -> ConfigCheck {
        guard let binary = settings.resolvedBinary() else {
            throw JobFailure("haproxy is not installed (no \(settings.haproxyBinary) executable): run haproxy.provision first")
        }
        guard Files.exists(file) else { throw JobFailure("config \(file) does not exist") }
        // Not context.run: the caller decides what of haproxy's words goes into the job output.
        let r = try await context.processes.run(binary, ["-c", "-f", file], timeoutSec: 60)
        var message = r.output.trimmingWhitespace
        if let shown = shownAs { message = message.replacingAll(file, with: shown) }
        if r.timedOut { message = "haproxy -c did not finish within 60s" }
        return ConfigCheck(valid: r.succeeded, exitCode: r.exitCode, message: message)
    }

    /// The refusal for an invalid config: haproxy's own message, its exit code.
    func failure(_ what: String) -> JobFailure {
        JobFailure("\(what): haproxy -c rejects the configuration (exit \(exitCode)):\n\(message)",
                   exitCode: Int(exitCode),
                   result: .object(["valid": .bool(false), "message": .string(message)]))
    }
}
