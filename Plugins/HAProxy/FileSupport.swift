#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel

func environmentValue(_ name: String) -> String? {
    guard let v = getenv(name) else { return nil }
    let s = String(cString: v)
    return s.isEmpty ? nil : s
}

extension String {
    /// Without trailing newlines/carriage returns/spaces.
    var trimmingTrailingWhitespace: String {
        var s = Substring(self)
        while let l = s.last, l == "\n" || l == "\r" || l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }

    var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f == "\n" || f == "\r" || f == " " || f == "\t" { s = s.dropFirst() }
        return String(s).trimmingTrailingWhitespace
    }

    /// The last `n` lines, for error messages built from a program's output.
    func lastLines(_ n: Int) -> String {
        split(separator: "\n", omittingEmptySubsequences: true).suffix(n).joined(separator: "\n")
    }
}

@discardableResult
func unlinkFile(_ path: String) -> Bool { unlink(path) == 0 }
