import AgentKernel
import BalctlProtocol
import Dispatch

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

    init(transfer: SnapshotTransfer, snapshotID: String, existing: SnapshotBeginReply) {
        self.transfer = transfer
        self.snapshotID = snapshotID
        self.existing = [
            "data": Dictionary(existing.data.map { ($0.index, $0) }, uniquingKeysWith: { a, _ in a }),
            "manifest": Dictionary(existing.manifest.map { ($0.index, $0) }, uniquingKeysWith: { a, _ in a }),
        ]
    }

    /// Hand over a full part; blocks while the previous one is still waiting.
    func submit(kind: String, index: Int, bytes: [UInt8]) throws {
        if let failure = totals.value.failure { throw JobFailure(failure) }
        slots.wait()
        queue.async { [self] in
            defer { slots.signal() }
            guard totals.value.failure == nil else { return }
            let sha = SHA256Stream.hex(bytes)
            let part = SnapshotPart(index: index, size: Int64(bytes.count), sha256: sha)
            if let held = existing[kind]?[index], held == part {
                totals.withLock { $0.parts[kind, default: []].append(part); $0.skipped += 1 }
                return
            }
            do {
                try transfer.put(snapshot: snapshotID, kind: kind, index: index, bytes: bytes, sha256: sha)
                totals.withLock {
                    $0.parts[kind, default: []].append(part); $0.uploaded += 1; $0.uploadedBytes += part.size
                }
            } catch {
                totals.withLock { $0.failure = "\(error)" }
            }
        }
    }

    /// Wait for every submitted part; throws the first failure.
    func finish() throws -> Totals {
        queue.sync {}
        let t = totals.value
        if let failure = t.failure { throw JobFailure(failure) }
        return t
    }
}

/// Collects a stream into parts of `partBytes` for a pipeline.
final class PartCutter {
    let kind: String
    let partBytes: Int
    let pipeline: PartPipeline
    private var buffer: [UInt8]
    private(set) var nextIndex = 0
    private(set) var total: Int64 = 0

    init(kind: String, partBytes: Int, pipeline: PartPipeline) {
        self.kind = kind; self.partBytes = partBytes; self.pipeline = pipeline
        buffer = []
        buffer.reserveCapacity(partBytes)
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let take = min(partBytes - buffer.count, bytes.count - offset)
            buffer.append(contentsOf: bytes[offset..<(offset + take)])
            offset += take
            total += Int64(take)
            if buffer.count == partBytes { try flush() }
        }
    }

    func append(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try append($0) } }

    /// Send what is buffered as a (last, shorter) part.
    func flush() throws {
        guard !buffer.isEmpty else { return }
        let part = buffer
        buffer = []
        buffer.reserveCapacity(partBytes)
        try pipeline.submit(kind: kind, index: nextIndex, bytes: part)
        nextIndex += 1
    }
}
