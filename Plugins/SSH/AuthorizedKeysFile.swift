#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// A user name as a parameter: what useradd accepts by default (a letter or `_` first, then
/// letters, digits, `_`, `-`, `.`), at most 32 bytes. Checked before the account is looked up.
enum UserName {
    static func validate(_ name: String, field: String = "user") throws {
        let b = Array(name.utf8)
        guard (1...32).contains(b.count) else { throw ParameterError("\(field): 1 to 32 characters") }
        func letter(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c == 95 }
        guard letter(b[0]), b.allSatisfy({ letter($0) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 }) else {
            throw ParameterError("\(field): a letter or '_' first, then letters, digits, '_', '-', '.'")
        }
    }
}

/// `~user/.ssh/authorized_keys`, read and written as root without following any link the user
/// could have planted: the home directory and `.ssh` are opened one component at a time with
/// O_NOFOLLOW (`PinnedDirectory`; a symlinked `~/.ssh` is refused), the file is read with
/// O_NOFOLLOW (a symlinked authorized_keys is refused) and replaced through a unique temp file
/// whose owner (the user) and mode (0600) are set on its descriptor before the rename. `.ssh`
/// gets mode 0700 and the user as owner, set on its descriptor, when a key is added.
struct AuthorizedKeysFile {
    static let name = "authorized_keys"
    static let limit = 1 << 20
    let account: Account

    static func account(_ user: String, _ settings: SSHSettings) throws -> Account {
        guard let a = settings.accounts.byName(user) else { throw JobFailure("no such user: \(user)") }
        guard a.home.hasPrefix("/"), a.home != "/", !a.home.split(separator: "/").contains("..") else {
            throw JobFailure("user \(user) has home directory '\(a.home)': not a usable absolute path")
        }
        return a
    }

    var sshDir: String { account.home + "/.ssh" }
    var path: String { sshDir + "/" + Self.name }

    /// The home directory must exist (we never create a home); `.ssh` is created when `create`.
    /// Whose directories these are is checked on their descriptors before anything is read or
    /// chowned: the home must be the account's or root's (sshd's StrictModes rule), an existing
    /// `.ssh` too, and a root-owned `.ssh` in a root-owned home is root's own (an account whose
    /// home is /root or /etc): taking it over would hand root's keys to the account. A root-made
    /// `.ssh` in the account's own home is the account's (its mode and owner are repaired).
    func openSSHDir(create: Bool) throws -> PinnedDirectory? {
        let home: PinnedDirectory
        do {
            home = try PinnedDirectory.open(account.home).0
        } catch {
            throw JobFailure("\(account.name)'s home \(account.home): \(error.message)")
        }
        let homeOwner = try Self.owner(home.fd, account.home)
        guard homeOwner == account.uid || homeOwner == 0 else {
            throw JobFailure("\(account.name)'s home \(account.home) is owned by uid \(homeOwner), not by \(account.name) (uid \(account.uid)) "
                             + "or root: refusing to manage keys there")
        }
        let dir: PinnedDirectory
        let created: [String]
        do {
            let owner = SafeFile.Owner(uid: account.uid, gid: account.gid)
            (dir, created) = try PinnedDirectory.open(sshDir, create: create ? (0o700, geteuid() == 0 ? owner : nil) : nil)
        } catch {
            if !create && error.code == ENOENT { return nil }
            throw JobFailure("\(sshDir): \(error.message)")
        }
        if created.isEmpty {
            let sshOwner = try Self.owner(dir.fd, sshDir)
            guard sshOwner == account.uid || (sshOwner == 0 && homeOwner == account.uid) else {
                throw JobFailure("\(sshDir) is owned by uid \(sshOwner) in a home owned by uid \(homeOwner), not by \(account.name) "
                                 + "(uid \(account.uid)): refusing to take it over")
            }
        }
        return dir
    }

    static func owner(_ fd: Int32, _ path: String) throws -> uid_t {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw JobFailure("\(path): cannot inspect: \(String(cString: strerror(errno)))") }
        return st.st_uid
    }

    /// The file's lines as bytes (no newline; a line in another encoding or with a NUL is kept
    /// exactly as it is); [] when `.ssh` or the file does not exist.
    func read(_ dir: PinnedDirectory?) throws -> [[UInt8]] {
        guard let dir else { return [] }
        guard let bytes = try Self.readOwned(dir, Self.name, path: path, account: account) else { return [] }
        return bytes.split(separator: 0x0a, omittingEmptySubsequences: false).map(Array.init)
    }

    /// A regular file in `dir`, checked on the descriptor it is read through (no window between
    /// the check and the read): no link followed, and owned by the account or by root. Anyone
    /// else's file (planted by a hard link where fs.protected_hardlinks is 0) is refused, and so
    /// is a root-owned one with more than one link: a hard link to a root-only file (a shadow
    /// copy) would otherwise be read here and its bytes written into a file the user owns.
    static func readOwned(_ dir: PinnedDirectory, _ name: String, path: String, account: Account) throws -> [UInt8]? {
        let fd = openat(dir.fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            let e = errno
            if e == ENOENT { return nil }
            throw JobFailure(e == ELOOP ? "\(path): is a symbolic link; refusing to read through it"
                                        : "\(path): cannot open: \(String(cString: strerror(e)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw JobFailure("\(path): is not a regular file") }
        guard st.st_uid == account.uid || st.st_uid == 0 else {
            throw JobFailure("\(path): owned by uid \(st.st_uid), not by \(account.name) (uid \(account.uid)) or root; refusing to use it")
        }
        guard st.st_uid == account.uid || st.st_nlink <= 1 else {
            throw JobFailure("\(path): a root-owned file with \(st.st_nlink) hard links; refusing to read it for \(account.name)")
        }
        guard Int(st.st_size) <= limit else { throw JobFailure("\(path): larger than \(limit) bytes") }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { posixRead(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            done += n
        }
        bytes.removeSubrange(done...)
        return bytes
    }

    /// Replace the file with `lines`; `.ssh` gets 0700 and the user's ownership first.
    func write(_ lines: [[UInt8]], in dir: PinnedDirectory) throws {
        if geteuid() == 0 { _ = fchown(dir.fd, account.uid, account.gid) }
        guard fchmod(dir.fd, 0o700) == 0 else { throw JobFailure("\(sshDir): cannot set mode 0700: \(String(cString: strerror(errno)))") }
        let text: [UInt8] = lines.isEmpty ? [] : Array(lines.joined(separator: [0x0a])) + [0x0a]
        let owner = geteuid() == 0 ? SafeFile.Owner(uid: account.uid, gid: account.gid) : nil
        do {
            try dir.write(Self.name, text, mode: 0o600, owner: owner)
        } catch {
            throw JobFailure("\(path): \(error.message)")
        }
    }

    /// The existing lines without trailing blank ones (the file's last newline splits off one).
    static func trimmed(_ lines: [[UInt8]]) -> [[UInt8]] {
        var out = lines
        while let last = out.last, last.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0d }) { out.removeLast() }
        return out
    }

    /// How many keys this account has in the files sshd reads (`AuthorizedKeysFile`, %h %u %%
    /// expanded, relative paths under the home), read without following links; for the
    /// harden guard.
    static func keyCount(_ account: Account, patterns: [String]) -> Int {
        var count = 0
        for p in patterns.isEmpty ? [".ssh/authorized_keys"] : patterns {
            var path = ""
            var bad = false
            var it = p.makeIterator()
            while !bad, let c = it.next() {
                guard c == "%" else { path.append(c); continue }
                switch it.next() {
                case "h": path += account.home
                case "u": path += account.name
                case "%": path += "%"
                default: bad = true  // a token we do not expand: skip that file
                }
            }
            if bad || path.isEmpty { continue }
            if !path.hasPrefix("/") { path = account.home + "/" + path }
            // Every component opened without following a link (a user's ~/.ssh may point anywhere).
            guard let slash = path.lastIndex(of: "/") else { continue }
            let name = String(path[path.index(after: slash)...])
            guard !name.isEmpty, name != "..", name != ".",
                  let dir = try? PinnedDirectory.open(slash == path.startIndex ? "/" : String(path[..<slash])).0,
                  let bytes = try? readOwned(dir, name, path: path, account: account) else { continue }
            count += bytes.split(separator: 0x0a).filter { AuthorizedKey.keyIn(existingLine: $0) != nil }.count
        }
        return count
    }
}

/// read(2), out of reach of `AuthorizedKeysFile.read`.
private func posixRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int { read(fd, buffer, count) }
