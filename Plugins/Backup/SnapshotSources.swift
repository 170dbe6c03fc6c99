#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A snapshot's data parts, fetched one at a time and checked against the catalog.
final class RemoteParts: PartSource {
    let transfer: SnapshotTransfer
    let snapshot: String
    let kind: String
    let parts: [SnapshotPart]
    private var next = 0

    init(transfer: SnapshotTransfer, snapshot: String, kind: String, parts: [SnapshotPart]) {
        self.transfer = transfer; self.snapshot = snapshot; self.kind = kind
        self.parts = parts.sorted { $0.index < $1.index }
    }

    func nextPart() throws -> [UInt8]? {
        guard next < parts.count else { return nil }
        defer { next += 1 }
        guard parts[next].index == next else { throw JobFailure("snapshot \(snapshot) lacks \(kind) part \(next) in the catalog") }
        return try transfer.fetch(snapshot: snapshot, kind: kind, part: parts[next])
    }
}

/// Reads a manifest (JSON Lines across parts): the header, then one entry per call.
final class ManifestReader {
    static let maxLineBytes = 1 << 20
    let source: PartSource
    private var buffer: [UInt8] = []
    private var start = 0
    private var exhausted = false
    private(set) var header: SnapshotManifestHeader?

    init(source: PartSource) throws {
        self.source = source
        guard let line = try nextLine() else { throw HostileSnapshot(message: "the manifest is empty") }
        do { header = try JSONDecoder().decode(SnapshotManifestHeader.self, from: Data(line)) } catch {
            throw HostileSnapshot(message: "the manifest's header is not understood: \(error)")
        }
        guard header?.format == SnapshotWire.manifestFormat else {
            throw HostileSnapshot(message: "the manifest's format is \(header?.format ?? "?"), not \(SnapshotWire.manifestFormat)")
        }
    }

    func next() throws -> SnapshotManifestEntry? {
        guard let line = try nextLine() else { return nil }
        do { return try JSONDecoder().decode(SnapshotManifestEntry.self, from: Data(line)) } catch {
            throw HostileSnapshot(message: "a manifest line is not understood: \(error)")
        }
    }

    /// The next newline-terminated line; each step either returns, consumes a part, or ends.
    private func nextLine() throws -> [UInt8]? {
        while true {
            if let nl = buffer[start...].firstIndex(of: 10) {
                let line = Array(buffer[start..<nl])
                start = nl + 1
                return line
            }
            guard buffer.count - start <= Self.maxLineBytes else { throw HostileSnapshot(message: "a manifest line is longer than 1 MiB") }
            if exhausted {
                guard start == buffer.count else { throw HostileSnapshot(message: "the manifest ends in the middle of a line") }
                return nil
            }
            guard let part = try source.nextPart() else { exhausted = true; continue }
            buffer.removeFirst(start)
            start = 0
            buffer.append(contentsOf: part)
        }
    }
}

/// Removes a directory tree the agent made (a staging directory), never following links.
enum TreeRemoval {
    static func remove(_ path: String) {
        let slash = path.lastIndex(of: "/")!
        let parentPath = slash == path.startIndex ? "/" : String(path[..<slash])
        let parent = open(parentPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parent >= 0 else { return }
        defer { close(parent) }
        removeEntry(parent, String(path[path.index(after: slash)...]), depth: 0)
    }

    private static func removeEntry(_ parent: Int32, _ name: String, depth: Int) {
        if unlinkat(parent, name, 0) == 0 || errno == ENOENT { return }
        guard depth < 256 else { return }
        let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return }
        // Directories are made writable first (a snapshot may hold a 0555 directory).
        fchmod(fd, 0o700)
        for child in (try? TreeWalk.names(fd, name)) ?? [] { removeEntry(fd, child, depth: depth + 1) }
        close(fd)
        unlinkat(parent, name, AT_REMOVEDIR)
    }
}
