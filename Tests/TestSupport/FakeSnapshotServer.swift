import AgentKernel
import BalctlProtocol
import CurlClient
import Foundation

/// The control plane's snapshot routes in memory (shared by the backup plugin's tests and every stack plugin that restores from a snapshot): enough of the wire protocol to run the
/// handlers against (begin, parts with hash check, commit, info, part reads), counting uploads.
/// The real routes are tested end to end in EndToEndTests/BackupEndToEndTests.
public final class FakeSnapshotServer: ControlPlaneChannel, @unchecked Sendable {
    public init() {}
    public struct Snapshot {
        public var id: String
        public var scope: String
        public var jobID: Int64
        public var state = "uploading"
        public var parts: [String: [Int: [UInt8]]] = ["data": [:], "manifest": [:]]
        public var committed: [String: [SnapshotPart]] = [:]
        public var entries = 0
        public var sourceBytes: Int64 = 0
    }
    private let lock = NSLock()
    public var snapshots: [String: Snapshot] = [:]
    public var uploads: [String] = []
    /// Fail part uploads number n… (1-based) with a dropped connection: `failUploads` of them.
    public var failUploadNumber: Int? = nil
    public var failUploads = Int.max
    /// As a control plane from before streamed parts: a part without the hash header is refused.
    public var requireHashHeader = false

    public func send(_ method: String, _ path: String, headers: [(String, String)], body: [UInt8]?) throws -> HTTPResponse {
        try lock.withLock { try handle(method, path, headers, body ?? []) }
    }

    private func json<T: Encodable>(_ v: T) throws -> HTTPResponse { HTTPResponse(status: 200, body: Array(try JSONEncoder().encode(v))) }

    private func handle(_ method: String, _ path: String, _ headers: [(String, String)], _ body: [UInt8]) throws -> HTTPResponse {
        let parts = path.split(separator: "/").map(String.init)  // api agents snapshots …
        if method == "POST" && path == SnapshotWire.beginPath {
            let req = try JSONDecoder().decode(SnapshotBeginRequest.self, from: Data(body))
            let s = snapshots.values.first { $0.jobID == req.jobId } ?? {
                let s = Snapshot(id: String(repeating: "ab", count: 16).prefix(30) + String(format: "%02x", snapshots.count), scope: req.scope, jobID: req.jobId)
                snapshots[s.id] = s
                return s
            }()
            func listed(_ kind: String) -> [SnapshotPart] {
                s.parts[kind]!.sorted { $0.key < $1.key }.map { SnapshotPart(index: $0.key, size: Int64($0.value.count), sha256: SHA256Stream.hex($0.value)) }
            }
            return try json(SnapshotBeginReply(snapshotId: s.id, data: listed("data"), manifest: listed("manifest")))
        }
        let id = parts[3]
        guard var s = snapshots[id] else { return HTTPResponse(status: 404, body: Array("{\"error\":\"no snapshot\"}".utf8)) }
        if method == "PUT" {
            uploads.append("\(parts[4])/\(parts[5])")
            if let n = failUploadNumber, uploads.count >= n, uploads.count - n < failUploads { throw HTTPClientError("connection reset (test)", isTransient: true) }
            // As the control plane: a hash header (a part sent whole) is checked before storing;
            // a streamed part (no header) is stored and its hash answered for the agent to compare.
            let claimed = headers.first { $0.0 == SnapshotWire.hashHeader }?.1
            let hash = SHA256Stream.hex(body)
            if requireHashHeader && claimed == nil {
                return HTTPResponse(status: 400, body: Array("{\"error\":\"the X-Balctl-SHA256 header is missing\"}".utf8))
            }
            guard claimed == nil || claimed == hash else { return HTTPResponse(status: 400, body: Array("{\"error\":\"hash\"}".utf8)) }
            s.parts[parts[4]]![Int(parts[5])!] = body
            snapshots[id] = s
            return try json(SnapshotPart(index: Int(parts[5])!, size: Int64(body.count), sha256: hash))
        }
        if method == "POST" && parts.last == "commit" {
            let req = try JSONDecoder().decode(SnapshotCommitRequest.self, from: Data(body))
            s.committed = ["data": req.data, "manifest": req.manifest]
            s.state = "complete"; s.entries = req.entries; s.sourceBytes = req.sourceBytes
            snapshots[id] = s
            return HTTPResponse(status: 200, body: Array("{}".utf8))
        }
        if method == "GET" && parts.count == 4 {
            return try json(SnapshotView(id: id, memberId: 1, memberHostname: "test", accountId: 1, scope: s.scope, state: s.state,
                                         jobId: s.jobID, createdAt: 0, completedAt: nil, bytes: 0, sourceBytes: s.sourceBytes,
                                         entries: s.entries, error: nil, data: s.committed["data"] ?? [], manifest: s.committed["manifest"] ?? []))
        }
        if method == "GET" && parts.count == 6, let bytes = s.parts[parts[4]]?[Int(parts[5])!] {
            return HTTPResponse(status: 200, body: bytes)
        }
        return HTTPResponse(status: 404, body: Array("{\"error\":\"not found\"}".utf8))
    }

    /// Store a hand-made snapshot (a hostile agent's upload): data and manifest bytes cut into parts.
    /// `entries` is what the uploader claimed at commit (the manifest's line count when nil).
    public func plant(scope: String, data: [UInt8], manifest: [UInt8], entries: Int? = nil, partBytes: Int = 1 << 20) -> String {
        lock.withLock {
            var s = Snapshot(id: String(format: "%032x", 0xfeed0000 + snapshots.count), scope: scope, jobID: -Int64(snapshots.count) - 1)
            for (kind, bytes) in [("data", data), ("manifest", manifest)] {
                var list: [SnapshotPart] = []
                var i = 0
                while i * partBytes < bytes.count || (i == 0 && bytes.isEmpty) {
                    let chunk = Array(bytes[(i * partBytes)..<min(bytes.count, (i + 1) * partBytes)])
                    s.parts[kind]![i] = chunk
                    list.append(SnapshotPart(index: i, size: Int64(chunk.count), sha256: SHA256Stream.hex(chunk)))
                    i += 1
                    if bytes.isEmpty { break }
                }
                s.committed[kind] = list
            }
            s.state = "complete"
            s.entries = entries ?? (manifest.filter { $0 == 10 }.count - 1)
            snapshots[s.id] = s
            return s.id
        }
    }
}

