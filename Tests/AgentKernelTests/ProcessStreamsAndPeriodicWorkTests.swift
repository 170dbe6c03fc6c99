#if canImport(Glibc)
import Glibc
#endif
import AgentKernel
import Foundation
import Testing

/// The two seams the MariaDB plugin added: a program's stdin/stdout handed over as descriptors
/// (a stream that must not pass through the bounded output tail), and a plugin's periodic work.
@Suite struct ProcessStreamsAndPeriodicWorkTests {
    static func isOpen(_ fd: Int32) -> Bool { fcntl(fd, F_GETFD) != -1 }

    @Test func stdinAndStdoutAreHandedOverAndClosedByTheRunner() async throws {
        let (inRead, inWrite) = try SpawnSupport.closeOnExecPipe()
        let (outRead, outWrite) = try SpawnSupport.closeOnExecPipe()
        // 200 KB through `cat`: more than a pipe holds, so both sides must really stream.
        let payload = [UInt8]((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let writer = Task.detached {
            var sent = 0
            while sent < payload.count {
                let n = payload.withUnsafeBytes { write(inWrite, $0.baseAddress! + sent, payload.count - sent) }
                if n <= 0 { break }
                sent += n
            }
            close(inWrite)
            return sent
        }
        let reader = Task.detached { () -> [UInt8] in
            var out: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(outRead, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                out += buffer[0..<n]
            }
            close(outRead)
            return out
        }
        let tail = OutputTail(limit: 1024)
        let r = try await ProcessRunner().run("/bin/sh", ["-c", "cat; echo done >&2"], timeoutSec: 30, output: tail, stdin: inRead, stdout: outWrite)
        #expect(r.succeeded)
        #expect(await writer.value == payload.count)
        // The reader saw end-of-file: the runner closed its copy of the write end.
        #expect(await reader.value == payload)
        #expect(!Self.isOpen(inRead) && !Self.isOpen(outWrite))
        // stderr is still captured; stdout did not pass through the tail.
        #expect(r.output == "done\n")
        #expect(tail.text == "done\n")
    }

    @Test func handedOverDescriptorsAreClosedWhenTheSpawnFails() async throws {
        let (readEnd, writeEnd) = try SpawnSupport.closeOnExecPipe()
        await #expect(throws: ProcessError.self) {
            try await ProcessRunner().run("/nonexistent/program", [], timeoutSec: 5, stdout: writeEnd)
        }
        #expect(!Self.isOpen(writeEnd))
        var byte: UInt8 = 0
        #expect(read(readEnd, &byte, 1) == 0, "end-of-file: no write end is left open")
        close(readEnd)
    }

    @Test func periodicWorkRepeatsUntilCancelled() async throws {
        let count = Locked(0)
        let work = PeriodicWork(name: "test", intervalSec: 0.1) { count.withLock { $0 += 1 } }
        let task = Task { await work.loop() }
        let deadline = Date().addingTimeInterval(10)
        while count.value < 3 && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(count.value >= 3)
        task.cancel()
        await task.value
        let stopped = count.value
        try await Task.sleep(for: .milliseconds(300))
        #expect(count.value == stopped, "no run after cancellation")
    }
}
