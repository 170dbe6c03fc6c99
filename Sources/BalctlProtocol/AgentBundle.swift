#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// agent.zip: a flat zip of the agent binary, its installer, unit and docs, plus `manifest.json`
/// (what this file describes) and `manifest.sig` (base64 of the Ed25519 signature of the exact
/// bytes of manifest.json). The agent trusts nothing in the zip until the signature verifies
/// against the public key pinned at enrolment (`BALCTL_UPDATE_PUBKEY`), and then only files the
/// manifest lists, with its sizes and SHA-256s.
public enum AgentBundle {
    public static let zipName = "agent.zip"
    public static let manifestName = "manifest.json"
    public static let signatureName = "manifest.sig"
    public static let binaryName = "balctl-heartbeat"
    /// Where the control plane serves the bundle (`--agent-bundle DIR`).
    public static let zipPath = "/agent/agent.zip"
    public static let manifestPath = "/agent/manifest.json"
    public static let signaturePath = "/agent/manifest.sig"
    /// Largest manifest or signature file read from a zip.
    public static let maxManifestBytes = 64 * 1024
    /// Most entries a bundle may hold.
    public static let maxEntries = 32

    /// A name allowed in the flat zip: no directory part, no `..`, no hidden or odd characters.
    public static func isFlatName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 100, name != ".", name != "..", name.first != "." else { return false }
        return name.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == UInt8(ascii: ".") || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
        }
    }
}

/// `manifest.json` of an agent.zip.
public struct AgentBundleManifest: Codable, Sendable, Equatable {
    public static let currentFormat = 1

    public struct File: Codable, Sendable, Equatable {
        public var name: String
        public var size: Int64
        /// Lower-case hex.
        public var sha256: String
        /// Octal permission bits, e.g. "755".
        public var mode: String
        public init(name: String, size: Int64, sha256: String, mode: String) {
            self.name = name; self.size = size; self.sha256 = sha256; self.mode = mode
        }
    }

    public var format: Int
    /// The agent version inside (`balctl-heartbeat --version` of the binary).
    public var version: String
    /// The oldest agent allowed to install this bundle by self-update (older ones re-run the
    /// installer); nil: any.
    public var minAgentVersion: String?
    /// UTC, `YYYY-MM-DDTHH:MM:SSZ`: after this the bundle is refused, so an old signed bundle
    /// cannot be replayed forever.
    public var notAfter: String
    public var created: String
    public var files: [File]

    public init(version: String, minAgentVersion: String?, notAfter: String, created: String, files: [File]) {
        self.format = Self.currentFormat; self.version = version; self.minAgentVersion = minAgentVersion
        self.notAfter = notAfter; self.created = created; self.files = files
    }

    public struct Invalid: Error, CustomStringConvertible, Sendable {
        public var description: String
        public init(_ d: String) { description = d }
    }

    /// Decode and check the shape (not the signature).
    public static func parse(_ bytes: [UInt8]) throws(Invalid) -> AgentBundleManifest {
        let m: AgentBundleManifest
        do { m = try JSONDecoder().decode(AgentBundleManifest.self, from: Data(bytes)) }
        catch { throw Invalid("manifest.json is not a valid manifest: \(error)") }
        try m.validate()
        return m
    }

    public func validate() throws(Invalid) {
        guard format == Self.currentFormat else { throw Invalid("manifest format \(format) is not \(Self.currentFormat)") }
        guard AgentVersion(version) != nil else { throw Invalid("version '\(version)' is not a dotted number") }
        if let min = minAgentVersion, AgentVersion(min) == nil { throw Invalid("minAgentVersion '\(min)' is not a dotted number") }
        guard UTCStamp.parse(notAfter) != nil else { throw Invalid("notAfter '\(notAfter)' is not YYYY-MM-DDTHH:MM:SSZ") }
        guard files.count <= AgentBundle.maxEntries - 2 else { throw Invalid("too many files (\(files.count))") }
        var seen = Set<String>()
        for f in files {
            guard AgentBundle.isFlatName(f.name), f.name != AgentBundle.manifestName, f.name != AgentBundle.signatureName else {
                throw Invalid("file name '\(f.name)' is not allowed in a bundle")
            }
            guard seen.insert(f.name).inserted else { throw Invalid("file '\(f.name)' is listed twice") }
            guard f.size >= 0 else { throw Invalid("file '\(f.name)' has a negative size") }
            guard f.sha256.utf8.count == 64, f.sha256.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
                throw Invalid("file '\(f.name)' has no valid sha256")
            }
            guard let bits = Int(f.mode, radix: 8), (0...0o777).contains(bits) else { throw Invalid("file '\(f.name)' has mode '\(f.mode)'") }
        }
        guard seen.contains(AgentBundle.binaryName) else { throw Invalid("the bundle has no \(AgentBundle.binaryName)") }
    }

    public func file(_ name: String) -> File? { files.first { $0.name == name } }
}

/// What a self-update did, reported to the control plane in the next heartbeats until one is
/// accepted; the control plane shows it in the member's job timeline.
public struct AgentUpdateEvent: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// The new version had a heartbeat accepted and took over.
        case updated
        /// The new version did not come up in time; the previous binary is back.
        case rolledBack = "rolled_back"
        /// A check failed; nothing was installed.
        case refused
        /// The agent died in the middle of an update before the swap; the old version stays.
        case interrupted
    }
    /// Random, so a report sent twice (a lost reply) is recorded once.
    public var id: String
    public var kind: Kind
    public var from: String
    public var to: String?
    public var at: Double
    public var message: String
    /// The `agent.update` job that started it; nil for `--update` and automatic updates.
    public var jobId: Int64?

    public init(id: String, kind: Kind, from: String, to: String?, at: Double, message: String, jobId: Int64?) {
        self.id = id; self.kind = kind; self.from = from; self.to = to; self.at = at
        self.message = message; self.jobId = jobId
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` ↔ Unix seconds, without a calendar library (the agent has none).
public enum UTCStamp {
    public static func parse(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        guard b.count == 20, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T"),
              b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"), b[19] == UInt8(ascii: "Z") else { return nil }
        func num(_ from: Int, _ n: Int) -> Int64? {
            var v: Int64 = 0
            for c in b[from..<from + n] {
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int64(c - 0x30)
            }
            return v
        }
        guard let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2), let mi = num(14, 2),
              let s = num(17, 2), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 60 else { return nil }
        return daysFromCivil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s
    }

    public static func format(_ epoch: Int64) -> String {
        let days = epoch >= 0 ? epoch / 86_400 : (epoch - 86_399) / 86_400
        let secs = epoch - days * 86_400
        // The calendar arithmetic Render.dateTime and the cron evaluator already share.
        let (y, m, d) = Render.civilDate(daysSinceEpoch: Int(days))
        func two<I: BinaryInteger>(_ v: I) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(y)-\(two(m))-\(two(d))T\(two(secs / 3600)):\(two(secs % 3600 / 60)):\(two(secs % 60))Z"
    }

    // Howard Hinnant's days-from-civil algorithm (proleptic Gregorian); the inverse is Render.civilDate.
    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
