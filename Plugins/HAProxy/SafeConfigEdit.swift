#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// Changing haproxy.cfg without ever leaving haproxy on a broken one: the edited text is written
/// beside the config as a candidate and checked with `haproxy -c` (beside it, so paths relative
/// to the config resolve the same); only a valid candidate replaces the config, after the old
/// bytes were saved to `<config>.balctl.bak`. A running haproxy is then reloaded; when that
/// reload fails the old config is put back.
struct SafeConfigEdit: Sendable {
    let settings: HAProxySettings

    var backupPath: String { settings.configPath + ".balctl.bak" }
    /// The candidate's name: `<config>.balctl-candidate-<random hex>`, created exclusively beside
    /// the config (never a fixed name root would open through a planted link). Not ending in
    /// .cfg: a haproxy started with `-f <directory>` never picks it up.
    var candidatePrefix: String { Files.basename(settings.configPath) + ".balctl-candidate-" }

    struct Applied {
        var reloaded: Bool
        var note: String
    }

    func read() throws -> (bytes: [UInt8], info: Files.Info) {
        // Refused before anything is written (the backup comes first): root never writes
        // through a link (issue 20 item 11).
        if SocketPath.fileType(settings.configPath) == S_IFLNK {
            throw JobFailure("\(settings.configPath) is a symbolic link; the agent does not write through links: set BALCTL_HAPROXY_CONFIG to the file itself")
        }
        do {
            let bytes = try Files.readBytes(settings.configPath)
            guard let info = Files.info(settings.configPath), info.isRegular else {
                throw JobFailure("\(settings.configPath) is not a regular file")
            }
            return (bytes, info)
        } catch let e as FileError {
            throw JobFailure("cannot read the HAProxy config \(e) (set BALCTL_HAPROXY_CONFIG if it lives elsewhere)")
        }
    }

    func apply(_ edited: [UInt8], original: [UInt8], info: Files.Info, in context: JobContext) async throws -> Applied {
        let config = settings.configPath
        let candidatePath: String
        do {
            candidatePath = try SafeFile.writeUnique(in: Files.dirname(config), prefix: candidatePrefix, edited,
                                                     mode: info.mode, owner: Files.owner(like: info))
        } catch {
            throw JobFailure("cannot write the candidate config: \(error)")
        }
        let check: ConfigCheck
        do {
            check = try await ConfigCheck.run(settings, file: candidatePath, shownAs: config, in: context)
        } catch {
            _ = unlinkFile(candidatePath)
            throw error
        }
        _ = unlinkFile(candidatePath)
        guard check.valid else { throw check.failure("the edited config does not validate; \(config) was not changed") }

        do {
            try Files.replace(backupPath, with: original, like: info)
            try Files.replace(config, with: edited, like: info)
        } catch {
            throw JobFailure("cannot write \(config): \(error)")
        }
        context.log("wrote \(config) (previous version saved as \(backupPath))")

        let control = ServiceControl(settings: settings)
        guard await control.isRunning(context.processes) else {
            return Applied(reloaded: false, note: "haproxy is not running; the change applies when it starts")
        }
        do {
            let how = try await control.reload(in: context)
            return Applied(reloaded: true, note: "reloaded: \(how)")
        } catch {
            do { try Files.replace(config, with: original, like: info) } catch {
                throw JobFailure("reload failed, and restoring \(config) failed too (\(error)); the previous version is in \(backupPath)")
            }
            throw JobFailure("\(error); \(config) was restored to its previous content")
        }
    }
}

/// A Unix socket path given as a parameter: absolute, plain characters, no `..`, short enough
/// for sockaddr_un. It is written into haproxy.cfg, so nothing that could end the line or start a
/// new directive may pass.
enum SocketPath {
    static func check(_ path: String, field: String = "socketPath") throws(ParameterError) {
        guard path.hasPrefix("/") else { throw ParameterError("\(field): \(path.debugDescription) must be an absolute path") }
        guard path.utf8.count <= 107 else { throw ParameterError("\(field): longer than 107 bytes (the Unix socket path limit)") }
        guard !path.hasSuffix("/") else { throw ParameterError("\(field): \(path.debugDescription) names a directory") }
        for c in path.unicodeScalars {
            let ok = (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9")
                || c == "/" || c == "-" || c == "_" || c == "."
            if !ok { throw ParameterError("\(field): \(path.debugDescription) contains \(HAProxyName.describe(c)); use letters, digits, '/', '-', '_', '.'") }
        }
        guard !path.split(separator: "/").contains("..") else {
            throw ParameterError("\(field): \(path.debugDescription) contains '..'")
        }
    }
}
