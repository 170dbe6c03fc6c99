#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel

/// Talks to the server over its UNIX socket with the MariaDB programs, as argv arrays. When a
/// password is configured it is written to a fresh option file (random name, O_EXCL, mode 600,
/// in a 0700 directory of the agent's state) named by `--defaults-extra-file`, removed after
/// the run: it never appears on a command line or in the process table.
public struct MariaDBClient: Sendable {
    let settings: MariaDBSettings
    let runner: ProcessRunner
    /// Where the programs' stderr goes (a job's output); nil for the background refresh.
    let log: OutputTail?

    /// The largest result a query may return (a `mariadb.databases` list, status variables).
    static let maxResultBytes = 8 << 20

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(_ d: String) { description = d }
    }

    public init(settings: MariaDBSettings, runner: ProcessRunner = ProcessRunner(), log: OutputTail? = nil) {
        self.settings = settings; self.runner = runner; self.log = log
    }

    public init(settings: MariaDBSettings, context: JobContext) {
        self.init(settings: settings, runner: context.processes, log: context.output)
    }

    /// The option file's text for the configured account, nil when there is nothing secret to
    /// say (no password: the user goes on the command line, it is not a secret).
    static func optionFile(user: String?, password: String?) throws -> String? {
        guard let password else { return nil }
        func quoted(_ s: String) throws -> String {
            guard !s.utf8.contains(where: { $0 == 10 || $0 == 13 || $0 == 0 }) else {
                throw Failure("the MariaDB password or user holds a line break or NUL; refusing to write it to an option file")
            }
            return "\"" + s.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
        }
        var text = "[client]\n"
        if let user { text += "user=\(try quoted(user))\n" }
        text += "password=\(try quoted(password))\n"
        return text
    }

    /// Run `program` with the connection options in front of `arguments`; `body` gets the argv.
    private func withConnection<T>(_ program: String, _ arguments: [String],
                                   _ body: ([String]) async throws -> T) async throws -> T {
        var password: String? = nil
        if let file = settings.passwordFile {
            let bytes: [UInt8]
            do { bytes = try Files.readBytes(file, limit: 4096, noFollow: true) } catch {
                throw Failure("cannot read the MariaDB password file \(file): \(error)")
            }
            password = String(decoding: bytes, as: UTF8.self).trimmingTrailingWhitespace
        }
        var args: [String] = []
        var optionPath: String? = nil
        if let text = try Self.optionFile(user: settings.user, password: password) {
            do {
                try SafeFile.makeDirectory(settings.stateDir, mode: 0o700)
                try SafeFile.makeDirectory(settings.runDir, mode: 0o700)
                optionPath = try SafeFile.writeUnique(in: settings.runDir, prefix: "client-", Array(text.utf8), mode: 0o600)
            } catch {
                throw Failure("cannot write the option file: \(error)")
            }
            // --defaults-extra-file must be the first option.
            args.append("--defaults-extra-file=" + optionPath!)
        } else if let user = settings.user {
            args.append("--user=" + user)
        }
        defer { if let optionPath { unlink(optionPath) } }
        args.append("--socket=" + settings.socket)
        return try await body([program] + args + arguments)
    }

    /// Run a program that talks to the server; its combined output goes to the job's log.
    func run(_ program: String, _ arguments: [String], timeoutSec: Double,
             stdin: Int32? = nil, stdout: Int32? = nil) async throws -> ProcessResult {
        var handedOver = false
        do {
            return try await withConnection(program, arguments) { argv in
                handedOver = true
                return try await runner.run(argv[0], Array(argv.dropFirst()), timeoutSec: timeoutSec, output: log,
                                            stdin: stdin, stdout: stdout)
            }
        } catch {
            // Descriptors are handed over: close them when the runner never got them (it closes
            // them itself once it has).
            if !handedOver {
                if let stdin { close(stdin) }
                if let stdout { close(stdout) }
            }
            throw error
        }
    }

    /// One `mariadb --batch` run of `sql` (several statements may be given; the rows of all
    /// come back in order). stdout is read apart from stderr, so a warning cannot become a row.
    public func query(_ sql: String, database: String? = nil, timeoutSec: Double? = nil) async throws -> [[String]] {
        let (readEnd, writeEnd) = try SpawnSupport.closeOnExecPipe()
        async let collected = runBlocking { Self.readAll(readEnd, limit: Self.maxResultBytes) }
        var args = ["--batch", "--skip-column-names", "--execute=" + sql]
        if let database { args.append("--database=" + database) }
        let result: ProcessResult
        do {
            result = try await run(settings.client, args, timeoutSec: timeoutSec ?? settings.queryTimeoutSec, stdout: writeEnd)
        } catch {
            _ = await collected
            throw error
        }
        let (bytes, overflow) = await collected
        guard result.succeeded else {
            throw Failure("mariadb failed (\(Self.describe(result))): \(result.output.trimmingWhitespace.lastLines(5))")
        }
        if overflow { throw Failure("the query's result is larger than \(Self.maxResultBytes) bytes") }
        return BatchOutput.parse(bytes)
    }

    /// `mariadb-admin … <arguments>`.
    func admin(_ arguments: [String], timeoutSec: Double? = nil) async throws -> ProcessResult {
        try await run(settings.admin, arguments, timeoutSec: timeoutSec ?? settings.queryTimeoutSec)
    }

    /// True when the server answers `mariadb-admin ping` within `timeoutSec`.
    public func ping(timeoutSec: Double = 5) async -> Bool {
        guard let r = try? await admin(["--connect-timeout=2", "ping"], timeoutSec: timeoutSec) else { return false }
        return r.succeeded
    }

    public static func describe(_ r: ProcessResult) -> String {
        if r.timedOut { return "timed out" }
        if let s = r.signal { return "signal \(s)" }
        return "exit \(r.exitCode)"
    }

    /// Read `fd` to its end; past `limit` keep draining (so the writer is not killed mid-write)
    /// but keep nothing more. Closes `fd`.
    static func readAll(_ fd: Int32, limit: Int) -> ([UInt8], Bool) {
        defer { close(fd) }
        var out: [UInt8] = []
        var overflow = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            if out.count + n > limit { overflow = true; continue }
            out.append(contentsOf: buffer[0..<n])
        }
        return (out, overflow)
    }
}
