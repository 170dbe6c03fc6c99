import ServiceLaunchers
import AgentKernel
import BalctlProtocol
import Foundation
@testable import HAProxyPlugin
import Testing

/// Real haproxy and real HTTP backends for the tests: everything on 127.0.0.1, under a temp dir,
/// stopped when the test ends.

struct TestError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

final class TempDir: @unchecked Sendable {
    let path: String
    init(_ prefix: String = "balctl-haproxy") throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
    func write(_ name: String, _ text: String, mode: Int = 0o644) throws -> String {
        let p = file(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: p))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: p)
        return p
    }
    func read(_ name: String) -> Data? { FileManager.default.contents(atPath: file(name)) }
}

func freePort() throws -> Int { Int(try Loopback.freePort()) }

/// One HTTP/1.0 GET (the connection closes after the answer, so every request is a new session
/// that haproxy balances afresh). Returns status, headers (lower-cased names) and body.
func httpGet(_ port: Int, path: String = "/") throws -> (status: Int, headers: [String: String], body: String) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestError("socket failed") }
    defer { close(fd) }
    var tv = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    let rc = withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else { throw TestError("connect to \(port): \(String(cString: strerror(errno)))") }
    let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
    // MSG_NOSIGNAL: a haproxy that closes during a reload must fail the request, not the test run.
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    var data: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 8192)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, 8192) }
        if n > 0 { data += buf[0..<n] } else if n < 0 && errno == EINTR { continue } else { break }
    }
    let text = String(decoding: data, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { throw TestError("no HTTP answer from \(port): \(text.debugDescription)") }
    let head = text[..<split.lowerBound].split(separator: "\r\n")
    let status = Int(head.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
    var headers: [String: String] = [:]
    for line in head.dropFirst() {
        if let c = line.firstIndex(of: ":") {
            headers[line[..<c].lowercased()] = line[line.index(after: c)...].trimmingCharacters(in: .whitespaces)
        }
    }
    return (status, headers, String(text[split.upperBound...]))
}

/// `python3 -m http.server` in a directory whose index.html holds the server's name, so every
/// answer says which backend served it.
final class HTTPBackend: @unchecked Sendable {
    let name: String
    let port: Int
    let process: Process
    let dir: TempDir

    init(name: String) throws {
        self.name = name
        dir = try TempDir("backend-\(name)")
        _ = try dir.write("index.html", name)
        port = try freePort()
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-m", "http.server", "\(port)", "--bind", "127.0.0.1", "--directory", dir.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<100 {
            if let r = try? httpGet(port), r.body == name { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw TestError("backend \(name) on \(port) did not come up")
    }

    deinit { stopProcess(process) }
}

/// haproxy as the tests run it: `haproxy -f <cfg> -db` as a child, on loopback ports, with its
/// admin socket in the temp dir. `stop()` also ends any haproxy a reload started (those run
/// daemonized, outside our child).
final class TestHAProxy: @unchecked Sendable {
    let dir: TempDir
    let frontendPort: Int
    let backends: [HTTPBackend]
    var child: Process?
    let configPath: String
    var socketPath: String { dir.file("admin.sock") }

    /// A config with frontend `fe` → backend `be1` (servers s1, s2 … on the given backends).
    static func config(frontendPort: Int, servers: [(String, Int)], socket: String?, extraFrontend: String = "") -> String {
        var c = "global\n"
        if let socket { c += "    stats socket \(socket) mode 600 level admin\n" }
        c += """
            maxconn 200

        defaults
            mode http
            timeout connect 2s
            timeout client 10s
            timeout server 10s

        frontend fe
            bind 127.0.0.1:\(frontendPort)
            default_backend be1
        \(extraFrontend)
        backend be1
            balance roundrobin

        """
        for (name, port) in servers { c += "    server \(name) 127.0.0.1:\(port) check inter 200ms\n" }
        return c
    }

    init(servers names: [String] = ["s1", "s2"], withSocket: Bool = true, extraFrontend: String = "") throws {
        dir = try TempDir("haproxy")
        frontendPort = try freePort()
        backends = try names.map { try HTTPBackend(name: $0) }
        configPath = dir.file("haproxy.cfg")
        _ = try dir.write("haproxy.cfg", Self.config(frontendPort: frontendPort, servers: backends.map { ($0.name, $0.port) },
                                                     socket: withSocket ? dir.file("admin.sock") : nil, extraFrontend: extraFrontend))
    }

    var settings: HAProxySettings {
        HAProxySettings(configPath: configPath, haproxyBinary: "/usr/sbin/haproxy", stateDir: dir.file("state"),
                        systemctl: "/nonexistent/systemctl", systemdRunDir: dir.file("no-systemd"),
                        socketTimeoutSec: 3, reloadWaitSec: 10, socketDir: dir.path)
    }

    func start(waitForUp: Bool = true) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/haproxy")
        p.arguments = ["-f", configPath, "-db"]
        let log = dir.file("haproxy.log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        child = p
        for _ in 0..<100 {
            if (try? httpGet(frontendPort)) != nil { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        if waitForUp { try waitUntil("every server UP") { self.statuses().values.allSatisfy { $0 == "UP" } && !self.statuses().isEmpty } }
    }

    /// Server → status from `show stat`, over our own socket client.
    func statuses() -> [String: String] {
        guard let csv = try? AdminSocket(path: socketPath).executeBlocking("show stat"),
              let t = try? StatTable(csv: csv) else { return [:] }
        var out: [String: String] = [:]
        for r in t.rows where r.kind == .server { out[r.name] = r.status }
        return out
    }

    /// The live haproxy processes the agent trusts for this config.
    func processes() -> [HAProxyProcess] { ServiceControl(settings: settings).serving() }

    /// Every process named haproxy that names this config, trusted or not (fakes included).
    func anyProcesses() -> [HAProxyProcess] { ProcessTable().all().filter { $0.loads(configPath) } }

    func stop() {
        if let c = child { stopProcess(c) }
        for p in anyProcesses() { kill(p.pid, SIGKILL) }
    }

    deinit { stop() }

    /// Which backend served each of `n` requests through the frontend.
    func spread(_ n: Int) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for _ in 0..<n {
            let r = try httpGet(frontendPort)
            guard r.status == 200 else { throw TestError("haproxy answered \(r.status): \(r.body)") }
            counts[r.body, default: 0] += 1
        }
        return counts
    }
}

/// SIGKILL, not terminate(): Foundation's Process starts children with the spawning thread's
/// signal mask, where SIGTERM is blocked, so a python backend would never see it (and
/// waitUntilExit would wait forever).
func stopProcess(_ p: Process) {
    guard p.isRunning else { return }
    kill(p.processIdentifier, SIGKILL)
    p.waitUntilExit()
}

func waitUntil(_ what: String, timeout: Double = 10, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if (try? condition()) == true { return }
        Thread.sleep(forTimeInterval: 0.05)
    }
    throw TestError("timed out waiting for: \(what)")
}

/// A Unix socket that records every command line sent to it and forwards it to the real admin
/// socket: proof of what reached haproxy, and of what did not.
final class RecordingSocket: @unchecked Sendable {
    let path: String
    let upstream: String
    private let lock = NSLock()
    private var _received: [String] = []
    private var _connections = 0
    private let fd: Int32

    var received: [String] { lock.lock(); defer { lock.unlock() }; return _received }
    var connections: Int { lock.lock(); defer { lock.unlock() }; return _connections }

    init(path: String, upstream: String) throws {
        self.path = path; self.upstream = upstream
        let fd = try listenUnixSocket(path, backlog: 16)
        self.fd = fd
        Thread.detachNewThread { [weak self] in
            while true {
                let c = accept(fd, nil, nil)
                if c < 0 { return }
                self?.serve(c)
            }
        }
    }

    private func serve(_ c: Int32) {
        defer { close(c) }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while read(c, &byte, 1) == 1 { if byte == 0x0A { break }; line.append(byte) }
        let command = String(decoding: line, as: UTF8.self)
        lock.lock(); _connections += 1; _received.append(command); lock.unlock()
        // Forward verbatim (not through AdminSocket, which would refuse what we want to observe).
        let answer = (try? AdminSocket(path: upstream).executeBlocking(command)) ?? "forward failed\n"
        let bytes = Array(answer.utf8)
        _ = bytes.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    deinit { shutdown(fd, Int32(SHUT_RDWR)); close(fd); unlink(path) }
}

/// A listening Unix stream socket at `path` (the fake haproxy admin sockets and proxies).
func listenUnixSocket(_ path: String, backlog: Int32) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
        let b = Array(path.utf8); raw.copyBytes(from: b); raw[b.count] = 0
    }
    let ok = withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
    }
    guard ok, listen(fd, backlog) == 0 else {
        close(fd)
        throw TestError("cannot listen on \(path)")
    }
    return fd
}
