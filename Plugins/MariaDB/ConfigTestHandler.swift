#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// `mariadb.config_test`: `mariadbd [--defaults-file=…] --help --verbose`, which reads every
/// option file the server would and fails on an unknown or malformed option, without starting
/// anything. The option listing (hundreds of KB on stdout) is discarded; stderr is the verdict.
public struct ConfigTestHandler: CommandHandler {
    public typealias Parameters = NoParameters
    let settings: MariaDBSettings

    public static let id = "mariadb.config_test"
    public static let summary = "Check MariaDB's option files (mariadbd --help --verbose) without starting it"
    public static let supportsCheckMode = true

    init(settings: MariaDBSettings) { self.settings = settings }

    public func run(_ p: NoParameters, in context: JobContext) async throws -> JobOutcome {
        guard let server = settings.installedServer else { throw JobFailure("MariaDB is not installed here") }
        var args: [String] = []
        if let file = settings.configFile { args.append("--defaults-file=" + file) }
        args += ["--help", "--verbose"]
        let devNull = open("/dev/null", O_WRONLY | O_CLOEXEC)
        guard devNull >= 0 else { throw JobFailure("cannot open /dev/null") }
        let r = try await context.run(server, args, timeoutSec: 60, stdout: devNull)
        let errors = r.output.split(separator: "\n").filter { $0.contains("[ERROR]") || $0.contains("unknown") }.map(String.init)
        guard r.succeeded else {
            throw JobFailure("the MariaDB configuration has errors: \((errors.isEmpty ? [r.output.trimmingWhitespace.lastLines(3)] : errors).prefix(5).joined(separator: "; "))",
                             exitCode: Int(r.exitCode), result: .object(["errors": .array(errors.prefix(20).map { .string(clip($0, 300)) })]))
        }
        return .unchanged("the MariaDB configuration is valid", result: .object(["configFile": settings.configFile.map(JSONValue.string) ?? .null]))
    }
}
