import CurlClient
import Foundation

/// Cloudflare API v4 over HTTPS with an API token (`Authorization: Bearer …`), through the
/// providers' shared transport (`ProviderHTTP`: URL policy, no redirects, capped answers). Every
/// answer is the v4 envelope `{success, errors, messages, result}`; a failure keeps Cloudflare's
/// own words ("HTTP 403: [9109] Invalid access token") for the event and the CLI.
struct CloudflareClient: Sendable {
    let http: ProviderHTTP
    let token: String

    init(baseURL: String, token: String, timeout: Double) throws(DNSProviderError) {
        http = try ProviderHTTP(provider: "Cloudflare", baseURL: baseURL, timeout: timeout)
        self.token = token
    }

    struct Message: Decodable, Sendable { var code: Int?; var message: String? }

    private struct Envelope<R: Decodable>: Decodable {
        var success: Bool
        var errors: [Message]?
        var messages: [Message]?
        var result: R?
    }

    private struct Failure: Decodable { var success: Bool?; var errors: [Message]? }

    /// Call `method path` and return `result`; `body` is sent as JSON.
    func call<R: Decodable>(_ method: String, _ path: String, query: [(String, String)] = [],
                            body: (some Encodable & Sendable)? = Optional<String>.none,
                            as: R.Type = R.self) async throws -> (result: R, messages: [Message]) {
        var headers = [("Authorization", "Bearer \(token)"), ("Accept", "application/json")]
        var bytes: [UInt8]?
        if let body {
            bytes = Array(try JSONEncoder().encode(body))
            headers.append(("Content-Type", "application/json"))
        }
        let response = try await http.send(method, path, query: query, headers: headers, body: bytes)
        let data = Data(response.body)
        let status = response.status
        let what = "\(method) \(path)"
        if (200..<300).contains(status), let e = try? JSONDecoder().decode(Envelope<R>.self, from: data), e.success,
           let result = e.result {
            return (result, e.messages ?? [])
        }
        let failure = try? JSONDecoder().decode(Failure.self, from: data)
        let errors = (failure?.errors ?? []).map { "[\($0.code.map(String.init) ?? "?")] \($0.message ?? "")" }
        let reply = "HTTP \(status): " + (errors.isEmpty ? ProviderHTTP.excerpt(response.body) : errors.joined(separator: "; "))
        let codes = Set((failure?.errors ?? []).compactMap(\.code))
        if status == 401 || (status == 403 && !codes.isDisjoint(with: Self.authenticationCodes)) {
            throw DNSProviderError(.authentication, "\(what): Cloudflare refused the API token", reply: reply)
        }
        switch status {
        case 403:
            throw DNSProviderError(.refused, "\(what): the API token lacks a permission for this zone (Zone:DNS:Edit)", reply: reply)
        case 429:
            let retry = response.headers["retry-after"].map { " (retry after \($0) s)" } ?? ""
            throw DNSProviderError(.providerError, "\(what): Cloudflare rate limit hit\(retry)", reply: reply)
        case 200..<300:
            throw DNSProviderError(.badReply, "\(what): not a successful v4 envelope", reply: reply)
        default:
            throw DNSProviderError(.providerError, "\(what): Cloudflare answered HTTP \(status)", reply: reply)
        }
    }

    /// Error codes Cloudflare uses for a bad or unusable token (documented in its API errors).
    static let authenticationCodes: Set<Int> = [1000, 6003, 6111, 9103, 9106, 9109, 10000]
}
