import AgentKernel
import BalctlProtocol

/// `host.updates_check`: how many package updates are pending, and how many of them are security
/// updates, from apt (`apt-get -s upgrade`) or dnf (`dnf check-update`, `dnf updateinfo list
/// --security`). Read-only: apt simulates, dnf only lists.
public struct UpdatesCheckHandler: CommandHandler {
    /// Where apt-get and dnf are looked for; tests put fakes replaying fixtures first.
    public struct Settings: Sendable {
        public var searchPath = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        public init() {}
    }

    public struct Parameters: CommandParameters {
        /// "apt" or "dnf"; nil: whichever is installed (apt-get first).
        public var manager: String?
        public func validate() throws {
            if let m = manager, !["apt", "dnf"].contains(m) {
                throw ParameterError("manager: must be \"apt\" or \"dnf\"")
            }
        }
    }

    public struct Counts: Equatable, Sendable {
        public var packages: [String] = []
        public var security: [String] = []
    }

    let settings: Settings
    public init(settings: Settings = Settings()) { self.settings = settings }
    public static let id = "host.updates_check"
    public static let summary = "Count pending and security updates (apt or dnf)"
    public static let parameterHelp = "manager: \"apt\" | \"dnf\" (default: detected)"
    public static let supportsCheckMode = true
    /// Package names listed in the result at most.
    public static let maxListed = 500

    /// `Inst pkg [old] (new origin, origin… [arch])` lines of `apt-get -s upgrade`; a security
    /// update has an origin containing `-security`.
    public static func parseApt(_ text: String) -> Counts {
        var c = Counts()
        for line in text.split(separator: "\n") where line.hasPrefix("Inst ") {
            let fields = line.split(separator: " ", maxSplits: 2)
            guard fields.count >= 2 else { continue }
            let name = String(fields[1])
            c.packages.append(name)
            if let open = line.firstIndex(of: "("), line[open...].contains("-security") { c.security.append(name) }
        }
        return c
    }

    /// `name.arch  version  repo` lines of `dnf check-update` (up to "Obsoleting Packages").
    public static func parseDnfCheckUpdate(_ text: String) -> [String] {
        var out: [String] = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("Obsoleting Packages") || line.hasPrefix("Security:") { break }
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count == 3, !line.hasPrefix(" "), let dot = f[0].lastIndex(of: "."), dot != f[0].startIndex,
                  f[1].first?.isNumber == true else { continue }
            out.append(String(f[0][..<dot]))
        }
        return out
    }

    /// `ADVISORY  Severity/Sec.  nevra` lines of `dnf updateinfo list --security`: the packages.
    public static func parseDnfSecurity(_ text: String) -> [String] {
        var out: [String] = []
        var seen = Set<Substring>()
        for line in text.split(separator: "\n") {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count == 3, f[1].hasSuffix("Sec.") || f[1] == "security" else { continue }
            if seen.insert(f[2]).inserted { out.append(String(f[2])) }
        }
        return out
    }

    func find(_ name: String) -> String? {
        settings.searchPath.map { $0 + "/" + name }.first { Files.isExecutable($0) && Files.info($0)?.isRegular == true }
    }

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        let env = ["LC_ALL": "C", "LANG": "C"]
        let apt = p.manager == "dnf" ? nil : find("apt-get")
        let dnf = p.manager == "apt" ? nil : find("dnf")
        var counts = Counts()
        let manager: String
        if let apt {
            manager = "apt"
            let r = try await context.run(apt, ["-s", "-q", "-o", "Debug::NoLocking=1", "upgrade"], timeoutSec: 300, environment: env)
            guard r.succeeded else { throw JobFailure("apt-get -s upgrade failed with exit code \(r.exitCode)", exitCode: Int(r.exitCode)) }
            counts = Self.parseApt(r.output)
        } else if let dnf {
            manager = "dnf"
            let r = try await context.run(dnf, ["-q", "check-update"], timeoutSec: 600, environment: env)
            // 100: updates are available; 0: none.
            guard r.exitCode == 0 || r.exitCode == 100, r.signal == nil, !r.timedOut else {
                throw JobFailure("dnf check-update failed with exit code \(r.exitCode)", exitCode: Int(r.exitCode))
            }
            counts.packages = Self.parseDnfCheckUpdate(r.output)
            let s = try await context.run(dnf, ["-q", "updateinfo", "list", "--security"], timeoutSec: 600, environment: env)
            guard s.succeeded else { throw JobFailure("dnf updateinfo list --security failed with exit code \(s.exitCode)", exitCode: Int(s.exitCode)) }
            counts.security = Self.parseDnfSecurity(s.output)
        } else {
            throw JobFailure(p.manager.map { "\($0 == "apt" ? "apt-get" : "dnf") not found" } ?? "neither apt-get nor dnf found")
        }
        let result: JSONValue = .object([
            "manager": .string(manager),
            "pending": .number(Double(counts.packages.count)),
            "security": .number(Double(counts.security.count)),
            "packages": .array(counts.packages.prefix(Self.maxListed).map { .string($0) }),
            "securityPackages": .array(counts.security.prefix(Self.maxListed).map { .string($0) }),
        ])
        return .unchanged("\(counts.packages.count) pending update\(counts.packages.count == 1 ? "" : "s"), \(counts.security.count) security (\(manager))",
                          result: result)
    }
}
