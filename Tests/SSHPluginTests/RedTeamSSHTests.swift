#if canImport(Glibc)
import Glibc
#endif
import AgentKernel
import BalctlProtocol
import FirewallPlugin
@testable import SSHPlugin
import Testing
import TestSupport

/// Attacks on the SSH plugin as a local unprivileged user would make them (the agent is root and
/// writes into homes the user controls), and fuzzing of every parser that reads outside bytes.
@Suite struct RedTeamSSHTests {
    func lstatInfo(_ path: String) -> (uid: uid_t, type: mode_t, nlink: Int)? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (st.st_uid, st.st_mode & S_IFMT, Int(st.st_nlink))
    }

    /// What the real ssh-keygen (which skips options as sshd does) sees in an authorized_keys file.
    func sshKeygenFingerprints(_ path: String) async throws -> [String] {
        let r = try await ProcessRunner().run("/usr/bin/ssh-keygen", ["-l", "-E", "sha256", "-f", path], timeoutSec: 60)
        return r.output.split(separator: "\n").compactMap { $0.split(separator: " ").first { $0.hasPrefix("SHA256:") }.map(String.init) }
    }

    /// Finding 1: a quoted option holding a key type (`command="echo ssh-ed25519 X"`) made the line
    /// parser take the word after it for the key, so remove said "unchanged: no such key" while
    /// sshd still accepted the key behind the options.
    @Test func quotedOptionsDoNotHideAKeyFromRemove() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        let s = f.settings()
        let (k1, fp1) = try await SSHFixture.newKey()
        let (k2, fp2) = try await SSHFixture.newKey()
        let body1 = String(k1.split(separator: " ")[1]), body2 = String(k2.split(separator: " ")[1])
        try await SSHFixture.sh("mkdir -m 700 \(f.homes)/alice/.ssh && chown 4242:4242 \(f.homes)/alice/.ssh")
        let path = f.homes + "/alice/.ssh/authorized_keys"
        // The decoy names k2's body inside the quotes; the key sshd uses is k1. An escaped quote too.
        try f.write(path, "command=\"echo \\\"x\\\" ssh-ed25519 \(body2)\",no-pty ssh-ed25519 \(body1) hidden\n", mode: 0o600)
        #expect(try await sshKeygenFingerprints(path) == [fp1])
        // Adding k1 is "unchanged" (it is there); adding k2 is not (it is not a key on that line).
        #expect(try await !run(AuthorizedKeyAddHandler(settings: s), .object(["user": .string("alice"), "key": .string(k1)])).changed)
        let remove = AuthorizedKeyRemoveHandler(settings: s)
        #expect(try await !run(remove, .object(["user": .string("alice"), "fingerprint": .string(fp2)])).changed)
        #expect(try await run(remove, .object(["user": .string("alice"), "fingerprint": .string(fp1)])).changed)
        #expect(try await sshKeygenFingerprints(path).isEmpty)
        #expect(f.text(path) == "")
    }

    /// Finding 1b: a key of a type outside the add list (a certificate-type or DSA line written by
    /// the user) is still a key sshd may accept: remove by fingerprint must find it.
    @Test func removeByFingerprintFindsATypeAddDoesNotAccept() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        func str(_ b: [UInt8]) -> [UInt8] { [0, 0, 0, UInt8(b.count)] + b }
        let blob = str(Array("ssh-dss".utf8)) + str([1, 2, 3]) + str([4]) + str([5]) + str([6])
        let line = "ssh-dss " + Base64.encode(blob) + " old"
        try await SSHFixture.sh("mkdir -m 700 \(f.homes)/alice/.ssh && chown 4242:4242 \(f.homes)/alice/.ssh")
        try f.write(f.homes + "/alice/.ssh/authorized_keys", line + "\n", mode: 0o600)
        let out = try await run(AuthorizedKeyRemoveHandler(settings: f.settings()),
                                .object(["user": .string("alice"), "fingerprint": .string(AuthorizedKey.fingerprint(of: blob))]))
        #expect(out.changed)
        #expect(f.text(f.homes + "/alice/.ssh/authorized_keys") == "")
    }

    /// Finding 2: the harden lock-out guard counted keys through a symlinked ~/.ssh (only the last
    /// component was opened with O_NOFOLLOW): root read a directory the user pointed it at.
    @Test func keyCountDoesNotFollowASymlinkedSSHDir() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        let (k, _) = try await SSHFixture.newKey()
        try await SSHFixture.sh("mkdir -m 700 \(f.root)/rootkeys && echo '\(k)' > \(f.root)/rootkeys/authorized_keys && "
                                + "chmod 600 \(f.root)/rootkeys/authorized_keys && "
                                + "setpriv --reuid=4242 --regid=4242 --clear-groups ln -s \(f.root)/rootkeys \(f.homes)/alice/.ssh")
        let alice = try #require(f.accounts.byName("alice"))
        #expect(AuthorizedKeysFile.keyCount(alice, patterns: [".ssh/authorized_keys"]) == 0)
        #expect(AuthorizedKeysFile.keyCount(alice, patterns: ["%h/.ssh/authorized_keys"]) == 0)
        // A real directory with the key counts.
        try await SSHFixture.sh("mkdir -m 700 \(f.homes)/bob/.ssh && echo '\(k)' > \(f.homes)/bob/.ssh/authorized_keys && chown -R 4242:4242 \(f.homes)/bob/.ssh")
        #expect(AuthorizedKeysFile.keyCount(try #require(f.accounts.byName("bob")), patterns: [".ssh/authorized_keys"]) == 1)
    }

    /// Finding 3: an authorized_keys that is a hard link to a root-only file (possible where
    /// fs.protected_hardlinks is 0, or with a link made before) was read and its bytes written
    /// into a new authorized_keys the user owns: root copied a secret to the user.
    @Test func hardLinkedAuthorizedKeysIsRefused() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        let (k, _) = try await SSHFixture.newKey()
        // As root (the kernel would refuse the user with protected_hardlinks=1, which is not everywhere).
        try await SSHFixture.sh("mkdir -m 700 \(f.root)/secret && echo 'root:$6$secret' > \(f.root)/secret/shadow && chmod 600 \(f.root)/secret/shadow && "
                                + "mkdir -m 700 \(f.homes)/alice/.ssh && chown 4242:4242 \(f.homes)/alice/.ssh && "
                                + "ln \(f.root)/secret/shadow \(f.homes)/alice/.ssh/authorized_keys")
        let e = await jobError(AuthorizedKeyAddHandler(settings: f.settings()), .object(["user": .string("alice"), "key": .string(k)]))
        #expect(e?.contains("link") == true, "\(e ?? "nil")")
        #expect(f.text(f.homes + "/alice/.ssh/authorized_keys") == "root:$6$secret\n")
        #expect(lstatInfo(f.homes + "/alice/.ssh/authorized_keys")?.uid == 0)
        // Another user's file planted there is refused too (not read as alice's).
        try await SSHFixture.sh("rm \(f.homes)/alice/.ssh/authorized_keys && echo '\(k)' > \(f.homes)/alice/.ssh/authorized_keys && chown 4343 \(f.homes)/alice/.ssh/authorized_keys")
        let e2 = await jobError(AuthorizedKeyRemoveHandler(settings: f.settings()), .object(["user": .string("alice"), "key": .string(k)]))
        #expect(e2?.contains("owned by uid 4343") == true, "\(e2 ?? "nil")")
    }

    /// Finding 4: lines were decoded as UTF-8 and written back, so a line in another encoding (a
    /// Latin-1 comment) or with a NUL came back altered though "other lines are kept as they are".
    @Test func otherLinesAreKeptByteForByte() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        let (k1, _) = try await SSHFixture.newKey()
        let (k2, _) = try await SSHFixture.newKey()
        try await SSHFixture.sh("mkdir -m 700 \(f.homes)/alice/.ssh && chown 4242:4242 \(f.homes)/alice/.ssh && "
                                + "printf '%s caf\\351\\r\\n# a\\000b\\n' '\(k1)' > \(f.homes)/alice/.ssh/authorized_keys")
        let before = try Files.readBytes(f.homes + "/alice/.ssh/authorized_keys")
        #expect(try await run(AuthorizedKeyAddHandler(settings: f.settings()), .object(["user": .string("alice"), "key": .string(k2)])).changed)
        #expect(try Files.readBytes(f.homes + "/alice/.ssh/authorized_keys") == before + Array((k2 + "\n").utf8))
        // The CRLF line is still k1 to us (as to sshd): re-adding it is "unchanged".
        #expect(try await !run(AuthorizedKeyAddHandler(settings: f.settings()), .object(["user": .string("alice"), "key": .string(k1)])).changed)
    }

    /// The fixture's firewall settings name no host path: on a RHEL-family host (or one with ufw)
    /// the SSH tests must still see "no firewall" and never run the host's firewall or systemctl.
    @Test func fixtureFirewallIsPinnedAwayFromTheHost() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        let fw = f.settings().firewall
        for path in [fw.ufw, fw.ufwDir, fw.defaultsFile, fw.sshd, fw.stateDir, fw.agentEnvFile, fw.firewallCmd, fw.firewallOfflineCmd,
                     fw.firewalldDir, fw.firewalldLibDir, fw.firewalldPidFile, fw.systemctl, fw.dnf, fw.osReleaseFile] {
            #expect(path.hasPrefix(f.root + "/"), "\(path) is the host's")
        }
        #expect(fw.firewalldMarkers.isEmpty)
        #expect(fw.selectedTool() == nil && !SSHFirewall(settings: fw).installed)
        let s = f.settings()
        for path in [s.sshd, s.systemctl, s.configDir, s.osReleaseFile, s.privsepDir, s.procNetDir] + s.unitDirs {
            #expect(path.hasPrefix(f.root + "/"), "\(path) is the host's")
        }
    }

    /// Held: the user swaps ~/.ssh between a directory and a symlink to a root directory, and
    /// authorized_keys between a file and a symlink to a root file, in a tight loop while keys are
    /// added and removed. Root never writes, chowns or chmods anything outside the user's tree.
    @Test func raceSwappingSSHDirAndFileForLinks() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        let s = f.settings()
        let victim = f.root + "/victim", home = f.homes + "/alice", stop = f.root + "/stop"
        try await SSHFixture.sh("mkdir -m 755 \(victim) && echo secret > \(victim)/authorized_keys && chmod 644 \(victim)/authorized_keys && "
                                + "mkdir -m 700 \(home)/.ssh && chown 4242:4242 \(home)/.ssh")
        // The attacker: bounded, and it stops by itself when the stop file appears. It is also
        // waited for (and killed if need be) before the fixture goes: a racer that missed the stop
        // file because the fixture's directory was removed right after it kept spawning processes
        // for minutes after the test, into the rest of the suite.
        let pidFile = f.root + "/racer.pid"
        try await SSHFixture.sh("""
            cd \(home) && setpriv --reuid=4242 --regid=4242 --clear-groups sh -c '
              i=0; while [ ! -e \(stop) ] && [ $i -lt 100000 ]; do
                mv -T .ssh .ssh-real 2>/dev/null; ln -s \(victim) .ssh 2>/dev/null; rm -f .ssh; mv -T .ssh-real .ssh 2>/dev/null
                ln -sf \(victim)/authorized_keys .ssh/l 2>/dev/null; mv -T .ssh/l .ssh/authorized_keys 2>/dev/null
                rm -f .ssh/authorized_keys 2>/dev/null
                i=$((i+1)); done' >/dev/null 2>&1 &
            echo $! > \(pidFile)
            """)
        let racer = pid_t(f.text(pidFile)?.split(separator: "\n").first.map(String.init) ?? "") ?? 0
        #expect(racer > 1, "the racer's PID")
        defer {
            _ = try? SafeFile.write(stop, [], mode: 0o644)
            // setpriv execs the shell: $! is the racer itself. 5 s to see the stop file, then gone.
            var waited = 0
            while racer > 1 && kill(racer, 0) == 0 && waited < 500 { usleep(10_000); waited += 1 }
            if racer > 1 && kill(racer, 0) == 0 { kill(racer, SIGKILL) }
        }
        var outcomes = (added: 0, refused: 0)
        for _ in 0..<150 {
            let (k, _) = (try? await SSHFixture.newKey()) ?? ("", "")
            if k.isEmpty { continue }
            let params: JSONValue = .object(["user": .string("alice"), "key": .string(k)])
            if (try? await run(AuthorizedKeyAddHandler(settings: s), params)) != nil { outcomes.added += 1 } else { outcomes.refused += 1 }
            _ = try? await run(AuthorizedKeyRemoveHandler(settings: s), params)
        }
        try SafeFile.write(stop, [], mode: 0o644)
        #expect(outcomes.added + outcomes.refused == 150)
        #expect(f.text(victim + "/authorized_keys") == "secret\n")
        #expect(Files.list(victim) == ["authorized_keys"])
        var st = stat()
        #expect(stat(victim, &st) == 0 && st.st_uid == 0 && st.st_mode & 0o7777 == 0o755)
        #expect(stat(victim + "/authorized_keys", &st) == 0 && st.st_uid == 0 && st.st_mode & 0o7777 == 0o644)
    }

    /// A small deterministic generator (SplitMix64): the fuzz runs are the same every time.
    struct Rand {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
    }

    static func mutate(_ seed: [UInt8], _ r: inout Rand, alphabet: [UInt8]) -> [UInt8] {
        var b = seed
        for _ in 0...r.below(6) {
            switch r.below(6) {
            case 0 where !b.isEmpty: b[r.below(b.count)] = UInt8(truncatingIfNeeded: r.next())
            case 1: b.insert(alphabet[r.below(alphabet.count)], at: r.below(b.count + 1))
            case 2 where !b.isEmpty: b.remove(at: r.below(b.count))
            case 3: b = Array(b.prefix(r.below(b.count + 1)))  // every prefix shape
            case 4 where !b.isEmpty:
                let i = r.below(b.count), n = min(r.below(64), b.count - i)
                b.insert(contentsOf: b[i..<(i + n)], at: r.below(b.count + 1))
            default: b.append(alphabet[r.below(alphabet.count)])
            }
        }
        return b
    }

    /// Finding 5 (from the fuzzing below): /proc/net/tcp's port field was read with Int(radix: 16),
    /// which also takes a sign and more than four digits, so a malformed line gave ports outside
    /// 0…65535 (-1, 0x1D3D0). Only the kernel's shape counts now.
    @Test func procNetTCPFieldsMustHaveTheKernelsShape() {
        let head = "  sl  local_address rem_address   st\n"
        for bad in ["-D3D", "+D3D", "10D3D", "D3D", "0D3G"] {
            #expect(OtherAccess.parse(head + "   0: 00000000:\(bad) 00000000:0000 0A 0\n") == [], "\(bad)")
        }
        #expect(OtherAccess.parse(head + "   0: 0000000:0D3D 00000000:0000 0A 0\n") == [])
        #expect(OtherAccess.parse(head + "   0: 00000000:0D3D 00000000:0000 0A 0\n") == [3389])
    }

    /// Held: every parser of outside bytes on prefixes and seeded mutations of real inputs, with a
    /// bound on the work: no trap, and each answer is consistent with what the parser promises.
    @Test func parsersSurviveFuzzing() async throws {
        let (k, _) = try await SSHFixture.newKey()
        let (rsa, _) = try await SSHFixture.newKey("rsa", bits: 2048)
        let body = String(k.split(separator: " ")[1])
        let keySeeds = [k, rsa, "from=\"10.0.0.1\",command=\"echo \\\"a b\\\" ssh-rsa x\" " + k, "  \t# c\r", "no-pty\t" + rsa + "\r",
                        "ssh-ed25519 " + body.dropLast(4) + "====", "ssh-ed25519-cert-v01@openssh.com " + body]
        let readoutSeed = "port 22\nport 2222\nlistenaddress 0.0.0.0:22\npasswordauthentication yes\nkbdinteractiveauthentication no\n"
            + "permitrootlogin without-password\npidfile /run/sshd.pid\nauthorizedkeysfile .ssh/authorized_keys %h/.ssh/k2 none\n"
        let tcpSeed = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
            + "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n"
            + "   1: 0100007F:170C 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0\n"
            + "   2: 00000000000000000000000000000000:0D3D 00000000000000000000000000000000:0000 0A 0 0 0 0 0 0\n"
        let includeSeed = "# x\nInclude /etc/ssh/sshd_config.d/*.conf\nInclude=\"sshd_config.d/*.conf\"\nMatch User x\n"
        let alphabet = Array(" \t\r\n\0\"\\=#,:AZaz09+/%".utf8) + [0xc3, 0xa9, 0xff, 0xe2, 0x80, 0xae]
        var r = Rand(state: 0x5eed_55b)
        let clock = ContinuousClock(), start = clock.now
        var runs = 0
        for round in 0..<20_000 {
            if clock.now - start > .seconds(60) { break }  // the work bound on a slow machine
            runs += 1
            let ks = Array(keySeeds[round % keySeeds.count].utf8)
            let kb = round % 7 == 0 ? Array(ks.prefix(round % (ks.count + 1))) : Self.mutate(ks, &r, alphabet: alphabet)
            if let found = AuthorizedKey.keyIn(existingLine: kb) {
                #expect(Base64.decodeStrict(found.body).flatMap(AuthorizedKey.embeddedType) == found.type)
            }
            if let key = try? AuthorizedKey(line: String(decoding: kb, as: UTF8.self)) {
                // What add would write: one line, a key we read back the same.
                #expect(!key.line.utf8.contains(where: { $0 < 0x20 }))
                let back = AuthorizedKey.keyIn(existingLine: Substring(key.line))
                #expect(back?.type == key.type && back?.body == key.body)
            }
            _ = Base64.decodeStrict(String(decoding: kb, as: UTF8.self))
            let rb = Self.mutate(Array(readoutSeed.utf8), &r, alphabet: alphabet)
            let readout = SSHDReadout.parse(String(decoding: rb, as: UTF8.self))
            #expect(readout.ports.allSatisfy { (1...65535).contains($0) })
            let tb = Self.mutate(Array(tcpSeed.utf8), &r, alphabet: alphabet)
            #expect(OtherAccess.parse(String(decoding: tb, as: UTF8.self)).allSatisfy { (0...65535).contains($0) })
            let ib = Self.mutate(Array(includeSeed.utf8), &r, alphabet: alphabet)
            _ = IncludeCheck.includesDropIn(mainConfig: String(decoding: ib, as: UTF8.self), dropIn: "/etc/ssh/sshd_config.d/50-balctl.conf")
        }
        #expect(runs >= 1000, "only \(runs) fuzz rounds in the bound")
        // A huge line: linear work, no answer.
        let huge = [UInt8](repeating: 0x41, count: 4 << 20)
        #expect(AuthorizedKey.keyIn(existingLine: huge) == nil)
        #expect(SSHDReadout.parse(String(repeating: "port 1\n", count: 200_000)).ports == [1])
    }

    /// Held: ~/.ssh as a FIFO or a file, authorized_keys as a FIFO or a huge sparse file: refused
    /// at once (no hang on the FIFO, no 1 GiB read), nothing replaced.
    @Test func oddFileTypesAndSizesAreRefused() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        let s = f.settings()
        let (k, _) = try await SSHFixture.newKey()
        let params: JSONValue = .object(["user": .string("alice"), "key": .string(k)])
        try await SSHFixture.sh("setpriv --reuid=4242 --regid=4242 --clear-groups mkfifo \(f.homes)/alice/.ssh")
        #expect(await jobError(AuthorizedKeyAddHandler(settings: s), params)?.contains("not a directory") == true)
        try await SSHFixture.sh("rm \(f.homes)/alice/.ssh && echo x > \(f.homes)/alice/.ssh")
        #expect(await jobError(AuthorizedKeyAddHandler(settings: s), params)?.contains("not a directory") == true)
        try await SSHFixture.sh("rm \(f.homes)/alice/.ssh && mkdir -m 700 \(f.homes)/alice/.ssh && chown 4242:4242 \(f.homes)/alice/.ssh && "
                                + "setpriv --reuid=4242 --regid=4242 --clear-groups mkfifo \(f.homes)/alice/.ssh/authorized_keys")
        #expect(await jobError(AuthorizedKeyAddHandler(settings: s), params)?.contains("not a regular file") == true)
        #expect(await jobError(AuthorizedKeyRemoveHandler(settings: s), params)?.contains("not a regular file") == true)
        try await SSHFixture.sh("rm \(f.homes)/alice/.ssh/authorized_keys && setpriv --reuid=4242 --regid=4242 --clear-groups truncate -s 1G \(f.homes)/alice/.ssh/authorized_keys")
        #expect(await jobError(AuthorizedKeyAddHandler(settings: s), params)?.contains("larger than") == true)
        let alice = try #require(f.accounts.byName("alice"))
        #expect(AuthorizedKeysFile.keyCount(alice, patterns: []) == 0)
        var st = stat()
        #expect(stat(f.homes + "/alice/.ssh/authorized_keys", &st) == 0 && st.st_size == 1 << 30)
    }

    /// Finding 6: an account whose home is root's (a root-owned home with root's own `.ssh`, like
    /// /root) or another user's got that `.ssh` chowned to it and root's authorized_keys rewritten
    /// as a file it owns: a key job for that account handed it root's (or the other user's) keys.
    @Test func aHomeThatIsNotTheAccountsIsNotTakenOver() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        let (rootKey, _) = try await SSHFixture.newKey()
        let (k, _) = try await SSHFixture.newKey()
        try await SSHFixture.sh("mkdir -m 700 \(f.root)/roothome \(f.root)/roothome/.ssh && echo '\(rootKey)' > \(f.root)/roothome/.ssh/authorized_keys && "
                                + "chmod 600 \(f.root)/roothome/.ssh/authorized_keys && "
                                + "mkdir -m 700 \(f.homes)/bob/.ssh && echo '\(rootKey)' > \(f.homes)/bob/.ssh/authorized_keys && chown -R 4242:4242 \(f.homes)/bob/.ssh")
        let base = f.accounts
        let list = [Account(name: "mallory", uid: 4343, gid: 4343, home: f.root + "/roothome", shell: "/bin/bash"),
                    Account(name: "eve", uid: 4344, gid: 4344, home: f.homes + "/bob", shell: "/bin/bash")]
        var s = f.settings()
        s.accounts = AccountLookup(byName: { n in list.first { $0.name == n } ?? base.byName(n) }, all: { list + base.all() })
        for user in ["mallory", "eve"] {
            for h in [AnyHandlerRun.add, .remove] {
                let params: JSONValue = .object(["user": .string(user), "key": .string(h == .add ? k : rootKey)])
                let e = h == .add ? await jobError(AuthorizedKeyAddHandler(settings: s), params) : await jobError(AuthorizedKeyRemoveHandler(settings: s), params)
                #expect(e?.contains("owned by") == true, "\(user) \(h): \(e ?? "nil")")
            }
        }
        #expect(lstatInfo(f.root + "/roothome/.ssh")?.uid == 0 && lstatInfo(f.root + "/roothome/.ssh/authorized_keys")?.uid == 0)
        #expect(f.text(f.root + "/roothome/.ssh/authorized_keys") == rootKey + "\n")
        #expect(lstatInfo(f.homes + "/bob/.ssh")?.uid == 4242 && f.text(f.homes + "/bob/.ssh/authorized_keys") == rootKey + "\n")
        // Root's own account there is fine; a user's root-made ~/.ssh in the user's home is still repaired (wrongModesAreRepaired).
        let rootList = [Account(name: "toor", uid: 0, gid: 0, home: f.root + "/roothome", shell: "/bin/bash")]
        s.accounts = AccountLookup(byName: { n in rootList.first { $0.name == n } }, all: { rootList })
        #expect(try await run(AuthorizedKeyAddHandler(settings: s), .object(["user": .string("toor"), "key": .string(k)])).changed)
        #expect(lstatInfo(f.root + "/roothome/.ssh/authorized_keys")?.uid == 0)
    }

    enum AnyHandlerRun { case add, remove }

    /// Held: harden and harden_undo with the drop-in a symlink (to a file root cares about), the
    /// drop-in directory a symlink, and the main config a symlink: refused, nothing written
    /// through, nothing removed. (A root-made link in a root-only directory would be followed by
    /// PinnedDirectory as the administrator's layout; these are in the fixture's dir.)
    @Test func hardenRefusesLinkedConfigPaths() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        var s = f.settings()
        let victim = f.root + "/victim.conf"
        // Valid for sshd (which follows the link itself), so harden gets as far as its own read.
        try f.write(victim, "# keep\n")
        // The fixture's config dir is root's, so make the links as a user would: in a dir the user owns.
        try await SSHFixture.sh("chown 4242 \(s.dropInDir) && setpriv --reuid=4242 --regid=4242 --clear-groups ln -s \(victim) \(s.dropInFile)")
        let e1 = await jobError(HardenHandler(settings: s), .object(["force": .bool(true)]))
        #expect(e1?.contains("symbolic link") == true, "\(e1 ?? "nil")")
        let e1u = await jobError(HardenUndoHandler(settings: s))
        #expect(e1u?.contains("symbolic link") == true, "\(e1u ?? "nil")")
        #expect(f.text(victim) == "# keep\n")
        var st = stat()
        #expect(lstat(s.dropInFile, &st) == 0 && st.st_mode & S_IFMT == S_IFLNK)

        // The drop-in directory a user's symlink to elsewhere.
        try await SSHFixture.sh("mkdir \(f.root)/user-d && chown 4242 \(f.root)/user-d \(f.configDir) && rm -rf \(s.dropInDir) && "
                                + "setpriv --reuid=4242 --regid=4242 --clear-groups ln -s \(f.root)/user-d \(s.dropInDir)")
        let e2 = await jobError(HardenHandler(settings: s), .object(["force": .bool(true)]))
        #expect(e2?.contains("symbolic link") == true, "\(e2 ?? "nil")")
        #expect(Files.list(f.root + "/user-d").isEmpty)

        // The main config a symlink: not read through.
        try await SSHFixture.sh("rm \(s.dropInDir) && mkdir \(s.dropInDir) && mv \(s.configFile) \(f.root)/real_config && ln -s \(f.root)/real_config \(s.configFile)")
        s = f.settings()
        let e3 = await jobError(HardenHandler(settings: s), .object(["force": .bool(true)]))
        #expect(e3?.contains("cannot read") == true, "\(e3 ?? "nil")")
        #expect(Files.list(s.dropInDir).isEmpty)
    }

    /// Finding 7: sshd (and ssh-keygen) read a line as a C string, so `key\0junk` is the key; our
    /// parser took the NUL and the junk as part of the body and remove missed a key sshd accepts.
    @Test func aNULEndsTheLineAsForSSHD() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        let (k, fp) = try await SSHFixture.newKey()
        let path = f.homes + "/alice/.ssh/authorized_keys"
        try await SSHFixture.sh("mkdir -m 700 \(f.homes)/alice/.ssh && chown 4242:4242 \(f.homes)/alice/.ssh && "
                                + "printf '%s\\000junk\\n' '\(k.split(separator: " ")[0...1].joined(separator: " "))' > \(path)")
        #expect(try await sshKeygenFingerprints(path) == [fp])
        #expect(try await run(AuthorizedKeyRemoveHandler(settings: f.settings()), .object(["user": .string("alice"), "fingerprint": .string(fp)])).changed)
        #expect(try await sshKeygenFingerprints(path).isEmpty)
    }
}
