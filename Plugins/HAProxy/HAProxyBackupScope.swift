#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// The `haproxy` backup scope: the config and every file it names (certificates, CA files, maps,
/// error files, Lua — the same list the reload's freshness check reads). A restored config is
/// checked with `haproxy -c` before it goes live, then haproxy reloads; a failed reload rolls
/// the files back (the backup plugin does that) and reloads the previous ones.
struct HAProxyBackupScope: BackupScope {
    let settings: HAProxySettings
    var name: String { "haproxy" }

    func roots(paths: [String]) throws -> [String] {
        guard paths.isEmpty else { throw ParameterError("the haproxy scope takes no paths (it backs up \(settings.configPath) and what it names)") }
        var roots = [settings.configPath]
        if let bytes = try? Files.readBytes(settings.configPath) {
            roots += HAProxyConfigFile(bytes: bytes).referencedPaths().filter(Files.exists)
        }
        // One root inside another would be stored twice: keep the outer one.
        let unique = Array(Set(roots.map { $0.count > 1 && $0.hasSuffix("/") ? String($0.dropLast()) : $0 })).sorted()
        return unique.filter { r in !unique.contains(where: { $0 != r && r.hasPrefix($0 + "/") }) }
    }

    /// A standby without haproxy gets it installed first (`haproxy.provision`).
    func prepare(in context: JobContext) async throws -> Bool {
        guard settings.resolvedBinary() == nil else { return false }
        _ = try await ProvisionHandler(settings: settings).run(ForceParameters(), in: context)
        return true
    }

    /// `haproxy -c` on a copy of the staged config whose paths point into the staging directory
    /// wherever the snapshot holds that file (so a standby without the certificates yet can
    /// validate), the live path otherwise.
    func validateStaged(stagingRoot: String, roots: [String], in context: JobContext) async throws {
        let staged = stagingRoot + settings.configPath
        var st = stat()
        guard lstat(staged, &st) == 0 else { throw JobFailure("the snapshot has no \(settings.configPath)") }
        // A staged link would make root read whatever it points to (into haproxy's messages).
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw JobFailure("the snapshot's \(settings.configPath) is not a regular file") }
        let bytes = try Files.readBytes(staged)
        // Only the config and what it names: a snapshot labelled haproxy carries nothing else.
        let named = Set(HAProxyConfigFile(bytes: bytes).referencedPaths().map { $0.count > 1 && $0.hasSuffix("/") ? String($0.dropLast()) : $0 })
        if let stray = roots.first(where: { $0 != settings.configPath && !named.contains($0) }) {
            throw JobFailure("the snapshot's root \(stray) is neither \(settings.configPath) nor a file it names")
        }
        let candidate = Self.pointingInto(stagingRoot, bytes)
        let parent = String(stagingRoot[..<stagingRoot.lastIndex(of: "/")!])
        let path = try SafeFile.writeUnique(in: parent.isEmpty ? "/" : parent, prefix: ".haproxy-restore-check-", candidate, mode: 0o600)
        defer { unlink(path) }
        let check = try await ConfigCheck.run(settings, file: path, shownAs: settings.configPath, in: context)
        guard check.valid else { throw check.failure("the restored \(settings.configPath) is invalid") }
    }

    /// Rewrite every whitespace-delimited absolute path (also after `name=`) that exists under
    /// the staging root to point there. One left-to-right pass: nothing is rewritten twice.
    static func pointingInto(_ root: String, _ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 256)
        var i = 0
        func isSpace(_ b: UInt8) -> Bool { b == 32 || b == 9 || b == 10 || b == 13 }
        while i < bytes.count {
            let startsToken = bytes[i] == 47 && (i == 0 || isSpace(bytes[i - 1]) || bytes[i - 1] == 61)
            guard startsToken else { out.append(bytes[i]); i += 1; continue }
            var j = i
            while j < bytes.count && !isSpace(bytes[j]) { j += 1 }
            let token = String(decoding: bytes[i..<j], as: UTF8.self)
            if Files.exists(root + token) { out += Array(root.utf8) }
            out += bytes[i..<j]
            i = j
        }
        return out
    }

    /// Reload so haproxy serves the restored files (forced: restored files carry their old
    /// modification times). A haproxy that is not running is left stopped; its config is checked.
    func activate(in context: JobContext) async throws {
        let control = ServiceControl(settings: settings)
        let running: Bool
        if settings.systemdRunning {
            running = ServiceControl.isActive(unitState: await control.unitState(context.processes))
        } else {
            running = !control.serving().isEmpty
        }
        guard running else {
            let check = try await ConfigCheck.run(settings, file: settings.configPath, in: context)
            guard check.valid else { throw check.failure("the restored config is invalid") }
            context.log("haproxy is not running: restored files checked, not reloaded")
            return
        }
        _ = try await ReloadHandler(settings: settings).run(ForceParameters(force: true), in: context)
    }
}
