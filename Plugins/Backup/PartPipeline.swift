import AgentKernel
import BalctlProtocol
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Cuts a byte stream into parts and uploads them on a thread of its own while the producer
/// goes on compressing: at most one part waits and one travels, so memory stays at about two
/// parts whatever the snapshot's size. A part the control plane already holds with the same
/// SHA-256 (a resumed attempt) is not sent again.
final class PartPipeline: @unchecked Sendable {
    struct Totals: Sendable {
        var parts: [String: [SnapshotPart]] = [:]
        var uploaded = 0
        var skipped = 0
        var uploadedBytes: Int64 = 0
        var failure: String?
    }

    let transfer: SnapshotTransfer
    let snapshotID: String
    let existing: [String: [Int: SnapshotPart]]
    /// Serial: parts arrive at the control plane in order.
    private let queue = DispatchQueue(label: "balctl.backup.upload")
    /// One part may wait while another uploads.
    private let slots = DispatchSemaphore(value: 1)
    let totals = Locked(Totals())
    /// A buffer whose part has gone, for the cutter to fill again: part buffers are reused, not
    /// reallocated (glibc keeps freed 16 MiB blocks in the heap once its mmap threshold has
    /// grown, so fresh ones per part would add up in RSS).
    private let spare = Locked<PartBuffer?>(nil)

    init(transfer: SnapshotTransfer, snapshotID: String, existing: SnapshotBeginReply) {
        self.transfer = transfer
        self.snapshotID = snapshotID
        self.existing = [
            "data": Dictionary(existing.data.map { ($0.index, $0) }, uniquingKeysWith: { a, _ in a }),
            "manifest": Dictionary(existing.manifest.map { ($0.index, $0) }, uniquingKeysWith: { a, _ in a }),
        ]
    }

    /// A buffer to fill: a returned one when there is one.
    func takeBuffer(capacity: Int) -> PartBuffer {
        let reused = spare.withLock { s -> PartBuffer? in
            guard let b = s, b.bytes.capacity >= capacity else { return nil }
            s = nil
            return b
        }
        return reused ?? PartBuffer(capacity: capacity)
    }

    /// Hand over a full part; blocks while the previous one is still waiting. The buffer comes
    /// back through `takeBuffer` once the part is sent.
    func submit(kind: String, index: Int, buffer: PartBuffer) throws {
        if let failure = totals.value.failure { throw JobFailure(failure) }
        slots.wait()
        queue.async { [self] in
            send(kind: kind, index: index, buffer: buffer)
            // The part's bytes are no longer needed (sent, or failed for good): their pages go
            // back to the kernel while the buffer keeps its address range for the next part, so
            // only the part being filled stays resident between uploads (peak RSS about one
            // part plus what is made while the previous one travels, not two whole parts).
            buffer.releasePages()
            spare.withLock { $0 = buffer }
            slots.signal()
        }
    }

    private func send(kind: String, index: Int, buffer: PartBuffer) {
        guard totals.value.failure == nil else { return }
        let sha = SHA256Stream.hex(buffer.bytes)
        let part = SnapshotPart(index: index, size: Int64(buffer.bytes.count), sha256: sha)
        if let held = existing[kind]?[index], held == part {
            totals.withLock { $0.parts[kind, default: []].append(part); $0.skipped += 1 }
            return
        }
        do {
            try transfer.put(snapshot: snapshotID, kind: kind, index: index, bytes: buffer.bytes, sha256: sha)
            totals.withLock {
                $0.parts[kind, default: []].append(part); $0.uploaded += 1; $0.uploadedBytes += part.size
            }
        } catch {
            totals.withLock { $0.failure = "\(error)" }
        }
    }

    /// Block until the part handed over last has left (sent, or failed). The cutter calls this a
    /// quarter into the next part, so at most one whole part and a quarter of the next are
    /// resident: compressing on while a part travels, without holding two parts.
    func awaitPreviousPart() {
        slots.wait()
        slots.signal()
    }

    /// Wait for every submitted part; throws the first failure.
    func finish() throws -> Totals {
        queue.sync {}
        let t = totals.value
        if let failure = t.failure { throw JobFailure(failure) }
        return t
    }
}

/// A part's bytes, handed between the cutter and the upload thread (one owner at a time: the
/// semaphore in `submit` orders the hand-over).
final class PartBuffer: @unchecked Sendable {
    var bytes: [UInt8]
    init(capacity: Int) { bytes = []; bytes.reserveCapacity(capacity) }

    /// Empty the buffer and hand the whole pages its bytes occupied back to the kernel
    /// (`MADV_DONTNEED` on private anonymous memory: they read as zeros when touched again, which
    /// `append` overwrites). The allocation itself stays, so no new 16 MiB block is taken per part.
    func releasePages() {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        // Mutable access: should anyone still share the array's storage (a caller that kept the
        // bytes), it is copied here first, and only pages this buffer alone owns are dropped.
        bytes.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress, raw.count >= page else { return }
            let start = (Int(bitPattern: base) + page - 1) & ~(page - 1)
            let end = (Int(bitPattern: base) + raw.count) & ~(page - 1)
            if end > start { _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, Int32(MADV_DONTNEED)) }
        }
        bytes.removeAll(keepingCapacity: true)
    }
}

/// Collects a stream into parts of `partBytes` for a pipeline.
final class PartCutter {
    let kind: String
    let partBytes: Int
    let pipeline: PartPipeline
    private var buffer: PartBuffer
    private(set) var nextIndex = 0
    private(set) var total: Int64 = 0
    /// How far the next part fills while the previous one travels.
    private let overlapBytes: Int
    private var awaited = true

    init(kind: String, partBytes: Int, pipeline: PartPipeline) {
        self.kind = kind; self.partBytes = partBytes; self.pipeline = pipeline
        overlapBytes = max(partBytes / 4, 1)
        buffer = pipeline.takeBuffer(capacity: partBytes)
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            if !awaited {
                let room = overlapBytes - buffer.bytes.count
                if room <= 0 {
                    pipeline.awaitPreviousPart()
                    awaited = true
                    continue
                }
                let take = min(room, bytes.count - offset)
                buffer.bytes.append(contentsOf: bytes[offset..<(offset + take)])
                offset += take
                total += Int64(take)
                continue
            }
            let take = min(partBytes - buffer.bytes.count, bytes.count - offset)
            buffer.bytes.append(contentsOf: bytes[offset..<(offset + take)])
            offset += take
            total += Int64(take)
            if buffer.bytes.count == partBytes { try flush() }
        }
    }

    func append(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try append($0) } }

    /// Send what is buffered as a (last, shorter) part.
    func flush() throws {
        guard !buffer.bytes.isEmpty else { return }
        try pipeline.submit(kind: kind, index: nextIndex, buffer: buffer)
        awaited = false
        nextIndex += 1
        buffer = pipeline.takeBuffer(capacity: partBytes)
    }
}
