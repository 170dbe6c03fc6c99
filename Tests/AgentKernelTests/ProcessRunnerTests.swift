import AgentKernel
import Foundation
import Testing

@Suite("ProcessRunner")
struct ProcessRunnerTests {
    let runner = ProcessRunner()

    @Test("exit codes are reported; success means exit 0 without signal or timeout")
    func exitCodes() async throws {
        let ok = try await runner.run("true", [], timeoutSec: 10)
        #expect(ok.exitCode == 0 && ok.signal == nil && !ok.timedOut && ok.succeeded)
        let seven = try await runner.run("sh", ["-c", "exit 7"], timeoutSec: 10)
        #expect(seven.exitCode == 7)
        #expect(seven.signal == nil)
        #expect(!seven.succeeded)
        let f = try await runner.run("/usr/bin/false", [], timeoutSec: 10)
        #expect(f.exitCode == 1)
    }

    @Test("stdout and stderr are captured together, in order")
    func combinedOutput() async throws {
        let r = try await runner.run("sh", ["-c", "echo out; echo err >&2; echo out2"], timeoutSec: 10)
        #expect(r.output == "out\nerr\nout2\n")
    }

    @Test("arguments reach the program literally: no shell expands them")
    func noShell() async throws {
        let args = ["$(id)", "a;b", "*", "x y", "`uname`", "$HOME", "'q'", "|cat"]
        let r = try await runner.run("printf", ["%s\n"] + args, timeoutSec: 10)
        #expect(r.exitCode == 0)
        #expect(r.output == args.map { $0 + "\n" }.joined())
    }

    @Test("stdin is /dev/null, so a program reading it sees end of file at once")
    func stdinIsDevNull() async throws {
        let r = try await runner.run("cat", [], timeoutSec: 5)
        #expect(r.exitCode == 0 && !r.timedOut && r.output.isEmpty)
    }

    @Test("an explicit environment replaces the agent's")
    func environment() async throws {
        let r = try await runner.run("printenv", ["FOO"], environment: ["FOO": "bar baz"], timeoutSec: 10)
        #expect(r.output == "bar baz\n")
        let home = try await runner.run("printenv", ["HOME"], environment: ["FOO": "1"], timeoutSec: 10)
        #expect(home.exitCode == 1 && home.output.isEmpty)
    }

    @Test("output is bounded to maxOutputBytes, keeping the tail and saying how much was dropped")
    func boundedOutput() async throws {
        let limit = 1000
        let small = ProcessRunner(maxOutputBytes: limit)
        let extra = OutputTail(limit: 1 << 20)
        let r = try await small.run("seq", ["1", "100000"], timeoutSec: 30, output: extra)
        let total = (1...100_000).reduce(0) { $0 + String($1).utf8.count + 1 }
        let marker = "[… \(total - limit) earlier bytes dropped]\n"
        #expect(r.exitCode == 0)
        #expect(r.output.hasPrefix(marker))
        let body = r.output.dropFirst(marker.count)
        #expect(body.utf8.count == limit)
        #expect(body.hasSuffix("\n99999\n100000\n"))
        // The caller's own tail saw everything (it is large enough).
        #expect(extra.text.utf8.count == total)
        #expect(extra.text.hasPrefix("1\n2\n3\n"))
    }

    @Test("a deadline stops `sleep 30` quickly and sets timedOut")
    func timeout() async throws {
        let start = monotonic()
        let r = try await runner.run("sleep", ["30"], timeoutSec: 0.5)
        let elapsed = monotonic() - start
        #expect(elapsed >= 0.4 && elapsed < 5, "took \(elapsed)s")
        #expect(r.timedOut)
        #expect(r.signal == SIGTERM)
        #expect(r.exitCode == 128 + SIGTERM)
        #expect(!r.succeeded)
    }

    @Test("the deadline stops the whole process group, not only the direct child")
    func timeoutKillsGroup() async throws {
        let start = monotonic()
        // The background sleep keeps the output pipe open: only a group kill ends the read.
        let r = try await runner.run("sh", ["-c", "sleep 30 & wait"], timeoutSec: 0.5)
        #expect(monotonic() - start < 5)
        #expect(r.timedOut)
    }

    @Test("cancelling the task stops `sleep 30` without calling it a timeout")
    func cancellation() async throws {
        let runner = self.runner
        let task = Task { try await runner.run("sleep", ["30"], timeoutSec: 60) }
        try await Task.sleep(for: .milliseconds(300))
        let start = monotonic()
        task.cancel()
        let r = try await task.value
        #expect(monotonic() - start < 5)
        #expect(!r.timedOut)
        #expect(r.signal == SIGTERM)
        #expect(!r.succeeded)
    }

    @Test("issue 20 item 12: a deadline stops a program whose setsid descendant holds stdout, and kills the descendant")
    func timeoutKillsEscapedDescendant() async throws {
        let tmp = try TempDir()
        let pidFile = tmp.file("escaped.pid")
        let script = #"setsid sh -c 'echo $$ > "$0"; exec sleep 60' "$0" & exec sleep 100"#
        let start = monotonic()
        let r = try await runner.run("sh", ["-c", script, pidFile], timeoutSec: 0.5)
        let elapsed = monotonic() - start
        #expect(r.timedOut)
        #expect(elapsed < 5, "took \(elapsed)s")
        let escaped = try #require(await pidWritten(to: pidFile))
        #expect(await eventually(timeout: 2) { !isAlive(escaped) }, "the escaped descendant \(escaped) still runs")
    }

    @Test("issue 20 item 13: after the deadline a descendant that ignores SIGTERM is SIGKILLed, though the program itself was already reaped")
    func timeoutKillsTermIgnoringDescendant() async throws {
        let tmp = try TempDir()
        let pidFile = tmp.file("stubborn.pid")
        // The descendant does not hold the output pipe: the program's own exit ends the read and
        // it is reaped at once; only the SIGKILL after the grace period can end the descendant.
        let script = #"sh -c 'trap "" TERM; echo $$ > "$0"; exec sleep 60' "$0" >/dev/null 2>&1 & exec sleep 100"#
        let quick = ProcessRunner(graceSec: 1)
        let stubborn = Task { await pidWritten(to: pidFile) }
        let start = monotonic()
        let r = try await quick.run("sh", ["-c", script, pidFile], timeoutSec: 0.5)
        #expect(r.timedOut)
        #expect(r.signal == SIGTERM)
        #expect(monotonic() - start < 5)
        let pid = try #require(await stubborn.value)
        #expect(await eventually(timeout: 2) { !isAlive(pid) }, "the TERM-ignoring descendant \(pid) still runs")
    }

    @Test("issue 20 item 12: after a deadline reading stops, even while a descendant the runner cannot find (environment cleared, parent gone) holds stdout")
    func timeoutStopsReadingFromAnUnfoundDescendant() async throws {
        let tmp = try TempDir()
        let pidFile = tmp.file("hidden.pid")
        // The subshell exits at once, so the descendant is reparented away before the deadline.
        let script = #"(env -i setsid sh -c 'echo $$ > "$0"; exec sleep 60' "$0" &); exec sleep 100"#
        let start = monotonic()
        let r = try await runner.run("sh", ["-c", script, pidFile], timeoutSec: 0.5)
        let elapsed = monotonic() - start
        let hidden = await pidWritten(to: pidFile)
        #expect(r.timedOut)
        #expect(elapsed < 6, "took \(elapsed)s")
        #expect(hidden.map(isAlive) == true, "the descendant was found after all: this test no longer tests reading")
        if let hidden { kill(hidden, SIGKILL) }
    }

    @Test("issue 20 item 12: a program that exits leaving a daemon on its stdout returns once drained; the daemon is left alone")
    func exitWithDaemonHoldingStdout() async throws {
        let tmp = try TempDir()
        let pidFile = tmp.file("daemon.pid")
        let script = #"setsid sh -c 'echo $$ > "$0"; exec sleep 30' "$0" & echo started"#
        let start = monotonic()
        let r = try await runner.run("sh", ["-c", script, pidFile], timeoutSec: 60)
        #expect(monotonic() - start < 5)
        #expect(r.exitCode == 0 && !r.timedOut)
        #expect(r.output == "started\n")
        let daemon = try #require(await pidWritten(to: pidFile))
        #expect(isAlive(daemon))
        kill(daemon, SIGKILL)
    }

    @Test("issue 20 item 15: a spawned program holds no descriptor but 0–2, whatever the agent has open")
    func noInheritedDescriptors() async throws {
        // Opened without O_CLOEXEC on purpose: the spawn itself must not pass them on.
        let file = open("/etc/hostname", O_RDONLY)
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(file); close(sock) }
        #expect(file > 2 && sock > 2)
        let r = try await runner.run("sh", ["-c", #"ls /proc/$$/fd"#], timeoutSec: 10)
        #expect(r.exitCode == 0)
        #expect(r.output == "0\n1\n2\n")
    }

    // Red team finding (session 3): the enrollment secret reached every child — and, through a
    // haproxy a takeover reload started, anyone who could send `show env` to its admin socket.
    @Test("children never see the agent's BALCTL_* settings (the enrollment secret above all), inherited or passed")
    func noAgentSettingsInChildren() async throws {
        let name = "BALCTL_ENROLLMENT_SECRET"
        let old = getenv(name).map { String(cString: $0) }
        setenv(name, "0123456789abcdef0123456789abcdef0123456789abcdef", 1)
        defer { if let old { setenv(name, old, 1) } else { unsetenv(name) } }
        let inherited = try await runner.run("env", [], timeoutSec: 10)
        #expect(inherited.exitCode == 0)
        #expect(!inherited.output.contains("0123456789abcdef"))
        #expect(inherited.output.contains("PATH="))  // the rest of the environment is still there
        let passed = try await runner.run("env", [], environment: ["PATH": "/usr/bin:/bin", name: "s3cret", "BALCTL_API_BASE": "https://x", "LANG": "C"],
                                          timeoutSec: 10)
        #expect(passed.output.contains("LANG=C\n") && passed.output.contains("PATH=/usr/bin:/bin\n"))
        #expect(!passed.output.contains("s3cret") && !passed.output.contains("BALCTL_API_BASE"))
    }

    @Test("issue 20 item 18: a huge or non-finite deadline is clamped, not a crash",
          arguments: [Double(Int.max), .infinity])
    func hugeDeadline(_ timeout: Double) async throws {
        let r = try await runner.run("true", [], timeoutSec: timeout)
        #expect(r.exitCode == 0)
    }

    @Test("a missing executable throws", arguments: ["/nonexistent/balctl-no-such-tool", "balctl-no-such-tool-xyz"])
    func missingExecutable(_ exe: String) async {
        let e = await #expect(throws: ProcessError.self) {
            _ = try await runner.run(exe, [], timeoutSec: 5)
        }
        #expect(e?.message.contains(exe) == true)
    }
}

@Suite("OutputTail")
struct OutputTailTests {
    @Test("under the limit everything is kept, unmarked")
    func underLimit() {
        let t = OutputTail(limit: 10)
        t.append("abc")
        t.append(Array("def".utf8))
        #expect(t.text == "abcdef")
        let exact = OutputTail(limit: 3)
        exact.append("xyz")
        #expect(exact.text == "xyz")
    }

    @Test("over the limit only the last bytes are kept, with the dropped count")
    func overLimit() {
        let t = OutputTail(limit: 10)
        t.append("0123456789ABCDEFGHIJKLMNO")  // 25 bytes
        #expect(t.text == "[… 15 earlier bytes dropped]\nFGHIJKLMNO")
    }

    @Test("many small appends keep an exact count of dropped bytes")
    func manyAppends() {
        let t = OutputTail(limit: 10)
        var all = ""
        for i in 0..<1000 {
            let s = String(i % 10)
            all += s
            t.append(s)
        }
        #expect(t.text == "[… 990 earlier bytes dropped]\n" + String(all.suffix(10)))
    }

    @Test("the tail never starts in the middle of a UTF-8 sequence")
    func utf8Boundary() {
        let t = OutputTail(limit: 4)
        t.append("aé€")  // 1 + 2 + 3 bytes; the last 4 start inside "é"
        #expect(t.text == "[… 3 earlier bytes dropped]\n€")
    }
}
