#if canImport(Glibc)
import Glibc
#endif
import AgentKernel
import BalctlProtocol
@testable import SSHPlugin
import Testing
import TestSupport

/// ssh.authorized_key_add / _remove on test accounts whose homes are under a temp dir.
@Suite struct AuthorizedKeysTests {
    func lstatInfo(_ path: String) -> (mode: mode_t, uid: uid_t, type: mode_t)? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (st.st_mode & 0o7777, st.st_uid, st.st_mode & S_IFMT)
    }

    @Test func addCreatesModesAndOwnerAndIsIdempotent() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        let s = f.settings()
        let (line, fp) = try await SSHFixture.newKey()
        let add = AuthorizedKeyAddHandler(settings: s)

        // Check mode: says what it would do, creates nothing.
        let checked = try await run(add, .object(["user": .string("alice"), "key": .string(line)]), checkMode: true)
        #expect(checked.changed && checked.summary.contains("would add"))
        #expect(!Files.exists(f.homes + "/alice/.ssh"))

        let added = try await run(add, .object(["user": .string("alice"), "key": .string(line)]))
        #expect(added.changed)
        #expect(added.result?["fingerprint"] == .string(fp))
        let dir = lstatInfo(f.homes + "/alice/.ssh")
        #expect(dir?.mode == 0o700 && dir?.uid == SSHFixture.testUID && dir?.type == S_IFDIR)
        let file = lstatInfo(f.homes + "/alice/.ssh/authorized_keys")
        #expect(file?.mode == 0o600 && file?.uid == SSHFixture.testUID && file?.type == S_IFREG)
        #expect(f.text(f.homes + "/alice/.ssh/authorized_keys") == line + "\n")
        // No temp file left behind.
        #expect(Files.list(f.homes + "/alice/.ssh") == ["authorized_keys"])

        // The same key again, even with another comment: unchanged, file as it was.
        let again = try await run(add, .object(["user": .string("alice"), "key": .string(line.split(separator: " ")[0...1].joined(separator: " ") + " other comment")]))
        #expect(!again.changed && again.summary.hasPrefix("unchanged"))
        #expect(f.text(f.homes + "/alice/.ssh/authorized_keys") == line + "\n")

        // A second key is appended; a line the user wrote with options is kept as it is.
        let (second, _) = try await SSHFixture.newKey("ecdsa", bits: 256)
        try f.write(f.homes + "/alice/.ssh/authorized_keys", line + "\n# mine\nfrom=\"10.0.0.1\" " + second + "\n", mode: 0o644)
        let dup = try await run(add, .object(["user": .string("alice"), "key": .string(second)]))
        #expect(!dup.changed)  // the same key behind options counts
        let (third, _) = try await SSHFixture.newKey("rsa", bits: 2048)
        #expect(try await run(add, .object(["user": .string("alice"), "key": .string(third)])).changed)
        #expect(f.text(f.homes + "/alice/.ssh/authorized_keys") == line + "\n# mine\nfrom=\"10.0.0.1\" " + second + "\n" + third + "\n")
        // The mode is put back to 0600 on a write.
        #expect(lstatInfo(f.homes + "/alice/.ssh/authorized_keys")?.mode == 0o600)
    }

    @Test func wrongModesAreRepaired() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        try await SSHFixture.sh("mkdir -m 777 \(f.homes)/bob/.ssh")
        let (line, _) = try await SSHFixture.newKey()
        #expect(try await run(AuthorizedKeyAddHandler(settings: f.settings()), .object(["user": .string("bob"), "key": .string(line)])).changed)
        let dir = lstatInfo(f.homes + "/bob/.ssh")
        #expect(dir?.mode == 0o700 && dir?.uid == SSHFixture.testUID)
    }

    @Test func removeByFingerprintBodyAndLine() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        let s = f.settings()
        let (k1, fp1) = try await SSHFixture.newKey()
        let (k2, _) = try await SSHFixture.newKey("ecdsa", bits: 384)
        let (k3, _) = try await SSHFixture.newKey()
        for k in [k1, k2, k3] {
            _ = try await run(AuthorizedKeyAddHandler(settings: s), .object(["user": .string("alice"), "key": .string(k)]))
        }
        let remove = AuthorizedKeyRemoveHandler(settings: s)
        let checked = try await run(remove, .object(["user": .string("alice"), "fingerprint": .string(fp1)]), checkMode: true)
        #expect(checked.changed && checked.result?["removed"] == .number(1))
        #expect(f.text(f.homes + "/alice/.ssh/authorized_keys") == [k1, k2, k3].joined(separator: "\n") + "\n")

        #expect(try await run(remove, .object(["user": .string("alice"), "fingerprint": .string(fp1)])).changed)
        #expect(f.text(f.homes + "/alice/.ssh/authorized_keys") == [k2, k3].joined(separator: "\n") + "\n")
        #expect(try await !run(remove, .object(["user": .string("alice"), "fingerprint": .string(fp1)])).changed)

        let body2 = String(k2.split(separator: " ")[1])
        #expect(try await run(remove, .object(["user": .string("alice"), "key": .string(body2)])).changed)
        #expect(try await run(remove, .object(["user": .string("alice"), "key": .string(k3)])).changed)
        #expect(f.text(f.homes + "/alice/.ssh/authorized_keys") == "")
        let file = lstatInfo(f.homes + "/alice/.ssh/authorized_keys")
        #expect(file?.mode == 0o600 && file?.uid == SSHFixture.testUID)

        // bob has no ~/.ssh: unchanged, nothing created.
        #expect(try await !run(remove, .object(["user": .string("bob"), "key": .string(k3)])).changed)
        #expect(!Files.exists(f.homes + "/bob/.ssh"))
    }

    @Test func symlinksAreRefusedAndNotFollowed() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        let s = f.settings()
        let (line, _) = try await SSHFixture.newKey()
        // A symlinked ~/.ssh pointing at a directory root cares about.
        try await SSHFixture.sh("mkdir \(f.root)/victim && ln -s \(f.root)/victim \(f.homes)/alice/.ssh")
        let e1 = await jobError(AuthorizedKeyAddHandler(settings: s), .object(["user": .string("alice"), "key": .string(line)]))
        #expect(e1?.contains("symbolic link") == true, "\(e1 ?? "")")
        #expect(Files.list(f.root + "/victim").isEmpty)
        let e1r = await jobError(AuthorizedKeyRemoveHandler(settings: s), .object(["user": .string("alice"), "key": .string(line)]))
        #expect(e1r?.contains("symbolic link") == true)

        // A symlinked authorized_keys pointing at a root file.
        try await SSHFixture.sh("mkdir -m 700 \(f.homes)/bob/.ssh && chown 4242 \(f.homes)/bob/.ssh && echo secret > \(f.root)/victim/shadow && ln -s \(f.root)/victim/shadow \(f.homes)/bob/.ssh/authorized_keys")
        let e2 = await jobError(AuthorizedKeyAddHandler(settings: s), .object(["user": .string("bob"), "key": .string(line)]))
        #expect(e2?.contains("symbolic link") == true, "\(e2 ?? "")")
        #expect(f.text(f.root + "/victim/shadow") == "secret\n")
        #expect(lstatInfo(f.root + "/victim/shadow")?.uid == 0)
        #expect(lstatInfo(f.homes + "/bob/.ssh/authorized_keys")?.type == S_IFLNK)
    }

    @Test func unknownUserAndBadHome() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        let (line, _) = try await SSHFixture.newKey()
        let e = await jobError(AuthorizedKeyAddHandler(settings: f.settings()), .object(["user": .string("mallory"), "key": .string(line)]))
        #expect(e == "no such user: mallory")
        // The home must exist: we never create one.
        let e2 = await jobError(AuthorizedKeyAddHandler(settings: f.settings()), .object(["user": .string("daemonish"), "key": .string(line)]))
        #expect(e2?.contains("home") == true, "\(e2 ?? "")")
        #expect(!Files.exists(f.homes + "/none"))
    }

    /// The production lookup is getpwnam: root is found, a name that is not there is not.
    @Test func systemAccounts() {
        let root = AccountLookup.system.byName("root")
        #expect(root?.uid == 0 && root?.home == "/root")
        #expect(AccountLookup.system.byName("balctl-no-such-user") == nil)
        #expect(AccountLookup.system.all().contains { $0.name == "root" && $0.uid == 0 })
    }
}
