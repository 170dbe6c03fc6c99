#if canImport(Glibc)
import Glibc
#endif
import AgentKernel
import BalctlProtocol
@testable import SSHPlugin
import Testing
import TestSupport

/// Key lines, user names and the other parameters, checked before anything runs.
@Suite struct KeyValidationTests {
    /// Every accepted type, from the real ssh-keygen; our fingerprint is ssh-keygen's.
    @Test(arguments: [("ed25519", nil), ("ecdsa", 256), ("ecdsa", 384), ("ecdsa", 521), ("rsa", 3072)] as [(String, Int?)])
    func realKeysAreAcceptedWithTheirFingerprint(type: String, bits: Int?) async throws {
        let (line, fp) = try await SSHFixture.newKey(type, bits: bits)
        let key = try AuthorizedKey(line: line)
        #expect(key.fingerprint == fp)
        #expect(key.line == line)
        #expect(key.comment == "test@balctl")
    }

    @Test func securityKeyTypesAreKnown() throws {
        // An sk-ssh-ed25519 blob: string type, string 32-byte key, string application.
        func str(_ b: [UInt8]) -> [UInt8] { [0, 0, 0, UInt8(b.count)] + b }
        let blob = str(Array("sk-ssh-ed25519@openssh.com".utf8)) + str([UInt8](repeating: 7, count: 32)) + str(Array("ssh:".utf8))
        let key = try AuthorizedKey(line: "sk-ssh-ed25519@openssh.com " + Base64.encode(blob) + " yubi")
        #expect(key.type == "sk-ssh-ed25519@openssh.com")
    }

    @Test func badLinesAreRefused() async throws {
        let (line, _) = try await SSHFixture.newKey()
        let body = String(line.split(separator: " ")[1])
        let (rsa, _) = try await SSHFixture.newKey("rsa", bits: 2048)
        let rsaBody = String(rsa.split(separator: " ")[1])
        let cases: [(String, String)] = [
            ("", "empty"),
            (line + "\nssh-ed25519 " + body + " second", "control characters"),
            (line + "\0", "control characters"),
            ("ssh-ed25519\t" + body, "control characters"),
            ("command=\"/bin/sh\" " + line, "options before the key type"),
            ("from=\"10.0.0.1\",no-pty " + line, "options before the key type"),
            ("ssh-dss " + body, "key type must be one of"),
            ("ssh-ed25519", "body is missing"),
            ("ssh-ed25519 " + body.dropLast() + "!", "not valid base64"),
            ("ssh-ed25519 " + body + "=", "not valid base64"),
            ("ssh-ed25519 $(id)", "not valid base64"),
            ("ssh-ed25519 22;rm", "not valid base64"),
            ("ssh-ed25519 --", "not valid base64"),
            ("ssh-rsa " + body, "is a ssh-ed25519 key, but the line says ssh-rsa"),
            ("ssh-ed25519 " + rsaBody, "is a ssh-rsa key"),
            ("ssh-ed25519 " + Base64.encode(Array("hello world, not a key".utf8)), "does not hold an SSH public key"),
            (line + " \u{202E}evil", "direction-override"),
            (String(repeating: "a", count: 9000), "longer than"),
        ]
        for (given, expected) in cases {
            do {
                _ = try AuthorizedKey(line: given)
                Issue.record("accepted: \(given.debugDescription)")
            } catch let e as ParameterError {
                #expect(e.message.contains(expected), "\(given.debugDescription): \(e.message)")
            }
        }
    }

    @Test func base64IsCanonicalOnly() {
        #expect(Base64.decodeStrict("aGk=") == Array("hi".utf8))
        #expect(Base64.decodeStrict("aGl=") == nil)  // stray bits in the last character
        #expect(Base64.decodeStrict("aGk") == nil)
        #expect(Base64.decodeStrict("a=Gk") == nil)
        #expect(Base64.encode(Array("hello".utf8)) == "aGVsbG8=")
    }

    static let injections = ["22; rm -rf /", "$(id)", "a\nb", "--", "-rf", "../etc", "root\0", "", String(repeating: "u", count: 33), "ali ce"]

    @Test func injectionStringsAreRefusedInEveryParameter() async throws {
        let f = try await SSHFixture()
        defer { f.stop() }
        let s = f.settings()
        let (line, _) = try await SSHFixture.newKey()
        for bad in Self.injections {
            #expect(await jobError(AuthorizedKeyAddHandler(settings: s), .object(["user": .string(bad), "key": .string(line)]))?.contains("user:") == true, "\(bad.debugDescription)")
            #expect(await jobError(AuthorizedKeyRemoveHandler(settings: s), .object(["user": .string(bad), "key": .string(line)]))?.contains("user:") == true)
            #expect(await jobError(AuthorizedKeyAddHandler(settings: s), .object(["user": .string("alice"), "key": .string(bad)])) != nil)
            #expect(await jobError(AuthorizedKeyRemoveHandler(settings: s), .object(["user": .string("alice"), "fingerprint": .string(bad)]))?.contains("fingerprint:") == true)
            #expect(await jobError(EnableHandler(settings: s), .object(["source": .string(bad)]))?.contains("source:") == true)
            #expect(await jobError(DisableHandler(settings: s), .object(["source": .string(bad), "confirm": .bool(true)]))?.contains("source:") == true)
            #expect(await jobError(HardenHandler(settings: s), .object(["permitRootLogin": .string(bad)]))?.contains("permitRootLogin:") == true)
            #expect(await jobError(HardenHandler(settings: s), .object(["users": .array([.string(bad)])]))?.contains("users:") == true)
        }
        // Nothing ran: no program was called, nothing was written.
        #expect(f.systemctlCalls().isEmpty)
        #expect(f.text(f.root + "/sshd-calls") == nil)
        #expect(Files.list(f.homes + "/alice").isEmpty)
        #expect(await jobError(StatusHandler(settings: s), .object(["x": .number(1)]))?.contains("unexpected parameter") == true)
        #expect(await jobError(AuthorizedKeyRemoveHandler(settings: s), .object(["user": .string("alice")]))?.contains("exactly one") == true)
        #expect(await jobError(EnableHandler(settings: s), .object(["sources": .string("10.0.0.0/8")]))?.contains("unexpected parameter") == true)
    }

    @Test func userNames() throws {
        for good in ["alice", "_svc", "deploy-1", "a.b", "A"] { try UserName.validate(good) }
        for bad in Self.injections + ["1abc", "-x", ".x", "a:b", "a/b"] {
            #expect(throws: ParameterError.self) { try UserName.validate(bad) }
        }
    }

    @Test func otherAccessListeners() {
        let table = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 00000000:0D3D 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0
               1: 0100007F:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0
               2: 0100000A:170C 0100000A:C350 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0
            """
        // 3389 on 0.0.0.0 listens; 9090 only on 127.0.0.1; 5900 is an established connection.
        #expect(OtherAccess.parse(table) == [3389])
        let v6 = """
              sl  local_address                         remote_address                        st
               0: 00000000000000000000000001000000:2382 00000000000000000000000000000000:0000 0A
               1: 00000000000000000000000000000000:170C 00000000000000000000000000000000:0000 0A
            """
        #expect(OtherAccess.parse(v6) == [5900])
    }

    @Test func unitName() throws {
        func s(_ units: [String], os: String?) throws -> String {
            var template = Array("/tmp/balctl-sshunit-XXXXXX".utf8CString)
            let dir = String(cString: mkdtemp(&template)!)
            defer { _ = try? SSHFixture.runSync("rm -rf \(dir)") }
            for u in units { try SafeFile.write(dir + "/" + u, [], mode: 0o644) }
            if let os { try SafeFile.write(dir + "/os-release", Array(os.utf8), mode: 0o644) }
            return SSHSettings(unitDirs: [dir], osReleaseFile: dir + "/os-release").serviceName()
        }
        #expect(try s(["ssh.service", "sshd.service"], os: nil) == "ssh")
        #expect(try s(["sshd.service"], os: "ID=debian\n") == "sshd")
        #expect(try s([], os: "ID=ubuntu\nID_LIKE=debian\n") == "ssh")
        #expect(try s([], os: "ID=rocky\nID_LIKE=\"rhel centos fedora\"\n") == "sshd")
        #expect(SSHSettings(unit: "ssh").serviceName() == "ssh")
    }

    @Test func includeCheck() {
        let drop = "/etc/ssh/sshd_config.d/50-balctl.conf"
        #expect(IncludeCheck.includesDropIn(mainConfig: "Include /etc/ssh/sshd_config.d/*.conf\n", dropIn: drop))
        #expect(IncludeCheck.includesDropIn(mainConfig: "# c\ninclude sshd_config.d/*.conf\n", dropIn: drop))
        #expect(IncludeCheck.includesDropIn(mainConfig: "Include \"/etc/ssh/sshd_config.d/*.conf\"\n", dropIn: drop))
        #expect(!IncludeCheck.includesDropIn(mainConfig: "#Include /etc/ssh/sshd_config.d/*.conf\n", dropIn: drop))
        #expect(!IncludeCheck.includesDropIn(mainConfig: "Include /etc/ssh/other.d/*.conf\n", dropIn: drop))
        #expect(!IncludeCheck.includesDropIn(mainConfig: "Match User x\nInclude /etc/ssh/sshd_config.d/*.conf\n", dropIn: drop))
        #expect(!IncludeCheck.includesDropIn(mainConfig: "Include /etc/ssh/sshd_config.d/*.cfg\n", dropIn: drop))
    }
}
