import AgentKernel
import Foundation
import Glibc

/// A real PostgreSQL 15 cluster in a temp directory on a free loopback port, for the store tests
/// on both engines and the scale-out tests (issue 22): `initdb` with trust authentication for
/// the user `balctl` (loopback only, throwaway data), `pg_ctl start` with fsync off (the tests
/// measure behaviour, not durability), the socket in the cluster's own directory. PostgreSQL
/// refuses to run as root, so as root it runs as `nobody` (setpriv), as named does here.
public final class PostgresServer: Sendable {
    public static let binDir = "/usr/lib/postgresql/15/bin"
    public static let user = "balctl"
    public let dir: URL
    public let port: UInt16

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(_ d: String) { description = d }
    }

    /// `postgres://balctl@127.0.0.1:<port>/<database>`.
    public func url(database: String = "postgres") -> String {
        "postgres://\(Self.user)@127.0.0.1:\(port)/\(database)"
    }

    var dataDir: String { dir.appendingPathComponent("data").path }

    /// initdb and start. Throws with the tool's output when either fails, and names the package
    /// when the binaries are missing.
    public static func start() throws -> PostgresServer {
        for tool in ["initdb", "pg_ctl", "postgres"] where !FileManager.default.isExecutableFile(atPath: "\(binDir)/\(tool)") {
            throw Failure("\(binDir)/\(tool) is missing: apt-get install postgresql (see README)")
        }
        return try PostgresServer()
    }

    private init() throws {
        dir = URL(fileURLWithPath: "/tmp/balctl-pg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        if getuid() == 0 { try Self.giveToNobody(dir.path) }
        port = try Loopback.freePort()
        let initdb = try Self.run(["\(Self.binDir)/initdb", "-D", dataDir, "-U", Self.user, "--auth=trust", "-E", "UTF8",
                                   "--locale=C", "--no-sync"])
        guard initdb.status == 0 else { throw Failure("initdb failed (\(initdb.status)): \(initdb.err)\(initdb.out)") }
        let options = "-p \(port) -k \(dir.path) -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
            + " -c full_page_writes=off -c max_connections=200"
        let started = try Self.run(["\(Self.binDir)/pg_ctl", "-D", dataDir, "-o", options,
                                    "-l", dir.appendingPathComponent("server.log").path, "-w", "-t", "30", "start"])
        guard started.status == 0 else {
            let log = (try? String(contentsOf: dir.appendingPathComponent("server.log"), encoding: .utf8)) ?? ""
            throw Failure("pg_ctl start failed (\(started.status)): \(started.err)\(started.out)\n\(log)")
        }
    }

    /// Stops the server at once (`immediate`: no checkpoint, it is thrown away) and removes it.
    public func stop() {
        _ = try? Self.run(["\(Self.binDir)/pg_ctl", "-D", dataDir, "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(at: dir)
    }

    /// Runs SQL through `psql` (setup the store does not do itself, e.g. CREATE DATABASE).
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") throws -> String {
        let r = try Self.run(["/usr/bin/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                              "-p", "\(port)", "-U", Self.user, "-d", database, "-c", sql], asServer: false)
        guard r.status == 0 else { throw Failure("psql failed (\(r.status)): \(r.err)") }
        return r.out
    }

    /// A fresh, empty database on this server; returns its URL.
    public func createDatabase(_ name: String = "t_\(UUID().uuidString.prefix(8).lowercased())") throws -> String {
        try psql("CREATE DATABASE \"\(name)\"")
        return url(database: name)
    }

    static func giveToNobody(_ path: String) throws {
        guard let pw = getpwnam("nobody") else { throw Failure("no user nobody to run PostgreSQL as") }
        guard chown(path, pw.pointee.pw_uid, pw.pointee.pw_gid) == 0 else { throw Failure("chown \(path): errno \(errno)") }
    }

    /// Runs a tool (as `nobody` when root and `asServer`), collecting its output. posix_spawn and
    /// waitpid, not Foundation's Process: pg_ctl leaves a daemon behind, and Process's wait for
    /// its child was seen to hang after it. Output goes through files, so the daemon holding an
    /// inherited descriptor cannot stall the read either.
    static func run(_ argv: [String], asServer: Bool = true) throws -> (status: Int32, out: String, err: String) {
        // From "/": the tools complain when `nobody` cannot read the current directory.
        var args = ["/usr/bin/env", "-C", "/"] + argv
        if asServer, getuid() == 0 {
            args = ["/usr/bin/env", "-C", "/", "/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"] + argv
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-pg-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outPath = scratch.appendingPathComponent("out").path, errPath = scratch.appendingPathComponent("err").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        // pg_ctl leaves a daemon that lives as long as the tests: it must not keep another
        // test's pipe or a port just handed out by Loopback.freePort.
        SpawnSupport.closeAllAbove2(&actions)
        let cArgs = args.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, args[0], &actions, nil, cArgs, environ)
        guard rc == 0 else { throw Failure("cannot run \(args[0]): errno \(rc)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw Failure("waitpid \(args[0]): errno \(errno)") }
        }
        let exited = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let read = { (path: String) in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        return (exited, read(outPath), read(errPath))
    }
}
