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
    func openSSHDir(create: Bool) throws -> PinnedDirectory? {
        do {
            _ = try PinnedDirectory.open(account.home)
        } catch {
            throw JobFailure("\(account.name)'s home \(account.home): \(error.message)")
        }
        do {
            let owner = SafeFile.Owner(uid: account.uid, gid: account.gid)
            return try PinnedDirectory.open(sshDir, create: create ? (0o700, geteuid() == 0 ? owner : nil) : nil).0
        } catch {
            if !create && error.code == ENOENT { return nil }
            throw JobFailure("\(sshDir): \(error.message)")
        }
    }

    /// The file's lines; [] when `.ssh` or the file does not exist.
    func read(_ dir: PinnedDirectory?) throws -> [Substring] {
        guard let dir else { return [] }
        do {
            guard let entry = try dir.read(Self.name, limit: Self.limit) else { return [] }
            return String(decoding: entry.bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        } catch {
            throw JobFailure("\(path): \(error.message)")
        }
    }

    /// Replace the file with `lines`; `.ssh` gets 0700 and the user's ownership first.
    func write(_ lines: [String], in dir: PinnedDirectory) throws {
        if geteuid() == 0 { _ = fchown(dir.fd, account.uid, account.gid) }
        guard fchmod(dir.fd, 0o700) == 0 else { throw JobFailure("\(sshDir): cannot set mode 0700: \(String(cString: strerror(errno)))") }
        let text = lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
        let owner = geteuid() == 0 ? SafeFile.Owner(uid: account.uid, gid: account.gid) : nil
        do {
            try dir.write(Self.name, Array(text.utf8), mode: 0o600, owner: owner)
        } catch {
            throw JobFailure("\(path): \(error.message)")
        }
    }

    /// The existing lines without trailing empty ones (the file's last newline splits off one).
    static func trimmed(_ lines: [Substring]) -> [String] {
        var out = lines.map(String.init)
        while let last = out.last, last.trimmingWhitespace.isEmpty { out.removeLast() }
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
            guard let bytes = try? Files.readBytes(path, limit: limit, noFollow: true) else { continue }
            count += String(decoding: bytes, as: UTF8.self).split(separator: "\n")
                .filter { AuthorizedKey.keyIn(existingLine: $0) != nil }.count
        }
        return count
    }
}
