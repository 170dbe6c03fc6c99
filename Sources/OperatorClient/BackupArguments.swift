import Foundation

/// Arguments of `balctl backups` checked on the operator's side, before anything is sent.
public enum BackupArguments {
    /// A refusal with the reason an operator can act on.
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// A snapshot ID as the control plane makes them: 32 lowercase hex characters.
    public static func snapshotID(_ text: String) throws -> String {
        let hex = text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        guard text.utf8.count == 32, hex else {
            let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
            throw Invalid("'\(shown)' is not a snapshot ID: a snapshot ID is 32 lowercase hex characters (see `balctl backups list MEMBER`)")
        }
        return text
    }

    /// A size in bytes: a whole or decimal number with an optional unit K, M, G or T (powers of
    /// 1024, case-insensitive, optionally followed by `iB` or `B`): `500M`, `10G`, `1.5T`,
    /// `1048576`, `2GiB`. A fraction of a byte is dropped. At most `Int64.max`.
    public static func bytes(_ text: String) throws -> Int64 {
        let invalid = Invalid("'\(text.prefix(40))' is not a size: give bytes or a number with K, M, G or T (powers of 1024), e.g. 500M, 10G, 1.5T")
        var s = Substring(text.trimmingCharacters(in: .whitespaces))
        // The unit: [KMGT] then optional "i" then optional "B"; or a lone "B".
        var shift = 0
        if s.last == "B" || s.last == "b" { s = s.dropLast() }
        if s.last == "i" || s.last == "I" {
            s = s.dropLast()
            guard let u = s.last, "KMGTkmgt".contains(u) else { throw invalid }
        }
        if let u = s.last, let i = "KMGT".firstIndex(of: Character(u.uppercased())) {
            shift = 10 * ("KMGT".distance(from: "KMGT".startIndex, to: i) + 1)
            s = s.dropLast()
        }
        s = Substring(s.trimmingCharacters(in: .whitespaces))
        let parts = s.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0], fraction = parts.count > 1 ? parts[1] : ""
        guard !whole.isEmpty, fraction.count <= 9,
              (whole + fraction).allSatisfy({ $0.isASCII && $0.isNumber }),
              parts.count == 1 || !fraction.isEmpty else { throw invalid }
        guard let w = Int64(whole) else { throw tooLarge(text) }
        let (scaled, overflow) = w.multipliedReportingOverflow(by: Int64(1) << shift)
        guard !overflow, w <= Int64.max >> shift else { throw tooLarge(text) }
        var result = scaled
        if !fraction.isEmpty, let f = Int64(fraction) {
            // f / 10^digits of the unit, rounded down: exact in 128 bits for 9 digits and 2^40.
            var denominator: Int64 = 1
            for _ in 0..<fraction.count { denominator *= 10 }
            let part = (f.multipliedFullWidth(by: Int64(1) << shift))
            let (q, _) = denominator.dividingFullWidth(part)
            let (sum, o) = result.addingReportingOverflow(q)
            guard !o else { throw tooLarge(text) }
            result = sum
        }
        return result
    }

    private static func tooLarge(_ text: String) -> Invalid {
        Invalid("'\(text.prefix(40))' is too large: at most \(Int64.max) bytes (8 EiB)")
    }
}
