import AgentKernel
import BalctlProtocol

/// `host.echo`: a diagnostic round trip through the whole job path. Waits `delaySeconds`
/// (reporting progress, which keeps the lease alive), then answers with the message.
public struct EchoHandler: CommandHandler {
    public struct Parameters: CommandParameters {
        public var message: String
        public var delaySeconds: Double?
        /// Finish as failed (exercises the failure path end to end).
        public var fail: Bool?

        public func validate() throws {
            guard message.utf8.count <= 4096 else { throw ParameterError("message: at most 4096 bytes") }
            guard !message.contains("\0") else { throw ParameterError("message: NUL is not allowed") }
            if let d = delaySeconds, !(0...3600).contains(d) || d.isNaN {
                throw ParameterError("delaySeconds: must be between 0 and 3600")
            }
        }
    }

    public init() {}
    public static let id = "host.echo"
    public static let exampleParameters: JSONValue = .object(["message": .string("hi")])
    public static let summary = "Diagnostic: wait, then echo a message back"
    public static let parameterHelp = "message: string (≤ 4096 bytes); delaySeconds: 0–3600 (default 0); fail: bool"
    public static let supportsCheckMode = true

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        let delay = p.delaySeconds ?? 0
        if delay > 0 {
            let started = monotonicNow()
            while true {
                let elapsed = monotonicNow() - started
                if elapsed >= delay { break }
                await context.progress("waiting", percent: (elapsed / delay * 100).rounded())
                try await Task.sleep(for: .seconds(min(1, delay - elapsed)))
            }
        }
        context.log(p.message)
        if p.fail == true { throw JobFailure("failed on request (fail: true)", exitCode: 1) }
        // Echo changes nothing on the host.
        return .unchanged("echoed \(p.message.utf8.count) bytes",
                          result: .object(["message": .string(p.message)]))
    }
}
