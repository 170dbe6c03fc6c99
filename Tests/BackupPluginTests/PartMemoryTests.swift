import AgentKernel
import BalctlProtocol
import CurlClient
import Foundation
import Testing
@testable import BackupPlugin

/// The memory bound of snapshot creation and the part buffer's hand-over: a sent part's pages
/// leave the process, a reader streams a part while it is written and sees its end only once it
/// is sealed, and the cutter holds at most one part and a quarter while a part is unanswered.
struct PartMemoryTests {
    /// Pages of the buffer's mapping that are resident, by mincore(2).
    static func residentPages(_ buffer: PartBuffer, count: Int) -> Int {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var vec = [UInt8](repeating: 0, count: (count + page - 1) / page)
        guard mincore(buffer.base, count, &vec) == 0 else { return -1 }
        return vec.filter { $0 & 1 == 1 }.count
    }

    static func fill(_ buffer: PartBuffer, _ byte: UInt8, count: Int) {
        let chunk = [UInt8](repeating: byte, count: 64 << 10)
        var left = count
        while left > 0 {
            let n = min(left, chunk.count)
            chunk.withUnsafeBytes { buffer.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            left -= n
        }
    }

    @Test func releasedPagesLeaveTheProcessAndTheBufferIsReused() throws {
        let size = 4 << 20
        let buffer = try PartBuffer(capacity: size)
        Self.fill(buffer, 0x5a, count: size)
        buffer.seal()
        let before = Self.residentPages(buffer, count: size)
        #expect(before > (size / 4096) * 9 / 10)
        buffer.releasePages()
        #expect(buffer.isEmpty)
        #expect(buffer.room == size)
        let after = Self.residentPages(buffer, count: size)
        #expect(after >= 0 && after <= 2, "resident pages after release: \(after) of \(size / 4096)")
        // Filled again, it reads back what was written (released pages come back as zeros).
        Self.fill(buffer, 0x33, count: size)
        buffer.seal()
        #expect(buffer.waitSealed() == size)
        #expect(buffer.sealedBytes.allSatisfy { $0 == 0x33 })
    }

    @Test func aReaderGetsTheBytesAsTheyAreWrittenAndTheEndOnlyOnceSealed() throws {
        let buffer = try PartBuffer(capacity: 1 << 20)
        let source = (0..<(300_000)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        final class Box: @unchecked Sendable { var read: [UInt8] = []; var failure: (any Error)? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let dst = UnsafeMutableRawBufferPointer.allocate(byteCount: 7000, alignment: 1)
            defer { dst.deallocate(); done.signal() }
            do {
                while true {
                    let n = try buffer.read(at: box.read.count, into: dst)
                    if n == 0 { break }
                    box.read.append(contentsOf: dst[0..<n])
                }
            } catch { box.failure = error }
        }
        // Written in uneven pieces with pauses: the reader waits, it never sees the end early.
        var offset = 0
        for size in [1, 4095, 50_000, 100_000, 145_904] {
            source.withUnsafeBytes { buffer.append(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + size)])) }
            offset += size
            usleep(20_000)
        }
        #expect(done.wait(timeout: .now()) == .timedOut, "the reader ended before the part was sealed")
        buffer.seal()
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(box.failure == nil)
        #expect(box.read.count == source.count)
        let same = box.read == source
        #expect(same, "the bytes read differ from the bytes written")
    }

    @Test func anAbandonedPartEndsTheReaderWithAnError() throws {
        let buffer = try PartBuffer(capacity: 1 << 16)
        Self.fill(buffer, 1, count: 100)
        let dst = UnsafeMutableRawBufferPointer.allocate(byteCount: 1000, alignment: 1)
        defer { dst.deallocate() }
        #expect(try buffer.read(at: 0, into: dst) == 100)
        let failed = DispatchSemaphore(value: 0)
        final class Reader: @unchecked Sendable { let b: PartBuffer; let d: UnsafeMutableRawBufferPointer; init(_ b: PartBuffer, _ d: UnsafeMutableRawBufferPointer) { self.b = b; self.d = d } }
        let reader = Reader(buffer, dst)
        Thread.detachNewThread {
            if (try? reader.b.read(at: 100, into: reader.d)) == nil { failed.signal() }
        }
        usleep(50_000)
        buffer.abandon()
        #expect(failed.wait(timeout: .now() + 10) == .success)
        #expect(buffer.waitSealed() == nil)
    }

    /// A control plane whose part uploads wait until the test lets them go.
    final class HeldChannel: ControlPlaneChannel, @unchecked Sendable {
        let gate = DispatchSemaphore(value: 0)
        let sent = Locked(0)
        func send(_ method: String, _ path: String, headers: [(String, String)], body: [UInt8]?) throws -> HTTPResponse {
            gate.wait()
            gate.signal()
            sent.withLock { $0 += 1 }
            let bytes = body ?? []
            let part = SnapshotPart(index: Int(path.split(separator: "/").last!)!, size: Int64(bytes.count), sha256: SHA256Stream.hex(bytes))
            return HTTPResponse(status: 200, body: Array(try JSONEncoder().encode(part)))
        }
    }

    @Test func theCutterWaitsAQuarterIntoTheNextPartWhileOneTravels() throws {
        let channel = HeldChannel()
        let pipeline = PartPipeline(transfer: SnapshotTransfer(channel: channel, retryWindowSec: 1), snapshotID: "s",
                                    kind: "data", streaming: true, existing: [])
        let partBytes = 64 << 10
        let cutter = PartCutter(partBytes: partBytes, pipeline: pipeline)
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
