@testable import ControlPlane
import Foundation
import Testing

/// The OpenAPI document served at /api/v1/openapi.json is held to the router: every route the
/// server answers is documented with its method, and nothing else is. A route added without a
/// line in Sources/ControlPlane/OpenAPI/OpenAPIDocument.swift fails here. (Whether the bodies and
/// statuses are true is checked against a live server by schemathesis: EndToEndTests/OpenAPIFuzzTests.)
@Suite("OpenAPI document")
struct OpenAPIDocumentTests {
    static func document() throws -> [String: Any] {
        let parsed = try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8))
        return try #require(parsed as? [String: Any], "the document is not a JSON object")
    }

    /// `/api/v1/pools/:pool` → `/api/v1/pools/{pool}`.
    static func normalise(_ path: String) -> String {
        "/" + path.split(separator: "/", omittingEmptySubsequences: true).map { piece in
            piece.hasPrefix(":") ? "{\(piece.dropFirst())}" : String(piece)
        }.joined(separator: "/")
    }

    static let methods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    static func documented(_ doc: [String: Any]) throws -> Set<String> {
        let paths = try #require(doc["paths"] as? [String: Any], "the document has no paths")
        var out = Set<String>()
        for (path, item) in paths {
            let ops = try #require(item as? [String: Any], "\(path) is not a path item")
            for key in ops.keys where methods.contains(key) { out.insert("\(key.uppercased()) \(path)") }
        }
        return out
    }

    @Test("the document is JSON, OpenAPI 3.1, with a title and version")
    func parses() throws {
        let doc = try Self.document()
        let version = try #require(doc["openapi"] as? String)
        #expect(version.hasPrefix("3.1."), "openapi is \(version), not 3.1.x")
        let info = try #require(doc["info"] as? [String: Any])
        #expect(info["title"] as? String != nil && info["version"] as? String != nil)
    }

    @Test("the document lists exactly the router's routes (method and path, both ways)")
    func matchesRouter() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-openapi-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try ControlPlane(config: ServerConfig(dataDir: dir.path))
        let table = try server.routeTable()
        #expect(table.count > 50, "the router lists only \(table.count) routes: is the route table read from the real router?")
        let all = Set(table.map { "\($0.method) \(Self.normalise($0.path))" })
        #expect(all.count == table.count, "a route is registered twice: \(table)")
        // The dashboard's pages are a browser UI, not API operations: every one of them is routed,
        // none is under /api, and the rest must match the document exactly.
        let dashboard = Set(server.dashboardRouteTable().map { "\($0.method) \(Self.normalise($0.path))" })
        #expect(dashboard.count > 10 && dashboard.isSubset(of: all))
        #expect(!dashboard.contains { $0.contains(" /api/") })
        let routed = all.subtracting(dashboard)
        let documented = try Self.documented(try Self.document())
        let undocumented = routed.subtracting(documented).sorted()
        let unrouted = documented.subtracting(routed).sorted()
        #expect(undocumented.isEmpty, "routes the server has that OpenAPIDocument.swift does not document:\n\(undocumented.joined(separator: "\n"))")
        #expect(unrouted.isEmpty, "operations OpenAPIDocument.swift documents that the router does not have:\n\(unrouted.joined(separator: "\n"))")
        #expect(routed.contains("GET /api/v1/openapi.json"))
    }

    @Test("the normalisation turns :name into {name} and nothing else")
    func normalisation() {
        #expect(Self.normalise("/api/v1/pools/:pool/thresholds/:metric") == "/api/v1/pools/{pool}/thresholds/{metric}")
        #expect(Self.normalise("api/v1/whoami") == "/api/v1/whoami")
        #expect(Self.normalise("/healthz") == "/healthz")
    }

    @Test("every operation has responses, a unique operationId and declares exactly its path's parameters; every $ref resolves")
    func operationsAreComplete() throws {
        let doc = try Self.document()
        let paths = try #require(doc["paths"] as? [String: [String: Any]])
        var ids = Set<String>()
        for (path, item) in paths {
            let inPath = Set(path.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) })
            for (method, value) in item where Self.methods.contains(method) {
                let op = try #require(value as? [String: Any])
                let where_ = "\(method.uppercased()) \(path)"
                let responses = op["responses"] as? [String: Any] ?? [:]
                #expect(!responses.isEmpty, "\(where_) has no responses")
                #expect(responses.keys.contains { $0.hasPrefix("2") }, "\(where_) documents no success")
                let id = try #require(op["operationId"] as? String, "\(where_) has no operationId")
                #expect(ids.insert(id).inserted, "operationId \(id) is used twice")
                let params = (op["parameters"] as? [[String: Any]] ?? []).filter { $0["in"] as? String == "path" }
                #expect(Set(params.compactMap { $0["name"] as? String }) == inPath, "\(where_): path parameters declared do not match the path")
                #expect(op["security"] != nil, "\(where_) does not say who may call it")
            }
        }
        // Every reference points at something in the document.
        let text = OpenAPIDocument.json
        let components = try #require(doc["components"] as? [String: [String: Any]])
        var unresolved: [String] = []
        var rest = Substring(text)
        while let r = rest.range(of: "\"#/components/") {
            let after = rest[r.upperBound...]
            let end = try #require(after.firstIndex(of: "\""))
            let parts = after[..<end].split(separator: "/")
            if parts.count != 2 || components[String(parts[0])]?[String(parts[1])] == nil { unresolved.append(String(after[..<end])) }
            rest = after[end...]
        }
        #expect(unresolved.isEmpty, "unresolved references: \(unresolved)")
    }
}
