#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol
import FoundationEssentials

/// A firewall backup: one JSON file under `<stateDir>/firewall-backups` (0600, a unique name
/// made with O_EXCL|O_NOFOLLOW) holding ufw's rule and settings files as text:
/// `{"format":"balctl-ufw-backup","version":1,"createdAt":"…","files":{"user.rules":"…",…}}`.
/// Names in `files` are those of `FirewallSettings.ruleFileNames` and `default-ufw` for
/// /etc/default/ufw.
struct UFWBackup: Sendable {
    static let format = "balctl-ufw-backup"
    static let maxFileBytes = 1 << 20
    static let maxBackupBytes = 8 << 20

    var createdAt: String
    /// Backup name → bytes, in a fixed order.
    var files: [(name: String, text: String)]

    static var allNames: [String] { FirewallSettings.ruleFileNames + [FirewallSettings.defaultsName] }

    /// The files as they are now (the missing ones left out).
    static func capture(_ settings: FirewallSettings) throws -> UFWBackup {
        var files: [(String, String)] = []
        for name in allNames {
            let path = settings.path(ofBackupName: name)
            guard Files.exists(path) else { continue }
            do {
                let bytes = try Files.readBytes(path, limit: maxFileBytes, noFollow: true)
                files.append((name, String(decoding: bytes, as: UTF8.self)))
            } catch {
                throw JobFailure("cannot read \(path): \(error)")
            }
        }
        let b = UFWBackup(createdAt: isoNow(), files: files)
        try b.validate()
        return b
    }

    var json: JSONValue {
        var o: [String: JSONValue] = [:]
        for f in files { o[f.name] = .string(f.text) }
        return .object(["format": .string(Self.format), "version": .number(1),
                        "createdAt": .string(createdAt), "files": .object(o)])
    }

    static func decode(_ bytes: [UInt8]) throws -> UFWBackup {
        guard bytes.count <= maxBackupBytes else { throw JobFailure("backup: larger than \(maxBackupBytes) bytes") }
        let value: JSONValue
        do { value = try JSONDecoder().decode(JSONValue.self, from: Data(bytes)) } catch {
            throw JobFailure("backup: not JSON")
        }
        guard value["format"]?.stringValue == format, value["version"]?.doubleValue == 1 else {
            throw JobFailure("backup: not a balctl ufw backup (format/version)")
        }
        guard case .object(let filesObj)? = value["files"] else { throw JobFailure("backup: no files") }
        var files: [(String, String)] = []
        for name in allNames {
            guard let v = filesObj[name] else { continue }
            guard let text = v.stringValue else { throw JobFailure("backup: \(name) is not text") }
            files.append((name, text))
        }
        if let unknown = filesObj.keys.sorted().first(where: { !allNames.contains($0) }) {
            throw JobFailure("backup: unexpected file '\(unknown.prefix(64))'")
        }
        let b = UFWBackup(createdAt: value["createdAt"]?.stringValue ?? "", files: files)
        try b.validate()
        return b
    }

    func text(_ name: String) -> String? { files.first { $0.name == name }?.text }

    /// Every file must look like what ufw writes: iptables-restore text for *.rules (and the
    /// tuples of user rules must parse), KEY=VALUE with plain values for ufw.conf and
    /// /etc/default/ufw (a shell sources the latter), key = value for sysctl.conf.
    func validate(requiring required: [String] = ["user.rules", "ufw.conf", FirewallSettings.defaultsName]) throws {
        for required in required where text(required) == nil {
            throw JobFailure("backup: \(required) is missing")
        }
        for (name, text) in files {
            guard text.utf8.count <= Self.maxFileBytes else { throw JobFailure("backup: \(name) is too large") }
            guard !text.utf8.contains(0), !text.utf8.contains(13) else { throw JobFailure("backup: \(name) holds NUL or CR") }
            let lines = text.split(separator: "\n")
            if name.hasSuffix(".rules") {
                try Self.validateRules(name, lines)
            } else if name == "sysctl.conf" {
                for (i, l) in lines.enumerated() where !Self.isComment(l) {
                    guard Self.isSysctl(l) else { throw JobFailure("backup: \(name) line \(i + 1) is not key=value") }
                }
            } else {
                for (i, l) in lines.enumerated() where !Self.isComment(l) {
                    guard Self.isPlainAssignment(l) else {
                        throw JobFailure("backup: \(name) line \(i + 1) is not a plain KEY=VALUE")
                    }
                }
            }
        }
    }

    static func isComment(_ l: Substring) -> Bool {
        let t = l.drop(while: { $0 == " " || $0 == "\t" })
        return t.isEmpty || t.first == "#"
    }

    static func validateRules(_ name: String, _ lines: [Substring]) throws {
        var sawTable = false
        var lastContent: Substring = ""
        for (i, l) in lines.enumerated() {
            if isComment(l) {
                if name.hasPrefix("user"), l.hasPrefix("### tuple ###"),
                   UFWRule.parse(tupleLine: l, ipv6: name == "user6.rules") == nil {
                    throw JobFailure("backup: \(name) line \(i + 1): a rule ufw would not read")
                }
                continue
            }
            lastContent = l
            if l.hasPrefix("*") {
                guard ["*filter", "*nat", "*mangle", "*raw", "*security"].contains(String(l)) else {
                    throw JobFailure("backup: \(name) line \(i + 1): unknown table")
                }
                sawTable = true
            } else if l == "COMMIT" || l.hasPrefix(":") || l.hasPrefix("-A ") || l.hasPrefix("-I ")
                        || l.hasPrefix("-N ") || l.hasPrefix("-P ") {
                guard sawTable else { throw JobFailure("backup: \(name) line \(i + 1): before any table") }
            } else {
                throw JobFailure("backup: \(name) line \(i + 1) is not iptables-restore input")
            }
        }
        guard sawTable, lastContent == "COMMIT" else { throw JobFailure("backup: \(name) does not end with COMMIT") }
    }

    /// `KEY=value` / `KEY="value"`: value of letters, digits, space and `_ . / : , -` only.
    static func isPlainAssignment(_ l: Substring) -> Bool {
        guard let eq = l.firstIndex(of: "=") else { return false }
        let key = l[..<eq], value = l[l.index(after: eq)...]
        guard let f = key.first, f.isASCII, f.isUppercase,
              key.allSatisfy({ $0.isASCII && ($0.isUppercase || $0.isNumber || $0 == "_") }) else { return false }
        var v = value
        // Red team: a space is only harmless inside the quotes. Unquoted, ufw-init's
        // `. /etc/default/ufw` (and ufw.conf) reads `KEY=x /tmp/prog` as "run /tmp/prog as root
        // with KEY=x in its environment" — the restore ran a program of the backup's choosing.
        var allowed = "_./:,-"
        if v.count >= 2, v.first == "\"", v.last == "\"" { v = v.dropFirst().dropLast(); allowed += " " }
        return v.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || allowed.contains($0)) }
    }

    static func isSysctl(_ l: Substring) -> Bool {
        guard let eq = l.firstIndex(of: "=") else { return false }
        let key = l[..<eq].trimmingCharacters(), value = l[l.index(after: eq)...].trimmingCharacters()
        // Network keys only, as ufw's own file has: ufw-init feeds it to `sysctl -p` as root,
        // and a key such as kernel/core_pattern would make the kernel run a program.
        return (key.hasPrefix("net/") || key.hasPrefix("net."))
            && key.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || "_./-".contains($0)) })
            && !value.isEmpty && value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) })
    }

    static func isoNow() -> String {
        var t = time_t(unixNow())
        var tmv = tm()
        gmtime_r(&t, &tmv)
        func p(_ v: Int32, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        return "\(p(tmv.tm_year + 1900, 4))\(p(tmv.tm_mon + 1, 2))\(p(tmv.tm_mday, 2))T\(p(tmv.tm_hour, 2))\(p(tmv.tm_min, 2))\(p(tmv.tm_sec, 2))Z"
    }

    /// A name `firewall.backup` made: `ufw-<UTC stamp>-<16 hex>`.
    static func isBackupName(_ s: String, prefix: String = "ufw-") -> Bool {
        guard s.hasPrefix(prefix), ((prefix.utf8.count + 16)...96).contains(s.utf8.count) else { return false }
        // After the prefix: the stamp (digits, T, Z), dashes and lower-case hex only.
        return s.utf8.dropFirst(prefix.utf8.count).allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) || $0 == 45 || $0 == 84 || $0 == 90 }
    }
}

extension Substring {
    func trimmingCharacters() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
