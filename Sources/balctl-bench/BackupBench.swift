import ArgumentParser
import BalctlProtocol
import ControlPlane
import Foundation
import OperatorClient
import ServiceLaunchers

/// `balctl-bench backup` (issue 14): snapshot create + upload and restore of a ~1 GiB tree of mixed
/// files with the real `balctl-server` (TLS, filesystem store; with --s3 also the S3 store on
/// moto) and the real `balctl-heartbeat` agent running `backup.create` / `backup.restore`, beside
/// `tar -c | zstd -1 > file` of the same tree in the same run. Figures: MiB/s of source bytes
/// (enqueue → job completed as the operator API reports it), the agent's peak RSS while it
/// streams, and the 1.8 GB replication (create + restore) time. Prints; asserts nothing.
struct BackupBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Backup create/restore MiB/s and agent peak RSS against tar | zstd -1 on the same tree (filesystem store; --s3: moto).")

    @Option(help: "Agent binary (default: balctl-heartbeat next to this executable).") var agentBinary: String?
    @Option(help: "Control plane binary (default: balctl-server next to this executable).") var serverBinary: String?
    @Option(help: "Size of the generated tree, MiB (cached in /tmp/balctl-bench-tree-<size>).") var sizeMb = 1024
    @Option(help: "Back up this existing directory instead of a generated tree.") var tree: String?
    @Flag(help: "Also create (and restore) against the S3 store on a local moto server.") var s3 = false
    @Option(help: "Rounds of create + restore per store (and of the baseline); medians are reported.") var rounds = 1
    @Option(help: "BALCTL_BACKUP_ZSTD_THREADS for the agent (default: unset, the agent's default).") var zstdThreads: Int?
    @Option(help: "partMiB of the backup.create job (1–64).") var partMib = 16
    @Flag(help: "Also time the stages alone on the same tree: tar | cat, tar | openssl sha256, tar | zstd -1 (-T2), tar | zstd -1 | openssl sha256.") var components = false

    static let mib = 1_048_576.0

    func run() async throws {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let agentExe = agentBinary ?? here.appendingPathComponent("balctl-heartbeat").path
        let serverExe = serverBinary ?? here.appendingPathComponent("balctl-server").path
        for (exe, flag) in [(agentExe, "--agent-binary"), (serverExe, "--server-binary")] where !FileManager.default.isExecutableFile(atPath: exe) {
            throw ValidationError("no executable at \(exe) (\(flag))")
        }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }

        // 1. The tree.
        let root: String
        if let tree {
            root = URL(fileURLWithPath: tree).standardizedFileURL.path
        } else {
            root = "/tmp/balctl-bench-tree-\(sizeMb)"
            let t0 = Date()
            if try BenchTree.ensure(root: root, mib: sizeMb) {
                print("generated \(root) in \(fixed(Date().timeIntervalSince(t0), 1)) s")
            }
        }
        let stats = try BenchTree.stats(root)
        let sourceMiB = Double(stats.bytes) / Self.mib
        print("tree \(root): \(stats.files) files, \(stats.dirs) directories, \(fixed(sourceMiB, 1)) MiB of file content")

        let dir = URL(fileURLWithPath: "/tmp/balctl-bench-backup-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        // 2. Baseline: tar | zstd -1 into a file, same tree, same run.
        let parent = URL(fileURLWithPath: root).deletingLastPathComponent().path, name = URL(fileURLWithPath: root).lastPathComponent
        let tarArgs = "tar -cf - -C \(shellQuote(parent)) \(shellQuote(name))"
        let out = dir.appendingPathComponent("baseline.tar.zst").path
        var baseline: [Double] = []
        var baselineBytes: Int64 = 0
        for _ in 1...rounds {
            try? FileManager.default.removeItem(atPath: out)
            baseline.append(try timeShell("\(tarArgs) | zstd -1 -q -o \(shellQuote(out))"))
            baselineBytes = (try FileManager.default.attributesOfItem(atPath: out)[.size] as? NSNumber)?.int64Value ?? 0
        }
        try? FileManager.default.removeItem(atPath: out)
        let baseSec = median(baseline)
        let baseRate = sourceMiB / baseSec
        let zstdVersion = (try? String(decoding: ProcessSet(dir: dir).runToEnd("/usr/bin/env", ["zstd", "-V"]), as: UTF8.self))?
            .split(separator: " ").first { $0.hasPrefix("v1") }.map { "zstd " + $0.dropLast($0.hasSuffix(",") ? 1 : 0) } ?? "zstd"
        print("baseline `tar -c | zstd -1 -o file` (\(zstdVersion)): \(fixed(baseSec, 2)) s, \(fixed(baseRate, 1)) MiB/s, "
              + "\(fixed(Double(baselineBytes) / Self.mib, 1)) MiB out (ratio \(fixed(Double(stats.bytes) / Double(max(baselineBytes, 1)), 2))×)")
        if components {
            // (GNU tar skips reading when its output is /dev/null itself: hence the cat.)
            for (what, cmd) in [("tar | cat > /dev/null (read + tar)", "\(tarArgs) | cat > /dev/null"),
                                ("tar | openssl sha256 (libcrypto, as the agent)", "\(tarArgs) | openssl dgst -sha256 > /dev/null"),
                                ("tar | zstd -1 > /dev/null", "\(tarArgs) | zstd -1 -q -c > /dev/null"),
                                ("tar | zstd -1 -T2 > /dev/null", "\(tarArgs) | zstd -1 -T2 -q -c > /dev/null"),
                                ("tar | zstd -1 | openssl sha256", "\(tarArgs) | zstd -1 -q -c | openssl dgst -sha256 > /dev/null")] {
                let s = try timeShell(cmd)
                print("  component \(what): \(fixed(s, 2)) s, \(fixed(sourceMiB / s, 1)) MiB/s of source")
            }
        }

        // 3–5. The real control plane and agent, per store.
        var stores: [StoreRun] = []
        stores.append(try await runStore("filesystem", env: [:], root: root, dir: dir, agentExe: agentExe, serverExe: serverExe))
        if s3 {
            print("starting moto (S3) on loopback…")
            let moto = try await MotoServer.start()
            defer { moto.stop() }
            let env = ["BALCTL_S3_BUCKET": MotoServer.bucket, "BALCTL_S3_ENDPOINT": moto.endpoint, "BALCTL_S3_REGION": MotoServer.region,
                       "BALCTL_S3_ACCESS_KEY_ID": moto.accessKeyID, "BALCTL_S3_SECRET_ACCESS_KEY": moto.secretAccessKey,
                       "BALCTL_S3_ADDRESSING": "path"]
            stores.append(try await runStore("S3 (moto)", env: env, root: root, dir: dir, agentExe: agentExe, serverExe: serverExe))
        }

        // 6. Figures.
        let fs = stores[0]
        let createRate = sourceMiB / median(fs.creates.map(\.wall)), restoreRate = sourceMiB / median(fs.restores.map(\.wall))
        let peak = stores.flatMap { $0.creates + $0.restores }.map(\.peakRSS).max() ?? 0
        let createPeak = stores.flatMap(\.creates).map(\.peakRSS).max() ?? 0
        print("")
        print("== backup figures: \(fixed(sourceMiB, 1)) MiB tree, \(stats.files) files; median of \(rounds) round(s); MiB/s of source bytes; partMiB \(partMib); agent BALCTL_BACKUP_ZSTD_THREADS=\(zstdThreads.map(String.init) ?? "unset (0)") ==")
        print("tar -c | zstd -1 > file:            \(fixed(baseRate, 1)) MiB/s (\(fixed(baseSec, 2)) s)")
        print("backup.create, filesystem store:   \(fixed(createRate, 1)) MiB/s (\(fixed(median(fs.creates.map(\.wall)), 2)) s enqueue → completed); "
              + "ratio to tar|zstd -1: \(fixed(createRate / baseRate, 2))× (target ≥ 0.9×)")
        if stores.count > 1 {
            let s = stores[1]
            let r = sourceMiB / median(s.creates.map(\.wall))
            print("backup.create, S3 store (moto):    \(fixed(r, 1)) MiB/s (\(fixed(median(s.creates.map(\.wall)), 2)) s); ratio to tar|zstd -1: \(fixed(r / baseRate, 2))×")
            let rr = sourceMiB / median(s.restores.map(\.wall))
            print("backup.restore, S3 store (moto):   \(fixed(rr, 1)) MiB/s (\(fixed(median(s.restores.map(\.wall)), 2)) s)")
        }
        print("backup.restore, filesystem store:  \(fixed(restoreRate, 1)) MiB/s (\(fixed(median(fs.restores.map(\.wall)), 2)) s enqueue → completed)")
        print("agent peak RSS while streaming:    create \(fixed(createPeak, 1)) MiB, any job \(fixed(peak, 1)) MiB (VmHWM; target ≤ 64 MB = 61.0 MiB: "
              + "peak/target \(fixed(peak * Self.mib / 64e6, 2))); idle before the first job \(fixed(fs.idleRSS, 1)) MiB")
        let target = 1.8e9 / Self.mib  // 1.8 GB in MiB
        if sourceMiB >= 1800 {
            let measured = median(fs.creates.map(\.wall)) + median(fs.restores.map(\.wall))
            print("1.8 GB replication (create+restore) measured: \(fixed(measured, 1)) s on a \(fixed(sourceMiB, 0)) MiB tree "
                  + "(target ≤ 30 s; original product ~300 s)")
        } else {
            let estimate = target / createRate + target / restoreRate
            print("1.8 GB replication (create+restore) estimate: \(fixed(estimate, 1)) s "
                  + "(1.8e9 B at the measured create and restore rates; target ≤ 30 s; original product ~300 s)")
        }
    }

    struct JobRun {
        var wall: Double; var run: Double; var peakRSS: Double; var sampledMax: Double; var rssBefore: Double; var result: JSONValue?
        /// CPU seconds during the job: the agent, its busiest threads, the server.
        var agentCPU = 0.0, agentSystem = 0.0, agentThreads: [Double] = [], serverCPU = 0.0
        var cpuText: String {
            "CPU during the job: agent \(fixed(agentCPU, 2)) s (\(fixed(agentSystem, 2)) s of it system; busiest threads \(agentThreads.prefix(4).map { fixed($0, 2) }.joined(separator: ", ")) s), "
                + "server \(fixed(serverCPU, 2)) s"
        }
    }
    struct StoreRun { var name: String; var idleRSS: Double; var creates: [JobRun] = []; var restores: [JobRun] = [] }

    /// A real `balctl-server serve` (TLS, `env` added) and one real agent; `rounds` creates and
    /// restores of `root`, the first restore compared to the tree with `diff -r`.
    func runStore(_ label: String, env: [String: String], root: String, dir: URL, agentExe: String, serverExe: String) async throws -> StoreRun {
        let run = dir.appendingPathComponent(label.filter { $0.isLetter || $0.isNumber })
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        let processes = ProcessSet(dir: run)
        defer { processes.stopAll() }
        let tls = try LocalCA.create(in: run.appendingPathComponent("tls").path)
        let dataDir = run.appendingPathComponent("data").path
        let token = try JSONDecoder().decode(TokenIssued.self, from: try processes.runToEnd(serverExe, ["init", "--data-dir", dataDir, "--json"])).token
        let port = try Loopback.freePort()
        let base = "https://127.0.0.1:\(port)"
        let server = try processes.start(serverExe, ["serve", "--data-dir", dataDir, "--port", "\(port)",
                                            "--tls-cert", tls.serverCert, "--tls-key", tls.serverKey], env: env, log: "server.log")
        try await processes.waitForHealth(base, caFile: tls.caCert)
        let api = try APIClient(server: base, token: token, caFile: tls.caCert)
        let pool: PoolView = try api.send("POST", APIPath("pools"), CreatePoolRequest(name: "bench", template: .generic))
        let e: MemberEnrollment = try api.send("POST", APIPath("pools", pool.id, "members"), CreateMemberRequest(
            hostname: "bench-backup", allowedIPs: ["127.0.0.1"], family: .debian, role: nil))
        var agentEnv = [
            "BALCTL_ENROLLMENT_SECRET": e.enrollmentSecret, "BALCTL_API_BASE": base, "BALCTL_CA_FILE": tls.caCert,
            "BALCTL_HOSTNAME": "bench-backup", "BALCTL_STATE_DIR": run.appendingPathComponent("state").path,
            "BALCTL_ENV_FILE": run.appendingPathComponent("no-such.env").path, "BALCTL_LOG_LEVEL": "warning",
        ]
        if let zstdThreads { agentEnv["BALCTL_BACKUP_ZSTD_THREADS"] = "\(zstdThreads)" }
        let agent = try processes.start(agentExe, [], env: agentEnv, log: "agent.log")
        let pid = agent.processIdentifier
        let ready = Date().addingTimeInterval(30)
        while (try? api.get(APIPath("members", e.member.id), as: MemberView.self))?.heartbeat == nil {
            guard Date() < ready, agent.isRunning else { throw BenchError("the agent did not heartbeat:\n\(processes.log("agent.log"))") }
            try await Task.sleep(for: .milliseconds(50))
        }
        var result = StoreRun(name: label, idleRSS: RSSSampler.kib(pid, "VmRSS") / 1024)
        print("\n== \(label) store: balctl-server \(base), agent pid \(pid) (RSS \(fixed(result.idleRSS, 1)) MiB idle) ==")

        for round in 1...rounds {
            let c = try await job(api, member: e.member.id, pid: pid, server: server.processIdentifier, "backup.create",
                                  .object(["scope": .string("paths"), "paths": .array([.string(root)]),
                                           "partMiB": .number(Double(partMib)), "zstdLevel": .number(1)]))
            let source = c.result?["sourceBytes"]?.doubleValue ?? 0, stored = c.result?["storedBytes"]?.doubleValue ?? 0
            print("create  round \(round): \(fixed(c.wall, 2)) s enqueue → completed (agent claim → result \(fixed(c.run, 2)) s), "
                  + "\(fixed(source / Self.mib / c.wall, 1)) MiB/s; \(Int(c.result?["entries"]?.doubleValue ?? 0)) entries, "
                  + "\(fixed(source / Self.mib, 1)) MiB → \(fixed(stored / Self.mib, 1)) MiB in \(Int(c.result?["parts"]?.doubleValue ?? 0)) parts "
                  + "(ratio \(fixed(source / max(stored, 1), 2))×); agent RSS before \(fixed(c.rssBefore, 1)) MiB, peak \(fixed(c.peakRSS, 1)) MiB "
                  + "(VmHWM; max of 50 ms samples \(fixed(c.sampledMax, 1)) MiB)")
            print("        \(c.cpuText)")
            result.creates.append(c)
            guard let snapshot = c.result?["snapshot"]?.stringValue else { throw BenchError("backup.create gave no snapshot id: \(String(describing: c.result))") }

            let target = run.appendingPathComponent("restore-\(round)").path
            let r = try await job(api, member: e.member.id, pid: pid, server: server.processIdentifier, "backup.restore",
                                  .object(["snapshot": .string(snapshot), "restoreTo": .string(target)]))
            print("restore round \(round): \(fixed(r.wall, 2)) s enqueue → completed (agent claim → result \(fixed(r.run, 2)) s), "
                  + "\(fixed(source / Self.mib / r.wall, 1)) MiB/s; agent peak RSS \(fixed(r.peakRSS, 1)) MiB")
            print("        \(r.cpuText)")
            result.restores.append(r)
            if round == 1 {
                // The archive holds the tree under its absolute path, relative to restoreTo.
                let restored = target + root
                let t0 = Date()
                let (status, text) = try runShell("diff -r -q \(shellQuote(root)) \(shellQuote(restored)) 2>&1 | head -20")
                let same = status == 0 && text.isEmpty
                print("verify: diff -r \(root) \(restored): \(same ? "identical" : "DIFFERENT:\n\(text)") (\(fixed(Date().timeIntervalSince(t0), 1)) s)")
                if !same { throw BenchError("the restored tree differs from the source") }
            }
            try? FileManager.default.removeItem(atPath: target)
        }
        return result
    }

    /// Enqueue a job, poll it every 50 ms to its end, sample the agent's RSS meanwhile.
    func job(_ api: APIClient, member: Int64, pid: Int32, server: Int32, _ command: String, _ params: JSONValue) async throws -> JobRun {
        let before = RSSSampler.kib(pid, "VmRSS") / 1024
        let threadsBefore = ProcStat.threadSeconds(pid)
        let agentBefore = ProcStat.cpuSeconds("/proc/\(pid)/stat"), systemBefore = ProcStat.userSystem("/proc/\(pid)/stat").system
        let serverBefore = ProcStat.cpuSeconds("/proc/\(server)/stat")
        RSSSampler.resetPeak(pid)
        let sampler = RSSSampler(pid: pid)
        let t0 = Date()
        var enqueued: JobView?
        while enqueued == nil {
            do {
                enqueued = try api.send("POST", APIPath("members", member, "jobs"),
                                        EnqueueJobRequest(command: command, params: params, maxAttempts: 1, timeoutSec: 3600))
            } catch let f as APIClient.Failure where f.status == 409 || f.status == 400 {
                // The agent has not reported the command yet: retry for a while.
                guard Date().timeIntervalSince(t0) < 15 else { throw f }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let id = enqueued!.id
        var view = enqueued!
        while !view.state.isTerminal {
            guard Date().timeIntervalSince(t0) < 3600 else { throw BenchError("\(command) job \(id) did not end within an hour") }
            try await Task.sleep(for: .milliseconds(50))
            view = try api.get(APIPath("jobs", id))
        }
        let wall = Date().timeIntervalSince(t0)
        let sampled = sampler.stop()
        guard view.state == .completed else { throw BenchError("\(command) job \(id) \(view.state.rawValue): \(view.error ?? view.output ?? "?")") }
        let peak = max(RSSSampler.kib(pid, "VmHWM") / 1024, sampled)
        // Per thread: the sampler's last look (up to 50 ms short for a thread that ended).
        let threads = sampler.threadSeconds.map { $0.value - (threadsBefore[$0.key] ?? 0) }.sorted(by: >)
        return JobRun(wall: wall, run: (view.finishedAt ?? 0) - (view.startedAt ?? 0), peakRSS: peak, sampledMax: sampled,
                      rssBefore: before, result: view.result,
                      agentCPU: ProcStat.cpuSeconds("/proc/\(pid)/stat") - agentBefore,
                      agentSystem: ProcStat.userSystem("/proc/\(pid)/stat").system - systemBefore, agentThreads: threads,
                      serverCPU: ProcStat.cpuSeconds("/proc/\(server)/stat") - serverBefore)
    }

    func median(_ v: [Double]) -> Double { Percentiles(v)(50) }

    /// Wall seconds of `/bin/sh -c command` (the baseline only), which must succeed.
    func timeShell(_ command: String) throws -> Double {
        let t0 = Date()
        let (status, text) = try runShell(command)
        guard status == 0 else { throw BenchError("`\(command)` exited with \(status): \(text)") }
        return Date().timeIntervalSince(t0)
    }

    func runShell(_ command: String) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func shellQuote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}

/// The agent's resident memory: VmHWM (reset before each job through clear_refs) and VmRSS
/// sampled every 50 ms on a thread of its own (the agent with any children it runs).
final class RSSSampler: @unchecked Sendable {
    let pid: Int32
    private let lock = NSLock()
    private var running = true
    private var maxKiB = 0.0
    /// Last CPU seconds seen of each thread (threads that end during the job keep their last sample).
    private var threadCPU: [String: Double] = [:]
    var threadSeconds: [String: Double] { lock.withLock { threadCPU } }
    private let done = DispatchSemaphore(value: 0)

    init(pid: Int32) {
        self.pid = pid
        Thread.detachNewThread { [self] in
            while lock.withLock({ running }) {
                var total = Self.kib(pid, "VmRSS")
                for child in Self.children(pid) { total += Self.kib(child, "VmRSS") }
                let threads = ProcStat.threadSeconds(pid)
                lock.withLock {
                    maxKiB = max(maxKiB, total)
                    for (tid, sec) in threads { threadCPU[tid] = sec }
                }
                usleep(50_000)
            }
            done.signal()
        }
    }

    /// Stops sampling; the largest sample, MiB.
    func stop() -> Double {
        lock.withLock { running = false }
        done.wait()
        return lock.withLock { maxKiB } / 1024
    }

    /// A field of /proc/<pid>/status in KiB (0 when unreadable).
    static func kib(_ pid: Int32, _ field: String) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }) else { return 0 }
        return Double(line.split(separator: " ").dropFirst().first { Double($0) != nil } ?? "0") ?? 0
    }

    /// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux ≥ 4.0; the bench runs as the agent's user or root).
    static func resetPeak(_ pid: Int32) {
        try? "5".write(toFile: "/proc/\(pid)/clear_refs", atomically: false, encoding: .utf8)
    }

    static func children(_ pid: Int32) -> [Int32] {
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { return [] }
        return tasks.flatMap { t in
            ((try? String(contentsOfFile: "/proc/\(pid)/task/\(t)/children", encoding: .utf8)) ?? "").split(separator: " ").compactMap { Int32($0) }
        }
    }
}

/// A deterministic tree of mixed files (seeded): 40 % in 4 large files (text log, random
/// binary, a database-like mix, a sparse-ish image), ~20,000 small text files per GiB, and
/// medium files (256 KiB – 8 MiB) of which a fifth incompressible; about 2–2.5× with zstd -1.
enum BenchTree {
    enum Kind { case random, text, pattern, zeros }
    typealias Mix = [(Kind, Int)]

    struct Stats { var files = 0; var dirs = 0; var bytes: Int64 = 0 }

    /// Generates `root` unless a complete copy is there (a marker beside it); true when generated.
    static func ensure(root: String, mib: Int) throws -> Bool {
        let marker = root + ".complete"
        if FileManager.default.fileExists(atPath: marker), FileManager.default.fileExists(atPath: root) { return false }
        try? FileManager.default.removeItem(atPath: root)
        try? FileManager.default.removeItem(atPath: marker)
        try generate(root: root, total: Int64(mib) << 20)
        try "\(mib) MiB\n".write(toFile: marker, atomically: true, encoding: .utf8)
        return true
    }

    static func stats(_ root: String) throws -> Stats {
        var s = Stats()
        guard let e = FileManager.default.enumerator(at: URL(fileURLWithPath: root),
                                                     includingPropertiesForKeys: [.isRegularFileKey, .isDirectoryKey, .fileSizeKey]) else {
            throw BenchError("cannot read \(root)")
        }
        for case let url as URL in e {
            let v = try url.resourceValues(forKeys: [.isRegularFileKey, .isDirectoryKey, .fileSizeKey])
            if v.isRegularFile == true { s.files += 1; s.bytes += Int64(v.fileSize ?? 0) } else if v.isDirectory == true { s.dirs += 1 }
        }
        return s
    }

    static func generate(root: String, total: Int64) throws {
        let words = Words(seed: 0x5eed)
        var files: [(path: String, size: Int64, mix: Mix)] = []
        let large = total * 4 / 10 / 4
        files.append(("big/large-0.log", large, [(.text, 1)]))
        files.append(("big/large-1.bin", large, [(.random, 1)]))
        files.append(("big/large-2.db", large, [(.text, 4), (.random, 3), (.pattern, 3)]))
        files.append(("big/large-3.img", large, [(.zeros, 3), (.pattern, 4), (.random, 3)]))
        var rng = SplitMix(0xb0b)
        let smallCount = max(200, Int(20_000 * total / (1 << 30)))
        var smallBytes: Int64 = 0
        for i in 0..<smallCount {
            let size = Int64(200 + Int(rng.next() % 8192))
            smallBytes += size
            files.append((String(format: "small/d%03d/f%05d.", i / 200, i) + ["txt", "conf", "json", "log"][i % 4], size, [(.text, 1)]))
        }
        var left = total - 4 * large - smallBytes
        var i = 0
        while left > 0 {
            let size = min(left, Int64(256 << 10) + Int64(rng.next() % UInt64(8 << 20 - 256 << 10)))
            let mix: Mix
            switch rng.next() % 20 {
            case 0..<4: mix = [(.random, 1)]
            case 4..<13: mix = [(.text, 1)]
            case 13..<17: mix = [(.text, 4), (.random, 3), (.pattern, 3)]
            default: mix = [(.pattern, 7), (.text, 3)]
            }
            files.append((String(format: "medium/d%02d/m%04d.dat", i / 50, i), size, mix))
            left -= size
            i += 1
        }
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { chunk.deallocate() }
        for (n, f) in files.enumerated() {
            let path = root + "/" + f.path
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw BenchError("cannot create \(path): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            var r = SplitMix(0x7ee ^ UInt64(n) &* 0x9E3779B97F4A7C15)
            var record = [UInt8](repeating: 0, count: 256)
            for k in 0..<record.count { record[k] = UInt8(truncatingIfNeeded: r.next() % 64 + 32) }
            let weight = f.mix.reduce(0) { $0 + $1.1 }
            var written: Int64 = 0
            while written < f.size {
                let n = Int(min(Int64(chunk.count), f.size - written))
                var off = 0
                while off < n {
                    let len = min(64 << 10, n - off)
                    var pick = Int(r.next() % UInt64(weight))
                    var kind = f.mix[0].0
                    for (k, w) in f.mix { if pick < w { kind = k; break }; pick -= w }
                    fill(UnsafeMutableRawBufferPointer(rebasing: chunk[off..<(off + len)]), kind, &r, words, &record)
                    off += len
                }
                guard write(fd, chunk.baseAddress, n) == n else { throw BenchError("writing \(path): \(String(cString: strerror(errno)))") }
                written += Int64(n)
            }
        }
    }

    static func fill(_ b: UnsafeMutableRawBufferPointer, _ kind: Kind, _ r: inout SplitMix, _ words: Words, _ record: inout [UInt8]) {
        let p = b.baseAddress!
        switch kind {
        case .zeros:
            memset(p, 0, b.count)
        case .random:
            var i = 0
            while i + 8 <= b.count { p.storeBytes(of: r.next(), toByteOffset: i, as: UInt64.self); i += 8 }
            while i < b.count { p.storeBytes(of: UInt8(truncatingIfNeeded: r.next()), toByteOffset: i, as: UInt8.self); i += 1 }
        case .pattern:
            // Rows of a table: a fixed 256-byte record, 24 bytes of it (id, counters) varying.
            var i = 0
            record.withUnsafeMutableBytes { rec in
                while i < b.count {
                    rec.storeBytes(of: r.next(), toByteOffset: 0, as: UInt64.self)
                    rec.storeBytes(of: UInt64(i), toByteOffset: 64, as: UInt64.self)
                    rec.storeBytes(of: r.next() & 0x0f0f0f0f0f0f0f0f, toByteOffset: 128, as: UInt64.self)
                    let n = min(rec.count, b.count - i)
                    memcpy(p + i, rec.baseAddress!, n)
                    i += n
                }
            }
        case .text:
            words.text(into: b, &r)
        }
    }

    /// A dictionary of 4096 pseudo-words, flat; picked with a skew (product of two uniforms)
    /// into log-like lines with a timestamp and the odd number.
    final class Words {
        let bytes: [UInt8]
        let starts: [Int]
        init(seed: UInt64) {
            var r = SplitMix(seed)
            var b: [UInt8] = [], s: [Int] = []
            for _ in 0..<4096 {
                s.append(b.count)
                for _ in 0..<(2 + Int(r.next() % 9)) { b.append(UInt8(97 + r.next() % 26)) }
            }
            s.append(b.count)
            bytes = b; starts = s
        }

        func text(into out: UnsafeMutableRawBufferPointer, _ r: inout SplitMix) {
            let p = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var i = 0
            var stamp = 1_700_000_000 + Int(r.next() % 10_000_000)
            bytes.withUnsafeBufferPointer { w in
                starts.withUnsafeBufferPointer { s in
                    while i < out.count {
                        // "1700001234 " then 4–14 words, a number now and then, newline.
                        stamp += Int(r.next() % 3)
                        var digits = stamp, k = 10
                        while k > 0 && i + k <= out.count { k -= 1; p[i + k] = UInt8(48 + digits % 10); digits /= 10 }
                        i = min(i + 10, out.count)
                        let count = 4 + Int(r.next() % 11)
                        for _ in 0..<count where i < out.count {
                            p[i] = 32; i += 1
                            let x = r.next()
                            if x & 0xf == 0 {
                                var v = Int((x >> 8) % 100_000)
                                repeat { if i < out.count { p[i] = UInt8(48 + v % 10); i += 1 }; v /= 10 } while v > 0
                                continue
                            }
                            let idx = Int((x >> 8) & 4095) * Int((x >> 24) & 4095) >> 12
                            let from = s[idx], len = s[idx + 1] - from
                            let n = min(len, out.count - i)
                            if n > 0 { memcpy(p + i, w.baseAddress! + from, n); i += n }
                        }
                        if i < out.count { p[i] = 10; i += 1 }
                    }
                }
            }
        }
    }

    struct SplitMix {
        var s: UInt64
        init(_ seed: UInt64) { s = seed }
        mutating func next() -> UInt64 {
            s &+= 0x9E3779B97F4A7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
            z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
            return z ^ (z >> 31)
        }
    }
}
