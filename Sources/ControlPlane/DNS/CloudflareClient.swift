import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Cloudflare API v4 over HTTPS with an API token (`Authorization: Bearer …`). Every answer is the
/// v4 envelope `{success, errors, messages, result}`; a failure keeps Cloudflare's own words
/// ("HTTP 403: [9109] Invalid access token") for the event and the CLI.
struct CloudflareClient: Sendable {
    let baseURL: String
    let token: String
    let session: URLSession

    init(baseURL: String, token: String, timeout: Double) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        let c = URLSessionConfiguration.ephemeral
        c.timeoutIntervalForRequest = timeout
        c.timeoutIntervalForResource = timeout
        session = URLSession(configuration: c)
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
    func call<R: Decodable>(_ method: String, _ path: String, query: [URLQueryItem] = [],
                            body: (some Encodable & Sendable)? = Optional<String>.none,
                            as: R.Type = R.self) async throws -> (result: R, messages: [Message]) {
        guard var url = URLComponents(string: baseURL + path) else {
            throw DNSProviderError(.invalidRequest, "bad Cloudflare URL \(baseURL + path)")
        }
        if !query.isEmpty { url.queryItems = query }
        guard let u = url.url else { throw DNSProviderError(.invalidRequest, "bad Cloudflare URL \(baseURL + path)") }
        var request = URLRequest(url: u)
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        if let body {
            request.httpBody = try JSONEncoder().encode(body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let data: Data, response: URLResponse
        do { (data, response) = try await session.data(for: request) } catch {
            throw DNSProviderError(.unreachable, "Cloudflare API \(baseURL): \(error.localizedDescription)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        let what = "\(method) \(path)"
        if (200..<300).contains(status), let e = try? JSONDecoder().decode(Envelope<R>.self, from: data), e.success,
           let result = e.result {
            return (result, e.messages ?? [])
        }
        let failure = try? JSONDecoder().decode(Failure.self, from: data)
        let errors = (failure?.errors ?? []).map { "[\($0.code.map(String.init) ?? "?")] \($0.message ?? "")" }
        let reply = "HTTP \(status): " + (errors.isEmpty ? String(decoding: data.prefix(300), as: UTF8.self) : errors.joined(separator: "; "))
        let codes = Set((failure?.errors ?? []).compactMap(\.code))
        if status == 401 || (status == 403 && !codes.isDisjoint(with: Self.authenticationCodes)) {
            throw DNSProviderError(.authentication, "\(what): Cloudflare refused the API token", reply: reply)
        }
        switch status {
        case 403:
            throw DNSProviderError(.refused, "\(what): the API token lacks a permission for this zone (Zone:DNS:Edit)", reply: reply)
        case 429:
            let retry = (response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Retry-After").map { " (retry after \($0) s)" } ?? ""
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
