import AgentKernel
import BalctlProtocol

/// `host.set_hostname`: sets the host's name (RFC 1123), with `hostnamectl set-hostname` where
/// systemd runs, else by writing /etc/hostname; keeps /etc/hosts' `127.0.1.1` line naming it.
/// Files are written through `SafeFile` (a random O_EXCL|O_NOFOLLOW temp in the same directory,
/// renamed into place; a symlinked target is refused). Idempotent.
public struct SetHostnameHandler: CommandHandler {
    /// Tests point the files at a temporary root and hostnamectl at a fake.
    public struct Settings: Sendable {
        /// Prefix of /etc/hostname and /etc/hosts ("" on a real host).
        public var root = ""
        public var systemdRunDir = "/run/systemd/system"
        public var hostnamectl = "hostnamectl"
        public init() {}
    }

    public struct Parameters: CommandParameters {
        public var hostname: String

        public func validate() throws { try SetHostnameHandler.validateHostname(hostname) }
    }

    /// RFC 1123: dot-separated labels of 1–63 [a-z0-9-], not starting or ending with '-',
    /// at most 253 bytes in all.
    static func validateHostname(_ name: String) throws {
        guard !name.isEmpty else { throw ParameterError("hostname: must not be empty") }
        guard name.utf8.count <= 253 else { throw ParameterError("hostname: at most 253 bytes") }
        guard name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d || $0 == 0x2e }) else {
            throw ParameterError("hostname: only lowercase letters, digits, '-' and '.' are allowed")
        }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard (1...63).contains(label.utf8.count) else { throw ParameterError("hostname: each label must be 1–63 characters") }
            guard !label.hasPrefix("-") && !label.hasSuffix("-") else {
                throw ParameterError("hostname: a label must not start or end with '-'")
            }
        }
    }

    let settings: Settings
    public init(settings: Settings = Settings()) { self.settings = settings }
    public static let id = "host.set_hostname"
    public static let exampleParameters: JSONValue = .object(["hostname": .string("web-1.example.com")])
    public static let summary = "Set the host name (RFC 1123) and keep /etc/hosts consistent"
    public static let parameterHelp = "hostname: RFC 1123 name (labels 1–63 of a-z 0-9 -, ≤ 253 bytes)"
    public static let requiresRoot = true
    public static let lock: String? = "host.hostname"
    public static let supportsCheckMode = true

    /// /etc/hosts with its 127.0.1.1 line naming `name` (and its first label when it is a FQDN),
    /// appended when there is none; other lines untouched.
    static func updatedHosts(_ text: String, name: String) -> String {
        let short = name.split(separator: ".").first.map(String.init) ?? name
        let line = short == name ? "127.0.1.1\t\(name)" : "127.0.1.1\t\(name)\t\(short)"
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        var out: [String] = []
        var found = false
        for old in lines {
            let fields = old.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.first == "127.0.1.1" {
                if !found { out.append(line) }  // a second 127.0.1.1 line is dropped
                found = true
            } else {
                out.append(old)
            }
        }
        if !found { out.append(line) }
        return out.joined(separator: "\n") + "\n"
    }

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        let hostnamePath = settings.root + "/etc/hostname"
        let hostsPath = settings.root + "/etc/hosts"
        let current = (try? Files.readBytes(hostnamePath, limit: 4096, noFollow: true))
            .map { String(decoding: $0, as: UTF8.self).trimmingWhitespace() } ?? ""
        let hostsInfo = Files.info(hostsPath)
        let hosts = (try? Files.readBytes(hostsPath, limit: 1 << 20, noFollow: true)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let newHosts = Self.updatedHosts(hosts, name: p.hostname)
        let nameChanges = current != p.hostname
        let hostsChanges = newHosts != hosts
        let warning = "update the member's enrolled hostname too: balctl members update ID --hostname \(p.hostname)"
        var result: [String: JSONValue] = ["hostname": .string(p.hostname), "previous": .string(current),
                                           "enrolledHostnameCommand": .string("balctl members update ID --hostname \(p.hostname)")]
        guard nameChanges || hostsChanges else {
            result.removeValue(forKey: "enrolledHostnameCommand")
            return .unchanged("hostname is already \(p.hostname)", result: .object(result))
        }
        result["warning"] = .string(warning)
        let systemd = Files.info(settings.systemdRunDir)?.isDirectory == true
        if context.checkMode {
            var would: [String] = []
            if nameChanges { would.append(systemd ? "run hostnamectl set-hostname \(p.hostname)" : "write \(hostnamePath)") }
            if hostsChanges { would.append("set the 127.0.1.1 line of \(hostsPath)") }
            return .unchanged("would " + would.joined(separator: " and ") + "; " + warning, result: .object(result))
        }
        if nameChanges {
            if systemd {
                let r = try await context.run(settings.hostnamectl, ["set-hostname", p.hostname], timeoutSec: 60)
                guard r.succeeded else { throw JobFailure("hostnamectl set-hostname failed with exit code \(r.exitCode)", exitCode: Int(r.exitCode)) }
            } else {
                do { try Files.replace(hostnamePath, with: Array((p.hostname + "\n").utf8), like: Files.info(hostnamePath)) } catch {
                    throw JobFailure("cannot write \(hostnamePath): \(error.message)")
                }
            }
        }
        if hostsChanges {
            do { try Files.replace(hostsPath, with: Array(newHosts.utf8), like: hostsInfo) } catch {
                throw JobFailure("cannot write \(hostsPath): \(error.message)")
            }
        }
        context.log(warning)
        return JobOutcome(changed: true, summary: "hostname \(current.isEmpty ? "set to" : "changed from \(current) to") \(p.hostname); \(warning)",
                          result: .object(result))
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        let bytes = Array(utf8)
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0a || $0 == 0x0d }
        guard let start = bytes.firstIndex(where: { !isSpace($0) }), let end = bytes.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(decoding: bytes[start...end], as: UTF8.self)
    }
}
