import AgentKernel
import Crypto
import Foundation

/// The Ed25519 key pair that signs agent bundles. Files hold base64 of the raw 32-byte keys:
/// `agent-signing.key` (mode 600, created exclusively, never overwritten) and `agent-signing.pub`.
/// Agents pin the public key at enrolment (`BALCTL_UPDATE_PUBKEY`).
public enum AgentSigningKey {
    public static let privateName = "agent-signing.key"
    public static let publicName = "agent-signing.pub"

    public struct Problem: Error, CustomStringConvertible { public var description: String }

    /// Create the pair in `directory`; returns the public key (base64). Refuses to replace a key.
    public static func create(in directory: String) throws -> String {
        try SafeFile.makeDirectory(directory, mode: 0o700)
        let key = Curve25519.Signing.PrivateKey()
        let priv = directory + "/" + privateName
        if access(priv, F_OK) == 0 {
            throw Problem(description: "\(priv) already exists: refusing to replace a signing key (agents pinned its public key)")
        }
        // Exclusive create: a file appearing meanwhile fails it rather than being replaced.
        try SafeFile.createNew(priv, Array((key.rawRepresentation.base64EncodedString() + "\n").utf8), mode: 0o600)
        let pub = key.publicKey.rawRepresentation.base64EncodedString()
        try SafeFile.write(directory + "/" + publicName, Array((pub + "\n").utf8), mode: 0o644)
        return pub
    }

    public static func loadPrivate(_ path: String) throws -> Curve25519.Signing.PrivateKey {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Problem(description: "cannot read the signing key \(path)")
        }
        var st = stat()
        if stat(path, &st) == 0, st.st_mode & 0o077 != 0 {
            throw Problem(description: "\(path) is readable by others (mode \(String(st.st_mode & 0o777, radix: 8))): chmod 600 it")
        }
        guard let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)),
              let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else {
            throw Problem(description: "\(path) is not a base64 Ed25519 private key")
        }
        return key
    }

    public static func parsePublic(_ text: String) throws -> Curve25519.Signing.PublicKey {
        guard let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)),
              let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else {
            throw Problem(description: "not a base64 Ed25519 public key")
        }
        return key
    }
}
