/// An haproxy.cfg held as its raw lines (bytes, without the "\n"), so that edits keep every
/// other byte as it was, plus the little we read from it: sections, `stats socket` lines,
/// `pidfile` and the absolute paths it references.
public struct HAProxyConfigFile: Sendable {
    public var lines: [[UInt8]]

    /// Keywords that open a section (haproxy does not need indentation to tell them apart).
    static let sectionKeywords: Set<String> = [
        "global", "defaults", "frontend", "backend", "listen", "peers", "resolvers", "userlist",
        "mailers", "program", "http-errors", "ring", "cache", "log-forward", "fcgi-app", "crt-store",
        "traces", "acme",
    ]

    public init(bytes: [UInt8]) {
        lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
    }

    public init(text: String) { self.init(bytes: Array(text.utf8)) }

    public var bytes: [UInt8] { Array(lines.joined(separator: [0x0A])) }

    public func text(_ i: Int) -> String { String(decoding: lines[i], as: UTF8.self) }

    /// The words of line `i`: comment removed, quotes and backslash escapes resolved the way
    /// haproxy reads them (good enough to find keywords and paths).
    public func tokens(_ i: Int) -> [String] { Self.tokenize(text(i)) }

    static func tokenize(_ line: String) -> [String] {
        var out: [String] = []
        var word = ""
        var inWord = false
        var quote: Character? = nil
        var escaped = false
        for c in line {
            if escaped { word.append(c); escaped = false; inWord = true; continue }
            if c == "\\" && quote != "'" { escaped = true; continue }
            if let q = quote {
                if c == q { quote = nil } else { word.append(c) }
                continue
            }
            if c == "\"" || c == "'" { quote = c; inWord = true; continue }
            if c == "#" { break }
            if c == " " || c == "\t" || c == "\r" {
                if inWord { out.append(word); word = ""; inWord = false }
                continue
            }
            word.append(c); inWord = true
        }
        if inWord { out.append(word) }
        return out
    }

    /// Line indices of section headers, with their keyword.
    func sectionHeaders() -> [(index: Int, keyword: String)] {
        lines.indices.compactMap { i in
            guard let first = tokens(i).first, Self.sectionKeywords.contains(first) else { return nil }
            return (i, first)
        }
    }

    /// The body of the first `global` section: from the line after its header to the next header.
    public func globalBody() -> Range<Int>? {
        let headers = sectionHeaders()
        guard let g = headers.firstIndex(where: { $0.keyword == "global" }) else { return nil }
        let start = headers[g].index + 1
        let end = g + 1 < headers.count ? headers[g + 1].index : lines.count
        return start..<end
    }

    public struct StatsSocket: Sendable, Equatable {
        /// A filesystem path (the `unix@` prefix removed).
        public var path: String
        /// user, operator or admin (haproxy's default is user).
        public var level: String
        public var line: Int
    }

    /// `stats socket` lines of the global section that name a Unix socket path (TCP and abstract
    /// sockets are left out: we only speak to paths).
    public func statsSockets() -> [StatsSocket] {
        guard let body = globalBody() else { return [] }
        return body.compactMap { i in
            let t = tokens(i)
            guard t.count >= 3, t[0] == "stats", t[1] == "socket" else { return nil }
            var path = t[2]
            if path.hasPrefix("unix@") { path = String(path.dropFirst(5)) }
            guard path.hasPrefix("/") else { return nil }
            var level = "user"
            if let l = t.firstIndex(of: "level"), l + 1 < t.count { level = t[l + 1] }
            return StatsSocket(path: path, level: level, line: i)
        }
    }

    /// The socket to send runtime commands to: the first `level admin` one, else the first one.
    public func adminSocket() -> StatsSocket? {
        let all = statsSockets()
        return all.first { $0.level == "admin" } ?? all.first
    }

    public func pidFile() -> String? {
        guard let body = globalBody() else { return nil }
        for i in body {
            let t = tokens(i)
            if t.count >= 2 && t[0] == "pidfile" { return t[1] }
        }
        return nil
    }

    /// The certificates haproxy serves or presents: the file or directory after each `crt`
    /// (on `bind` and `server` lines), relative ones under `crt-base` when the global section
    /// sets one. In order, without repeats; for the `tls_expiry` thresholds.
    public func certificatePaths() -> [String] {
        var base: String?
        if let body = globalBody() {
            for i in body {
                let t = tokens(i)
                if t.count >= 2, t[0] == "crt-base" { base = t[1] }
            }
        }
        var out: [String] = []
        for i in lines.indices {
            let t = tokens(i)
            guard let first = t.first, first == "bind" || first == "server" || first == "default-server" else { continue }
            for j in t.indices.dropLast() where t[j] == "crt" {
                var path = t[j + 1]
                if !path.hasPrefix("/") {
                    guard let base else { continue }
                    path = (base.hasSuffix("/") ? base : base + "/") + path
                }
                if !out.contains(path) { out.append(path) }
            }
        }
        return out
    }

    /// Absolute paths the config names (certificates, CA files, maps, error files, Lua …), except
    /// what haproxy itself writes or listens on: the pid file, stats sockets, log targets, the
    /// chroot. A change to any of them means the running haproxy has stale inputs.
    public func referencedPaths() -> [String] {
        let skipAfter: Set<String> = ["pidfile", "chroot", "log", "socket", "unix-bind", "bind"]
        var out: [String] = []
        for i in lines.indices {
            let t = tokens(i)
            for (j, word) in t.enumerated() {
                var w = word
                if w.hasPrefix("unix@") { continue }
                if let eq = w.firstIndex(of: "="), w[w.index(after: eq)...].hasPrefix("/") {
                    w = String(w[w.index(after: eq)...])  // e.g. crt-list=/etc/…, file=/…
                }
                guard w.hasPrefix("/"), !(j > 0 && skipAfter.contains(t[j - 1])) else { continue }
                out.append(w)
            }
        }
        return out
    }
}
