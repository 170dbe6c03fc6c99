#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Replaces the installed agent binary so that, whenever the process dies, exactly the old or the
/// new binary is at the path: the new file is written beside it under a unique name
/// (`O_EXCL|O_NOFOLLOW`, synced), the old one is hard-linked to `balctl-heartbeat.prev` (through a
/// unique name and a rename, so an older `.prev` is replaced atomically too), and `rename(2)`
/// puts the new one in place. Nothing here follows a symlink: a binary path or `.prev` that is a
/// link is refused.
struct BinarySwap {
    let path: String
    var directory: String { SafeFile.split(path).dir }
    var name: String { SafeFile.split(path).name }
    var previousName: String { name + ".prev" }
    var previousPath: String { (directory == "/" ? "" : directory) + "/" + previousName }
    /// Staged new binaries and link names of unfinished swaps start with this.
    var scratchPrefix: String { "." + name + ".update-" }

    /// An open, empty, exclusive file beside the binary for the new version; `(fd, name)`.
    func stage() throws(UpdateRefusal) -> (fd: Int32, name: String) {
        let dirFD = try openDirectory()
        defer { close(dirFD) }
        for _ in 0..<16 {
            let candidate = scratchPrefix + SafeFile.hex(UInt64.random(in: .min ... .max))
            let fd = openat(dirFD, candidate, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fd >= 0 { return (fd, candidate) }
            if errno != EEXIST { throw failure("cannot create a file in \(directory)") }
        }
        throw UpdateRefusal(.install, "no free scratch name in \(directory)")
    }

    /// Make the staged file executable (0755, root's), sync and close it.
    func seal(_ fd: Int32) throws(UpdateRefusal) {
        defer { close(fd) }
        if geteuid() == 0 && fchown(fd, 0, 0) != 0 { throw failure("cannot set the owner of the new binary") }
        guard fchmod(fd, 0o755) == 0 else { throw failure("cannot make the new binary executable") }
        guard fsync(fd) == 0 else { throw failure("cannot sync the new binary") }
    }

    /// Keep the current binary as `.prev`, then rename the staged file over the binary.
    /// `betweenSteps` runs after `.prev` is in place and before the rename (crash tests).
    func swap(staged: String, betweenSteps: () -> Void = {}) throws(UpdateRefusal) {
        let dirFD = try openDirectory()
        defer { close(dirFD) }
        try requireRegular(dirFD, name)
        try replace(dirFD, previousName, withLinkTo: name)
        betweenSteps()
        guard renameat(dirFD, staged, dirFD, name) == 0 else { throw failure("cannot rename the new binary into place") }
        fsync(dirFD)
    }

    /// Put `.prev` back as the binary (it stays as `.prev` too). False when there is no `.prev`.
    @discardableResult
    func rollBack() throws(UpdateRefusal) -> Bool {
        let dirFD = try openDirectory()
        defer { close(dirFD) }
        var st = stat()
        guard fstatat(dirFD, previousName, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return false }
        try requireRegular(dirFD, previousName)
        try replace(dirFD, name, withLinkTo: previousName)
        fsync(dirFD)
        return true
    }

    /// Remove scratch files an interrupted update left behind (regular files only).
    func cleanScratch() {
        guard let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        let dirFD = dirfd(dir)
        var stale: [String] = []
        while let e = readdir(dir) {
            let entry = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if entry.hasPrefix(scratchPrefix) { stale.append(entry) }
        }
        for entry in stale {
            var st = stat()
            if fstatat(dirFD, entry, &st, AT_SYMLINK_NOFOLLOW) == 0, st.st_mode & S_IFMT == S_IFREG {
                unlinkat(dirFD, entry, 0)
            }
        }
    }

    func discard(_ staged: String) {
        if let fd = try? openDirectory() { unlinkat(fd, staged, 0); close(fd) }
    }

    // MARK: steps

    /// `target` becomes a second name of `source`'s file, atomically (link under a scratch name,
    /// then rename over `target`).
    private func replace(_ dirFD: Int32, _ target: String, withLinkTo source: String) throws(UpdateRefusal) {
        var st = stat()
        if fstatat(dirFD, target, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_mode & S_IFMT != S_IFREG {
            throw UpdateRefusal(.install, "\(directory)/\(target) is not a regular file; refusing to replace it")
        }
        for _ in 0..<16 {
            let scratch = scratchPrefix + SafeFile.hex(UInt64.random(in: .min ... .max))
            // linkat without AT_SYMLINK_FOLLOW: a link is never followed.
            if linkat(dirFD, source, dirFD, scratch, 0) != 0 {
                if errno == EEXIST { continue }
                throw failure("cannot link \(source)")
            }
            guard renameat(dirFD, scratch, dirFD, target) == 0 else {
                let e = errno
                unlinkat(dirFD, scratch, 0)
                errno = e
                throw failure("cannot rename into \(target)")
            }
            // rename(2) does nothing when both names are already links to the same file (a
            // `.prev` left by an interrupted swap): the scratch name would stay behind.
            unlinkat(dirFD, scratch, 0)
            return
        }
        throw UpdateRefusal(.install, "no free scratch name in \(directory)")
    }

    private func requireRegular(_ dirFD: Int32, _ entry: String) throws(UpdateRefusal) {
        var st = stat()
        guard fstatat(dirFD, entry, &st, AT_SYMLINK_NOFOLLOW) == 0 else { throw failure("cannot inspect \(entry)") }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw UpdateRefusal(.install, "\(directory)/\(entry) is not a regular file (a symbolic link?); refusing to swap it")
        }
    }

    private func openDirectory() throws(UpdateRefusal) -> Int32 {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("cannot open \(directory)") }
        return fd
    }

    private func failure(_ what: String) -> UpdateRefusal {
        UpdateRefusal(.install, "\(what): \(String(cString: strerror(errno)))")
    }
}
