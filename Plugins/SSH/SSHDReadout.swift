#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// What `sshd -T -f <config>` says is in effect (the global settings: no Match applied). sshd
/// prints every keyword lower-cased, one per line, with its effective value, so this is what
/// sshd will do, whatever mix of main config, drop-ins and defaults produced it.
public struct SSHDReadout: Sendable, Equatable {
    public var ports: [Int] = []
    public var listenAddresses: [String] = []
    public var passwordAuthentication: Bool?
    public var kbdInteractiveAuthentication: Bool?
    public var pubkeyAuthentication: Bool?
    /// yes | prohibit-password | forced-commands-only | no (sshd -T says `without-password` for
    /// prohibit-password on old versions; normalised).
    public var permitRootLogin: String?
    public var pidFile: String?
    /// As configured, tokens (%h, %u, %%) unexpanded.
    public var authorizedKeysFiles: [String] = []

    public init() {}

    /// Parse `sshd -T` output; unknown lines are ignored.
    public static func parse(_ text: String) -> SSHDReadout {
        var r = SSHDReadout()
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = parts[0].lowercased(), value = String(parts[1]).trimmingWhitespace
            switch key {
            case "port":
                if let p = Int(value), (1...65535).contains(p), !r.ports.contains(p) { r.ports.append(p) }
            case "listenaddress": r.listenAddresses.append(value)
            case "passwordauthentication": r.passwordAuthentication = yesNo(value)
            case "kbdinteractiveauthentication": r.kbdInteractiveAuthentication = yesNo(value)
            case "pubkeyauthentication": r.pubkeyAuthentication = yesNo(value)
            case "permitrootlogin": r.permitRootLogin = value == "without-password" ? "prohibit-password" : value
            case "pidfile": r.pidFile = value
            case "authorizedkeysfile":
                r.authorizedKeysFiles = value.split(separator: " ").map(String.init).filter { $0 != "none" }
            default: continue
            }
        }
        return r
    }

    static func yesNo(_ v: String) -> Bool? { v == "yes" ? true : v == "no" ? false : nil }

    public var json: JSONValue {
        var o: [String: JSONValue] = ["ports": .array(ports.map { .number(Double($0)) }),
                                      "listenAddresses": .array(listenAddresses.map(JSONValue.string))]
        o["passwordAuthentication"] = passwordAuthentication.map(JSONValue.bool) ?? .null
        o["kbdInteractiveAuthentication"] = kbdInteractiveAuthentication.map(JSONValue.bool) ?? .null
        o["pubkeyAuthentication"] = pubkeyAuthentication.map(JSONValue.bool) ?? .null
        o["permitRootLogin"] = permitRootLogin.map(JSONValue.string) ?? .null
        return .object(o)
    }
}

/// Running sshd itself: the readout (`-T`) and the syntax check (`-t`).
enum SSHD {
    /// Bound on one sshd run: it only parses files.
    static let timeoutSec = 20.0

    /// The executable, or a JobFailure saying openssh-server is missing.
    static func program(_ s: SSHSettings) throws -> String {
        guard let p = s.resolvedSSHD() else {
            throw JobFailure("sshd not found (\(s.sshd)): openssh-server is not installed")
        }
        return p
    }

    /// See `SSHSettings.privsepDir`. Only root needs it (sshd skips the check otherwise).
    static func ensurePrivsepDir(_ s: SSHSettings) {
        guard geteuid() == 0, Files.info(s.privsepDir) == nil else { return }
        try? SafeFile.makeDirectory(s.privsepDir, mode: 0o755)
    }

    /// `sshd -T -f <config>`; throws with sshd's own words when the configuration is invalid.
    static func readout(_ s: SSHSettings, runner: ProcessRunner, output: OutputTail? = nil) async throws -> SSHDReadout {
        let sshd = try program(s)
        ensurePrivsepDir(s)
        let r = try await runner.run(sshd, ["-T", "-f", s.configFile], timeoutSec: timeoutSec)
        guard r.succeeded else {
            output?.append("sshd -T: " + r.output.lastLines(5))
            throw JobFailure("sshd -T -f \(s.configFile) failed (exit \(r.exitCode)): \(r.output.lastLines(3))",
                             exitCode: Int(r.exitCode))
        }
        return SSHDReadout.parse(r.output)
    }

    /// `sshd -t -f <config>`: nil when the configuration is valid, else sshd's message.
    static func test(_ s: SSHSettings, context: JobContext) async throws -> String? {
        let sshd = try program(s)
        ensurePrivsepDir(s)
        let r = try await context.processes.run(sshd, ["-t", "-f", s.configFile], timeoutSec: timeoutSec)
        return r.succeeded ? nil : (r.output.lastLines(5).isEmpty ? "exit \(r.exitCode)" : r.output.lastLines(5))
    }
}

/// Whether sshd's main config pulls in our drop-in directory: an `Include` (before the first
/// `Match`, where it applies to every connection) whose pattern matches the drop-in's path.
/// Relative patterns are relative to /etc/ssh, as sshd resolves them.
enum IncludeCheck {
    static func includesDropIn(mainConfig text: String, dropIn path: String) -> Bool {
        for raw in text.split(separator: "\n") {
            let line = String(raw).trimmingWhitespace
            if line.isEmpty || line.hasPrefix("#") { continue }
            let separators: Set<Character> = [" ", "\t", "="]
            let words: [String] = line.split(whereSeparator: { separators.contains($0) }).map(String.init)
            guard let keyword = words.first?.lowercased() else { continue }
            if keyword == "match" { return false }
            guard keyword == "include" else { continue }
            for var pattern in words.dropFirst() {
                if pattern.count >= 2, pattern.hasPrefix("\""), pattern.hasSuffix("\"") { pattern = String(pattern.dropFirst().dropLast()) }
                if !pattern.hasPrefix("/") { pattern = "/etc/ssh/" + pattern }
                if fnmatch(pattern, path, FNM_PATHNAME) == 0 { return true }
            }
        }
        return false
    }
}
