import AgentKernel
import BalctlProtocol

/// What job parameters may put into an OLS configuration line. Everything that reaches a file is
/// checked here first: a value with a blank, a brace, a `#`, a `$`, a comma or a control
/// character could end the directive, open a block or start a comment, so such values are
/// refused rather than quoted (OLS has no quoting).
enum OLSNames {
    /// OpenLiteSpeed's own directories under its server root: never a vhost's name (its default
    /// root is `$SERVER_ROOT/<name>/`) nor a vhost root.
    static let olsDirectories: Set<String> = ["admin", "autoupdate", "backup", "bin", "cachedata", "cgid", "conf", "docs",
        "fcgi-bin", "gdata", "lib", "lib64", "logs", "lsrecaptcha", "modules", "php", "phpbuild", "share", "ssl", "tmp", "add-ons"]

    static func isOLSDirectory(_ name: String) -> Bool {
        let n = name.lowercased()
        return olsDirectories.contains(n) || n.hasPrefix("lsphp") || n.hasPrefix(".")
    }

    /// A virtual host name: also a directory name under conf/vhosts.
    static func checkVHost(_ name: String, field: String = "name") throws {
        guard (1...64).contains(name.utf8.count), let f = name.utf8.first, isAlnum(f),
              name.utf8.allSatisfy({ isAlnum($0) || $0 == 0x2d || $0 == 0x5f || $0 == 0x2e }), !name.contains("..") else {
            throw ParameterError("\(field) must be 1–64 letters, digits, '.', '-' or '_', starting with a letter or digit")
        }
    }

    /// A domain a listener maps to a vhost: an RFC 1123 host name, optionally `*.`-prefixed.
    static func checkDomain(_ d: String) throws {
        var name = Substring(d)
        if name.hasPrefix("*.") { name = name.dropFirst(2) }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard !name.isEmpty, name.utf8.count <= 253, labels.count >= 1,
              labels.allSatisfy({ l in
                  (1...63).contains(l.utf8.count) && isAlnum(l.utf8.first!) && isAlnum(l.utf8.last!)
                      && l.utf8.allSatisfy { isAlnum($0) || $0 == 0x2d }
              }) else {
            throw ParameterError("domain '\(d.prefix(80))' is not a host name (letters, digits, '-', dots; '*.' prefix allowed)")
        }
    }

    /// An absolute path written into a config line: plain components only.
    static func checkPath(_ p: String, field: String) throws {
        guard p.hasPrefix("/"), p.utf8.count <= 1024,
              p.utf8.allSatisfy({ isAlnum($0) || [0x2f, 0x2e, 0x2d, 0x5f, 0x40, 0x2b, 0x7e].contains($0) }),
              !p.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
            throw ParameterError("\(field) must be an absolute path of letters, digits and / . - _ @ + ~ (no '..')")
        }
    }

    /// An LSPHP handler name (`lsphp82`) from `lsphp82`, `82` or `8.2`.
    static func lsphp(_ given: String) throws -> String {
        var digits = given.lowercased()
        if digits.hasPrefix("lsphp") { digits.removeFirst(5) }
        digits.removeAll { $0 == "." }
        guard (2...3).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw ParameterError("lsphp must name an LSPHP version: lsphp82, 82 or 8.2")
        }
        return "lsphp" + digits
    }

    static func isAlnum(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a)
    }
}
