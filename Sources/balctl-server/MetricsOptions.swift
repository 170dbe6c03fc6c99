import ArgumentParser
import BalctlProtocol
import ControlPlane
import Foundation

/// `serve`'s options for `GET /metrics`. The token is read from a file (not argv, which every
/// user of the machine can read in `ps`); Prometheus sends it with `bearer_token_file`.
struct MetricsOptions: ParsableArguments {
    @Option(help: "File holding the bearer token Prometheus must send to GET /metrics (keep it mode 0600). Env: BALCTL_METRICS_TOKEN_FILE.")
    var metricsTokenFile: String?

    @Option(help: "IPv4 CIDR allowed to GET /metrics without the token (repeatable). Env: BALCTL_METRICS_ALLOW (comma-separated).")
    var metricsAllow: [String] = []

    /// Nobody may scrape when neither is given (the route answers 404).
    func access(environment env: [String: String] = ProcessInfo.processInfo.environment) throws -> MetricsAccess {
        let file = metricsTokenFile ?? env["BALCTL_METRICS_TOKEN_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        let allowText = metricsAllow.isEmpty
            ? (env["BALCTL_METRICS_ALLOW"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            : metricsAllow
        var allow: [CIDR] = []
        for text in allowText where !text.isEmpty {
            guard let cidr = CIDR(text) else { throw ValidationError("--metrics-allow \(text) is not an IPv4 CIDR") }
            allow.append(cidr)
        }
        var token: String?
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError("--metrics-token-file \(file): cannot read it")
            }
            let text = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            guard text.count >= 16, text.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
                throw ValidationError("--metrics-token-file \(file): the token must be one line of at least 16 printable characters")
            }
            token = text
        }
        return MetricsAccess(token: token, allow: allow)
    }
}
