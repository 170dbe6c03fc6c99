#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel

/// The OLS server process: its PID, version, and `lswsctrl` (OLS's control script). Programs run
/// with argument arrays and a time bound; nothing goes through a shell.
struct OLSControl: Sendable {
    let settings: OLSSettings

    /// The running server's PID, from the PID file, when that process exists.
    func runningPID() -> Int32? {
        for file in settings.pidFiles {
            guard let bytes = try? Files.readBytes(file, limit: 64) else { continue }
            let digits = String(decoding: bytes, as: UTF8.self).trimmingWhitespace
            guard let pid = Int32(digits), pid > 1 else { continue }
            if kill(pid, 0) == 0 || errno == EPERM { return pid }
        }
        return nil
    }

    /// `VERSION` beside the binaries (what OLS's installer writes), else `lshttpd -v`.
    func version(in context: JobContext?) async -> String? {
        if let bytes = try? Files.readBytes(settings.versionFile, limit: 256) {
            let v = String(decoding: bytes, as: UTF8.self).trimmingWhitespace
            if !v.isEmpty { return v }
        }
        guard let context, Files.isExecutable(settings.lshttpd),
              let r = try? await context.run(settings.lshttpd, ["-v"], timeoutSec: 10), r.exitCode == 0 else { return nil }
        // "LiteSpeed/1.7.19 Open (BUILD …)"
        let line = r.output.split(separator: "\n").first.map(String.init) ?? ""
        guard let slash = line.firstIndex(of: "/") else { return nil }
        let v = line[line.index(after: slash)...].prefix(while: { $0 != " " })
        return v.isEmpty ? nil : String(v)
    }

    /// `lswsctrl <verb>`; throws with its output when it fails.
    @discardableResult
    func lswsctrl(_ verb: String, in context: JobContext) async throws -> String {
        guard Files.isExecutable(settings.lswsctrl) else {
            throw JobFailure("\(settings.lswsctrl) is missing: is OpenLiteSpeed installed (BALCTL_OLS_ROOT=\(settings.serverRoot))?")
        }
        let r = try await context.run(settings.lswsctrl, [verb], timeoutSec: settings.commandTimeoutSec)
        guard r.exitCode == 0, !r.timedOut else {
            throw JobFailure("lswsctrl \(verb) failed (exit \(r.exitCode)\(r.timedOut ? ", timed out" : "")): \(r.output.lastLines(8))", exitCode: Int(r.exitCode))
        }
        return r.output.trimmingWhitespace
    }

    /// Reload (graceful restart) or restart, then wait until a server process runs again — a
    /// graceful restart hands over to a new PID — for up to 15 s.
    func cycle(_ verb: String, in context: JobContext) async throws -> (before: Int32?, after: Int32) {
        let before = runningPID()
        try await lswsctrl(verb, in: context)
        for _ in 0..<150 {
            if let pid = runningPID(), pid != before || verb == "start" { return (before, pid) }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        if let pid = runningPID() { return (before, pid) }
        throw JobFailure("lswsctrl \(verb) returned, but no OpenLiteSpeed process runs 15 s later (PID files: \(settings.pidFiles.joined(separator: ", ")))")
    }
}
