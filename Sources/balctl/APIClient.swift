import BalctlProtocol
import CurlClient
import Foundation

/// The operator API over libcurl. Plain http:// is allowed only to loopback (a local server
/// behind nothing); anything else must be https://.
struct APIClient {
    let base: String
    let token: String
    let session: CurlSession

    init(server: String, token: String, caFile: String?) throws {
        let base = server.hasSuffix("/") ? String(server.dropLast()) : server
        let lower = base.lowercased()
        let loopback = lower.hasPrefix("http://127.0.0.1") || lower.hasPrefix("http://localhost")
            || lower.hasPrefix("http://[::1]")
        var options = CurlSession.Options(caFile: caFile, requireHTTPS: !loopback, userAgent: "balctl/\(BalctlVersion.current)")
        options.timeoutMs = 30_000
        self.base = base
        self.token = token
        self.session = try CurlSession(options: options)
    }

    struct Failure: Error, CustomStringConvertible {
        var status: Int
        var message: String
        var description: String { status == 0 ? message : "\(message) (HTTP \(status))" }
    }

    private func call(_ method: String, _ path: String, body: Data?) throws -> HTTPResponse {
        var headers = [("Authorization", "Bearer \(token)"), ("Accept", "application/json")]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let r: HTTPResponse
        do {
            r = try session.requestBlocking(method, base + OperatorAPI.prefix + path, headers: headers, body: body.map(Array.init))
        } catch {
            throw Failure(status: 0, message: "cannot reach \(base): \(error)")
        }
        guard (200..<300).contains(r.status) else {
            let message = (try? JSONDecoder().decode(APIErrorBody.self, from: Data(r.body)))?.error ?? r.text
            throw Failure(status: r.status, message: message.isEmpty ? "request failed" : message)
        }
        return r
    }

    func get<T: Decodable>(_ path: String, as type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(call("GET", path, body: nil).body))
    }

    func send<B: Encodable, T: Decodable>(_ method: String, _ path: String, _ body: B, as type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(call(method, path, body: try JSONEncoder().encode(body)).body))
    }

    func post<T: Decodable>(_ path: String, as type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(call("POST", path, body: Data("{}".utf8)).body))
    }

    func delete(_ path: String) throws {
        _ = try call("DELETE", path, body: nil)
    }
}
