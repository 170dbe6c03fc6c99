import AgentKernel
import BalctlProtocol

/// Runs ufw for a job: argv arrays, bounded time, non-zero exits turned into failures.
struct UFWControl: Sendable {
    let settings: FirewallSettings
    let context: JobContext
    let program: String

    init(_ settings: FirewallSettings, _ context: JobContext) throws {
        guard let p = settings.resolvedUFW() else {
            throw JobFailure("ufw is not installed (apt-get install ufw)")
        }
        self.settings = settings; self.context = context; self.program = p
    }

    @discardableResult
    func run(_ args: [String], timeoutSec: Double = 60) async throws -> String {
        // ufw translates its messages ("Status: active"): read them in the C locale.
        var env = currentEnvironment()
        env["LC_ALL"] = "C"; env["LANG"] = "C"; env["LANGUAGE"] = nil
        let r = try await context.run(program, args, timeoutSec: timeoutSec, environment: env)
        guard r.succeeded else {
            let tail = r.output.trimmingWhitespace.lastLines(5)
            throw JobFailure("ufw \(args.joined(separator: " ")) failed"
                             + (r.timedOut ? " (timed out)" : " with exit code \(r.exitCode)") + ": \(tail)",
                             exitCode: Int(r.exitCode))
        }
        return r.output
    }

    /// What the kernel runs now (`ufw status`: "Status: active"), not what ufw.conf says.
    func liveActive() async throws -> Bool {
        let out = try await run(["status"], timeoutSec: 30)
        return out.split(separator: "\n").contains { String($0).trimmingWhitespace == "Status: active" }
    }

    func state() throws -> UFWState { try UFWState.read(settings) }
}
