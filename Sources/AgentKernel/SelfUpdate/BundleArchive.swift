#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CArchive
import BalctlProtocol

/// Reads agent.zip with libarchive. Every entry must be a regular file with a flat, plain name
/// (no `/`, no `..`, no links, no devices, no directories); anything else refuses the whole bundle.
/// Reading is bounded: at most `AgentBundle.maxEntries` entries and `maxUncompressedBytes` in all,
/// so a zip bomb costs bounded CPU and nothing on disk (the scan writes nothing).
enum BundleArchive {
    static let maxUncompressedBytes: Int64 = 512 << 20

    struct Scan {
        var manifest: [UInt8]?
        var signature: [UInt8]?
        /// name → (size, sha256) of every other entry.
        var files: [String: (size: Int64, sha256: String)] = [:]
    }

    /// One pass over the zip: the manifest and signature in memory, every other entry hashed.
    static func scan(_ path: String) throws(UpdateRefusal) -> Scan {
        var scan = Scan()
        var names = Set<String>()
        try read(path) { (name, entrySize, data) throws(UpdateRefusal) in
            guard names.insert(name).inserted else {
                throw UpdateRefusal(.unexpectedEntry, "the zip holds '\(name)' twice")
            }
            if name == AgentBundle.manifestName || name == AgentBundle.signatureName {
                var bytes: [UInt8] = []
                try data { chunk throws(UpdateRefusal) in
                    guard bytes.count + chunk.count <= AgentBundle.maxManifestBytes else {
                        throw UpdateRefusal(.manifest, "\(name) is larger than \(AgentBundle.maxManifestBytes) bytes")
                    }
                    bytes.append(contentsOf: chunk)
                }
                if name == AgentBundle.manifestName { scan.manifest = bytes } else { scan.signature = bytes }
            } else {
                let hash = SHA256Stream()
                var size: Int64 = 0
                try data { chunk throws(UpdateRefusal) in hash.update(chunk); size += Int64(chunk.count) }
                scan.files[name] = (size, hash.finishHex())
            }
        }
        return scan
    }

    /// Write the entry `name` to `fd`, checking its size and hash against `expect` as it goes;
    /// `midway` runs after the first chunk (crash tests).
    static func extract(_ path: String, name wanted: String, expect: AgentBundleManifest.File, to fd: Int32,
                        midway: @escaping () -> Void) throws(UpdateRefusal) {
        var found = false
        try read(path) { (name, _, data) throws(UpdateRefusal) in
            guard name == wanted else { return }
            found = true
            let hash = SHA256Stream()
            var size: Int64 = 0
            var first = true
            try data { chunk throws(UpdateRefusal) in
                size += Int64(chunk.count)
                guard size <= expect.size else {
                    throw UpdateRefusal(.size, "\(name) is larger than the manifest's \(expect.size) bytes")
                }
                hash.update(chunk)
                try writeAll(fd, chunk, name)
                if first { first = false; midway() }
            }
            guard size == expect.size else { throw UpdateRefusal(.size, "\(name) is \(size) bytes, the manifest says \(expect.size)") }
            guard hash.finishHex() == expect.sha256 else { throw UpdateRefusal(.hash, "\(name) does not match the manifest's SHA-256") }
        }
        guard found else { throw UpdateRefusal(.fileSet, "the zip has no \(wanted)") }
    }

    private static func writeAll(_ fd: Int32, _ chunk: UnsafeRawBufferPointer, _ name: String) throws(UpdateRefusal) {
        var done = 0
        while done < chunk.count {
            let w = write(fd, chunk.baseAddress! + done, chunk.count - done)
            if w < 0 {
                if errno == EINTR { continue }
                throw UpdateRefusal(.install, "writing \(name): \(String(cString: strerror(errno)))")
            }
            done += w
        }
    }

    typealias ChunkReader = ((UnsafeRawBufferPointer) throws(UpdateRefusal) -> Void) throws(UpdateRefusal) -> Void

    /// Walk the zip's entries; `body` gets each entry's name, declared size and a reader of its data.
    private static func read(_ path: String,
                             _ body: (String, Int64, ChunkReader) throws(UpdateRefusal) -> Void) throws(UpdateRefusal) {
        guard let a = archive_read_new() else { throw UpdateRefusal(.archive, "libarchive could not start") }
        defer { archive_read_free(a) }
        archive_read_support_format_zip(a)
        guard archive_read_open_filename(a, path, 64 << 10) == ARCHIVE_OK else {
            throw UpdateRefusal(.archive, "not a zip archive: \(errorText(a))")
        }
        var entries = 0
        var total: Int64 = 0
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 64 << 10, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            var entry: OpaquePointer? = nil
            let r = archive_read_next_header(a, &entry)
            if r == ARCHIVE_EOF { break }
            guard r == ARCHIVE_OK, let entry else { throw UpdateRefusal(.archive, "unreadable zip entry: \(errorText(a))") }
            entries += 1
            guard entries <= AgentBundle.maxEntries else {
                throw UpdateRefusal(.unexpectedEntry, "the zip has more than \(AgentBundle.maxEntries) entries")
            }
            guard let cName = archive_entry_pathname(entry) else {
                throw UpdateRefusal(.unexpectedEntry, "an entry has no name (or one that is not valid text)")
            }
            let name = String(cString: cName)
            guard AgentBundle.isFlatName(name) else {
                throw UpdateRefusal(.unexpectedEntry, "entry '\(name)' is not a plain file name (no directories, '..' or odd characters)")
            }
            guard archive_entry_filetype(entry) == BALCTL_AE_IFREG, archive_entry_hardlink(entry) == nil,
                  archive_entry_symlink(entry) == nil else {
                throw UpdateRefusal(.unexpectedEntry, "entry '\(name)' is not a regular file (links, devices and directories are refused)")
            }
            let declared = archive_entry_size_is_set(entry) != 0 ? archive_entry_size(entry) : -1
            try body(name, declared) { (chunk: (UnsafeRawBufferPointer) throws(UpdateRefusal) -> Void) throws(UpdateRefusal) in
                while true {
                    let n = archive_read_data(a, buffer, 64 << 10)
                    if n == 0 { return }
                    guard n > 0 else { throw UpdateRefusal(.archive, "entry '\(name)' is damaged: \(errorText(a))") }
                    total += Int64(n)
                    guard total <= maxUncompressedBytes else {
                        throw UpdateRefusal(.downloadSize, "the zip unpacks to more than \(maxUncompressedBytes) bytes")
                    }
                    try chunk(UnsafeRawBufferPointer(start: buffer, count: n))
                }
            }
        }
    }

    private static func errorText(_ a: OpaquePointer) -> String {
        archive_error_string(a).map { String(cString: $0) } ?? "unknown error"
    }
}
