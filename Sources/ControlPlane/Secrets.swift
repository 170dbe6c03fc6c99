import Crypto
import Foundation

/// Secrets and their hashes. Enrollment secrets and API tokens are random (the system CSPRNG),
/// shown once, and stored only as SHA-256.
public enum Secrets {
    /// `count` random bytes as lowercase hex.
    public static func randomHex(bytes count: Int) -> String {
        var rng = SystemRandomNumberGenerator()  // getrandom(2) on Linux
        return hex((0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    /// Lowercase hex. (String(format:) costs microseconds per byte on Linux; this is on the
    /// heartbeat path.)
    static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// 48 lowercase hex characters.
    public static func newEnrollmentSecret() -> String { randomHex(bytes: 24) }

    /// Operator API token: `bct_` and 40 hex characters.
    public static func newAPIToken() -> String { "bct_" + randomHex(bytes: 20) }

    public static func sha256Hex(_ text: String) -> String {
        hex(SHA256.hash(data: Data(text.utf8)))
    }
}
