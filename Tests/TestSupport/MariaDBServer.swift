#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ServiceLaunchers
import Testing

/// A real `mariadbd` of the suite's own: a datadir made by `mariadb-install-db` in a fresh temp
/// directory, a private socket and a free loopback port, `--no-defaults` (the host's my.cnf and
/// system service are never touched). As root it runs with `--user=root`. Started once per suite
/// by the `.mariadbServer` trait, stopped when the suite ends (SIGTERM, SIGKILL after 15 s).
/// The Galera suites build their nodes with the same pieces (`install`, `launch`, `waitReady`).
public final class MariaDBServer: Sendable {
    public let dir: String
    public let datadir: String
    public let socket: String
    public let port: UInt16
    public let process: Process

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(_ d: String) { description = d }
    }

    public static let tools = ["/usr/bin/mariadb-install-db", "/usr/sbin/mariadbd", "/usr/bin/mariadb", "/usr/bin/mariadb-admin", "/usr/bin/mariadb-dump"]

    /// A fresh temp directory (mkdtemp: never a fixed name), in /tmp or in `parent`.
    public static func makeTempDirectory(_ prefix: String, in parent: String = "/tmp") throws -> String {
        var template = Array("\(parent)/\(prefix)-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw Failure("mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        return String(cString: made)
    }

    /// `mariadb-install-db` into `datadir` with root reachable without a password over the
    /// socket (auth `normal`), the test database and anonymous users as a fresh install has them.
    public static func install(datadir: String, extra: [String] = []) throws {
        var args = ["--no-defaults", "--datadir=\(datadir)", "--auth-root-authentication-method=normal"] + extra
        if getuid() == 0 { args.append("--user=root") }
        let r = try BINDServer.run("/usr/bin/mariadb-install-db", args)
        guard r.status == 0 else { throw Failure("mariadb-install-db failed (\(r.status)): \(r.out.suffix(2000))\(r.err.suffix(2000))") }
    }

    init(extraArguments: [String]) throws {
        for tool in Self.tools where !FileManager.default.isExecutableFile(atPath: tool) {
            throw Failure("\(tool) is missing: apt-get install mariadb-server mariadb-client (see README)")
        }
        dir = try Self.makeTempDirectory("balctl-mariadb")
        datadir = dir + "/data"
        socket = dir + "/sock"
        port = try Loopback.freePort()
        try Self.install(datadir: datadir)
        var args = ["--no-defaults", "--datadir=\(datadir)", "--socket=\(socket)", "--port=\(port)",
                    "--bind-address=127.0.0.1", "--pid-file=\(dir)/mariadbd.pid", "--log-error=\(dir)/error.log",
                    "--skip-log-bin", "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=48M"] + extraArguments
        if getuid() == 0 { args.append("--user=root") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/mariadbd")
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
    }

    /// Start one server and wait until it answers a ping (30 s at most).
    public static func start(extraArguments: [String] = []) async throws -> MariaDBServer {
        let s = try MariaDBServer(extraArguments: extraArguments)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if !s.process.isRunning { break }
            if (try? BINDServer.run("/usr/bin/mariadb-admin", ["--no-defaults", "--socket=\(s.socket)", "-uroot", "ping"]))?.status == 0 {
                return s
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        let log = (try? String(contentsOfFile: s.dir + "/error.log", encoding: .utf8)) ?? ""
        s.stop()
        throw Failure("mariadbd did not answer within 30 s:\n\(log.suffix(3000))")
    }

    public func stop() {
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(15)
            while process.isRunning && Date() < deadline { usleep(100_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Run SQL as root over the socket; the rows as tab-separated lines (batch, no column names).
    @discardableResult
    public func sql(_ statements: String, database: String? = nil) throws -> String {
        var args = ["--no-defaults", "--socket=\(socket)", "-uroot", "--batch", "--skip-column-names", "-e", statements]
        if let database { args.append(database) }
        let r = try BINDServer.run("/usr/bin/mariadb", args)
        guard r.status == 0 else { throw Failure("mariadb -e failed (\(r.status)): \(r.err)") }
        return r.out
    }

    /// `SHOW GLOBAL STATUS` (or VARIABLES) as a dictionary, names lowercased.
    public func globals(_ kind: String = "STATUS") throws -> [String: String] {
        var out: [String: String] = [:]
        for line in try sql("SHOW GLOBAL \(kind)").split(separator: "\n") {
            let f = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
            if f.count == 2 { out[f[0].lowercased()] = String(f[1]) }
        }
        return out
    }
}

/// The suite's server: set by the `.mariadbServer` trait for every test of the suite.
public enum MariaDBSuite {
    @TaskLocal public static var current: MariaDBServer?
}

/// Suite trait: one mariadbd for the whole suite, stopped when the suite ends.
public struct MariaDBServerTrait: SuiteTrait, TestScoping {
    public init() {}
    public func provideScope(for test: Test, testCase: Test.Case?,
                             performing function: @Sendable () async throws -> Void) async throws {
        let server = try await MariaDBServer.start()
        defer { server.stop() }
        try await MariaDBSuite.$current.withValue(server) { try await function() }
    }
}

extension Trait where Self == MariaDBServerTrait {
    public static var mariadbServer: Self { Self() }
}

extension MariaDBServer {
    /// The suite's server (the trait sets it).
    public static func shared() throws -> MariaDBServer {
        guard let s = MariaDBSuite.current else { throw Failure("no mariadbd: the suite needs the .mariadbServer trait") }
        return s
    }
}
