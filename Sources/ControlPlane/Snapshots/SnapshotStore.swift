import NIOCore

/// Where a snapshot's objects live: `<account>/<member>/<snapshot>/<object>`. Every component is
/// made by the control plane (numeric IDs and a random hex snapshot ID), never taken from a
/// request, so a key can never climb out of its prefix.
public struct SnapshotLocation: Sendable, Hashable, CustomStringConvertible {
    public var accountID: Int64
    public var memberID: Int64
    /// 32 lowercase hex characters.
    public var snapshotID: String

    public init(accountID: Int64, memberID: Int64, snapshotID: String) {
        precondition(SnapshotLocation.isValidSnapshotID(snapshotID), "snapshot ID must be 32 lowercase hex characters")
        self.accountID = accountID; self.memberID = memberID; self.snapshotID = snapshotID
    }

    /// The relative prefix, ending in "/": "3/17/0123…ef/".
    public var prefix: String { "\(accountID)/\(memberID)/\(snapshotID)/" }
    public var description: String { prefix }

    public static func isValidSnapshotID(_ s: String) -> Bool {
        s.utf8.count == 32 && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}

/// The objects of one snapshot: data parts and manifest parts, numbered from 0.
public indirect enum SnapshotObject: Sendable, Hashable, CustomStringConvertible {
    case data(Int)
    case manifest(Int)
    /// One upload of a part under a name of its own ("data-000003.9f0c…"): an upload never
    /// overwrites bytes the catalog points at, so a late or repeated PUT (an earlier attempt's,
    /// one racing the commit) cannot change a snapshot after the fact. The catalog records which
    /// version is the part; snapshots stored before versions existed use the bare name.
    case version(SnapshotObject, String)

    /// The part `index` of `kind` ("data" or "manifest"), `version` "" for the bare name.
    public static func part(kind: String, index: Int, version: String) -> SnapshotObject {
        let base: SnapshotObject = kind == "data" ? .data(index) : .manifest(index)
        return version.isEmpty ? base : .version(base, version)
    }

    /// A fresh version tag: 16 lowercase hex characters.
    public static func newVersion() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<8).map { _ in String(UInt8.random(in: 0...255, using: &g), radix: 16) }
            .map { $0.count == 1 ? "0" + $0 : $0 }.joined()
    }

    /// 1–32 lowercase hex characters: what `newVersion` makes (the catalog is ours, but a name
    /// becomes a file name and an S3 key, so it is checked where it is used).
    public static func isValidVersion(_ v: String) -> Bool {
        (1...32).contains(v.utf8.count) && v.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// "data-000000", "manifest-000003": fixed width so a listing sorts in order;
    /// "data-000003.9f0c…" for a version.
    public var name: String {
        switch self {
        case .data(let i): return "data-" + Self.pad(i)
        case .manifest(let i): return "manifest-" + Self.pad(i)
        case .version(let base, let v):
            precondition(Self.isValidVersion(v), "a part version is lowercase hex")
            return base.name + "." + v
        }
    }
    public var description: String { name }

    static func pad(_ i: Int) -> String {
        let s = String(i)
        return String(repeating: "0", count: max(0, 6 - s.count)) + s
    }
}

public struct SnapshotStoreError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case notFound, unavailable, refused }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) { self.kind = kind; self.message = message }
    public var description: String { message }
}

/// Where snapshot bytes are kept; the catalog (sizes, hashes, states) is in the database. One
/// object is at most a part (64 MiB), so objects travel as byte arrays. Implementations: the
/// filesystem (embedded default) and S3-compatible object storage.
public protocol SnapshotStore: Sendable {
    /// For messages and `/healthz`: "filesystem /var/lib/balctl/snapshots", "s3 bucket …".
    var description: String { get }
    /// Store (or replace) one object; when this returns the bytes are durable.
    func put(_ object: SnapshotObject, at location: SnapshotLocation, bytes: [UInt8]) async throws(SnapshotStoreError)
    /// Store a new object from its bytes as they arrive (`chunks` gives the next, nil at the
    /// end; an error it throws ends the upload and leaves no object). Returns the size; when it
    /// returns the bytes are durable. A store errs with `SnapshotStoreError`; what `chunks`
    /// throws (a broken connection, a part too large) comes out as it is.
    func put(_ object: SnapshotObject, at location: SnapshotLocation, streaming chunks: () async throws -> ByteBuffer?) async throws -> Int64
    /// The object's bytes; `.notFound` when it is not there.
    func get(_ object: SnapshotObject, at location: SnapshotLocation) async throws(SnapshotStoreError) -> [UInt8]
    /// Remove one object (a missing one is not an error).
    func delete(_ object: SnapshotObject, at location: SnapshotLocation) async throws(SnapshotStoreError)
    /// Remove every object of the snapshot (a missing snapshot is not an error).
    func deleteAll(at location: SnapshotLocation) async throws(SnapshotStoreError)
}

extension SnapshotStore {
    /// For stores that take an object whole (S3: one PUT of a known length): gather the part
    /// (at most `SnapshotWire.maxPartBytes`, which the caller's `chunks` enforces), then `put`.
    public func put(_ object: SnapshotObject, at location: SnapshotLocation, streaming chunks: () async throws -> ByteBuffer?) async throws -> Int64 {
        var bytes: [UInt8] = []
        while let chunk = try await chunks() { bytes.append(contentsOf: chunk.readableBytesView) }
        try await put(object, at: location, bytes: bytes)
        return Int64(bytes.count)
    }
}
