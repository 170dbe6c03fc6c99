#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol
import CArchive
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where the extractor gets bytes from: parts already checked against the catalog's SHA-256
/// (`SnapshotTransfer.fetch`), or anything else in tests. nil: no more parts.
protocol PartSource: AnyObject {
    func nextPart() throws -> [UInt8]?
}

/// The limits a restore enforces on what a snapshot may unpack to. A snapshot is hostile input:
/// it may come from another member, and the store may have been written by anyone with its keys.
struct ExtractionLimits: Sendable {
    var maxEntries = 500_000
    var maxEntryBytes: Int64 = 64 << 30
    var maxTotalBytes: Int64 = 256 << 30
    /// Unpacked bytes per stored byte, enforced once more than `ratioFloorBytes` are unpacked
    /// (small, very compressible files are normal; gigabytes out of a few kilobytes are not).
    var maxCompressionRatio: Int64 = 200
    var ratioFloorBytes: Int64 = 64 << 20
    /// Keep setuid/setgid bits (off: they are stripped, and said so).
    var keepSetuid = false
}

/// Refusal of a hostile or damaged snapshot: the restore stops, the staging directory is
/// removed, nothing outside it was written.
struct HostileSnapshot: Error, CustomStringConvertible {
    var message: String
    var description: String { "snapshot refused: \(message)" }
}

/// Unpacks a snapshot into an empty staging directory with libarchive, checking every entry
/// before anything is written:
/// - names are relative, made of plain components (no empty, `.` or `..`), at most 4096 bytes;
/// - only files, directories, symlinks and hard links; devices, FIFOs and sockets are refused;
/// - a hard link may only name a regular file this snapshot already unpacked (never something
///   outside the staging root, a directory, a link or a later entry), and carries no data (tar
///   would write a hard link's data into the file it names, after that file's hash was checked);
/// - nothing is written through a link (an entry below a symlink the snapshot made is refused;
///   libarchive's SECURE_SYMLINKS and SECURE_NODOTDOT check again);
/// - a relative symlink target may not climb above the staging root;
/// - setuid/setgid bits are stripped unless asked for;
/// - entry count, per-entry and total sizes and the compression ratio are capped;
/// - every entry must be the next line of the manifest (same path, type and size; for files
///   the content's SHA-256), so the archive and its manifest cannot disagree.
final class SnapshotExtractor {
    let stagingRoot: String
    let limits: ExtractionLimits
    let restoreOwners: Bool
    /// The entry count the catalog recorded at commit; the archive may not hold more.
    var catalogEntries: Int? = nil
    /// The manifest header's roots, relative ("etc/haproxy/haproxy.cfg"): every entry is a root
    /// or lies below one, and below a root its parent directory came earlier in the archive (so
    /// no directory's attributes come from anything but its own entry).
    var roots: Set<String>? = nil

    struct Stats {
        var entries = 0
        var bytes: Int64 = 0
        var setuidStripped: [String] = []
        /// Directories that are entries of the snapshot (not ancestors libarchive made on the way).
        var directories = Set<String>()
    }

    private var source: PartSource
    /// The part being read, and how far libarchive has taken it.
    private var current: [UInt8] = []
    private var offset = 0
    /// What libarchive reads from: a window of the current part. The part's array cannot be
    /// lent to C beyond a closure, and copying it whole would hold every part twice.
    private let window = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    private var sourceError: (any Error)?
    private(set) var compressedBytes: Int64 = 0

    init(stagingRoot: String, limits: ExtractionLimits, source: PartSource, restoreOwners: Bool = geteuid() == 0) {
        self.stagingRoot = stagingRoot; self.limits = limits; self.source = source; self.restoreOwners = restoreOwners
    }

    deinit { window.deallocate() }

    private static let readCallback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafeMutablePointer<UnsafeRawPointer?>?) -> Int = { _, client, out in
        let me = Unmanaged<SnapshotExtractor>.fromOpaque(client!).takeUnretainedValue()
        do {
            if me.offset == me.current.count {
                // The part is used up: let it go before the next one is downloaded, so two
                // parts are never held at once.
                me.current = []
                me.offset = 0
                guard let part = try me.source.nextPart(), !part.isEmpty else { return 0 }
                me.current = part
                me.compressedBytes += Int64(part.count)
            }
            let n = min(me.window.count, me.current.count - me.offset)
            me.current.withUnsafeBytes { part in
                me.window.copyMemory(from: UnsafeRawBufferPointer(rebasing: part[me.offset..<(me.offset + n)]))
            }
            me.offset += n
            out?.pointee = UnsafeRawPointer(me.window.baseAddress!)
            return n
        } catch {
            me.sourceError = error
            return -1
        }
    }

    /// `manifest` yields the manifest's entries in order (after its header).
    func extract(manifest: () throws -> SnapshotManifestEntry?, onProgress: (Int64) throws -> Void) throws -> Stats {
        try withUTF8Locale { try extractArchive(manifest: manifest, onProgress: onProgress) }
    }

    private func extractArchive(manifest: () throws -> SnapshotManifestEntry?, onProgress: (Int64) throws -> Void) throws -> Stats {
        guard let a = archive_read_new() else { throw JobFailure("libarchive could not start") }
        defer { archive_read_free(a) }
        archive_read_support_filter_zstd(a)
        archive_read_support_format_tar(a)
        let me = Unmanaged.passUnretained(self).toOpaque()
        guard archive_read_open(a, me, nil, Self.readCallback, nil) == ARCHIVE_OK else {
            throw sourceError ?? HostileSnapshot(message: "not a zstd-compressed tar stream: \(Self.errorText(a))")
        }
        guard let disk = archive_write_disk_new() else { throw JobFailure("libarchive could not start") }
        defer { archive_write_free(disk) }
        var flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_SYMLINKS
            | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_NO_OVERWRITE
        if restoreOwners { flags |= ARCHIVE_EXTRACT_OWNER }
        archive_write_disk_set_options(disk, flags)

        var stats = Stats()
        var declaredTotal: Int64 = 0
        // Names are compared as bytes, as the file system compares them (Swift's String equality
        // is canonical equivalence: "é" and "e\u{301}" would be one name here and two on disk).
        var links = Set<[UInt8]>()
        var seen = Set<[UInt8]>()
        /// Regular files unpacked so far, with their size and content hash: what a hard link
        /// may name.
        var files: [[UInt8]: (size: Int64, sha256: String?)] = [:]
        var directories = Set<[UInt8]>()
        let rootNames = roots.map { Set($0.map { Array($0.utf8) }) }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            var entryPointer: OpaquePointer? = nil
            let r = archive_read_next_header(a, &entryPointer)
            if r == ARCHIVE_EOF { break }
            guard r == ARCHIVE_OK || r == ARCHIVE_WARN, let entry = entryPointer else {
                throw sourceError ?? HostileSnapshot(message: "damaged archive: \(Self.errorText(a))")
            }
            stats.entries += 1
            guard stats.entries <= limits.maxEntries else {
                throw HostileSnapshot(message: "more than \(limits.maxEntries) entries")
            }
            if let catalogEntries, stats.entries > catalogEntries {
                throw HostileSnapshot(message: "the archive holds more entries than the \(catalogEntries) its catalog entry lists")
            }
            let type = archive_entry_filetype(entry)
            guard let rawName = Self.entryName(entry) else { throw HostileSnapshot(message: "an entry's name is not valid UTF-8") }
            let name = try Self.checkedName(rawName, isDirectory: type == BALCTL_AE_IFDIR)
            let nameBytes = Array(name.utf8)
            guard seen.insert(nameBytes).inserted else { throw HostileSnapshot(message: "'\(name)' appears twice") }
            // Never below something this snapshot made a link.
            var prefix = ""
            for component in name.split(separator: "/").dropLast() {
                prefix += (prefix.isEmpty ? "" : "/") + component
                if links.contains(Array(prefix.utf8)) { throw HostileSnapshot(message: "'\(name)' lies below the symlink '\(prefix)'") }
            }
            var linkTarget: String? = nil
            if archive_entry_hardlink(entry) != nil {
                guard let raw = Self.hardlinkName(entry) else { throw HostileSnapshot(message: "hard link '\(name)' names something that is not valid UTF-8") }
                let target: String
                do { target = try Self.checkedName(raw, isDirectory: false) } catch let e as HostileSnapshot {
                    throw HostileSnapshot(message: "hard link '\(name)': \(e.message)")
                }
                guard files[Array(target.utf8)] != nil else {
                    throw HostileSnapshot(message: "hard link '\(name)' names '\(target)', which is not a file this snapshot unpacked before it")
                }
                linkTarget = target
            }
            let kind: String
            switch type {
            case _ where linkTarget != nil:
                // libarchive reads a tar hard link with no file type of its own (0), or a file's.
                guard type == 0 || type == BALCTL_AE_IFREG else { throw HostileSnapshot(message: "hard link '\(name)' is not a regular file entry") }
                kind = "hardlink"
            case BALCTL_AE_IFREG: kind = "file"
            case BALCTL_AE_IFDIR: kind = "dir"
            case BALCTL_AE_IFLNK:
                kind = "symlink"
                guard let target = archive_entry_symlink_utf8(entry).map({ String(cString: $0) }) else {
                    throw HostileSnapshot(message: "symlink '\(name)' has no readable target")
                }
                try Self.checkLinkTarget(target, of: name)
                links.insert(nameBytes)
            default:
                throw HostileSnapshot(message: "'\(name)' is a device node, FIFO or socket")
            }
            if let rootNames, !rootNames.contains(nameBytes) {
                let parent = name.lastIndex(of: "/").map { String(name[..<$0]) } ?? ""
                guard rootNames.contains(where: { nameBytes.starts(with: $0 + [UInt8(ascii: "/")]) }) else {
                    throw HostileSnapshot(message: "'\(name)' lies outside the snapshot's roots")
                }
                guard directories.contains(Array(parent.utf8)) else {
                    throw HostileSnapshot(message: "'\(name)' comes before its directory '\(parent)'")
                }
            }
            if kind == "dir" {
                stats.directories.insert(name)
                directories.insert(nameBytes)
            }
            let size = archive_entry_size_is_set(entry) != 0 ? archive_entry_size(entry) : 0
            guard size >= 0, size <= limits.maxEntryBytes else {
                throw HostileSnapshot(message: "'\(name)' is \(size) bytes, over the \(limits.maxEntryBytes)-byte cap per entry")
            }
            declaredTotal += size
            guard declaredTotal <= limits.maxTotalBytes else {
                throw HostileSnapshot(message: "the snapshot unpacks to more than \(limits.maxTotalBytes) bytes")
            }
            guard let expected = try manifest() else {
                throw HostileSnapshot(message: "the archive holds '\(name)', past the end of its manifest")
            }
            if let linkTarget {
                // No data: a hard link's bytes would be written into the file it names.
                guard size == 0 else { throw HostileSnapshot(message: "hard link '\(name)' carries \(size) bytes of data") }
                let file = files[Array(linkTarget.utf8)]!
                guard expected.path.utf8.elementsEqual(name.utf8), expected.type == "hardlink",
                  expected.target.map({ $0.utf8.elementsEqual(linkTarget.utf8) }) == true,
                      expected.size == file.size, expected.sha256 == file.sha256 else {
                    throw HostileSnapshot(message: "the archive's hard link '\(name)' → '\(linkTarget)' does not match the manifest's '\(expected.path)' (\(expected.type)\(expected.target.map { " → '\($0)'" } ?? ""))")
                }
            } else {
                guard expected.path.utf8.elementsEqual(name.utf8), expected.type == kind, expected.size == size else {
                    throw HostileSnapshot(message: "the archive's '\(name)' (\(kind), \(size) bytes) does not match the manifest's '\(expected.path)' (\(expected.type), \(expected.size) bytes)")
                }
            }
            var perm = UInt32(archive_entry_perm(entry))
            if perm & 0o6000 != 0 && !limits.keepSetuid {
                perm &= ~0o6000
                stats.setuidStripped.append("/" + name)
            }
            archive_entry_set_perm(entry, mode_t(perm))
            archive_entry_set_pathname_utf8(entry, stagingRoot + "/" + name)
            if let linkTarget { archive_entry_set_hardlink_utf8(entry, stagingRoot + "/" + linkTarget) }
            guard archive_write_header(disk, entry) == ARCHIVE_OK else {
                throw HostileSnapshot(message: "cannot unpack '\(name)': \(Self.errorText(disk))")
            }
            if kind == "file" {
                let hash = SHA256Stream()
                var written: Int64 = 0
                while true {
                    let n = archive_read_data(a, buffer, 1 << 20)
                    if n == 0 { break }
                    guard n > 0 else { throw sourceError ?? HostileSnapshot(message: "'\(name)' is damaged: \(Self.errorText(a))") }
                    written += Int64(n)
                    stats.bytes += Int64(n)
                    guard written <= size else { throw HostileSnapshot(message: "'\(name)' holds more data than its header says") }
                    if stats.bytes > limits.ratioFloorBytes && stats.bytes > limits.maxCompressionRatio * max(compressedBytes, 1) {
                        throw HostileSnapshot(message: "it unpacks to more than \(limits.maxCompressionRatio) times its stored size (a decompression bomb?)")
                    }
                    hash.update(UnsafeRawBufferPointer(start: buffer, count: n))
                    var off = 0
                    while off < n {
                        let w = archive_write_data(disk, buffer + off, n - off)
                        guard w > 0 else { throw JobFailure("writing '\(name)' into the staging directory: \(Self.errorText(disk))") }
                        off += w
                    }
                    try onProgress(stats.bytes)
                }
                guard written == size else { throw HostileSnapshot(message: "'\(name)' is shorter than its header says") }
                guard hash.finishHex() == expected.sha256 else {
                    throw HostileSnapshot(message: "'\(name)' does not match the manifest's SHA-256")
                }
                files[nameBytes] = (size, expected.sha256)
            }
            guard archive_write_finish_entry(disk) == ARCHIVE_OK else {
                throw JobFailure("finishing '\(name)' in the staging directory: \(Self.errorText(disk))")
            }
        }
        if let sourceError { throw sourceError }
        if let extra = try manifest() {
            throw HostileSnapshot(message: "the archive ends before the manifest's '\(extra.path)'")
        }
        // Directory modes and times are applied at close (after their children were written).
        guard archive_write_close(disk) == ARCHIVE_OK else {
            throw JobFailure("finishing the staging directory: \(Self.errorText(disk))")
        }
        return stats
    }

    static func entryName(_ entry: OpaquePointer) -> String? {
        if let p = archive_entry_pathname_utf8(entry) { return String(cString: p) }
        guard let p = archive_entry_pathname(entry) else { return nil }
        let s = String(cString: p)
        return s.utf8.elementsEqual(Array(UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p)))) ? s : nil
    }

    /// The name a hard link entry points to (UTF-8 only, like entry names).
    static func hardlinkName(_ entry: OpaquePointer) -> String? {
        if let p = archive_entry_hardlink_utf8(entry) { return String(cString: p) }
        guard let p = archive_entry_hardlink(entry) else { return nil }
        let s = String(cString: p)
        return s.utf8.elementsEqual(Array(UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p)))) ? s : nil
    }

    /// A plain relative name: components that are not empty, `.` or `..`; at most 4096 bytes.
    /// A directory may carry one trailing slash (tar writes them so).
    static func checkedName(_ raw: String, isDirectory: Bool) throws -> String {
        var name = raw
        if isDirectory && name.hasSuffix("/") { name.removeLast() }
        guard !name.isEmpty, name.utf8.count <= 4096 else { throw HostileSnapshot(message: "an entry has an empty or over-long name") }
        guard !name.hasPrefix("/") else { throw HostileSnapshot(message: "'\(raw)' is an absolute path") }
        for component in name.split(separator: "/", omittingEmptySubsequences: false) {
            guard !component.isEmpty, component != ".", component != ".." else {
                throw HostileSnapshot(message: "'\(raw)' has an empty, '.' or '..' component")
            }
        }
        return name
    }

    /// A relative target is resolved from the link's directory and may not climb above the
    /// staging root. An absolute target is kept as stored: the staging root stands for `/`, and
    /// the restore never writes through links, so it can only be read through later, as on the
    /// server the snapshot came from.
    static func checkLinkTarget(_ target: String, of name: String) throws {
        guard !target.isEmpty, target.utf8.count <= 4096 else { throw HostileSnapshot(message: "symlink '\(name)' has an empty or over-long target") }
        guard !target.hasPrefix("/") else { return }
        var depth = name.split(separator: "/").count - 1
        for component in target.split(separator: "/", omittingEmptySubsequences: true) {
            if component == ".." {
                depth -= 1
                guard depth >= 0 else { throw HostileSnapshot(message: "symlink '\(name)' -> '\(target)' leaves the restore root") }
            } else if component != "." {
                depth += 1
            }
        }
    }

    static func errorText(_ a: OpaquePointer) -> String {
        archive_error_string(a).map { String(cString: $0) } ?? "unknown error"
    }
}
