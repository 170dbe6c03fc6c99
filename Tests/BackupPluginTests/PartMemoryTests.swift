import AgentKernel
import BalctlProtocol
import CurlClient
import Foundation
import Testing
@testable import BackupPlugin

/// The memory bound of snapshot creation: a sent part's pages leave the process, a part someone
/// still shares is never touched, and the cutter holds at most one part and a quarter while a
/// part travels.
struct PartMemoryTests {
    /// Pages of `bytes`' storage that are resident, by mincore(2).
    static func residentPages(_ buffer: PartBuffer, count: Int) -> Int {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        return buffer.bytes.withUnsafeBufferPointer { p -> Int in
            let base = Int(bitPattern: p.baseAddress!)
            let start = (base + page - 1) & ~(page - 1)
            let end = (base + count) & ~(page - 1)
            var vec = [UInt8](repeating: 0, count: (end - start) / page)
            guard mincore(UnsafeMutableRawPointer(bitPattern: start), end - start, &vec) == 0 else { return -1 }
            return vec.filter { $0 & 1 == 1 }.count
        }
    }

    @Test func releasedPagesLeaveTheProcessAndTheBufferIsReused() throws {
        let size = 4 << 20
        let buffer = PartBuffer(capacity: size)
        buffer.bytes.append(contentsOf: repeatElement(0x5a, count: size))
        let before = Self.residentPages(buffer, count: size)
        #expect(before > (size / 4096) * 9 / 10)
        let capacity = buffer.bytes.capacity
        buffer.releasePages()
        #expect(buffer.bytes.isEmpty)
        #expect(buffer.bytes.capacity == capacity)
        // The capacity is still addressable: count the pages of the whole allocation.
        let after = Self.residentPages(buffer, count: size)
        #expect(after >= 0 && after <= 2, "resident pages after release: \(after) of \(size / 4096)")
        // Filled again, it reads back what was written (released pages come back as zeros).
        buffer.bytes.append(contentsOf: repeatElement(0x33, count: size))
        #expect(buffer.bytes.allSatisfy { $0 == 0x33 })
    }

    @Test func aPartSomeoneStillHoldsIsNotDropped() {
        let size = 1 << 20
        let buffer = PartBuffer(capacity: size)
        buffer.bytes.append(contentsOf: (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let kept = buffer.bytes  // shares the storage, as a caller that keeps the body would
        buffer.releasePages()
        #expect(kept.count == size)
        #expect(kept.enumerated().allSatisfy { $0.element == UInt8(truncatingIfNeeded: $0.offset &* 31) })
    }

    /// A control plane whose part uploads wait until the test lets them go.
    final class HeldChannel: ControlPlaneChannel, @unchecked Sendable {
        let gate = DispatchSemaphore(value: 0)
        let sent = Locked(0)
        func send(_ method: String, _ path: String, headers: [(String, String)], body: [UInt8]?) throws -> HTTPResponse {
            gate.wait()
            gate.signal()
            sent.withLock { $0 += 1 }
            return HTTPResponse(status: 200, body: Array(#"{"index":0,"size":1,"sha256":"x"}"#.utf8))
        }
    }

    @Test func theCutterWaitsAQuarterIntoTheNextPartWhileOneTravels() throws {
        let channel = HeldChannel()
        let pipeline = PartPipeline(transfer: SnapshotTransfer(channel: channel, retryWindowSec: 1), snapshotID: "s",
                                    existing: SnapshotBeginReply(snapshotId: "s", data: [], manifest: []))
        let partBytes = 64 << 10
        let cutter = PartCutter(kind: "data", partBytes: partBytes, pipeline: pipeline)
        // Handed to one writer thread, read here only after it is done.
        final class Writer: @unchecked Sendable { let cutter: PartCutter; init(_ c: PartCutter) { cutter = c } }
        let writer = Writer(cutter)
        let written = Locked<Int64>(0)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let chunk = [UInt8](repeating: 1, count: 4096)
            for _ in 0..<(3 * partBytes / 4096) {
                try? writer.cutter.append(chunk)
                written.withLock { $0 = writer.cutter.total }
            }
            done.signal()
        }
        // The first part is in flight (held): the writer stops after a part and a quarter.
        let bound = Int64(partBytes + partBytes / 4)
        let deadline = Date().addingTimeInterval(10)
        while written.value < bound - 4096 && Date() < deadline { usleep(10_000) }
        usleep(200_000)
        #expect(written.value <= bound, "wrote \(written.value) bytes while the first part was held; bound \(bound)")
        #expect(done.wait(timeout: .now()) == .timedOut)
        channel.gate.signal()
        #expect(done.wait(timeout: .now() + 10) == .success)
        try cutter.flush()
        _ = try pipeline.finish()
        #expect(channel.sent.value == 3)
    }
}
