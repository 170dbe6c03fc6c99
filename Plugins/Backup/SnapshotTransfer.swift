import AgentKernel
import BalctlProtocol
import CurlClient
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

/// The snapshot half of the wire protocol, agent side: begin (or resume), part uploads, commit,
/// and for restores the catalog entry and part downloads. Blocking calls: they run on the
/// writer's and reader's own threads, never on the cooperative pool.
struct SnapshotTransfer: Sendable {
    let channel: any ControlPlaneChannel
    /// How long one part's upload or download keeps retrying through a broken connection or a
    /// busy or restarting control plane (500, 502–504, 408, 429; not 507 "quota exceeded") before the job gives up; the job's next attempt then resumes
    /// from the parts the control plane holds.
    var retryWindowSec: Double = 120

    /// A failure worth another try: the network broke, or the control plane is busy or restarting.
    struct Retryable: Error, CustomStringConvertible { var failure: JobFailure; var description: String { failure.message } }

    static func retryable(_ status: Int) -> Bool { [408, 429, 500, 502, 503, 504].contains(status) }

    /// Run `body` until it succeeds, fails for good, or `retryWindowSec` is spent (back-off from
    /// 0.25 s doubling to 8 s). Each try is a fresh request on the same session.
    func withRetry<T>(_ body: () throws -> T) throws -> T {
        let start = unixNow()
        var delay = 0.25
        while true {
            do { return try body() } catch let e as Retryable {
                guard unixNow() - start + delay <= retryWindowSec else { throw e.failure }
            } catch let e as HTTPClientError where e.isTransient {
                guard unixNow() - start + delay <= retryWindowSec else { throw e }
            }
            usleep(useconds_t(delay * 1_000_000))
            delay = min(delay * 2, 8)
        }
    }

    func begin(_ request: SnapshotBeginRequest) throws -> SnapshotBeginReply {
        try decode(SnapshotBeginReply.self, post(SnapshotWire.beginPath, request), what: "begin the snapshot")
    }

    /// Upload a part from its buffer; returns the part as the control plane stored it.
    /// - `sha256` nil (a streaming pipeline's new part): the first try sends the bytes while the
    ///   writer makes them, without a hash header; the control plane answers with the size and
    ///   SHA-256 of what it stored, which must equal ours. A first try that fails in any way is
    ///   not the end: the sealed part is sent again whole, and the retry window starts then
    ///   (making the part may take longer than the window).
    /// - Otherwise, and on every later try, the sealed part goes whole with its hash header,
    ///   which the control plane checks before storing anything.
    /// - `viaStream`: over the channel's streaming connection (data), else over its other one
    ///   (manifest parts, which must not wait behind a data part that waits for the writer).
    @discardableResult
    func put(snapshot: String, kind: String, index: Int, buffer: PartBuffer, sha256: String?, viaStream: Bool) throws -> SnapshotPart {
        let path = SnapshotWire.partPath(snapshot, kind, index)
        if sha256 == nil {
            do {
                let hash = SHA256Stream()
                let (r, size) = try stream(path, headers: [("Content-Type", "application/octet-stream")], from: buffer, hashing: hash)
                return try accepted(r, SnapshotPart(index: index, size: Int64(size), sha256: hash.finishHex()), kind: kind)
            } catch {
                // Whatever went wrong (a broken connection, a busy server, a damaged transfer, a
                // control plane older than streamed parts, which wants the hash header), the
                // whole part with its header is the next try, and its answer the final word
                // (a used-up quota refuses it again, and the job fails with that).
            }
        }
        guard let count = buffer.waitSealed() else { throw JobFailure("the snapshot writer stopped before \(kind) part \(index) was complete") }
        let local = SnapshotPart(index: index, size: Int64(count), sha256: sha256 ?? SHA256Stream.hex(buffer.sealedBytes))
        let headers = [(SnapshotWire.hashHeader, local.sha256), ("Content-Type", "application/octet-stream")]
        return try withRetry {
            let r: HTTPResponse
            if viaStream {
                r = try stream(path, headers: headers, from: buffer, hashing: nil).0
            } else {
                r = try channel.send("PUT", path, headers: headers, body: Array(buffer.sealedBytes))
            }
            return try accepted(r, local, kind: kind)
        }
    }

    /// PUT the buffer's part as the writer fills it (the whole part, once sealed); the answer and
    /// how many bytes went.
    private func stream(_ path: String, headers: [(String, String)], from buffer: PartBuffer,
                        hashing hash: SHA256Stream?) throws -> (HTTPResponse, Int) {
        var offset = 0
        let r = try channel.stream("PUT", path, headers: headers) { dst in
            let n = try buffer.read(at: offset, into: dst)
            hash?.update(UnsafeRawBufferPointer(rebasing: dst[0..<n]))
            offset += n
            return n
        }
        return (r, offset)
    }

    /// A part upload's answer: 200 with the part as stored, which must be what was sent (the
    /// control plane says so even when it checked a hash header itself).
    private func accepted(_ r: HTTPResponse, _ local: SnapshotPart, kind: String) throws -> SnapshotPart {
        guard r.status == 200 else {
            let f = failure(r, "upload \(kind) part \(local.index)")
            throw Self.retryable(r.status) ? Retryable(failure: f) as any Error : f
        }
        guard let stored = try? JSONDecoder().decode(SnapshotPart.self, from: Data(r.body)), stored == local else {
            throw Retryable(failure: JobFailure("\(kind) part \(local.index) arrived different from what was sent (\(local.size) bytes, \(local.sha256.prefix(12))…; the control plane answered \(String(decoding: r.body.prefix(200), as: UTF8.self))): damaged in transit"))
        }
        return local
    }

    func commit(snapshot: String, _ request: SnapshotCommitRequest) throws {
        let r = try post(SnapshotWire.commitPath(snapshot), request)
        guard r.status == 200 else { throw failure(r, "commit the snapshot") }
    }

    func info(snapshot: String) throws -> SnapshotView {
        let r = try channel.send("GET", SnapshotWire.infoPath(snapshot), headers: [], body: nil)
        return try decode(SnapshotView.self, r, what: "read snapshot \(snapshot)")
    }

    /// A part's bytes, checked against the catalog's size and SHA-256 before anyone reads them.
    func fetch(snapshot: String, kind: String, part: SnapshotPart) throws -> [UInt8] {
        let r = try withRetry {
            let r = try channel.send("GET", SnapshotWire.partPath(snapshot, kind, part.index), headers: [], body: nil)
            guard r.status == 200 else {
                let f = failure(r, "download \(kind) part \(part.index)")
                throw Self.retryable(r.status) ? Retryable(failure: f) as any Error : f
            }
            return r
        }
        guard Int64(r.body.count) == part.size else {
            throw JobFailure("snapshot \(snapshot) \(kind) part \(part.index) is \(r.body.count) bytes, the catalog says \(part.size): the stored copy is damaged; nothing was restored")
        }
        let hash = SHA256Stream.hex(r.body)
        guard hash == part.sha256 else {
            throw JobFailure("snapshot \(snapshot) \(kind) part \(part.index) does not match its SHA-256 (stored \(part.sha256.prefix(12))…, got \(hash.prefix(12))…): the stored copy is damaged or was tampered with; nothing was restored")
        }
        return r.body
    }

    private func post<T: Encodable>(_ path: String, _ body: T) throws -> HTTPResponse {
        try channel.send("POST", path, headers: [("Content-Type", "application/json")], body: Array(try JSONEncoder().encode(body)))
    }

    private func decode<T: Decodable>(_ type: T.Type, _ r: HTTPResponse, what: String) throws -> T {
        guard r.status == 200 else { throw failure(r, what) }
        do { return try JSONDecoder().decode(T.self, from: Data(r.body)) } catch {
            throw JobFailure("cannot \(what): the control plane's answer is not understood: \(error)")
        }
    }

    private func failure(_ r: HTTPResponse, _ what: String) -> JobFailure {
        let message = (try? JSONDecoder().decode(APIErrorBody.self, from: Data(r.body)))?.error ?? String(r.text.prefix(300))
        return JobFailure("cannot \(what): HTTP \(r.status): \(message)")
    }
}
