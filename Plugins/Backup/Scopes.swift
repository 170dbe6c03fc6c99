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

/// `firewall`: ufw's and firewalld's configuration (whichever exist). After a restore the
/// running firewall reloads its rules, when it runs.
struct FirewallScope: BackupScope {
    static let candidates = ["/etc/ufw", "/etc/default/ufw", "/etc/firewalld"]
    var name: String { "firewall" }

    func roots(paths: [String]) throws -> [String] {
        guard paths.isEmpty else { throw ParameterError("the firewall scope takes no paths") }
        return Self.candidates.filter { exists($0) }
    }

    func validateStaged(stagingRoot: String, roots: [String], in context: JobContext) async throws {
        if let other = roots.first(where: { !Self.candidates.contains($0) }) {
            throw JobFailure("the snapshot's root \(other) is not firewall configuration (\(Self.candidates.joined(separator: ", ")))")
        }
    }

    func activate(in context: JobContext) async throws {
        if let ufw = ["/usr/sbin/ufw", "/sbin/ufw"].first(where: { exists($0) }) {
            let status = try await context.run(ufw, ["status"], timeoutSec: 30)
            if status.output.contains("Status: active") {
                let r = try await context.run(ufw, ["reload"], timeoutSec: 60)
                guard r.succeeded else { throw JobFailure("ufw reload failed (exit \(r.exitCode))") }
            }
        }
        if let cmd = ["/usr/bin/firewall-cmd", "/bin/firewall-cmd"].first(where: { exists($0) }) {
            let state = try await context.run(cmd, ["--state"], timeoutSec: 30)
            if state.succeeded {
                let r = try await context.run(cmd, ["--reload"], timeoutSec: 60)
                guard r.succeeded else { throw JobFailure("firewall-cmd --reload failed (exit \(r.exitCode))") }
            }
        }
    }
}

private func exists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
}
