#if canImport(Glibc)
import Glibc
#endif
@testable import ControlPlane
import ServiceLaunchers
import Foundation
import TestSupport
import Testing

/// A real SMTP server for the alert tests: aiosmtpd (Debian's python3-aiosmtpd, run by
/// /usr/bin/python3) on a free loopback port via `smtp_sink.py`, with a certificate from
/// `LocalCA`, STARTTLS and AUTH (PLAIN or LOGIN) required for `user`/`password`. Started once per
/// suite by the `.smtpSink` trait. Every message it accepts is a JSON file in `mailDir`, parsed
/// by Python's email package (so subject and body are checked by an independent decoder).
final class SMTPSink: Sendable {
    @TaskLocal static var current: SMTPSink?

    static let user = "alerts@example.org"
    static let password = "s3cret pass"
    let dir: URL
    let mailDir: URL
    let port: Int
    let caFile: String
    let process: Process
    /// Kept open: the sink exits when it closes (also if this process dies).
    let stdin: Pipe

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    static func start() async throws -> SMTPSink {
        let python = "/usr/bin/python3"
        let check = try BINDServer.run(python, ["-c", "import aiosmtpd"])
        guard check.status == 0 else {
            throw Failure("\(python) cannot import aiosmtpd: apt-get install python3-aiosmtpd (see README)\n\(check.err)")
        }
        let dir = URL(fileURLWithPath: "/tmp/balctl-smtp-\(UUID().uuidString)")
        let mailDir = dir.appendingPathComponent("mail")
        try FileManager.default.createDirectory(at: mailDir, withIntermediateDirectories: true)
        let tls = try LocalCA.create(in: dir.appendingPathComponent("tls").path, dnsNames: ["localhost"],
                                     ipAddresses: ["127.0.0.1"])
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("smtp_sink.py").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script, tls.serverCert, tls.serverKey, mailDir.path, user, password]
        let stdin = Pipe()
        p.standardInput = stdin
        _ = FileManager.default.createFile(atPath: dir.appendingPathComponent("sink.log").path, contents: nil)
        let log = try FileHandle(forWritingTo: dir.appendingPathComponent("sink.log"))
        p.standardOutput = log
        p.standardError = log
        try p.run()
        let portFile = mailDir.appendingPathComponent("port.txt").path
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, p.isRunning {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = Int(text) {
                return SMTPSink(dir: dir, mailDir: mailDir, port: port, caFile: tls.caCert, process: p, stdin: stdin)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        p.terminate()
        let output = (try? String(contentsOfFile: dir.appendingPathComponent("sink.log").path, encoding: .utf8)) ?? ""
        throw Failure("the SMTP sink did not start within 20 s:\n\(output)")
    }

    private init(dir: URL, mailDir: URL, port: Int, caFile: String, process: Process, stdin: Pipe) {
        self.dir = dir; self.mailDir = mailDir; self.port = port; self.caFile = caFile; self.process = process
        self.stdin = stdin
    }

    func stop() {
        // Closing stdin ends the sink; SIGTERM (the script unblocks it) is the fallback.
        try? stdin.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning, Date() < deadline { usleep(50_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: dir)
    }

    /// One message as the sink parsed it.
    struct Mail: Decodable, Sendable {
        var mail_from: String
        var rcpt_tos: [String]
        var tls: Bool
        var auth_mechanism: String?
        var from: String
        var to: String
        var subject: String
        var headers: [String: String]
        var body: String
        var raw: String
    }

    /// Every message received so far, oldest first.
    func messages() throws -> [Mail] {
        let names = try FileManager.default.contentsOfDirectory(atPath: mailDir.path)
            .filter { $0.hasSuffix(".json") }.sorted { Int($0.dropLast(5))! < Int($1.dropLast(5))! }
        return try names.map {
            try JSONDecoder().decode(Mail.self, from: Data(contentsOf: mailDir.appendingPathComponent($0)))
        }
    }

    /// The messages to `rcpt` (tests use a distinct recipient each, as the sink serves the suite).
    func messages(to rcpt: String) throws -> [Mail] {
        try messages().filter { $0.rcpt_tos.contains(rcpt) }
    }
}

/// Suite trait: one SMTP sink for the whole suite.
struct SMTPSinkTrait: SuiteTrait, TestScoping {
    func provideScope(for test: Test, testCase: Test.Case?,
                      performing function: @Sendable () async throws -> Void) async throws {
        let sink = try await SMTPSink.start()
        defer { sink.stop() }
        try await SMTPSink.$current.withValue(sink) { try await function() }
    }
}

extension Trait where Self == SMTPSinkTrait {
    static var smtpSink: Self { Self() }
}

extension SMTPSink {
    static func shared() throws -> SMTPSink {
        guard let s = current else { throw Failure("no SMTP sink: the suite needs the .smtpSink trait") }
        return s
    }
}

/// Loopback ports where no SMTP server answers: one refusing connections, one accepting them
/// into the backlog and never answering (a hung server).
enum DeadSMTP {
    /// A port nothing listens on (bound, then closed).
    static func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        guard let port = Loopback.bind(fd, port: 0) else { throw SMTPSink.Failure("no free port") }
        return Int(port)
    }

    /// A listening socket that never accepts: connections complete (the kernel's backlog) and
    /// then hear nothing, not even the greeting. Close the descriptor when done.
    static func blackHole() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard let port = Loopback.bind(fd, port: 0), listen(fd, 16) == 0 else {
            close(fd)
            throw SMTPSink.Failure("cannot listen on loopback")
        }
        return (fd, Int(port))
    }
}
