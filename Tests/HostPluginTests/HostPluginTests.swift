import AgentKernel
import BalctlProtocol
import Foundation
import HostPlugin
import Synchronization
import Testing

/// Collects progress calls a handler makes.
final class ProgressLog: Sendable {
    private let calls = Mutex<[(String?, Double?)]>([])
    func add(_ m: String?, _ p: Double?) { calls.withLock { $0.append((m, p)) } }
    var all: [(String?, Double?)] { calls.withLock { $0 } }
}

func makeContext(host: HostProbe = HostProbe(), progress: ProgressLog = ProgressLog(),
                 command: String = "host.echo") -> JobContext {
    JobContext(jobID: 1, attempt: 1, command: command, checkMode: false, timeoutSec: 60,
               output: OutputTail(limit: 64 * 1024), processes: ProcessRunner(), host: host,
               progress: { m, p in progress.add(m, p) })
}

func parameterError(_ body: () throws -> Void) -> String? {
    do { try body(); return nil } catch let e as ParameterError { return e.message } catch { return "unexpected \(error)" }
}

@Suite("EchoHandler")
struct EchoHandlerTests {
    func decode(_ params: JSONValue) throws -> EchoHandler.Parameters {
        try EchoHandler.decodeParameters(params)
    }

    @Test("valid parameters decode")
    func valid() throws {
        let p = try decode(.object(["message": .string("hello"), "delaySeconds": .number(2.5), "fail": .bool(false)]))
        #expect(p.message == "hello")
        #expect(p.delaySeconds == 2.5)
        #expect(p.fail == false)
        let minimal = try decode(.object(["message": .string("")]))
        #expect(minimal.delaySeconds == nil && minimal.fail == nil)
        #expect(try decode(.object(["message": .string(String(repeating: "x", count: 4096))])).message.utf8.count == 4096)
        #expect(try decode(.object(["message": .string("m"), "delaySeconds": .number(0)])).delaySeconds == 0)
        #expect(try decode(.object(["message": .string("m"), "delaySeconds": .number(3600)])).delaySeconds == 3600)
    }

    @Test("messages over 4096 bytes are refused, counting bytes not characters")
    func tooLong() {
        let ascii = parameterError { _ = try decode(.object(["message": .string(String(repeating: "x", count: 4097))])) }
        #expect(ascii == "host.echo: message: at most 4096 bytes")
        // 2049 × "é" is 2049 characters but 4098 bytes.
        let multibyte = parameterError { _ = try decode(.object(["message": .string(String(repeating: "é", count: 2049))])) }
        #expect(multibyte == "host.echo: message: at most 4096 bytes")
    }

    @Test("NUL in the message is refused")
    func nul() {
        #expect(parameterError { _ = try decode(.object(["message": .string("a\u{0}b")])) }
                == "host.echo: message: NUL is not allowed")
    }

    @Test("delaySeconds outside 0–3600 is refused", arguments: [-1, -0.001, 3600.5, 3601, 1e9])
    func delayOutOfRange(_ delay: Double) {
        let e = parameterError { _ = try decode(.object(["message": .string("m"), "delaySeconds": .number(delay)])) }
        #expect(e == "host.echo: delaySeconds: must be between 0 and 3600")
    }

    @Test("wrong types and missing keys are refused with the field named", arguments: [
        (JSONValue.object(["message": .number(5)]), "host.echo: wrong type at message"),
        (.object(["message": .bool(true)]), "host.echo: wrong type at message"),
        (.object(["message": .string("m"), "delaySeconds": .string("5")]), "host.echo: wrong type at delaySeconds"),
        (.object(["message": .string("m"), "fail": .string("yes")]), "host.echo: wrong type at fail"),
        (.object(["message": .null]), "host.echo: null at message"),
        (.emptyObject, "host.echo: missing key 'message'"),
        (.null, "host.echo: missing key 'message'"),
        (.array([.string("m")]), "host.echo: wrong type"),
        (.string("m"), "host.echo: wrong type"),
    ])
    func wrongTypes(_ params: JSONValue, _ prefix: String) {
        let e = parameterError { _ = try decode(params) }
        #expect(e?.hasPrefix(prefix) == true, "got \(String(describing: e))")
    }

    @Test("running echoes the message: unchanged, result.message, the message in the output")
    func runs() async throws {
        let ctx = makeContext()
        let outcome = try await EchoHandler().run(try decode(.object(["message": .string("ping 123")])), in: ctx)
        #expect(outcome.changed == false)
        #expect(outcome.result == .object(["message": .string("ping 123")]))
        #expect(outcome.summary == "echoed 8 bytes")
        #expect(ctx.output.text == "ping 123\n")
    }

    @Test("a delay waits at least that long and reports progress")
    func delay() async throws {
        let progress = ProgressLog()
        let ctx = makeContext(progress: progress)
        let start = Date()
        let outcome = try await EchoHandler().run(
            try decode(.object(["message": .string("late"), "delaySeconds": .number(1.2)])), in: ctx)
        let elapsed = Date().timeIntervalSince(start)
        #expect(elapsed >= 1.2 && elapsed < 5, "took \(elapsed)s")
        #expect(outcome.result?["message"]?.stringValue == "late")
        let calls = progress.all
        #expect(calls.count >= 2)  // at 0 s and again after about a second
        #expect(calls.allSatisfy { $0.0 == "waiting" })
        #expect(calls.first?.1 == 0)
        #expect(calls.compactMap(\.1).allSatisfy { (0...100).contains($0) })
    }

    @Test("a delayed echo stops when its task is cancelled")
    func delayCancelled() async throws {
        let params = try decode(.object(["message": .string("never"), "delaySeconds": .number(30)]))
        let ctx = makeContext()
        let task = Task { try await EchoHandler().run(params, in: ctx) }
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        #expect(!ctx.output.text.contains("never"))
    }

    @Test("fail: true throws a JobFailure with exit code 1, after logging the message")
    func failTrue() async throws {
        let ctx = makeContext()
        let params = try decode(.object(["message": .string("boom"), "fail": .bool(true)]))
        let e = await #expect(throws: JobFailure.self) { _ = try await EchoHandler().run(params, in: ctx) }
        #expect(e?.exitCode == 1)
        #expect(e?.message.contains("fail: true") == true)
        #expect(ctx.output.text == "boom\n")
    }
}

@Suite("CollectFactsHandler")
struct CollectFactsTests {
    @Test("facts come from the host probe and uname")
    func facts() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-hpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("proc"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\nPRETTY_NAME=\"Rocky Linux 9.4\"\n".utf8)
            .write(to: dir.appendingPathComponent("os-release"))
        try Data("MemTotal: 2048 kB\nMemAvailable: 1024 kB\n".utf8).write(to: dir.appendingPathComponent("proc/meminfo"))
        try Data("321.5 100.0\n".utf8).write(to: dir.appendingPathComponent("proc/uptime"))
        try Data("0.25 0.50 0.75 1/1 1\n".utf8).write(to: dir.appendingPathComponent("proc/loadavg"))
        let probe = HostProbe(procRoot: dir.appendingPathComponent("proc").path,
                              osReleasePath: dir.appendingPathComponent("os-release").path)
        let ctx = makeContext(host: probe, command: "host.collect_facts")

        let outcome = try await CollectFactsHandler().run(NoParameters(), in: ctx)

        #expect(outcome.changed == false)
        let facts = try #require(outcome.result)
        let release = try String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(facts["kernel"]?.stringValue == release)
        let uname = try #require(facts["uname"]?.stringValue)
        #expect(uname.hasPrefix("Linux "))
        #expect(uname.contains(release))
        #expect(!uname.hasSuffix("\n"))
        #expect(facts["osFamily"]?.stringValue == "rhel")
        #expect(facts["osId"]?.stringValue == "rocky")
        #expect(facts["osVersion"]?.stringValue == "9.4")
        #expect(facts["osPretty"]?.stringValue == "Rocky Linux 9.4")
        #expect(facts["memoryTotalBytes"]?.doubleValue == Double(2048 * 1024))
        #expect(facts["memoryAvailableBytes"]?.doubleValue == Double(1024 * 1024))
        #expect(facts["uptimeSec"]?.doubleValue == 321.5)
        #expect(facts["load"] == .array([.number(0.25), .number(0.5), .number(0.75)]))
        #expect(facts["hostname"]?.stringValue == HostProbe.systemHostname())
        #expect(outcome.summary == "Rocky Linux 9.4, kernel \(release)")
        // uname ran through the job's process runner, so its output is in the job output too.
        #expect(ctx.output.text.contains(release))
    }

    @Test("it declares check-mode support and no lock")
    func declaration() {
        #expect(CollectFactsHandler.id == "host.collect_facts")
        #expect(CollectFactsHandler.supportsCheckMode)
        #expect(CollectFactsHandler.lock == nil)
        #expect(!CollectFactsHandler.requiresRoot)
    }
}

@Suite("NoParameters")
struct NoParametersTests {
    @Test("an empty object or no parameters at all is accepted")
    func accepts() throws {
        _ = try CollectFactsHandler.decodeParameters(.emptyObject)
        _ = try CollectFactsHandler.decodeParameters(.null)
    }

    @Test("any key is refused, and named")
    func refusesKeys() {
        let e = parameterError { _ = try CollectFactsHandler.decodeParameters(.object(["verbose": .bool(true)])) }
        #expect(e == "host.collect_facts: unexpected parameter 'verbose': this command takes none")
    }

    @Test("NoParameters encodes as an empty object")
    func encodes() throws {
        #expect(try JSONValue.from(NoParameters()) == .emptyObject)
    }
}
