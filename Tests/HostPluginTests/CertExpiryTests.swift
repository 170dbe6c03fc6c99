import AgentKernel
import BalctlProtocol
import Foundation
import HostPlugin
import Testing
import TestSupport

/// Runs a handler the way the job runner does: decode + validate, then run.
func runHost<H: CommandHandler>(_ handler: H, _ params: JSONValue, checkMode: Bool = false) async throws -> (JobOutcome, String) {
    let out = OutputTail(limit: 64 * 1024)
    let ctx = JobContext(jobID: 1, attempt: 1, command: H.id, checkMode: checkMode, timeoutSec: 60,
                         output: out, processes: ProcessRunner(), host: HostProbe(), progress: { _, _ in })
    let p = try H.decodeParameters(params)
    return (try await handler.run(p, in: ctx), out.text)
}

func hostJobError<H: CommandHandler>(_ handler: H, _ params: JSONValue, checkMode: Bool = false) async -> String? {
    do { _ = try await runHost(handler, params, checkMode: checkMode); return nil } catch { return String(describing: error) }
}

/// The injection strings every parameter must refuse before anything runs.
let injectionStrings = ["22; rm -rf /", "$(id)", "a\nb", "--", "-rf", "`id`", "a|b", "a&b"]

func tempDir() -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("host-\(UUID().uuidString)").path
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

@Suite("host.cert_expiry")
struct CertExpiryTests {
    static let pem = TestCertificate.pem
    static let notAfter = TestCertificate.notAfter

    @Test("days left for a file and a directory; unreadable paths reported, not fatal")
    func daysLeft() async throws {
        let dir = tempDir()
        try Self.pem.write(toFile: dir + "/site.pem", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: dir + "/crt", withIntermediateDirectories: true)
        try Self.pem.write(toFile: dir + "/crt/a.pem", atomically: true, encoding: .utf8)
        try "key".write(toFile: dir + "/crt/a.pem.key", atomically: true, encoding: .utf8)
        let handler = CertExpiryHandler(now: { Self.notAfter - 10 * 86_400 - 5 })
        let (outcome, log) = try await runHost(handler, .object(["paths": .array([
            .string(dir + "/site.pem"), .string(dir + "/crt"), .string(dir + "/missing.pem")])]))
        #expect(outcome.changed == false)
        guard case .object(let r)? = outcome.result, case .array(let certs)? = r["certificates"] else {
            Issue.record("no result"); return
        }
        #expect(certs.count == 3)
        #expect(certs[0] == .object(["path": .string(dir + "/site.pem"), "notAfter": .number(Self.notAfter),
                                      "daysLeft": .number(10), "expired": .bool(false)]))
        if case .object(let second) = certs[1] { #expect(second["path"] == .string(dir + "/crt/a.pem")) }
        if case .object(let third) = certs[2] { #expect(third["error"] != nil && third["daysLeft"] == nil) }
        #expect(r["soonestDays"] == .number(10))
        #expect(outcome.summary.contains("2 certificates; soonest expires in 10 days") && outcome.summary.contains("1 unreadable"))
        #expect(log.contains("site.pem: 10 days left"))
    }

    struct Source: CertificateSource {
        let name: String
        let paths: [String]
        func certificatePaths() -> [String] { paths }
    }

    @Test("without paths: every certificate the stacks' plugins name (CertificateSource), relative ones and repeats dropped")
    func fromStacks() async throws {
        let dir = tempDir()
        try Self.pem.write(toFile: dir + "/site.pem", atomically: true, encoding: .utf8)
        let out = OutputTail(limit: 64 * 1024)
        let ctx = JobContext(jobID: 1, attempt: 1, command: CertExpiryHandler.id, checkMode: false, timeoutSec: 60,
                             output: out, processes: ProcessRunner(), host: HostProbe(),
                             certificateSources: [Source(name: "haproxy", paths: [dir + "/site.pem", "relative.pem", dir + "/site.pem"]),
                                                  Source(name: "other", paths: [])],
                             progress: { _, _ in })
        let handler = CertExpiryHandler(now: { Self.notAfter - 3 * 86_400 - 5 })
        let outcome = try await handler.run(try CertExpiryHandler.decodeParameters(.emptyObject), in: ctx)
        guard case .object(let r)? = outcome.result, case .array(let certs)? = r["certificates"] else {
            Issue.record("no result"); return
        }
        #expect(certs.count == 1)
        #expect(r["soonestDays"] == .number(3) && r["soonestPath"] == .string(dir + "/site.pem"))
        #expect(out.text.contains("haproxy: \(dir)/site.pem"))
        // Sources that name nothing: a clear failure naming the stacks asked.
        let none = JobContext(jobID: 1, attempt: 1, command: CertExpiryHandler.id, checkMode: false, timeoutSec: 60,
                              output: out, processes: ProcessRunner(), host: HostProbe(),
                              certificateSources: [Source(name: "haproxy", paths: [])], progress: { _, _ in })
        await #expect(throws: JobFailure.self) { _ = try await handler.run(try CertExpiryHandler.decodeParameters(.emptyObject), in: none) }
        do { _ = try await handler.run(try CertExpiryHandler.decodeParameters(.emptyObject), in: none) } catch {
            #expect("\(error)" == "no paths given and no stack on this host names a certificate (asked: haproxy)")
        }
    }

    @Test("an expired certificate gives negative days and expired: true")
    func expired() async throws {
        let dir = tempDir()
        try Self.pem.write(toFile: dir + "/old.pem", atomically: true, encoding: .utf8)
        let (outcome, _) = try await runHost(CertExpiryHandler(now: { Self.notAfter + 86_400 * 2 + 1 }),
                                             .object(["paths": .array([.string(dir + "/old.pem")])]))
        guard case .object(let r)? = outcome.result, case .array(let certs)? = r["certificates"],
              case .object(let c) = certs[0] else { Issue.record("no result"); return }
        #expect(c["daysLeft"] == .number(-3) && c["expired"] == .bool(true))
    }

    @Test("nothing readable fails the job; a non-certificate file is named")
    func noneReadable() async throws {
        let dir = tempDir()
        try "hello".write(toFile: dir + "/x.pem", atomically: true, encoding: .utf8)
        let e = await hostJobError(CertExpiryHandler(), .object(["paths": .array([.string(dir + "/x.pem")])]))
        #expect(e == "no certificate could be read (1 path failed)")
        #expect(await hostJobError(CertExpiryHandler(), .object(["paths": .array([.string(dir + "/x.pem")])]), checkMode: true)
                == "no certificate could be read (1 path failed)")
    }

    @Test("parameters: missing, empty, too many, relative, injection strings, '..' are refused")
    func refused() async {
        let h = CertExpiryHandler()
        func err(_ v: JSONValue) async -> String? { await hostJobError(h, v) }
        #expect(await err(.emptyObject) == "no paths given and no stack on this host names a certificate")
        #expect(await err(.object(["paths": .array([])]))?.hasPrefix("host.cert_expiry: paths: give at least one absolute path") == true)
        let many = JSONValue.array((0...64).map { .string("/etc/c\($0).pem") })
        #expect(await err(.object(["paths": many])) == "host.cert_expiry: paths: at most 64")
        #expect(await err(.object(["paths": .array([.string("etc/x.pem")])])) == "host.cert_expiry: paths: 'etc/x.pem' is not an absolute path")
        #expect(await err(.object(["paths": .array([.string("/etc/../x.pem")])])) == "host.cert_expiry: paths: '/etc/../x.pem' has a '..' component")
        #expect(await err(.object(["paths": .string("/etc/x.pem")]))?.hasPrefix("host.cert_expiry: wrong type at paths") == true)
        #expect(await err(.object(["paths": .array([.string("/a")]), "all": .bool(true)]))?.contains("unexpected parameter 'all'") == true)
        for bad in injectionStrings {
            for value in [bad, "/etc/ssl/" + bad] {
                let e = await err(.object(["paths": .array([.string("/etc/ok.pem"), .string(value)])]))
                #expect(e?.hasPrefix("host.cert_expiry: paths: ") == true, "\(value): \(String(describing: e))")
            }
        }
    }
}
