#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `/etc/balctl/agent.env`: systemd EnvironmentFile syntax (KEY=VALUE, `#` comments, optional
/// quotes, optional `export`).
public enum EnvFile {
    public static func parse(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for raw in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            var line = raw.drop(while: { $0 == " " || $0 == "\t" })
            if line.isEmpty || line.first == "#" || line.first == ";" { continue }
            if line.hasPrefix("export ") { line = line.dropFirst(7) }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingSpaces
            var value = line[line.index(after: eq)...].trimmingSpaces
            if value.count >= 2, let q = value.first, q == "\"" || q == "'", value.last == q {
                value = String(value.dropFirst().dropLast())
            }
            guard !key.isEmpty else { continue }
            out[key] = value
        }
        return out
    }

    public static func load(_ path: String) -> [String: String]? {
        readTextFile(path).map(parse)
    }

    public struct WriteError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Write KEY=VALUE lines with mode 0600, atomically (temp file + rename), creating the
    /// directory with mode 0700 when missing.
    public static func write(_ values: [(String, String)], to path: String) throws {
        for (k, v) in values where k.contains("=") || k.contains("\n") || v.contains("\n") {
            throw WriteError(description: "refusing to write \(k): newline or '=' in name/value")
        }
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            let dir = String(path[..<slash])
            if access(dir, F_OK) != 0 && mkdir(dir, 0o700) != 0 {
                throw WriteError(description: "cannot create \(dir): \(String(cString: strerror(errno)))")
            }
        }
        let text = "# balctl agent configuration (mode 600: it holds the enrollment secret)\n"
            + values.map { "\($0.0)=\($0.1)\n" }.joined()
        do { try SafeFile.write(path, Array(text.utf8), mode: 0o600) }
        catch { throw WriteError(description: "\(error)") }
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
