import CurlClient
import Foundation

/// WHM API 1 through the JSON API with an API token, on the providers' shared transport
/// (`ProviderHTTP`: URL policy, no redirects, capped answers).
///
/// - Calls are `GET {base}/json-api/<function>?api.version=1&…` with the header
///   `Authorization: whm USER:TOKEN` (https://api.docs.cpanel.net/whm/tokens/).
/// - Every answer is `{"metadata":{"command","reason","result":1|0,"version":1},"data":…}`;
///   `result: 0` is a failure whose `reason` is WHM's own words, kept verbatim in the error's
///   `reply` (https://api.docs.cpanel.net/openapi/whm/operation/mass_edit_dns_zone/ shows the
///   envelope).
/// - A refused token is an HTTP 401/403 (the docs do not describe that answer's body: its
///   `reason` is used when it is an envelope, else the body's first bytes). 429 and 5xx keep the
///   body verbatim.
struct WHMClient: Sendable {
    let http: ProviderHTTP
    let user: String
    let token: String

    init(baseURL: String, user: String, token: String, timeout: Double) throws(DNSProviderError) {
        http = try ProviderHTTP(provider: "WHM", baseURL: baseURL, timeout: timeout)
        self.user = user
        self.token = token
    }

    struct Metadata: Decodable, Sendable {
        var command: String?
        var reason: String?
        var result: Int?
    }

    private struct Envelope<D: Decodable>: Decodable {
        var metadata: Metadata
        var data: D?
    }

    private struct MetadataOnly: Decodable { var metadata: Metadata }

    /// Call WHM API 1 `function` with `params` (after `api.version=1`); returns `data` and WHM's
    /// `reason` (usually "OK").
    func call<D: Decodable>(_ function: String, _ params: [(String, String)] = [],
                            as: D.Type = D.self) async throws(DNSProviderError) -> (data: D, reason: String) {
        let response = try await http.send(
            "GET", "/json-api/\(function)", query: [("api.version", "1")] + params,
            headers: [("Authorization", "whm \(user):\(token)"), ("Accept", "application/json")])
        let body = Data(response.body)
        let status = response.status
        let envelope = try? JSONDecoder().decode(MetadataOnly.self, from: body)
        // WHM's own words when it sent an envelope, else the start of whatever came back.
        let said = envelope?.metadata.reason ?? ProviderHTTP.excerpt(response.body)
        switch status {
        case 200:
            break
        case 401, 403:
            throw DNSProviderError(.authentication, "\(function): WHM refused user '\(user)' and its API token",
                                   reply: "HTTP \(status): \(said)")
        case 429:
            let retry = response.headers["retry-after"].map { " (retry after \($0) s)" } ?? ""
            throw DNSProviderError(.providerError, "\(function): WHM rate limit hit\(retry)", reply: "HTTP 429: \(said)")
        case 502, 503, 504:
            throw DNSProviderError(.unreachable, "\(function): WHM is unavailable (HTTP \(status))", reply: "HTTP \(status): \(said)")
        default:
            throw DNSProviderError(.providerError, "\(function): WHM answered HTTP \(status)", reply: "HTTP \(status): \(said)")
        }
        guard let metadata = envelope?.metadata, let result = metadata.result else {
            throw DNSProviderError(.badReply, "\(function): not a WHM API 1 answer", reply: ProviderHTTP.excerpt(response.body))
        }
        // An answer for another function is not an answer to this call.
        if let command = metadata.command, command != function {
            throw DNSProviderError(.badReply, "\(function): WHM answered for '\(command)'", reply: said)
        }
        guard result == 1 else {
            throw DNSProviderError(.refused, "\(function): WHM refused the call", reply: metadata.reason ?? "")
        }
        guard let data = (try? JSONDecoder().decode(Envelope<D>.self, from: body))?.data else {
            throw DNSProviderError(.badReply, "\(function): WHM's data is missing or not as documented",
                                   reply: ProviderHTTP.excerpt(response.body))
        }
        return (data, metadata.reason ?? "")
    }
}
