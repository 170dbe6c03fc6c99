import Foundation
import AgentKernel
import BalctlProtocol
import Testing

@Suite("EnvFile")
struct EnvFileTests {
    @Test("parse: comments, blank lines, export, quotes, spaces around '=' and values containing '='")
    func parse() {
        let text = """
            # the enrollment secret lives here
            ; also a comment

            BALCTL_API_BASE=https://cp.example:8443
              export BALCTL_HOSTNAME = web-1\t
            BALCTL_A="quoted value"
            BALCTL_B='single # not a comment'
            BALCTL_C=
            BALCTL_D="unbalanced
            BALCTL_E=a=b=c
            NO_EQUALS_SIGN
            =no-key
            \t# indented comment
            """
        let env = EnvFile.parse(text)
        #expect(env == [
            "BALCTL_API_BASE": "https://cp.example:8443",
            "BALCTL_HOSTNAME": "web-1",
            "BALCTL_A": "quoted value",
            "BALCTL_B": "single # not a comment",
            "BALCTL_C": "",
            "BALCTL_D": "\"unbalanced",
            "BALCTL_E": "a=b=c",
        ])
    }

    @Test("parse: CRLF line endings and a later line overriding an earlier one")
    func parseCRLFAndOverride() {
        let env = EnvFile.parse("A=1\r\nB=two\r\nA=3\r\n")
        #expect(env == ["A": "3", "B": "two"])
    }

    @Test("write: mode 0600, parent directory 0700, and the values read back")
    func writeMode() throws {
        let tmp = try TempDir()
        let path = tmp.file("etc/agent.env")
        let values = [("BALCTL_ENROLLMENT_SECRET", String(repeating: "ab", count: 24)),
                      ("BALCTL_API_BASE", "https://cp.example"), ("BALCTL_EMPTY", "")]
        try EnvFile.write(values, to: path)
        #expect(statOf(path)?.mode == 0o600)
        #expect(statOf(tmp.file("etc"))?.mode == 0o700)
        let back = try #require(EnvFile.load(path))
        #expect(back == Dictionary(uniqueKeysWithValues: values))
        #expect(try tmp.read("etc/agent.env").hasPrefix("#"))
        #expect(!fileExists(path + ".tmp"))
    }

    @Test("write: replaces an existing file atomically (new inode, mode tightened to 0600)")
    func writeAtomic() throws {
        let tmp = try TempDir()
        let path = tmp.file("agent.env")
        try tmp.write("agent.env", "OLD=1\n")
        chmod(path, 0o644)
        // A hard link keeps the old inode reachable: an in-place rewrite would change it too.
        let linkPath = tmp.file("old-link")
        #expect(link(path, linkPath) == 0)
        let before = try #require(statOf(path))

        try EnvFile.write([("NEW", "2")], to: path)

        let after = try #require(statOf(path))
        #expect(after.inode != before.inode)
        #expect(after.mode == 0o600)
        #expect(EnvFile.load(path) == ["NEW": "2"])
        #expect(try tmp.read("old-link") == "OLD=1\n")
        #expect(!fileExists(path + ".tmp"))
    }

    @Test("write: refuses a newline in a value or '=' / newline in a name, and writes nothing",
          arguments: [("K", "a\nb"), ("K=X", "v"), ("K\nX", "v"), ("K", "trailing\n")])
    func writeRefuses(_ key: String, _ value: String) throws {
        let tmp = try TempDir()
        let path = tmp.file("agent.env")
        #expect(throws: EnvFile.WriteError.self) {
            try EnvFile.write([("GOOD", "1"), (key, value)], to: path)
        }
        #expect(!fileExists(path))
    }
}

@Suite("AgentConfig")
struct AgentConfigTests {
    static let secret = "0123456789abcdef0123456789abcdef0123456789abcdef"
    let base = ["BALCTL_ENROLLMENT_SECRET": secret, "BALCTL_API_BASE": "https://cp.example:8443"]

    func error(file: [String: String] = [:], env: [String: String]) -> String? {
        do {
            _ = try AgentConfig.load(file: file, environment: env)
            return nil
        } catch let e as ConfigError {
            return e.description
        } catch {
            return "unexpected \(error)"
        }
    }

    @Test("a minimal file loads with the documented defaults")
    func defaults() throws {
        let c = try AgentConfig.load(file: base, environment: [:])
        #expect(c.enrollmentSecret == Self.secret)
        #expect(c.apiBase == "https://cp.example:8443")
        #expect(c.intervalSec == 1)
        #expect(c.declareIP == nil)
        #expect(c.probePublicIP == false)
        #expect(c.stateDir == "/var/lib/balctl")
        #expect(c.shutdownGraceSec == 20)
        #expect(c.caFile == nil)
        #expect(c.hostname == HostProbe.systemHostname())
    }

    @Test("the environment wins over the file; non-BALCTL_ variables are ignored; file-only keys stay")
    func environmentWins() throws {
        var file = base
        file["BALCTL_HOSTNAME"] = "from-file"
        file["BALCTL_INTERVAL_SEC"] = "5"
        let env = ["BALCTL_API_BASE": "https://env.example/", "BALCTL_INTERVAL_SEC": "7",
                   "HOSTNAME": "not-this-one", "BALCTL_STATE_DIR": "/tmp/state"]
        let c = try AgentConfig.load(file: file, environment: env)
        #expect(c.apiBase == "https://env.example")  // trailing slash dropped
        #expect(c.intervalSec == 7)
        #expect(c.hostname == "from-file")
        #expect(c.stateDir == "/tmp/state")
        // And with nothing in the file at all, the environment alone is enough.
        let envOnly = try AgentConfig.load(file: [:], environment: base)
        #expect(envOnly.apiBase == "https://cp.example:8443")
    }

    @Test("a plaintext or non-https API base is refused with a message saying so",
          arguments: ["http://cp.example", "HTTP://cp.example", "ftp://cp.example", "cp.example:8443"])
    func plaintextRefused(_ api: String) {
        var env = base
        env["BALCTL_API_BASE"] = api
        let message = error(env: env)
        #expect(message?.contains("plaintext") == true, "got \(String(describing: message))")
    }

    @Test("an upper-case https scheme is fine and the secret is lower-cased")
    func httpsCaseInsensitive() throws {
        let env = ["BALCTL_API_BASE": "HTTPS://cp.example", "BALCTL_ENROLLMENT_SECRET": Self.secret.uppercased()]
        let c = try AgentConfig.load(file: [:], environment: env)
        #expect(c.apiBase == "HTTPS://cp.example")
        #expect(c.enrollmentSecret == Self.secret)
    }

    @Test("a missing API base is refused")
    func missingBase() {
        #expect(error(env: ["BALCTL_ENROLLMENT_SECRET": Self.secret])?.contains("BALCTL_API_BASE") == true)
    }

    @Test("a missing or malformed secret is refused", arguments: [
        nil, "", "42", String(repeating: "a", count: 47), String(repeating: "a", count: 49),
        String(repeating: "z", count: 48),
    ] as [String?])
    func badSecret(_ secret: String?) {
        var env = base
        env["BALCTL_ENROLLMENT_SECRET"] = secret
        let message = error(env: env)
        #expect(message?.contains("BALCTL_ENROLLMENT_SECRET") == true, "got \(String(describing: message))")
    }

    @Test("interval outside 1–60 (or not a number) is refused", arguments: ["0", "61", "-1", "abc", "1.5", "600"])
    func badInterval(_ value: String) {
        var env = base
        env["BALCTL_INTERVAL_SEC"] = value
        #expect(error(env: env)?.contains("BALCTL_INTERVAL_SEC") == true)
    }

    @Test("interval bounds 1 and 60 are accepted", arguments: [1, 30, 60])
    func goodInterval(_ value: Int) throws {
        var env = base
        env["BALCTL_INTERVAL_SEC"] = String(value)
        #expect(try AgentConfig.load(file: [:], environment: env).intervalSec == value)
    }

    @Test("BALCTL_DECLARE_IP is parsed strictly")
    func declareIP() throws {
        var env = base
        env["BALCTL_DECLARE_IP"] = "203.0.113.7"
        #expect(try AgentConfig.load(file: [:], environment: env).declareIP == IPv4("203.0.113.7"))
        for bad in ["1.2.3", "01.2.3.4", "203.0.113.256", "example.com", " 1.2.3.4"] {
            env["BALCTL_DECLARE_IP"] = bad
            #expect(error(env: env)?.contains("BALCTL_DECLARE_IP") == true, "\(bad) must be refused")
        }
        env["BALCTL_DECLARE_IP"] = ""
        #expect(try AgentConfig.load(file: [:], environment: env).declareIP == nil)
    }

    @Test("probing the public IP over plaintext is refused")
    func plaintextProbe() throws {
        var env = base
        env["BALCTL_PROBE_PUBLIC_IP"] = "yes"
        env["BALCTL_PUBLIC_IP_URL"] = "http://ip.example"
        #expect(error(env: env)?.contains("plaintext") == true)
        env["BALCTL_PUBLIC_IP_URL"] = "https://ip.example"
        let c = try AgentConfig.load(file: [:], environment: env)
        #expect(c.probePublicIP && c.publicIPURL == "https://ip.example")
    }
}
