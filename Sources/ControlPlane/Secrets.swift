import Crypto
import Foundation

/// Secrets and their hashes. Enrollment secrets and API tokens are random (the system CSPRNG),
/// shown once, and stored only as SHA-256.
public enum Secrets {
    /// `count` random bytes as lowercase hex.
    public static func randomHex(bytes count: Int) -> String {
        var rng = SystemRandomNumberGenerator()  // getrandom(2) on Linux
        return (0..<count).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }
            .joined()
    }

    /// 48 lowercase hex characters.
    public static func newEnrollmentSecret() -> String { randomHex(bytes: 24) }

    /// Operator API token: `bct_` and 40 hex characters.
    public static func newAPIToken() -> String { "bct_" + randomHex(bytes: 20) }

    public static func sha256Hex(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
