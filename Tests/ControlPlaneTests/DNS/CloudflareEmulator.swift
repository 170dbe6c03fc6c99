import Foundation
import TestSupport
import Synchronization

/// Cloudflare API v4 contract emulator, written from Cloudflare's public API documentation:
/// bearer-token auth, the `{success, errors, messages, result}` envelope, `GET /zones?name=`,
/// `GET|POST /zones/{id}/dns_records`, `PUT|DELETE /zones/{id}/dns_records/{id}`,
/// `GET /user/tokens/verify`, error envelopes (9109 invalid access token, 1000 invalid API token,
/// 971 rate limit with Retry-After, 81044 record does not exist, 7003 could not route). Any
/// request outside that contract (method, path, query keys, headers, body shape) is recorded as a
/// violation, which the tests require to stay empty.
final class CloudflareEmulator: @unchecked Sendable {  // `server` is set once in init
    static let zoneID = "023e105f4ecef8ad9ca31a8372d0c353"
    let token: String
    let zoneName: String

    struct Record: Sendable, Equatable {
        var id: String; var name: String; var content: String; var ttl: Int; var proxied: Bool
    }

    private struct State {
        var records: [Record] = []
        var rateLimited = false
        var nextID = 1
    }
    private let state = Mutex(State())
    private let recorder = ContractRecorder()
    private var server: TinyHTTPServer!

    var baseURL: String { "http://127.0.0.1:\(server.port)/client/v4" }
    var records: [Record] { state.withLock { $0.records } }
    /// "METHOD /path" per request received, in order.
    var log: [String] { recorder.log }
    var violations: [String] { recorder.violations }
    func rateLimit(_ on: Bool) { state.withLock { $0.rateLimited = on } }
    func seed(_ name: String, _ content: String, ttl: Int = 300, proxied: Bool = false) {
        state.withLock { s in
            s.records.append(Record(id: String(format: "%032x", s.nextID), name: name, content: content, ttl: ttl, proxied: proxied))
            s.nextID += 1
        }
    }

    init(token: String = "cf-test-token-0123456789", zoneName: String = "example.com") throws {
        self.token = token
        self.zoneName = zoneName
        // Weak: the server thread may still finish a request while a test drops the emulator.
        server = try TinyHTTPServer { [weak self] r in
            self?.handle(r) ?? .init(status: 503, body: Data())
        }
    }

    deinit { server.stop() }

    private func envelope(_ status: Int, result: Any?, errors: [(Int, String)] = [], messages: [(Int, String)] = [],
                          headers: [String: String] = [:]) -> TinyHTTPServer.Response {
        let obj: [String: Any] = [
            "success": errors.isEmpty,
            "errors": errors.map { ["code": $0.0, "message": $0.1] },
            "messages": messages.map { ["code": $0.0, "message": $0.1] },
            "result": result ?? NSNull(),
        ]
        var h = headers
        h["Content-Type"] = "application/json"
        return .init(status: status, headers: h, body: try! JSONSerialization.data(withJSONObject: obj))
    }

    private func json(_ r: Record) -> [String: Any] {
        ["id": r.id, "zone_id": Self.zoneID, "zone_name": zoneName, "name": r.name, "type": "A", "content": r.content,
         "proxiable": true, "proxied": r.proxied, "ttl": r.ttl, "locked": false, "meta": [:] as [String: Any],
         "created_on": "2026-01-01T00:00:00Z", "modified_on": "2026-01-01T00:00:00Z"]
    }

    private func violation(_ what: String, _ r: TinyHTTPServer.Request) -> TinyHTTPServer.Response {
        recorder.violation(what, r)
        return envelope(400, result: nil, errors: [(7003, "Could not route to \(r.path), perhaps your object identifier is invalid?")])
    }

    func handle(_ r: TinyHTTPServer.Request) -> TinyHTTPServer.Response {
        recorder.request(r)
        let rateLimited = state.withLock { $0.rateLimited }
        let p = r.path.split(separator: "/").map(String.init)
        guard p.count >= 2, p[0] == "client", p[1] == "v4" else { return violation("not under /client/v4", r) }
        let route = Array(p.dropFirst(2))
        if r.headers["accept"].map({ !$0.contains("application/json") && $0 != "*/*" }) == true {
            return violation("Accept is \(r.headers["accept"]!)", r)
        }
        guard let auth = r.headers["authorization"], auth.hasPrefix("Bearer ") else {
            return envelope(400, result: nil, errors: [(9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")])
        }
        if rateLimited {
            return envelope(429, result: nil, errors: [(971, "Please wait and consider throttling your request speed")],
                            headers: ["Retry-After": "30"])
        }
        let good = auth == "Bearer \(token)"
        if route == ["user", "tokens", "verify"] {
            guard r.method == "GET", r.query.isEmpty, r.body.isEmpty else { return violation("verify takes a bare GET", r) }
            guard good else { return envelope(401, result: nil, errors: [(1000, "Invalid API Token")]) }
            return envelope(200, result: ["id": "ed17574386854bf78a67040be0a770b0", "status": "active"],
                            messages: [(10000, "This API Token is valid and active")])
        }
        guard good else { return envelope(403, result: nil, errors: [(9109, "Invalid access token")]) }
        switch (r.method, route.count) {
        case ("GET", 1) where route[0] == "zones":
            guard let name = r.query["name"], Set(r.query.keys).isSubset(of: ["name", "status", "page", "per_page"]) else {
                return violation("zones lookup without name= or with unknown query \(r.query)", r)
            }
            let zones: [[String: Any]] = name == zoneName ? [["id": Self.zoneID, "name": zoneName, "status": "active"]] : []
            return envelope(200, result: zones)
        case (_, 3...4) where route[0] == "zones" && route[2] == "dns_records":
            guard route[1] == Self.zoneID else { return violation("unknown zone id \(route[1])", r) }
            return dnsRecords(r, id: route.count == 4 ? route[3] : nil)
        default:
            return violation("no such endpoint", r)
        }
    }

    private func dnsRecords(_ r: TinyHTTPServer.Request, id: String?) -> TinyHTTPServer.Response {
        switch (r.method, id) {
        case ("GET", nil):
            guard Set(r.query.keys).isSubset(of: ["type", "name", "content", "page", "per_page", "match"]), r.query["type"] == "A" else {
                return violation("list with query \(r.query)", r)
            }
            let name = r.query["name"]
            let list = records.filter { name == nil || $0.name == name }.map(json)
            return envelope(200, result: list)
        case ("POST", nil), ("PUT", .some):
            guard r.headers["content-type"]?.hasPrefix("application/json") == true else {
                return violation("body without Content-Type: application/json", r)
            }
            guard let body = try? JSONSerialization.jsonObject(with: r.body) as? [String: Any],
                  Set(body.keys).isSubset(of: ["type", "name", "content", "ttl", "proxied", "comment", "tags"]),
                  body["type"] as? String == "A", let name = body["name"] as? String, let content = body["content"] as? String
            else { return violation("record body \(String(decoding: r.body, as: UTF8.self))", r) }
            let ttl = body["ttl"] as? Int ?? 1
            let proxied = body["proxied"] as? Bool ?? false
            guard name == zoneName || name.hasSuffix("." + zoneName), !name.hasSuffix(".") else {
                return violation("record name \(name) outside \(zoneName) or with a trailing dot", r)
            }
            guard content.split(separator: ".").count == 4, content.split(separator: ".").allSatisfy({ UInt8($0) != nil }),
                  ttl == 1 || (30...86400).contains(ttl) else {
                return envelope(400, result: nil, errors: [(1004, "DNS Validation Error")])
            }
            return state.withLock { s in
                if let id {
                    guard let i = s.records.firstIndex(where: { $0.id == id }) else {
                        return envelope(404, result: nil, errors: [(81044, "Record does not exist.")])
                    }
                    s.records[i] = Record(id: id, name: name, content: content, ttl: ttl, proxied: proxied)
                    return envelope(200, result: json(s.records[i]))
                }
                let rec = Record(id: String(format: "%032x", s.nextID), name: name, content: content, ttl: ttl, proxied: proxied)
                s.nextID += 1
                s.records.append(rec)
                return envelope(200, result: json(rec))
            }
        case ("DELETE", .some(let id)):
            guard r.body.isEmpty || r.body == Data("{}".utf8) else { return violation("DELETE with a body", r) }
            return state.withLock { s in
                guard let i = s.records.firstIndex(where: { $0.id == id }) else {
                    return envelope(404, result: nil, errors: [(81044, "Record does not exist.")])
                }
                s.records.remove(at: i)
                return envelope(200, result: ["id": id])
            }
        default:
            return violation("method not in the contract", r)
        }
    }
}
