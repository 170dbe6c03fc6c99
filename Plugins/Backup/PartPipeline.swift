import AgentKernel
import BalctlProtocol
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Uploads one kind of part (data or manifest) on a thread of its own while the producer goes on
/// compressing. Memory stays at about one part and a quarter whatever the snapshot's size.
///
/// A streaming pipeline (data) starts a part's upload with its first byte and sends the bytes as
/// they are made (a chunked PUT without a hash header; the control plane hashes what it receives
/// and answers with the part's size and SHA-256, which must equal ours). The part stays in its
/// buffer until the control plane has answered, so a broken connection or a mismatch is retried
/// from the buffer, whole, with the hash header. A whole-part pipeline (manifest) sends a part
/// once it is full, on the channel's other connection, so a data part waiting for bytes never
/// holds up a manifest part the writer needs to hand over.
///
/// A part the control plane already holds with the same SHA-256 (a resumed attempt) is not sent
/// again: such a part is hashed whole before anything is sent.
final class PartPipeline: @unchecked Sendable {
    struct Totals: Sendable {
        var parts: [String: [SnapshotPart]] = [:]
        var uploaded = 0
        var skipped = 0
        var uploadedBytes: Int64 = 0
        var failure: String?

        mutating func merge(_ other: Totals) {
            for (kind, list) in other.parts { parts[kind, default: []] += list }
            uploaded += other.uploaded; skipped += other.skipped; uploadedBytes += other.uploadedBytes
            failure = failure ?? other.failure
        }
    }

    let transfer: SnapshotTransfer
    let snapshotID: String
    let kind: String
    let streaming: Bool
    let existing: [Int: SnapshotPart]
    /// Serial: parts arrive at the control plane in order.
    private let queue: DispatchQueue
    /// Parts started and not yet answered: the one being filled and the one before it.
    private let slots = DispatchSemaphore(value: 2)
    let totals = Locked(Totals())
    /// A buffer whose part has gone, for the cutter to fill again (one mapping reused, not a
    /// fresh 16 MiB per part).
    private let spare = Locked<PartBuffer?>(nil)
    /// Buffers started and not yet sealed: abandoned when the writer fails.
    private let open = Locked<[ObjectIdentifier: PartBuffer]>([:])

    init(transfer: SnapshotTransfer, snapshotID: String, kind: String, streaming: Bool, existing: [SnapshotPart]) {
        self.transfer = transfer
        self.snapshotID = snapshotID
        self.kind = kind
        self.streaming = streaming
        self.existing = Dictionary(existing.map { ($0.index, $0) }, uniquingKeysWith: { a, _ in a })
        queue = DispatchQueue(label: "balctl.backup.upload.\(kind)")
    }

    /// A buffer to fill: a returned one when there is one.
    func takeBuffer(capacity: Int) throws -> PartBuffer {
        let reused = spare.withLock { s -> PartBuffer? in
            guard let b = s, b.capacity >= capacity else { return nil }
            s = nil
            return b
        }
        return try reused ?? PartBuffer(capacity: capacity)
    }

    /// A part begins (its first bytes are in `buffer`): a streaming pipeline starts sending it
    /// now, a whole-part one once it is sealed. Blocks while two parts are unanswered.
    func start(index: Int, buffer: PartBuffer) throws {
        if let failure = totals.value.failure { throw JobFailure(failure) }
        slots.wait()
        open.withLock { $0[ObjectIdentifier(buffer)] = buffer }
        queue.async { [self] in
            upload(index: index, buffer: buffer)
            // Wait for the writer to be done with it (a failed upload may end before the part
            // is): only then may its pages go and the buffer be filled again.
            _ = buffer.waitSealed()
            // The part's bytes are no longer needed: their pages go back to the kernel while the
            // mapping stays for the next part, so between uploads only the part being filled is
            // resident.
            buffer.releasePages()
            spare.withLock { $0 = buffer }
            slots.signal()
        }
    }

    /// The writer is done with the buffer's part.
    func sealed(_ buffer: PartBuffer) {
        open.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(buffer)) }
        buffer.seal()
    }

    private func upload(index: Int, buffer: PartBuffer) {
        guard totals.value.failure == nil else { return }
        do {
            let part: SnapshotPart
            if let held = existing[index] {
                // Resumed: hash the whole part first; the same bytes are not sent again.
                guard let count = buffer.waitSealed() else { return }
                part = SnapshotPart(index: index, size: Int64(count), sha256: SHA256Stream.hex(buffer.sealedBytes))
                if held == part {
                    totals.withLock { $0.parts[kind, default: []].append(part); $0.skipped += 1 }
                    return
                }
                try transfer.put(snapshot: snapshotID, kind: kind, index: index, buffer: buffer, sha256: part.sha256, viaStream: streaming)
            } else if streaming {
                part = try transfer.put(snapshot: snapshotID, kind: kind, index: index, buffer: buffer, sha256: nil, viaStream: true)
            } else {
                guard let count = buffer.waitSealed() else { return }
                part = SnapshotPart(index: index, size: Int64(count), sha256: SHA256Stream.hex(buffer.sealedBytes))
                try transfer.put(snapshot: snapshotID, kind: kind, index: index, buffer: buffer, sha256: part.sha256, viaStream: streaming)
            }
            totals.withLock {
                $0.parts[kind, default: []].append(part); $0.uploaded += 1; $0.uploadedBytes += part.size
            }
        } catch {
            totals.withLock { $0.failure = $0.failure ?? "\(error)" }
        }
    }

    /// Block until the part started before the current one has been answered (sent, or failed).
    /// The cutter calls this a quarter into the next part, so at most one whole part and a
    /// quarter of the next are resident.
    func awaitPreviousPart() {
        slots.wait()
        slots.signal()
    }

    /// The writer failed: parts it will never finish end their uploads.
    func abandonOpenParts() {
        for buffer in open.withLock({ o -> [PartBuffer] in defer { o.removeAll() }; return Array(o.values) }) { buffer.abandon() }
    }

    /// Wait for every started part; throws the first failure.
    func finish() throws -> Totals {
        queue.sync {}
        let t = totals.value
        if let failure = t.failure { throw JobFailure(failure) }
        return t
    }
}

/// A part's bytes: written by the cutter's thread, read by the upload thread while they are
/// written. Private anonymous memory mapped once per buffer; `filled` and `sealed` are published
/// under the lock, and bytes below `filled` never change until the buffer is released.
final class PartBuffer: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let capacity: Int
    /// The writer's own count (only the cutter's thread touches it).
    private(set) var count = 0
    private let lock: UnsafeMutablePointer<pthread_mutex_t>
    private let changed: UnsafeMutablePointer<pthread_cond_t>
    // Guarded by `lock`.
    private var published = 0
    private var isSealed = false
    private var isAbandoned = false

    init(capacity: Int) throws {
        guard let p = mmap(nil, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            throw JobFailure("cannot map a \(capacity)-byte part buffer: \(String(cString: strerror(errno)))")
        }
        base = p
        self.capacity = capacity
        lock = .allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
        changed = .allocate(capacity: 1)
        pthread_cond_init(changed, nil)
    }

    deinit {
        munmap(base, capacity)
        pthread_cond_destroy(changed); changed.deallocate()
        pthread_mutex_destroy(lock); lock.deallocate()
    }

    var room: Int { capacity - count }
    var isEmpty: Bool { count == 0 }

    /// Writer: copy bytes in (at most `room`) and publish them to the reader.
    func append(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count <= room, "a part buffer overflowed")
        guard let src = bytes.baseAddress, bytes.count > 0 else { return }
        (base + count).copyMemory(from: src, byteCount: bytes.count)
        count += bytes.count
        locked { published = count; pthread_cond_broadcast(changed) }
    }

    /// Writer: the part is complete.
    func seal() { locked { isSealed = true; pthread_cond_broadcast(changed) } }

    /// Writer failed: a reader waiting for bytes gives up.
    func abandon() { locked { isAbandoned = true; pthread_cond_broadcast(changed) } }

    /// Reader: copy up to `into.count` bytes from `offset`, waiting until there are some; 0 at
    /// the sealed end. Throws when the writer abandoned the part.
    func read(at offset: Int, into dst: UnsafeMutableRawBufferPointer) throws -> Int {
        let available = try locked { () throws -> Int in
            while published <= offset && !isSealed && !isAbandoned { pthread_cond_wait(changed, lock) }
            if isAbandoned { throw JobFailure("the snapshot writer stopped before the part was complete") }
            return published - offset
        }
        let n = min(available, dst.count)
        if n > 0 { dst.baseAddress!.copyMemory(from: base + offset, byteCount: n) }
        return n
    }

    /// Reader: wait until the part is sealed; its size, or nil when it was abandoned.
    @discardableResult
    func waitSealed() -> Int? {
        locked {
            while !isSealed && !isAbandoned { pthread_cond_wait(changed, lock) }
            return isSealed ? published : nil
        }
    }

    /// The sealed part's bytes (only after `waitSealed` returned its size).
    var sealedBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: locked { published }) }

    /// Empty the buffer and hand its pages back to the kernel (`MADV_DONTNEED` on private
    /// anonymous memory: they read as zeros when touched again, which `append` overwrites). The
    /// mapping stays, so no new 16 MiB block is taken per part.
    func releasePages() {
        _ = madvise(base, capacity, Int32(MADV_DONTNEED))
        count = 0
        locked { published = 0; isSealed = false; isAbandoned = false }
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return try body()
    }
}

/// Collects a stream into parts of `partBytes` for a pipeline.
final class PartCutter {
    let kind: String
    let partBytes: Int
    let pipeline: PartPipeline
    private var buffer: PartBuffer?
    private(set) var nextIndex = 0
    private(set) var total: Int64 = 0
    /// How far the next part fills while the previous one is still unanswered.
    private let overlapBytes: Int
    private var awaited = true

    init(partBytes: Int, pipeline: PartPipeline) {
        kind = pipeline.kind; self.partBytes = partBytes; self.pipeline = pipeline
        overlapBytes = max(partBytes / 4, 1)
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let current: PartBuffer
            if let b = buffer { current = b } else {
                current = try pipeline.takeBuffer(capacity: partBytes)
                buffer = current
                awaited = nextIndex == 0
                try pipeline.start(index: nextIndex, buffer: current)
            }
            var room = min(current.room, partBytes - current.count)
            if !awaited {
                let beforeWait = overlapBytes - current.count
                if beforeWait <= 0 {
                    pipeline.awaitPreviousPart()
                    awaited = true
                    continue
                }
                room = min(room, beforeWait)
            }
            let take = min(room, bytes.count - offset)
            current.append(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + take)]))
            offset += take
            total += Int64(take)
            if current.count == partBytes { seal() }
        }
    }

    func append(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try append($0) } }

    /// The part being filled is complete (the last one may be shorter).
    private func seal() {
        guard let current = buffer else { return }
        pipeline.sealed(current)
        buffer = nil
        nextIndex += 1
    }

    /// Send what is buffered as a (last, shorter) part.
    func flush() throws { seal() }
}
