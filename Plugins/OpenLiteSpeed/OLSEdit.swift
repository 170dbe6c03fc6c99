#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// A change to OLS's configuration files, applied so that OLS never runs a broken config: the
/// candidate is checked before anything is written; then the files are written (the server
/// config's previous bytes kept in `httpd_config.conf.balctl.bak`), checked again as installed
/// (`lshttpd -t` where supported), read back, and OLS is reloaded gracefully. Any failure puts
/// every file back as it was (and reloads again if the failed step was the reload). Check mode
/// returns the diff and writes nothing.
struct OLSChange: Sendable {
    /// The server config as it will be (nil: unchanged).
    var serverConfig: OLSConfigFile?
    /// Files written whole (vhost configs), by absolute path.
    var writes: [String: OLSConfigFile] = [:]
    /// Files removed (a copy goes to the state dir first).
    var removals: [String] = []
    /// Directories made for `writes` (removed again on rollback), and directories to remove
    /// when a removal leaves them empty.
    var makeDirectories: [String] = []
    var removeEmptyDirectories: [String] = []
}

struct OLSEditor: Sendable {
    let settings: OLSSettings

    struct Applied {
        var changed: Bool
        var diff: String
        var note: String
    }

    /// A file the change writes or removes: its directory opened without following any link
    /// (`PinnedDirectory`), its previous content, mode and owner read through that descriptor.
    final class Target {
        let path: String
        let dir: String
        let name: String
        var pinned: PinnedDirectory?
        let previous: PinnedDirectory.Entry?
        init(path: String) throws {
            self.path = path
            let slash = path.lastIndex(of: "/")!
            dir = slash == path.startIndex ? "/" : String(path[..<slash])
            name = String(path[path.index(after: slash)...])
            do {
                let (p, _) = try PinnedDirectory.open(dir)
                pinned = p
                previous = try p.read(name)
            } catch {
                // A directory still to be made has no previous file; anything else (a link on the
                // way, a link or device at the name) refuses the change before anything is written.
                guard error.code == ENOENT else { throw JobFailure("refusing to touch \(path): \(error)") }
                pinned = nil
                previous = nil
            }
        }
    }

    /// `verify` reads the installed files back (as a model) and says what is wrong, if anything.
    func apply(_ change: OLSChange, in context: JobContext, verify: @Sendable (OLSServerModel) -> String?) async throws -> Applied {
        let configPath = settings.configPath
        let original = try OLSServerModel.load(settings)
        let originalBytes = original.file.bytes
        let candidate = change.serverConfig ?? original.file

        var diffs: [String] = []
        if candidate.lines != original.file.lines { diffs.append(Self.diff(original.file.lines, candidate.lines, path: configPath)) }
        var targets: [String: Target] = [:]
        for path in change.writes.keys.sorted() + change.removals {
            let t = try Target(path: path)
            targets[path] = t
            let oldLines = t.previous.flatMap { try? OLSConfigFile(bytes: $0.bytes).lines } ?? []
            if let file = change.writes[path] {
                if oldLines != file.lines || t.previous == nil { diffs.append(Self.diff(oldLines, file.lines, path: path)) }
            } else if t.previous != nil {
                diffs.append(Self.diff(oldLines, [], path: path))
            }
        }
        let diff = diffs.joined(separator: "\n")
        guard !diffs.isEmpty else { return Applied(changed: false, diff: "", note: "nothing to change") }

        let check = OLSCheck.structural(candidate, settings: settings, extraFiles: change.writes)
        guard check.valid else { throw check.failure("nothing was changed") }
        if context.checkMode { return Applied(changed: true, diff: diff, note: "check mode: the change passes the structural test; nothing was written") }

        let info = Files.info(configPath)
        let owner = Files.owner(like: info)
        var created: [String] = []
        var written: [Target] = []
        var removed: [Target] = []
        var rollbackProblems: [String] = []
        var rolledBack = false
        func rollback() {
            guard !rolledBack else { return }
            rolledBack = true
            for t in written {
                do {
                    if let old = t.previous { try t.pinned?.write(t.name, old.bytes, mode: old.mode, owner: old.owner) }
                    else { try t.pinned?.remove(t.name) }
                } catch { rollbackProblems.append("\(error)") }
            }
            for t in removed {
                guard let old = t.previous else { continue }
                do { try t.pinned?.write(t.name, old.bytes, mode: old.mode, owner: old.owner) } catch { rollbackProblems.append("\(error)") }
            }
            for dir in created.reversed() {
                let slash = dir.lastIndex(of: "/")!
                if let (parent, _) = try? PinnedDirectory.open(String(dir[..<slash])) { parent.removeEmptyDirectory(String(dir[dir.index(after: slash)...])) }
            }
            do { try Files.replace(configPath, with: originalBytes, like: info) } catch { rollbackProblems.append("\(error)") }
        }
        func putBack() -> String {
            rollbackProblems.isEmpty ? "the previous files were put back" : "putting the previous files back failed too (\(rollbackProblems.joined(separator: "; "))): check the server"
        }
        do {
            if change.serverConfig != nil {
                do {
                    try Files.replace(configPath + ".balctl.bak", with: originalBytes, like: info)
                    try Files.replace(configPath, with: candidate.bytes, like: info)
                } catch { throw JobFailure("cannot write \(configPath): \(error)") }
            }
            for path in change.writes.keys.sorted() {
                let t = targets[path]!
                do {
                    if t.pinned == nil {
                        let create = change.makeDirectories.contains(t.dir) ? (mode: mode_t(0o750), owner: owner) : nil
                        let (p, made) = try PinnedDirectory.open(t.dir, create: create)
                        t.pinned = p
                        created += made
                    }
                    try t.pinned!.write(t.name, change.writes[path]!.bytes, mode: t.previous?.mode ?? 0o640, owner: t.previous?.owner ?? owner)
                } catch { throw JobFailure("cannot write \(path): \(error)") }
                written.append(t)
            }
            for path in change.removals {
                let t = targets[path]!
                guard let old = t.previous, let pinned = t.pinned else { continue }
                try saveRemoved(path, old.bytes)
                do { try pinned.remove(t.name) } catch { throw JobFailure("cannot remove \(path): \(error)") }
                removed.append(t)
            }

            var installed = OLSCheck.structural(try OLSServerModel.load(settings).file, settings: settings)
            if installed.valid { try await installed.runBinaryTest(settings, in: context) }
            guard installed.valid else {
                rollback()
                throw installed.failure(putBack())
            }
            if let problem = verify(try OLSServerModel.load(settings)) {
                rollback()
                throw JobFailure("read back after writing: \(problem); \(putBack())")
            }
        } catch {
            if rolledBack { throw error }
            rollback()
            throw JobFailure("\(error); \(putBack())", result: (error as? JobFailure)?.result)
        }
        context.log(diff)
        let control = OLSControl(settings: settings)
        guard control.runningPID() != nil else {
            removeEmptyDirectories(change)
            return Applied(changed: true, diff: diff, note: "OpenLiteSpeed is not running; the change applies when it starts")
        }
        do {
            let (before, after) = try await control.cycle("reload", in: context)
            removeEmptyDirectories(change)
            return Applied(changed: true, diff: diff, note: "reloaded gracefully (pid \(before.map(String.init) ?? "?") → \(after))")
        } catch {
            rollback()
            let again = (try? await control.cycle("reload", in: context)) != nil
            throw JobFailure("\(error); \(putBack())\(again ? " and OpenLiteSpeed reloaded them" : ", but reloading them failed too: check the server")")
        }
    }

    /// Directories a removal emptied go only once the change has taken (a rollback needs them).
    private func removeEmptyDirectories(_ change: OLSChange) {
        for dir in change.removeEmptyDirectories {
            let slash = dir.lastIndex(of: "/")!
            if let (parent, _) = try? PinnedDirectory.open(String(dir[..<slash])) { parent.removeEmptyDirectory(String(dir[dir.index(after: slash)...])) }
        }
    }

    /// A removed file's last bytes, kept under the state dir (`removed/<time>-<name>`).
    private func saveRemoved(_ path: String, _ bytes: [UInt8]) throws {
        let dir = settings.stateDir + "/removed"
        do {
            try SafeFile.makeDirectory(settings.stateDir, mode: 0o700)
            try SafeFile.makeDirectory(dir, mode: 0o700)
            _ = try SafeFile.writeUnique(in: dir, prefix: "\(Int(unixNow()))-" + path.split(separator: "/").suffix(2).joined(separator: "-") + "-",
                                         bytes, mode: 0o600)
        } catch {
            throw JobFailure("cannot keep a copy of \(path) before removing it: \(error)")
        }
    }

    /// A line diff (`-`/`+` with line numbers), from the longest common subsequence; files are
    /// small, and past 4M cells the middle that differs is shown whole.
    static func diff(_ a: [String], _ b: [String], path: String) -> String {
        func show(_ s: String) -> String { OLSConfigFile.content(s).isEmpty ? "" : String(s.trimmingTrailingNewline) }
        var out = ["--- \(path)", "+++ \(path)"]
        var prefix = 0
        while prefix < a.count && prefix < b.count && a[prefix] == b[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < a.count - prefix && suffix < b.count - prefix && a[a.count - 1 - suffix] == b[b.count - 1 - suffix] { suffix += 1 }
        let x = Array(a[prefix..<(a.count - suffix)]), y = Array(b[prefix..<(b.count - suffix)])
        if x.count * y.count > 4_000_000 {
            for (i, l) in x.enumerated() { out.append("-\(prefix + i + 1): \(show(l))") }
            for (i, l) in y.enumerated() { out.append("+\(prefix + i + 1): \(show(l))") }
            return out.joined(separator: "\n")
        }
        var lcs = [[Int]](repeating: [Int](repeating: 0, count: y.count + 1), count: x.count + 1)
        for i in stride(from: x.count - 1, through: 0, by: -1) {
            for j in stride(from: y.count - 1, through: 0, by: -1) {
                lcs[i][j] = x[i] == y[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
            }
        }
        var i = 0, j = 0
        while i < x.count || j < y.count {
            if i < x.count && j < y.count && x[i] == y[j] { i += 1; j += 1 }
            else if j < y.count && (i == x.count || lcs[i][j + 1] >= lcs[i + 1][j]) { out.append("+\(prefix + j + 1): \(show(y[j]))"); j += 1 }
            else { out.append("-\(prefix + i + 1): \(show(x[i]))"); i += 1 }
        }
        return out.joined(separator: "\n")
    }
}

extension String {
    var trimmingTrailingNewline: Substring {
        var s = Substring(self)
        while let l = s.last, l == "\n" || l == "\r\n" || l == "\r" { s = s.dropLast() }
        return s
    }
}
