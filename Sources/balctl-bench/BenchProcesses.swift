import CurlClient
import Foundation

// Helpers shared by the benchmarks that start real processes (failover-timing, backup).

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The processes the benchmark started (argv, no shell; BALCTL_* from the caller's environment
/// left out), each with its output in a log file of the run directory; all stopped at the end.
final class ProcessSet {
    let dir: URL
    private var started: [Process] = []
    init(dir: URL) { self.dir = dir }

    func start(_ exe: String, _ args: [String], env: [String: String] = [:], log: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BALCTL_") }.merging(env) { $1 }
        let logURL = dir.appendingPathComponent(log)
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logURL)
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        started.append(p)
        return p
    }

    /// Runs a program to its end and returns its standard output (its status must be 0).
    func runToEnd(_ exe: String, _ args: [String]) throws -> Data {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BALCTL_") }
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw BenchError("\(exe) \(args.joined(separator: " ")) exited with \(p.terminationStatus)") }
        return data
    }

    /// Until /healthz answers over TLS (the server is up), or fail with the server's log.
    func waitForHealth(_ base: String, caFile: String, log: String = "server.log") async throws {
        let probe = try CurlSession(options: CurlSession.Options(caFile: caFile, requireHTTPS: true))
        for _ in 0..<200 {
            if let r = try? await probe.request("GET", base + "/healthz"), r.status == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchError("balctl-server did not come up:\n\(self.log(log))")
    }

    func log(_ name: String) -> String {
        (try? String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)) ?? ""
    }

    /// SIGTERM to everything still running, then SIGKILL to what did not exit within 5 s.
    func stopAll() {
        let all = started
        for p in all where p.isRunning { kill(p.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(5)
        while all.contains(where: \.isRunning) && Date() < deadline { usleep(50_000) }
        for p in all where p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
    }
}

/// CPU time from /proc.
enum ProcStat {
    /// User + system CPU seconds from a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat file (0 if unreadable).
    static func cpuSeconds(_ statPath: String) -> Double { let t = userSystem(statPath); return t.user + t.system }

    /// User and system CPU seconds apart.
    static func userSystem(_ statPath: String) -> (user: Double, system: Double) {
        guard let stat = try? String(contentsOfFile: statPath, encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return (0, 0) }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14, stime 15 (1-based) → indexes 11, 12 here.
        guard fields.count > 12, let u = Double(fields[11]), let s = Double(fields[12]) else { return (0, 0) }
        let tick = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (u / tick, s / tick)
    }

    /// CPU seconds of each thread of a process so far, by thread id.
    static func threadSeconds(_ pid: Int32) -> [String: Double] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return Dictionary(uniqueKeysWithValues: tasks.map { ($0, cpuSeconds("/proc/\(pid)/task/\($0)/stat")) })
    }
}
