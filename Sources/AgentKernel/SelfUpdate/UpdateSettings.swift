#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FoundationEssentials
import BalctlProtocol

/// Why an update was not installed. `check` names the check that failed, for the job result, the
/// CLI and the tests; the installed binary is untouched whenever one of these is thrown.
public struct UpdateRefusal: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Check: String, Sendable {
        case plaintextURL = "plaintext-url"
        case noPublicKey = "no-public-key"
        case download
        case downloadSize = "download-size"
        case archive
        case unexpectedEntry = "unexpected-entry"
        case noSignature = "no-signature"
        case badSignature = "bad-signature"
        case manifest
        case expired
        case minimumVersion = "minimum-version"
        case olderVersion = "older-version"
        case fileSet = "file-set"
        case size
        case hash
        case install
    }
    public var check: Check
    public var message: String
    public init(_ check: Check, _ message: String) { self.check = check; self.message = message }
    public var description: String { "\(check.rawValue): \(message)" }
}

/// Where updates come from and how they are checked, from agent.env / the environment.
public struct UpdateSettings: Sendable {
    /// https:// URL of agent.zip.
    public var url: String
    public var caFile: String?
    /// The Ed25519 key pinned at enrolment; without one every update is refused.
    public var publicKey: [UInt8]?
    /// Holds the highest version ever installed, the pending update and unreported events.
    public var stateDir: String
    /// The installed binary the update replaces.
    public var binaryPath: String
    public var maxBytes: Int
    /// A new version with no heartbeat accepted within this many seconds is rolled back.
    public var rollbackSec: Int
    public var allowDowngrade: Bool
    /// Update by itself when the control plane advertises a newer version.
    public var autoUpdate: Bool
    /// Crash tests only (`BALCTL_UPDATE_PAUSE_AT`): stop for a minute inside this step.
    public var pauseAt: String?

    public static let defaultMaxBytes = 64 << 20
    public static let defaultRollbackSec = 60

    public init(url: String, caFile: String?, publicKey: [UInt8]?, stateDir: String, binaryPath: String,
                maxBytes: Int = defaultMaxBytes, rollbackSec: Int = defaultRollbackSec, allowDowngrade: Bool = false,
                autoUpdate: Bool = false, pauseAt: String? = nil) {
        self.url = url; self.caFile = caFile; self.publicKey = publicKey; self.stateDir = stateDir
        self.binaryPath = binaryPath; self.maxBytes = maxBytes; self.rollbackSec = rollbackSec
        self.allowDowngrade = allowDowngrade; self.autoUpdate = autoUpdate; self.pauseAt = pauseAt
    }

    /// From BALCTL_* values (agent.env merged with the environment, as the service sees them).
    public static func load(_ values: [String: String]) throws(UpdateRefusal) -> UpdateSettings {
        func value(_ k: String) -> String? { values[k].flatMap { $0.isEmpty ? nil : $0 } }
        let base = value("BALCTL_API_BASE").map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        guard let url = value("BALCTL_UPDATE_URL") ?? base.map({ $0 + AgentBundle.zipPath }) else {
            throw UpdateRefusal(.plaintextURL, "neither BALCTL_UPDATE_URL nor BALCTL_API_BASE is set")
        }
        guard url.lowercased().hasPrefix("https://") else {
            throw UpdateRefusal(.plaintextURL, "refusing plaintext update URL \(url): updates are fetched over HTTPS only")
        }
        var key: [UInt8]? = nil
        if let text = value("BALCTL_UPDATE_PUBKEY") {
            guard let data = Data(base64Encoded: text), data.count == Ed25519.publicKeyBytes else {
                throw UpdateRefusal(.noPublicKey, "BALCTL_UPDATE_PUBKEY is not a base64 Ed25519 public key (32 bytes)")
            }
            key = Array(data)
        }
        var maxBytes = defaultMaxBytes
        if let s = value("BALCTL_UPDATE_MAX_BYTES") {
            guard let n = Int(s), n >= 1024, n <= 1 << 30 else {
                throw UpdateRefusal(.downloadSize, "BALCTL_UPDATE_MAX_BYTES must be 1024 to 1073741824")
            }
            maxBytes = n
        }
        var rollback = defaultRollbackSec
        if let s = value("BALCTL_UPDATE_ROLLBACK_SEC") {
            guard let n = Int(s), (2...3600).contains(n) else {
                throw UpdateRefusal(.install, "BALCTL_UPDATE_ROLLBACK_SEC must be 2 to 3600")
            }
            rollback = n
        }
        return UpdateSettings(
            url: url, caFile: value("BALCTL_CA_FILE"), publicKey: key,
            stateDir: value("BALCTL_STATE_DIR") ?? "/var/lib/balctl",
            binaryPath: value("BALCTL_AGENT_BINARY") ?? runningExecutable() ?? "/usr/local/bin/balctl-heartbeat",
            maxBytes: maxBytes, rollbackSec: rollback,
            allowDowngrade: AgentConfig.truthy(values["BALCTL_ALLOW_AGENT_DOWNGRADE"]),
            autoUpdate: AgentConfig.truthy(values["BALCTL_AUTO_UPDATE"]),
            pauseAt: value("BALCTL_UPDATE_PAUSE_AT"))
    }

    /// The file this process runs from (`/proc/self/exe`), without the " (deleted)" the kernel
    /// appends once the file was replaced.
    public static func runningExecutable() -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return nil }
        var path = String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if path.hasSuffix(" (deleted)") { path.removeLast(" (deleted)".count) }
        return path
    }

    /// The state subdirectory updates work in.
    var workDir: String { stateDir + "/update" }

    /// Crash tests: mark that `step` was reached and stop here for a minute (SIGKILL expected).
    func pause(_ step: String) {
        guard pauseAt == step else { return }
        _ = try? SafeFile.write(workDir + "/paused-at-" + step, Array(step.utf8), mode: 0o600)
        sleep(60)
    }
}
