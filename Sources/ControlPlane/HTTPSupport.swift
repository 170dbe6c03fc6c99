import BalctlProtocol
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// Per-request context: the TCP peer (for the client IP) and, on operator routes, who is asking.
public struct BalctlRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let peer: SocketAddress?
    var operatorIdentity: Operator?
    /// Dashboard routes: the signed-in browser, and a POST's form (read once by the session middleware).
    var webSession: WebSession? = nil
    var webForm: [String: String] = [:]

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peer = source.channel.remoteAddress
        operatorIdentity = nil
    }

    public var maxUploadSize: Int { 1 << 20 }

    func requireOperator() throws -> Operator {
        guard let op = operatorIdentity else { throw ControlPlaneError.unauthorized("missing API token") }
        return op
    }
}

/// The client's IPv4: the TCP peer, or — only when the peer is a proxy we were told to trust —
/// the address that proxy reports. Each header is believed from its own ranges only
/// (issue 20 item 2): `CF-Connecting-IP` from `cloudflareProxies` (Cloudflare sets it), and
/// `X-Forwarded-For` from `trustedProxies` (nginx, haproxy, …, which pass a client's own
/// CF-Connecting-IP through untouched, so it is never read from them). Nil when a trusted peer
/// sends no usable header (403 upstream).
public enum ClientIP {
    public static func resolve(peer: IPv4?, cfConnectingIP: String?, forwardedFor: String?,
                               trustedProxies: [CIDR], cloudflareProxies: [CIDR] = []) -> IPv4? {
        guard let peer else { return nil }
        if cloudflareProxies.contains(where: { $0.contains(peer) }) {
            return cfConnectingIP.flatMap { IPv4($0.trimmingCharacters(in: .whitespaces)) }
        }
        guard trustedProxies.contains(where: { $0.contains(peer) }) else { return peer }
        guard let xff = forwardedFor else { return nil }
        // Walk from the nearest hop outwards, skipping our own proxies (a Cloudflare hop's entry
        // to its left was written by Cloudflare, so it is skipped too). An empty hop
        // ("203.0.113.7," or "203.0.113.7, ") is malformed like any other (red team finding F10):
        // empty pieces are kept so the check below refuses them rather than skipping them.
        for hop in xff.split(separator: ",", omittingEmptySubsequences: false).reversed() {
            guard let ip = IPv4(hop.trimmingCharacters(in: .whitespaces)) else { return nil }
            if !trustedProxies.contains(where: { $0.contains(ip) }) && !cloudflareProxies.contains(where: { $0.contains(ip) }) {
                return ip
            }
        }
        return nil
    }

    static func peerIPv4(_ address: SocketAddress?) -> IPv4? {
        // The common case without formatting and re-parsing a string (this runs per request).
        if case .v4(let a)? = address { return IPv4(value: UInt32(bigEndian: a.address.sin_addr.s_addr)) }
        guard let text = address?.ipAddress else { return nil }
        if let ip = IPv4(text) { return ip }
        // IPv4-mapped IPv6 (::ffff:a.b.c.d) from a dual-stack listener.
        if text.lowercased().hasPrefix("::ffff:"), let ip = IPv4(text.dropFirst(7)) { return ip }
        return nil
    }
}

extension HTTPField.Name {
    static let cfConnectingIP = HTTPField.Name("CF-Connecting-IP")!
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}

let jsonHeaders: HTTPFields = [.contentType: "application/json"]

func jsonResponse<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let data = try encoder.encode(value)
    return Response(status: status, headers: jsonHeaders, body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

func errorResponse(_ status: HTTPResponse.Status, _ message: String) -> Response {
    (try? jsonResponse(APIErrorBody(error: message), status: status))
        ?? Response(status: status)
}

/// Read the body (413 beyond `limit`) and decode it (400 with the reason when malformed).
func decodeBody<T: Decodable>(_ type: T.Type, _ request: Request, limit: Int) async throws -> (T, ByteBuffer) {
    let buffer = try await request.body.collect(upTo: limit)
    return (try decode(T.self, buffer), buffer)
}

/// Decode a JSON body (400 with the reason when malformed).
func decode<T: Decodable>(_ type: T.Type, _ buffer: ByteBuffer) throws -> T {
    do {
        // Linear whatever the shape (JSONTree): JSONDecoder's cost with JSONValue grows with depth.
        return try JSONTree.decode(T.self, from: Array(buffer.readableBytesView))
    } catch let e as DecodingError {
        throw ControlPlaneError.badRequest(e.balctlReason)
    } catch let e as JSONTreeError {
        throw ControlPlaneError.badRequest(e.description)
    } catch {
        throw ControlPlaneError.badRequest("malformed JSON: \(error)")
    }
}

extension Data {
    init(buffer: ByteBuffer) {
        self = buffer.withUnsafeReadableBytes { Data($0) }
    }
}

/// An access log that stays quiet where it must: at `info` every operator change (`/api/v1`
/// requests other than GET: who changed what is worth a line) and every failed request; reads
/// (`balctl jobs follow` polls) at `debug`; successful agent requests (a heartbeat per member per
/// second) not at all. Each line has the status, the time taken and Hummingbird's request ID
/// (`hb.request.id`, a field of its own in JSON logs).
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = BalctlRequestContext

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let path = request.uri.path
        do {
            let response = try await next(request, context)
            if response.status.code >= 400 || (path.hasPrefix(OperatorAPI.prefix) && request.method != .get) {
                log(request, context, status: response.status.code, since: started)
            } else if path.hasPrefix(OperatorAPI.prefix) {
                log(request, context, status: response.status.code, since: started, level: .debug)
            }
            return response
        } catch {
            // Answered by Hummingbird itself (no route: 404, …).
            log(request, context, status: (error as? any HTTPResponseError)?.status.code ?? 500, since: started)
            throw error
        }
    }

    private func log(_ request: Request, _ context: Context, status: Int, since: ContinuousClock.Instant, level: Logger.Level = .info) {
        let d = ContinuousClock.now - since
        let ms = Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
        // Hummingbird's own request logger is kept at `warning` (its per-request chatter); these
        // lines carry its request ID at their own level.
        var logger = context.logger
        logger.logLevel = .info
        logger.log(level: level, "\(request.method) \(request.uri.path) \(status)",
                   metadata: ["status": "\(status)", "ms": "\(String(format: "%.1f", ms))"])
    }
}

/// Every error leaves as JSON `{"error": "..."}` with the right status.
struct JSONErrorMiddleware: RouterMiddleware {
    typealias Context = BalctlRequestContext

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as ControlPlaneError {
            return errorResponse(.init(code: e.kind.rawValue), e.message)
        } catch is NIOTooManyBytesError {
            return errorResponse(.contentTooLarge, "request body too large")
        } catch let e as HTTPError {
            // Hummingbird's own answers (no route: 404, 405) also reach browsers on dashboard
            // paths (red team D7): they carry the dashboard's CSP and nosniff like its pages.
            var response = errorResponse(e.status, e.body ?? e.status.reasonPhrase)
            DashboardHeaders.apply(&response.headers, html: false)
            return response
        } catch let e as any HTTPResponseError {
            return errorResponse(e.status, e.status.reasonPhrase)
        } catch {
            context.logger.error("internal error on \(request.method) \(request.uri.path): \(error)")
            return errorResponse(.internalServerError, "internal error")
        }
    }
}

/// Operator routes need `Authorization: Bearer bct_…`.
struct OperatorAuthMiddleware: RouterMiddleware {
    typealias Context = BalctlRequestContext
    let store: Store

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
              let op = try await store.authenticateOperator(token: String(header.dropFirst(7)))
        else {
            throw ControlPlaneError.unauthorized("missing or unknown API token (Authorization: Bearer bct_…)")
        }
        var context = context
        context.operatorIdentity = op
        return try await next(request, context)
    }
}

func bearer(_ request: Request) -> String? {
    guard let h = request.headers[.authorization], h.hasPrefix("Bearer ") else { return nil }
    // Trimmed on the UTF-8 bytes: Foundation's trimmingCharacters bridges through NSString, which
    // cost 4 % of the control plane's CPU under heartbeat load.
    let isBlank = { (c: UInt8) in c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") }
    let token = h.utf8.dropFirst(7).drop(while: isBlank)
    guard let last = token.lastIndex(where: { !isBlank($0) }) else { return "" }
    return String(Substring(token[...last]))
}

/// A numeric path parameter such as `:member` (400 when it is not a number).
@Sendable func pathID(_ context: BalctlRequestContext, _ name: String) throws -> Int64 {
    guard let text = context.parameters.get(name), let v = Int64(text) else {
        throw ControlPlaneError.badRequest("\(name) must be a number")
    }
    return v
}

/// `?limit=` for listings: 1–1000, default 50.
@Sendable func limitParam(_ request: Request) -> Int {
    min(1000, max(1, request.uri.queryParameters.get("limit", as: Int.self) ?? 50))
}
