#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol
import FoundationEssentials

/// A firewalld backup: the same kind of file as ufw's (one JSON file under
/// `<stateDir>/firewall-backups`, 0600, unique name `firewalld-<stamp>-<16 hex>`) holding the
/// permanent configuration as text, by path relative to /etc/firewalld:
/// `{"format":"balctl-firewalld-backup","version":1,"createdAt":"…","files":{"firewalld.conf":"…","zones/public.xml":"…",…}}`.
/// Kept: firewalld.conf, lockdown-whitelist.xml, direct.xml and the `*.xml` of zones,
/// policies, services, ipsets, icmptypes and helpers (not firewalld's own `*.xml.old`).
/// Bounded: 512 files, 1 MiB each, 8 MiB in all.
struct FirewalldBackup: Sendable {
    static let format = "balctl-firewalld-backup"
    static let maxFiles = 512
    static let topFiles = ["firewalld.conf", "lockdown-whitelist.xml", "direct.xml"]
    /// Directory → the root element its files hold.
    static let dirs: [(dir: String, root: String)] = [("zones", "zone"), ("policies", "policy"), ("services", "service"),
                                                      ("ipsets", "ipset"), ("icmptypes", "icmptype"), ("helpers", "helper")]

    var createdAt: String
    var files: [(name: String, text: String)]

    /// Whether `rel` is a path a backup may hold (and a restore may write): one of the top
    /// files, or `<dir>/<name>.xml` with a plain name — never `..`, never another directory.
    static func isManagedPath(_ rel: String) -> Bool {
        if topFiles.contains(rel) { return true }
        let parts = rel.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, dirs.contains(where: { $0.dir == parts[0] }), parts[1].hasSuffix(".xml") else { return false }
        return FirewalldState.isName(String(parts[1].dropLast(4)))
    }

    /// The managed files now in `dir` (relative paths, sorted).
    static func managedPaths(in dir: String) -> [String] {
        var out = topFiles.filter { Files.exists(dir + "/" + $0) }
        for d in dirs {
            out += Files.list(dir + "/" + d.dir).map { d.dir + "/" + $0 }.filter(isManagedPath).sorted()
        }
        return out
    }

    static func capture(_ settings: FirewallSettings) throws -> FirewalldBackup {
        let paths = managedPaths(in: settings.firewalldDir)
        guard paths.count <= maxFiles else { throw JobFailure("\(settings.firewalldDir) holds more than \(maxFiles) files") }
        var files: [(String, String)] = []
        var total = 0
        for rel in paths {
            let path = settings.firewalldDir + "/" + rel
            do {
                let bytes = try Files.readBytes(path, limit: UFWBackup.maxFileBytes, noFollow: true)
                total += bytes.count
                files.append((rel, String(decoding: bytes, as: UTF8.self)))
            } catch {
                throw JobFailure("cannot read \(path): \(error)")
            }
        }
        guard total <= UFWBackup.maxBackupBytes - (64 << 10) else { throw JobFailure("\(settings.firewalldDir) holds more than 8 MiB") }
        let b = FirewalldBackup(createdAt: UFWBackup.isoNow(), files: files)
        try b.validate()
        return b
    }

    var json: JSONValue {
        var o: [String: JSONValue] = [:]
        for f in files { o[f.name] = .string(f.text) }
        return .object(["format": .string(Self.format), "version": .number(1), "tool": .string("firewalld"),
                        "createdAt": .string(createdAt), "files": .object(o)])
    }

    static func decode(_ bytes: [UInt8]) throws -> FirewalldBackup {
        let value: JSONValue
        do { value = try JSONDecoder().decode(JSONValue.self, from: Data(bytes)) } catch {
            throw JobFailure("backup: not JSON")
        }
        guard value["format"]?.stringValue == format, value["version"]?.doubleValue == 1 else {
            throw JobFailure("backup: not a balctl firewalld backup (format/version)")
        }
        guard case .object(let filesObj)? = value["files"] else { throw JobFailure("backup: no files") }
        guard filesObj.count <= maxFiles else { throw JobFailure("backup: more than \(maxFiles) files") }
        var files: [(String, String)] = []
        for name in filesObj.keys.sorted() {
            guard isManagedPath(name) else { throw JobFailure("backup: unexpected file '\(name.prefix(64))'") }
            guard let text = filesObj[name]?.stringValue else { throw JobFailure("backup: \(name) is not text") }
            files.append((name, text))
        }
        let b = FirewalldBackup(createdAt: value["createdAt"]?.stringValue ?? "", files: files)
        try b.validate()
        return b
    }

    func text(_ name: String) -> String? { files.first { $0.name == name }?.text }

    /// firewalld.conf plain `Key=value` lines; every XML file well-formed with the root element
    /// its directory holds. firewalld's own `--check-config` runs after the files are written.
    func validate() throws {
        guard text("firewalld.conf") != nil else { throw JobFailure("backup: firewalld.conf is missing") }
        for (name, text) in files {
            guard text.utf8.count <= UFWBackup.maxFileBytes else { throw JobFailure("backup: \(name) is too large") }
            guard !text.utf8.contains(0) else { throw JobFailure("backup: \(name) holds NUL") }
            if name == "firewalld.conf" {
                for (i, l) in text.split(separator: "\n").enumerated() where !UFWBackup.isComment(l) {
                    guard Self.isConfLine(l) else { throw JobFailure("backup: firewalld.conf line \(i + 1) is not a plain Key=value") }
                }
                continue
            }
            let root: XMLElement
            do { root = try MiniXML.parse(text) } catch { throw JobFailure("backup: \(name): \(error)") }
            let want = name == "lockdown-whitelist.xml" ? "whitelist" : name == "direct.xml" ? "direct"
                : Self.dirs.first { name.hasPrefix($0.dir + "/") }!.root
            guard root.name == want else { throw JobFailure("backup: \(name) holds <\(root.name)>, not <\(want)>") }
        }
    }

    static func isConfLine(_ l: Substring) -> Bool {
        guard let eq = l.firstIndex(of: "=") else { return false }
        let key = l[..<eq], value = l[l.index(after: eq)...]
        return !key.isEmpty && key.count <= 64 && key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
            && value.count <= 256 && value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_./:,- ".contains($0)) })
    }

    /// `firewalld-<UTC stamp>-<16 hex>`.
    static func isBackupName(_ s: String) -> Bool { UFWBackup.isBackupName(s, prefix: "firewalld-") }

    // MARK: the commands

    static func backup(_ settings: FirewallSettings, context: JobContext) async throws -> JobOutcome {
        guard Files.exists(settings.firewalldDir) else { throw JobFailure("firewalld is not installed (\(settings.firewalldDir) is missing)") }
        let b = try capture(settings)
        let names = b.files.map(\.name)
        if context.checkMode {
            return JobOutcome(changed: true, summary: "check mode: would back up \(names.count) firewalld files to \(settings.backupDir)",
                              result: .object(["files": .array(names.map(JSONValue.string))]))
        }
        let path: String
        do {
            try SafeFile.makeDirectory(settings.backupDir, mode: 0o700)
            path = try SafeFile.writeUnique(in: settings.backupDir, prefix: "firewalld-\(b.createdAt)-",
                                            Array(b.json.jsonString().utf8), mode: 0o600)
        } catch {
            throw JobFailure("cannot write the backup: \(error)")
        }
        let name = Files.basename(path)
        return JobOutcome(changed: true, summary: "backed up \(names.count) firewalld files as \(name)",
                          result: .object(["backup": .string(name), "path": .string(path), "tool": .string("firewalld"),
                                           "files": .array(names.map(JSONValue.string))]))
    }

    /// Writes the backup's files (each an atomic rename, keeping mode and owner), removes the
    /// managed files the backup does not hold, runs firewalld's `--check-config` and, while the
    /// daemon runs, `--reload`; on any failure every file is put back as it was (created ones
    /// removed, removed ones written again) and the daemon reloaded.
    static func restore(_ name: String, bytes: [UInt8], force: Bool, settings: FirewallSettings,
                        context: JobContext) async throws -> JobOutcome {
        let b = try decode(bytes)
        let fw = try FirewalldControl(settings, context)
        let dir = settings.firewalldDir
        var previous: [String: (bytes: [UInt8]?, info: Files.Info?)] = [:]
        var changed: [String] = [], removed: [String] = []
        for f in b.files {
            let path = dir + "/" + f.name
            let current = try? Files.readBytes(path, limit: UFWBackup.maxFileBytes, noFollow: true)
            previous[f.name] = (current, Files.info(path))
            if current != Array(f.text.utf8) { changed.append(f.name) }
        }
        let backupNames = Set(b.files.map(\.name))
        for rel in managedPaths(in: dir) where !backupNames.contains(rel) {
            let path = dir + "/" + rel
            previous[rel] = (try? Files.readBytes(path, limit: UFWBackup.maxFileBytes, noFollow: true), Files.info(path))
            removed.append(rel)
        }
        // A file that exists but cannot be copied (a link, over 1 MiB) could not be put back.
        if let bad = (changed + removed).first(where: { previous[$0]?.bytes == nil && previous[$0]?.info != nil }) {
            throw JobFailure("cannot keep a copy of \(dir)/\(bad) to put back on failure (unreadable, a link or over \(UFWBackup.maxFileBytes) bytes)")
        }
        if changed.isEmpty && removed.isEmpty {
            return .unchanged("unchanged: \(dir) already matches \(name)")
        }
        let running = await fw.running()
        if running {
            var overlay: [String: String] = [:]
            for f in b.files { overlay[f.name] = f.text }
            let target = try FirewalldState.read(settings, overlay: overlay)
            try await Firewalld.guardCheck(target, settings, context: context, force: force, what: "restore \(name)")
        }
        let tail = "\(changed.count) files written, \(removed.count) removed"
        let result: JSONValue = .object(["changedFiles": .array(changed.map(JSONValue.string)),
                                         "removedFiles": .array(removed.map(JSONValue.string)), "active": .bool(running)])
        if context.checkMode { return JobOutcome(changed: true, summary: "check mode: would restore \(name): \(tail)", result: result) }

        func put(_ rel: String, _ bytes: [UInt8], like info: Files.Info?) throws {
            let path = dir + "/" + rel
            if rel.contains("/") {
                do { try SafeFile.makeDirectory(Files.dirname(path), mode: 0o750) } catch { throw JobFailure("cannot create \(Files.dirname(path)): \(error)") }
            }
            do { try SafeFile.write(path, bytes, mode: info?.mode ?? 0o644, owner: Files.owner(like: info)) } catch {
                throw JobFailure("cannot write \(path): \(error)")
            }
        }
        do {
            for f in b.files where changed.contains(f.name) { try put(f.name, Array(f.text.utf8), like: previous[f.name]?.info) }
            for rel in removed where unlink(dir + "/" + rel) != 0 && errno != ENOENT {
                throw JobFailure("cannot remove \(dir)/\(rel): errno \(errno)")
            }
            try await fw.checkConfig(running: running)
            if running {
                try await fw.reload()
                guard await fw.running() else { throw JobFailure("firewall-cmd --reload ran but firewalld is not running") }
            }
        } catch {
            context.log("restore failed (\(error)); putting the previous files back")
            for rel in changed + removed {
                guard let prev = previous[rel] else { continue }
                if let bytes = prev.bytes { try? put(rel, bytes, like: prev.info) }
                else if prev.info == nil { unlink(dir + "/" + rel) }
            }
            if running { try? await fw.reload() }
            throw error
        }
        return JobOutcome(changed: true, summary: "restored \(name): \(tail)\(running ? ", reloaded" : "")", result: result)
    }
}
