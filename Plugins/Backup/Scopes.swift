#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// `paths`: the absolute paths the operator lists (files or directories); no validation, no
/// reload.
struct PathsScope: BackupScope {
    var name: String { "paths" }
    func roots(paths: [String]) throws -> [String] {
        guard !paths.isEmpty else { throw ParameterError("the paths scope needs paths: [\"/srv/www\", …]") }
        return paths
    }
}
