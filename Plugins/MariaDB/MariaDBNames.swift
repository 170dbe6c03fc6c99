import AgentKernel
import BalctlProtocol

/// What a parameter may hold, checked before anything runs.
enum MariaDBNames {
    /// Database names the commands accept: ASCII letters, digits and `_`, 1–64 bytes (MariaDB's
    /// limit). Stricter than the server: a name in a command line, a file name and an SQL
    /// identifier at once needs no quoting anywhere, so no quoting bug can turn it into SQL.
    static func isDatabaseName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 64 && s.utf8.allSatisfy { isWordByte($0) }
    }

    static func isWordByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
    }

    static func checkDatabase(_ s: String, field: String) throws {
        guard isDatabaseName(s) else {
            throw ParameterError("\(field) must be 1–64 characters of A–Z, a–z, 0–9 and _ (got \(s.debugDescription.prefix(80)))")
        }
    }

    /// Schemas the server keeps for itself: never restored over, never offered as user data.
    static let systemSchemas: Set<String> = ["mysql", "information_schema", "performance_schema", "sys"]

    /// A backup file name as `mariadb.backup` makes them: `<db or all>--<UTC stamp>-<8 hex>.sql.zst`.
    static func isBackupName(_ s: String) -> Bool {
        guard s.utf8.count <= 120, s.hasSuffix(".sql.zst"), let sep = s.firstRange(of: "--") else { return false }
        let db = String(s[..<sep.lowerBound])
        let rest = s[sep.upperBound...].dropLast(".sql.zst".count)
        // <stamp>-<8 hex>: 20260101T000000Z-0123abcd; "all-databases" names a whole-server dump.
        guard isDatabaseName(db) || db == "all-databases", rest.count == 25 else { return false }
        return rest.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) || $0 == 0x54 || $0 == 0x5A || $0 == 0x2D }
    }

    /// The database a backup file was taken of ("all" for a whole-server dump).
    static func backupSource(_ name: String) -> String? {
        guard isBackupName(name), let sep = name.firstRange(of: "--") else { return nil }
        return String(name[..<sep.lowerBound])
    }

    /// An SQL string literal for a value read from the server (user and host names in the grant
    /// tables are data, not trusted): backslash and quote escaped, NUL refused by the caller.
    static func sqlString(_ s: String) -> String {
        var out = "'"
        for ch in s.unicodeScalars {
            switch ch {
            case "\\": out += "\\\\"
            case "'": out += "''"
            case "\0": out += "\\0"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out + "'"
    }
}

/// At most `n` bytes of `s`, cut on a character boundary (values read from the server or a
/// file are bounded before they reach a report).
func clip(_ s: String, _ n: Int) -> String {
    guard s.utf8.count > n else { return s }
    var out = ""
    var used = 0
    for ch in s {
        let size = ch.utf8.count
        if used + size > n { break }
        out.append(ch); used += size
    }
    return out
}
