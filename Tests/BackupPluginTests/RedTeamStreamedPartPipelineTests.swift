import AgentKernel
import BalctlProtocol
import CurlClient
import Foundation
import Testing
@testable import BackupPlugin

/// Red team of commit 98ea811, agent side: a hostile or failing control plane against the
/// streaming part pipeline (writer thread + upload thread sharing a PartBuffer). Held tests: no
/// loop without end, no deadlock between the threads, bounded time.
@Suite("Backups: red team, streamed part pipeline", .timeLimit(.minutes(2)))
struct RedTeamStreamedPartPipelineTests {
    final class Hostile: ControlPlaneChannel, @unchecked Sendable {
        let calls = Locked(0)
        /// What every part PUT gets (after its body is read whole, or `stream` decides).
        let answer: (_ path: String, _ body: [UInt8], _ headers: [(String, String)]) throws -> HTTPResponse
        /// Bytes a streamed PUT reads before it fails as a broken connection (nil: reads all).
        let breakStreamAfter: Int?
        init(breakStreamAfter: Int? = nil, answer: @escaping (String, [UInt8], [(String, String)]) throws -> HTTPResponse) {
            self.answer = answer; self.breakStreamAfter = breakStreamAfter
        }
        func send(_ method: String, _ path: String, headers: [(String, String)], body: [UInt8]?) throws -> HTTPResponse {
            calls.withLock { $0 += 1 }
            return try answer(path, body ?? [], headers)
        }
        func stream(_ method: String, _ path: String, headers: [(String, String)],
                    body: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) throws -> HTTPResponse {
            calls.withLock { $0 += 1 }
            var bytes: [UInt8] = []
            let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 << 10, alignment: 16)
            defer { chunk.deallocate() }
            while true {
                if let n = breakStreamAfter, bytes.count >= n { throw HTTPClientError("connection reset (test)", isTransient: true) }
                let n = try body(chunk)
                if n == 0 { break }
                bytes.append(contentsOf: chunk[0..<n])
            }
            return try answer(path, bytes, headers)
        }
    }

    static func stored(_ path: String, _ bytes: [UInt8]) -> HTTPResponse {
        let part = SnapshotPart(index: Int(path.split(separator: "/").last!)!, size: Int64(bytes.count), sha256: SHA256Stream.hex(bytes))
        return HTTPResponse(status: 200, body: Array(try! JSONEncoder().encode(part)))
    }

    /// Writes `parts` parts' worth through a cutter on a thread of its own; throws what append throws.
    static func write(_ cutter: PartCutter, bytes: Int, failAt: Int? = nil) -> (DispatchSemaphore, Locked<String?>) {
        final class Box: @unchecked Sendable { let c: PartCutter; init(_ c: PartCutter) { self.c = c } }
        let box = Box(cutter)
        let done = DispatchSemaphore(value: 0)
        let failure = Locked<String?>(nil)
        Thread.detachNewThread {
            defer { done.signal() }
            let chunk = [UInt8](repeating: 5, count: 4096)
            var written = 0
            do {
                while written < bytes {
                    if let failAt, written >= failAt { throw JobFailure("writer failed (test)") }
                    try box.c.append(chunk)
                    written += chunk.count
                }
                try box.c.flush()
            } catch { failure.withLock { $0 = "\(error)" } }
        }
        return (done, failure)
    }

    @Test("H6: a control plane answering every part 200 with another hash: the pipeline gives up within its retry window")
    func h6EndlessMismatchIsBounded() throws {
        let channel = Hostile { path, _, _ in
            HTTPResponse(status: 200, body: Array(try JSONEncoder().encode(SnapshotPart(index: Int(path.split(separator: "/").last!)!, size: 1, sha256: String(repeating: "0", count: 64)))))
        }
        let pipeline = PartPipeline(transfer: SnapshotTransfer(channel: channel, retryWindowSec: 1), snapshotID: "s", kind: "data", streaming: true, existing: [])
        let cutter = PartCutter(partBytes: 64 << 10, pipeline: pipeline)
        let started = Date()
        let (done, _) = Self.write(cutter, bytes: 3 * (64 << 10))
        #expect(done.wait(timeout: .now() + 20) == .success, "the writer is stuck")
        #expect(throws: (any Error).self) { _ = try pipeline.finish() }
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(channel.calls.value < 20, "\(channel.calls.value) tries")
    }

    @Test("H7: the writer fails while a part's first try broke and its whole retry waits for the seal: abandoning ends it")
    func h7WriterFailsDuringWholeRetry() throws {
        let channel = Hostile(breakStreamAfter: 8 << 10) { path, bytes, _ in Self.stored(path, bytes) }
        let pipeline = PartPipeline(transfer: SnapshotTransfer(channel: channel, retryWindowSec: 5), snapshotID: "s", kind: "data", streaming: true, existing: [])
        let cutter = PartCutter(partBytes: 256 << 10, pipeline: pipeline)
        let (done, error) = Self.write(cutter, bytes: 1 << 20, failAt: 100 << 10)
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(error.value?.contains("writer failed") == true)
        let finished = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            pipeline.abandonOpenParts()
            _ = try? pipeline.finish()
            finished.signal()
        }
        #expect(finished.wait(timeout: .now() + 10) == .success, "finish() deadlocked after the writer failed")
    }

    @Test("H8: part 0 fails for good (507) while the writer is a quarter into part 1: the writer stops at its next part, nothing hangs")
    func h8FailureWhileTheWriterWaits() throws {
        let channel = Hostile { path, bytes, _ in
            if path.hasSuffix("/0") { usleep(300_000); return HTTPResponse(status: 507, body: Array(#"{"error":"backup quota exceeded"}"#.utf8)) }
            return Self.stored(path, bytes)
        }
        let pipeline = PartPipeline(transfer: SnapshotTransfer(channel: channel, retryWindowSec: 5), snapshotID: "s", kind: "data", streaming: true, existing: [])
        let cutter = PartCutter(partBytes: 64 << 10, pipeline: pipeline)
        let (done, error) = Self.write(cutter, bytes: 2 << 20)
        #expect(done.wait(timeout: .now() + 10) == .success, "the writer is stuck")
        #expect(error.value?.contains("507") == true, "\(String(describing: error.value))")
        pipeline.abandonOpenParts()
        #expect(throws: (any Error).self) { _ = try pipeline.finish() }
        #expect(channel.calls.value <= 3, "\(channel.calls.value) part uploads after a final 507")
    }
}
