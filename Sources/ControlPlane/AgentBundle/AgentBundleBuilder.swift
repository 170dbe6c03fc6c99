import AgentKernel
import BalctlProtocol
import CArchive
import Crypto
import Foundation

/// Builds agent.zip (`balctl-server bundle`): the agent binary (optionally stamped with a
/// version), the files of `bundle/`, `manifest.json` listing each with its size and SHA-256, and
/// `manifest.sig`. Writes agent.zip, manifest.json, manifest.sig and agent-signing.pub into the
/// output directory: what `serve --agent-bundle DIR` serves.
public struct AgentBundleBuilder {
    public var binary: String
    /// Stamp this version into the copy of the binary (nil: the version the binary carries).
    public var version: String?
    /// Other files for the zip (installer, unit, env example, docs); their base names are used.
    public var files: [String]
    public var signingKey: String
    public var validDays: Int = 90
    public var minAgentVersion: String?
    public var now: Date = Date()

    public init(binary: String, version: String?, files: [String], signingKey: String) {
        self.binary = binary; self.version = version; self.files = files; self.signingKey = signingKey
    }

    public struct Problem: Error, CustomStringConvertible { public var description: String }

    public static let stampMarker = Array("@(#)balctl-version:".utf8)
    static let stampField = 64 - stampMarker.count

    /// The version stamped in a built binary.
    public static func stampedVersion(_ bytes: [UInt8]) throws -> String {
        let at = try stampOffset(bytes)
        let field = bytes[at..<min(bytes.count, at + stampField)]
        return String(decoding: field.prefix(while: { $0 != 0 }), as: UTF8.self)
    }

    /// The same binary with `version` in its stamp.
    public static func stamp(_ bytes: [UInt8], version: String) throws -> [UInt8] {
        guard AgentVersion(version) != nil else { throw Problem(description: "version '\(version)' is not a dotted number") }
        let v = Array(version.utf8)
        guard v.count < stampField else { throw Problem(description: "version '\(version)' is too long") }
        let at = try stampOffset(bytes)
        var out = bytes
        for i in 0..<stampField { out[at + i] = i < v.count ? v[i] : 0 }
        return out
    }

    static func stampOffset(_ bytes: [UInt8]) throws -> Int {
        var found: [Int] = []
        let m = stampMarker
        var i = 0
        while i + m.count <= bytes.count {
            if bytes[i] == m[0] && bytes[i..<i + m.count].elementsEqual(m) { found.append(i + m.count); i += m.count } else { i += 1 }
        }
        guard found.count == 1, found[0] + stampField <= bytes.count else {
            throw Problem(description: "the binary carries \(found.count) version stamps (expected exactly one): is it balctl-heartbeat?")
        }
        return found[0]
    }

    @discardableResult
    public func build(into outDir: String) throws -> AgentBundleManifest {
        let key = try AgentSigningKey.loadPrivate(signingKey)
        var binaryBytes = Array(try Data(contentsOf: URL(fileURLWithPath: binary)))
        if let version { binaryBytes = try Self.stamp(binaryBytes, version: version) }
        let bundleVersion = try Self.stampedVersion(binaryBytes)
        if let min = minAgentVersion, AgentVersion(min) == nil {
            throw Problem(description: "--min-agent-version '\(min)' is not a dotted number")
        }

        var contents: [(name: String, bytes: [UInt8], mode: Int)] = [(AgentBundle.binaryName, binaryBytes, 0o755)]
        for path in files {
            let name = URL(fileURLWithPath: path).lastPathComponent
            guard AgentBundle.isFlatName(name), !contents.contains(where: { $0.name == name }) else {
                throw Problem(description: "cannot add \(path) to the bundle (name not allowed or twice)")
            }
            contents.append((name, Array(try Data(contentsOf: URL(fileURLWithPath: path))), name.hasSuffix(".sh") ? 0o755 : 0o644))
        }
        let created = Int64(now.timeIntervalSince1970)
        let manifest = AgentBundleManifest(
            version: bundleVersion, minAgentVersion: minAgentVersion,
            notAfter: UTCStamp.format(created + Int64(validDays) * 86_400), created: UTCStamp.format(created),
            files: contents.map { .init(name: $0.name, size: Int64($0.bytes.count), sha256: SHA256.hash(data: $0.bytes).hexString,
                                        mode: String($0.mode, radix: 8)) })
        try manifest.validate()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let manifestBytes = Array(try encoder.encode(manifest)) + [0x0A]
        let signature = Array((try key.signature(for: manifestBytes).base64EncodedString() + "\n").utf8)

        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        try SafeFile.makeDirectory(outDir, mode: 0o755)
        let zipPath = outDir + "/" + AgentBundle.zipName
        let entries = contents + [(AgentBundle.manifestName, manifestBytes, 0o644), (AgentBundle.signatureName, signature, 0o644)]
        try ZipWriter.write(zipPath, entries: entries.map { ($0.name, $0.bytes, $0.mode) }, mtime: created)
        try SafeFile.write(outDir + "/" + AgentBundle.manifestName, manifestBytes, mode: 0o644)
        try SafeFile.write(outDir + "/" + AgentBundle.signatureName, signature, mode: 0o644)
        try SafeFile.write(outDir + "/" + AgentSigningKey.publicName,
                           Array((key.publicKey.rawRepresentation.base64EncodedString() + "\n").utf8), mode: 0o644)
        return manifest
    }
}

extension Digest {
    var hexString: String { map { String(format: "%02x", $0) }.joined() }
}

/// A flat zip written with libarchive (the library the agent reads it with).
public enum ZipWriter {
    public static func write(_ path: String, entries: [(name: String, bytes: [UInt8], mode: Int)], mtime: Int64) throws {
        guard let a = archive_write_new() else { throw AgentBundleBuilder.Problem(description: "libarchive could not start") }
        defer { archive_write_free(a) }
        let check = { (r: Int32, what: String) throws in
            guard r == ARCHIVE_OK else {
                throw AgentBundleBuilder.Problem(description: "\(what): \(archive_error_string(a).map { String(cString: $0) } ?? "error")")
            }
        }
        try check(archive_write_set_format_zip(a), "zip format")
        let tmp = path + ".tmp-\(getpid())"
        try check(archive_write_open_filename(a, tmp), "open \(tmp)")
        for e in entries {
            guard let entry = archive_entry_new() else { throw AgentBundleBuilder.Problem(description: "libarchive entry") }
            defer { archive_entry_free(entry) }
            archive_entry_set_pathname(entry, e.name)
            archive_entry_set_size(entry, la_int64_t(e.bytes.count))
            archive_entry_set_filetype(entry, BALCTL_AE_IFREG)
            archive_entry_set_perm(entry, mode_t(e.mode))
            archive_entry_set_mtime(entry, time_t(mtime), 0)
            try check(archive_write_header(a, entry), "header of \(e.name)")
            let written = e.bytes.withUnsafeBytes { archive_write_data(a, $0.baseAddress, $0.count) }
            guard written == e.bytes.count else { throw AgentBundleBuilder.Problem(description: "writing \(e.name) into the zip failed") }
        }
        try check(archive_write_close(a), "closing the zip")
        guard rename(tmp, path) == 0 else { throw AgentBundleBuilder.Problem(description: "cannot move the zip into place") }
    }
}
