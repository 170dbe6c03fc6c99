#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// `host.cert_expiry`: days left on the PEM certificates at the given paths (files, or
/// directories of certificates as haproxy's `crt DIR` loads them), read with the kernel's
/// `CertificateExpiry` (no second X.509 reader).
///
/// Without `paths` it checks every certificate the stacks on this host serve, as their plugins
/// report them through the kernel's `CertificateSource` seam (haproxy: every `crt` its config
/// names) — the host plugin never parses another stack's configuration itself.
public struct CertExpiryHandler: CommandHandler {
    public static let maxPaths = 64
    public static let maxPathBytes = 4096

    public struct Parameters: CommandParameters {
        /// nil: every certificate the stacks' plugins report (`CertificateSource`).
        public var paths: [String]?

        public func validate() throws {
            guard let paths else { return }
            guard !paths.isEmpty else {
                throw ParameterError("paths: give at least one absolute path, or leave paths out to check every certificate the stacks serve")
            }
            guard paths.count <= CertExpiryHandler.maxPaths else {
                throw ParameterError("paths: at most \(CertExpiryHandler.maxPaths)")
            }
            for path in paths { try CertExpiryHandler.validatePath(path) }
        }
    }

    /// An absolute path of plain characters: no shell metacharacters, spaces, controls or `..`
    /// or components starting with '-' (the path is never given to a shell or a program's argv, but
    /// such a value is a mistake or an attack).
    static func validatePath(_ path: String) throws {
        guard path.hasPrefix("/") else { throw ParameterError("paths: '\(printable(path))' is not an absolute path") }
        guard path.utf8.count <= maxPathBytes else { throw ParameterError("paths: a path is longer than \(maxPathBytes) bytes") }
        let allowed = path.utf8.allSatisfy { b in
            (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39)
                || "/._-+@=:,".utf8.contains(b)
        }
        guard allowed else {
            throw ParameterError("paths: '\(printable(path))' has a character outside letters, digits and / . _ - + @ = : ,")
        }
        guard !path.split(separator: "/").contains("..") else {
            throw ParameterError("paths: '\(printable(path))' has a '..' component")
        }
        guard !path.split(separator: "/").contains(where: { $0.hasPrefix("-") }) else {
            throw ParameterError("paths: '\(printable(path))' has a component starting with '-'")
        }
    }

    /// A value for an error message: controls shown as '?', cut at 80 bytes.
    static func printable(_ s: String) -> String {
        let cleaned = String(decoding: s.utf8.prefix(80).map { $0 < 0x20 || $0 == 0x7f ? UInt8(ascii: "?") : $0 }, as: UTF8.self)
        return s.utf8.count > 80 ? cleaned + "…" : cleaned
    }

    /// Wall-clock seconds (tests fix it).
    let now: @Sendable () -> Double

    public init(now: @escaping @Sendable () -> Double = { Double(time(nil)) }) { self.now = now }
    public static let id = "host.cert_expiry"
    public static let exampleParameters: JSONValue = .object(["paths": .array([.string("/etc/haproxy/certs")])])
    public static let summary = "Days left on the PEM certificates at the given paths, or on every certificate the stacks serve"
    public static let parameterHelp = "paths: [absolute path] (1–64; files or certificate directories); leave out for every certificate the stacks serve (haproxy's crt files)"
    public static let supportsCheckMode = true

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        let paths: [String]
        if let given = p.paths {
            paths = given
        } else {
            // Paths from root-owned stack configuration: only absolute ones, at most the cap.
            var found: [String] = []
            for source in context.certificateSources {
                for path in source.certificatePaths() where path.hasPrefix("/") && !found.contains(path) {
                    found.append(path)
                    context.log("\(source.name): \(path)")
                }
            }
            guard !found.isEmpty else {
                let stacks = context.certificateSources.map(\.name).joined(separator: ", ")
                throw JobFailure("no paths given and no stack on this host names a certificate" + (stacks.isEmpty ? "" : " (asked: \(stacks))"))
            }
            paths = Array(found.prefix(Self.maxPaths))
            if found.count > Self.maxPaths { context.log("checking the first \(Self.maxPaths) of \(found.count) paths") }
        }
        let report = await runBlocking { CertificateExpiry().report(paths) }
        let now = self.now()
        var entries: [JSONValue] = []
        var soonest: (path: String, days: Int)?
        var errors = 0
        if case .array(let items) = report {
            for case .object(var entry) in items {
                let path: String
                if case .string(let s)? = entry["path"] { path = s } else { path = "?" }
                if case .number(let notAfter)? = entry["notAfter"] {
                    let days = Int(((notAfter - now) / 86_400).rounded(.down))
                    entry["daysLeft"] = .number(Double(days))
                    entry["expired"] = .bool(notAfter <= now)
                    if soonest == nil || days < soonest!.days { soonest = (path, days) }
                    context.log("\(path): \(days) days left")
                } else {
                    errors += 1
                    if case .string(let why)? = entry["error"] { context.log("\(path): \(why)") }
                }
                entries.append(.object(entry))
            }
        }
        var result: [String: JSONValue] = ["certificates": .array(entries)]
        if let s = soonest {
            result["soonestDays"] = .number(Double(s.days))
            result["soonestPath"] = .string(s.path)
        }
        let read = entries.count - errors
        guard read > 0 else {
            throw JobFailure("no certificate could be read (\(errors) path\(errors == 1 ? "" : "s") failed)", exitCode: 1,
                             result: .object(result))
        }
        var summary = "\(read) certificate\(read == 1 ? "" : "s")"
        if let s = soonest { summary += "; soonest expires in \(s.days) days (\(s.path))" }
        if errors > 0 { summary += "; \(errors) unreadable" }
        return .unchanged(summary, result: .object(result))
    }
}
