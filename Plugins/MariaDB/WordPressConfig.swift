#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// What a `wp-config.php` says about its database: `define('DB_NAME', …)`, `DB_USER`, `DB_HOST`
/// and `$table_prefix`. The password is never read into the result. The parser is a small PHP
/// tokenizer (comments `//`, `#`, `/* */`; single- and double-quoted strings with escapes), so a
/// commented-out define does not count and any spacing or quoting style does; it is bounded
/// (input, tokens, string length) and fuzzed in the tests. PHP keeps the first define of a
/// constant (a second one only warns), so the first one counts here too.
struct WordPressConfig: Sendable, Equatable {
    var dbName: String?
    var dbUser: String?
    var dbHost: String?
    var tablePrefix: String?

    static let maxInput = 256 * 1024
    static let maxTokens = 200_000
    static let maxString = 256

    enum Token: Equatable {
        case ident(String)
        case variable(String)
        case string(String)
        case punct(UInt8)
    }

    static func tokens(_ input: [UInt8]) -> [Token] {
        let bytes = input.prefix(maxInput)
        var out: [Token] = []
        var i = bytes.startIndex
        let end = bytes.endIndex
        func isIdent(_ b: UInt8) -> Bool { MariaDBNames.isWordByte(b) || b >= 0x80 }
        // Red team: text outside `<?php … ?>` is inline HTML (printed, never run), and a
        // heredoc/nowdoc body is a string — a `define('DB_NAME', 'decoy')` in either was read
        // as the site's database (before a real define, it won: PHP's first define counts).
        var inPHP = false
        func at(_ j: Int, _ s: StaticString) -> Bool {
            let n = s.utf8CodeUnitCount
            guard j + n <= end else { return false }
            return s.withUTF8Buffer { u in (0..<n).allSatisfy { bytes[j + $0] == u[$0] } }
        }
        while i < end && out.count < maxTokens {
            if !inPHP {
                // Inline HTML up to the next open tag (`<?php`, `<?=`, short `<?`).
                while i < end && !at(i, "<?") { i += 1 }
                guard i < end else { break }
                i += at(i, "<?php") ? 5 : at(i, "<?=") ? 3 : 2
                inPHP = true
                continue
            }
            let b = bytes[i]
            if at(i, "?>") {
                // Leaves PHP; the close tag also ends a statement.
                out.append(.punct(UInt8(ascii: ";")))
                i += 2
                inPHP = false
                continue
            }
            if at(i, "<<<"), let (body, next) = Self.heredoc(bytes, at: i) {
                out.append(.string(String(decoding: body.prefix(maxString), as: UTF8.self)))
                i = next
                continue
            }
            if b == UInt8(ascii: "/") && i + 1 < end && bytes[i + 1] == UInt8(ascii: "/") || b == UInt8(ascii: "#") {
                // A line comment ends at the newline (or at `?>`, which leaves PHP).
                while i < end && bytes[i] != 10 {
                    if bytes[i] == UInt8(ascii: "?") && i + 1 < end && bytes[i + 1] == UInt8(ascii: ">") { break }
                    i += 1
                }
            } else if b == UInt8(ascii: "/") && i + 1 < end && bytes[i + 1] == UInt8(ascii: "*") {
                i += 2
                while i < end && !(bytes[i] == UInt8(ascii: "*") && i + 1 < end && bytes[i + 1] == UInt8(ascii: "/")) { i += 1 }
                i = min(end, i + 2)
            } else if b == UInt8(ascii: "'") || b == UInt8(ascii: "\"") {
                var value: [UInt8] = []
                i += 1
                while i < end && bytes[i] != b {
                    var c = bytes[i]
                    if c == UInt8(ascii: "\\") && i + 1 < end {
                        let next = bytes[i + 1]
                        // In single quotes only \' and \\ are escapes; in double quotes more,
                        // but a database name never needs them: keep the character.
                        if next == b || next == UInt8(ascii: "\\") { c = next; i += 1 }
                        else if b == UInt8(ascii: "\"") { c = next; i += 1 }
                    }
                    if value.count < maxString { value.append(c) }
                    i += 1
                }
                i = min(end, i + 1)
                out.append(.string(String(decoding: value, as: UTF8.self)))
            } else if b == UInt8(ascii: "$") || isIdent(b) {
                let start = b == UInt8(ascii: "$") ? i + 1 : i
                var j = start
                while j < end && isIdent(bytes[j]) && j - start < maxString { j += 1 }
                let name = String(decoding: bytes[start..<j], as: UTF8.self)
                out.append(b == UInt8(ascii: "$") ? .variable(name) : .ident(name))
                i = max(j, i + 1)
                while i < end && isIdent(bytes[i]) { i += 1 }
            } else if b <= 0x20 {
                i += 1
            } else {
                out.append(.punct(b))
                i += 1
            }
        }
        return out
    }

    /// A heredoc or nowdoc starting at `start` (`<<<ID`, `<<<"ID"`, `<<<'ID'`, then a line
    /// break): its body and the index after the closing identifier (PHP ≥ 7.3: the identifier
    /// may be indented and followed by anything not part of a name). nil when `<<<` does not
    /// open one; an unterminated one runs to the end of the input.
    static func heredoc(_ bytes: ArraySlice<UInt8>, at start: Int) -> ([UInt8], Int)? {
        let end = bytes.endIndex
        func isIdent(_ b: UInt8) -> Bool { MariaDBNames.isWordByte(b) || b >= 0x80 }
        var j = start + 3
        while j < end && (bytes[j] == 32 || bytes[j] == 9) { j += 1 }
        var quote: UInt8? = nil
        if j < end && (bytes[j] == 0x27 || bytes[j] == 0x22) { quote = bytes[j]; j += 1 }
        let idStart = j
        while j < end && isIdent(bytes[j]) && j - idStart < maxString { j += 1 }
        guard j > idStart else { return nil }
        let id = Array(bytes[idStart..<j])
        if let quote { guard j < end && bytes[j] == quote else { return nil }; j += 1 }
        if j < end && bytes[j] == 13 { j += 1 }
        guard j < end && bytes[j] == 10 else { return nil }
        j += 1
        let bodyStart = j
        // Line by line: every step moves j forward by at least one byte.
        while j < end {
            var k = j
            while k < end && (bytes[k] == 32 || bytes[k] == 9) { k += 1 }
            if k + id.count <= end && Array(bytes[k..<(k + id.count)]) == id
                && (k + id.count == end || !isIdent(bytes[k + id.count])) {
                return (Array(bytes[bodyStart..<j]), k + id.count)
            }
            while j < end && bytes[j] != 10 { j += 1 }
            j += 1
        }
        return (Array(bytes[bodyStart..<end]), end)
    }

    init(bytes: [UInt8]) {
        let t = Self.tokens(bytes)
        var k = 0
        while k < t.count {
            // define ( 'NAME' , 'value' [, …] )
            if case .ident(let word) = t[k], word.lowercased() == "define", k + 4 < t.count,
               t[k + 1] == .punct(UInt8(ascii: "(")), case .string(let key) = t[k + 2], t[k + 3] == .punct(UInt8(ascii: ",")),
               case .string(let value) = t[k + 4] {
                switch key {
                case "DB_NAME": if dbName == nil { dbName = value }
                case "DB_USER": if dbUser == nil { dbUser = value }
                case "DB_HOST": if dbHost == nil { dbHost = value }
                default: break  // DB_PASSWORD and the rest: never kept
                }
                k += 5
                continue
            }
            // $table_prefix = 'wp_';
            if case .variable("table_prefix") = t[k], k + 2 < t.count, t[k + 1] == .punct(UInt8(ascii: "=")),
               case .string(let value) = t[k + 2] {
                if tablePrefix == nil { tablePrefix = value }
                k += 3
                continue
            }
            k += 1
        }
    }

    init(dbName: String? = nil, dbUser: String? = nil, dbHost: String? = nil, tablePrefix: String? = nil) {
        self.dbName = dbName; self.dbUser = dbUser; self.dbHost = dbHost; self.tablePrefix = tablePrefix
    }
}

/// Finds wp-config.php files under the web roots: directories opened relative to their parent
/// with O_NOFOLLOW (a link is never followed), depth and entry counts bounded, WordPress's own
/// big trees (wp-content, wp-includes, wp-admin) and hidden directories skipped.
struct WordPressFinder: Sendable {
    var maxDepth = 6
    var maxEntries = 100_000
    var maxSites = 1_000

    struct Site: Sendable {
        var path: String
        var config: WordPressConfig
    }

    static let skipped: Set<String> = ["wp-content", "wp-includes", "wp-admin", "node_modules", "vendor"]

    func find(in roots: [String]) -> (sites: [Site], truncated: Bool) {
        var sites: [Site] = []
        var visited = 0
        var truncated = false
        for root in roots {
            let fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { continue }
            walk(fd, path: root, depth: 0, sites: &sites, visited: &visited, truncated: &truncated)
        }
        return (sites.sorted { $0.path < $1.path }, truncated)
    }

    /// Walks `dirFD` (and closes it).
    private func walk(_ dirFD: Int32, path: String, depth: Int, sites: inout [Site], visited: inout Int, truncated: inout Bool) {
        guard let dir = fdopendir(dirFD) else { close(dirFD); return }
        defer { closedir(dir) }
        var subdirs: [String] = []
        while let entry = readdir(dir) {
            visited += 1
            if visited > maxEntries || sites.count >= maxSites { truncated = true; return }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            var st = stat()
            guard fstatat(dirFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            let kind = st.st_mode & S_IFMT
            if kind == S_IFREG && name == "wp-config.php" {
                if let bytes = Self.readConfig(dirFD, name) {
                    sites.append(Site(path: path + "/" + name, config: WordPressConfig(bytes: bytes)))
                }
            } else if kind == S_IFDIR && depth < maxDepth && !name.hasPrefix(".") && !Self.skipped.contains(name) {
                subdirs.append(name)
            }
        }
        for name in subdirs.sorted() {
            let fd = openat(dirFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { continue }
            walk(fd, path: path + "/" + name, depth: depth + 1, sites: &sites, visited: &visited, truncated: &truncated)
            if truncated { return }
        }
    }

    /// At most `WordPressConfig.maxInput` bytes of a regular file, never through a link, never
    /// blocking on a FIFO.
    static func readConfig(_ dirFD: Int32, _ name: String) -> [UInt8]? {
        let fd = openat(dirFD, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while out.count < WordPressConfig.maxInput {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, min($0.count, WordPressConfig.maxInput - out.count)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        return out
    }
}
