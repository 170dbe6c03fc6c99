@testable import CurlClient
import TestSupport
import Testing

/// A session keeps its handle's options from one request to the next (no reset and full setup
/// per request, issue 18) and sets again only what a request changes: each request must still
/// go out with exactly its own method, headers and body, whatever the request before it was.
@Suite struct CurlSessionReuseTests {
    struct Step {
        var method: String
        var headers: [(String, String)]
        var body: String?
        var blocking: Bool
    }

    @Test("methods, headers and bodies in turn on one session: each request as asked, nothing carried over")
    func eachRequestAsAsked() async throws {
        var options = CurlSession.Options(requireHTTPS: false)
        options.connectTimeoutMs = 2_000
        options.timeoutMs = 5_000
        let session = try CurlSession(options: options)
        let steps = [
            Step(method: "POST", headers: [("X-A", "1"), ("Content-Type", "application/json")], body: #"{"n":1}"#, blocking: false),
            Step(method: "POST", headers: [("X-A", "1"), ("Content-Type", "application/json")], body: #"{"n":2}"#, blocking: true),
            Step(method: "GET", headers: [("X-A", "1"), ("Content-Type", "application/json")], body: nil, blocking: false),
            Step(method: "DELETE", headers: [], body: nil, blocking: true),
            Step(method: "PUT", headers: [("X-B", "2")], body: "xyz", blocking: false),
            Step(method: "GET", headers: [], body: nil, blocking: false),
            Step(method: "POST", headers: [("X-A", "2")], body: "", blocking: true),
            Step(method: "DELETE", headers: [("X-B", "3")], body: "q", blocking: false),
            Step(method: "GET", headers: [("X-B", "3")], body: nil, blocking: true),
        ]
        for (n, step) in steps.enumerated() {
            let listener = try LoopbackListener(body: "{}")
            defer { listener.stop() }
            let url = "http://127.0.0.1:\(listener.port)/step/\(n)"
            let body = step.body.map { Array($0.utf8) }
            let r = step.blocking
                ? try session.requestBlocking(step.method, url, headers: step.headers, body: body)
                : try await session.request(step.method, url, headers: step.headers, body: body)
            #expect(r.status == 200 && r.text == "{}")
            let head = try #require(listener.requests.first, "step \(n)")
            let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
            #expect(lines.first == "\(step.method) /step/\(n) HTTP/1.1", "step \(n): \(head)")
            let sent = lines.dropFirst().compactMap { line -> (String, String)? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingPrefix(" ").description)
            }
            let names = Set(sent.map(\.0))
            for (name, value) in step.headers {
                #expect(sent.contains { $0.0 == name.lowercased() && $0.1 == value }, "step \(n): \(name) missing in \(head)")
            }
            // Headers of other steps never linger.
            for other in ["x-a", "x-b"] where !step.headers.contains(where: { $0.0.lowercased() == other }) {
                #expect(!names.contains(other), "step \(n): \(other) carried over: \(head)")
            }
            #expect(!names.contains("expect"), "step \(n): \(head)")
            if let b = step.body {
                #expect(sent.contains { $0.0 == "content-length" && $0.1 == "\(b.utf8.count)" }, "step \(n): \(head)")
                if !b.isEmpty { #expect(head.hasSuffix("\r\n\r\n" + b), "step \(n): body not sent as asked: \(head)") }
            } else {
                #expect(!names.contains("content-length"), "step \(n): a GET/DELETE without body sent a length: \(head)")
            }
        }
    }
}
