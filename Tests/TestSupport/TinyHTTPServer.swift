#if canImport(Glibc)
import Glibc
#endif
import ServiceLaunchers
import Foundation

/// A minimal HTTP/1.1 server on 127.0.0.1 for contract emulators: one request per connection
/// (answers `Connection: close`), requests handled one at a time on a thread of its own.
public final class TinyHTTPServer: Sendable {
    public struct Request: Sendable {
        public var method: String
        public var path: String
        /// Last value per name (convenient for single-valued parameters).
        public var query: [String: String]
        /// Every parameter in order, repeats kept (`remove=3&remove=9`), values percent-decoded.
        public var queryItems: [(name: String, value: String)]
        public var headers: [String: String]  // lowercased names
        public var body: Data
    }

    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String] = [:]
        public var body: Data
        public init(status: Int, headers: [String: String] = [:], body: Data) {
            self.status = status; self.headers = headers; self.body = body
        }
    }

    public let port: UInt16
    private let fd: Int32

    public init(handler: @escaping @Sendable (Request) -> Response) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard let p = Loopback.bind(fd, port: 0), listen(fd, 16) == 0 else {
            close(fd)
            throw BINDServer.Failure("emulator: cannot listen on loopback")
        }
        port = p
        let listener = fd
        // Runs until stop() shuts the listening socket down and accept() fails; only then is
        // the descriptor closed, here, so its number cannot be reused by a newer server while
        // this thread might still accept on it.
        let thread = Thread {
            while true {
                let c = accept(listener, nil, nil)
                if c < 0 { if errno == EINTR { continue } else { close(listener); return } }
                Self.serve(c, handler)
                close(c)
            }
        }
        thread.start()
    }

    public func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
    }

    private static func serve(_ c: Int32, _ handler: (Request) -> Response) {
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        let crlf2: [UInt8] = [13, 10, 13, 10]
        var headerEnd: Int?
        while headerEnd == nil, buffer.count < 65536 {  // advances by n > 0 or stops
            let n = recv(c, &chunk, chunk.count, 0)
            if n <= 0 { return }
            buffer += chunk[0..<n]
            headerEnd = (0...max(0, buffer.count - 4)).first { buffer[$0..<min(buffer.count, $0 + 4)].elementsEqual(crlf2) }
        }
        guard let end = headerEnd else { return }
        let head = String(decoding: buffer[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let parts = head[0].split(separator: " ")
        guard parts.count == 3 else { return }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        var body = Array(buffer[(end + 4)...])
        while body.count < length {  // advances by n > 0 or stops
            let n = recv(c, &chunk, chunk.count, 0)
            if n <= 0 { return }
            body += chunk[0..<n]
        }
        let target = String(parts[1])
        let comps = URLComponents(string: target)
        let items = (comps?.queryItems ?? []).map { (name: $0.name, value: $0.value ?? "") }
        var query: [String: String] = [:]
        for item in items { query[item.name] = item.value }
        let r = handler(Request(method: String(parts[0]), path: comps?.path ?? target, query: query, queryItems: items,
                                headers: headers, body: Data(body.prefix(length))))
        var out = "HTTP/1.1 \(r.status) X\r\nContent-Length: \(r.body.count)\r\nConnection: close\r\n"
        for (k, v) in r.headers { out += "\(k): \(v)\r\n" }
        let bytes = Array((out + "\r\n").utf8) + Array(r.body)
        var sent = 0
        while sent < bytes.count {  // advances by n > 0 or stops
            let n = bytes[sent...].withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }
}
