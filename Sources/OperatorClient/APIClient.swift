import BalctlProtocol
import CurlClient
import Foundation

/// The operator API over libcurl. The server URL is checked once, up front, before the token
/// goes anywhere: https:// to any host, plain http:// only to a loopback host, never user info
/// (see `URLPolicy`). A refusal is a `RequestRefused`, never a network failure.
public struct APIClient: Sendable {
    public let base: String
    let token: String
    let session: CurlSession

    public init(server: String, token: String, caFile: String?) throws {
        let base = server.hasSuffix("/") ? String(server.dropLast()) : server
        let url = try ParsedURL(base)
        try URLPolicy.check(url, allowLoopbackHTTP: true)
        guard !url.hasQuery, !url.hasFragment else {
            throw RequestRefused("server URL \(server) has a query or fragment: give scheme, host, port (and path) only")
        }
        try Self.checkToken(token)
        var options = CurlSession.Options(caFile: caFile, requireHTTPS: url.scheme == "https",
                                          userAgent: "balctl/\(BalctlVersion.current)")
        options.timeoutMs = 30_000
        self.base = base
        self.token = token
        self.session = try CurlSession(options: options)
    }

    /// A token is pasted into a header: a control character (a trailing CR/LF from a file, say)
    /// would end the header early. Refuse it with a reason instead of sending something else.
    static func checkToken(_ token: String) throws {
        if token.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            throw RequestRefused("the API token contains a line break or another control character: check --token / BALCTL_TOKEN")
        }
    }

    /// The server answered with an error (status > 0) or could not be reached (status 0).
    public struct Failure: Error, CustomStringConvertible {
        public var status: Int
        public var message: String
        /// Worth trying again later: the network failed in a way that may pass, or a proxy says
        /// the server is away (502/503/504). A certificate that does not verify is not.
        public var isTransient: Bool
        public init(status: Int, message: String, networkTransient: Bool = true) {
            self.status = status
            self.message = message
            isTransient = status == 0 ? networkTransient : [502, 503, 504].contains(status)
        }
        public var description: String { status == 0 ? message : "\(message) (HTTP \(status))" }
    }

    private func call(_ method: String, _ path: APIPath, body: Data?) throws -> HTTPResponse {
        var headers = [("Authorization", "Bearer \(token)"), ("Accept", "application/json")]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let r: HTTPResponse
        do {
            r = try session.requestBlocking(method, base + OperatorAPI.prefix + path.description, headers: headers,
                                            body: body.map(Array.init))
        } catch let refused as RequestRefused {
            throw refused
        } catch {
            throw Failure(status: 0, message: "cannot reach \(base): \(error)",
                          networkTransient: (error as? HTTPClientError)?.isTransient ?? false)
        }
        guard (200..<300).contains(r.status) else {
            let message = (try? JSONDecoder().decode(APIErrorBody.self, from: Data(r.body)))?.error ?? r.text
            throw Failure(status: r.status, message: message.isEmpty ? "request failed" : message)
        }
        return r
    }

    public func get<T: Decodable>(_ path: APIPath, as type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(call("GET", path, body: nil).body))
    }

    public func send<B: Encodable, T: Decodable>(_ method: String, _ path: APIPath, _ body: B, as type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(call(method, path, body: try JSONEncoder().encode(body)).body))
    }

    public func post<T: Decodable>(_ path: APIPath, as type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(call("POST", path, body: Data("{}".utf8)).body))
    }

    public func delete(_ path: APIPath) throws {
        _ = try call("DELETE", path, body: nil)
    }
}
