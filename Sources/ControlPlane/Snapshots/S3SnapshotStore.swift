import BalctlProtocol
import Crypto
import CurlClient
import Foundation
import Synchronization

/// Snapshot objects in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, R2, moto in the tests):
/// key = settings.keyPrefix + location.prefix + object.name, e.g. "balctl/3/17/0123…ef/data-000004".
///
/// Requests are signed with SigV4 (`S3Signer`, signed payload) and sent on the project's libcurl
/// sessions, so the transport rules are the CLI's and the DNS providers': https to any host, plain
/// http only to a loopback endpoint (`URLPolicy`), no redirects, no proxy for plain http, answers
/// capped. An object at or below `multipartThreshold` goes up in one PUT; a larger one as a
/// multipart upload, aborted when any step fails so no invisible parts keep costing storage.
///
/// Everything S3 says is read as hostile input: the small XML answers are read by a bounded scanner
/// (`S3XML`), a listing must stay under the snapshot's own prefix, and a continuation token that
/// does not change ends the listing with an error instead of a loop.
public struct S3SnapshotStore: SnapshotStore {
    public enum AddressingStyle: String, Sendable {
        /// https://endpoint/bucket/key: works with every S3-compatible server and any bucket name.
        case path
        /// https://bucket.endpoint/key: what AWS prefers for new buckets.
        case virtualHost
    }

    public struct Settings: Sendable, CustomStringConvertible {
        /// Scheme, host and optional port: "https://s3.eu-west-1.amazonaws.com", "http://127.0.0.1:15000".
        public var endpoint: String
        public var region: String
        public var bucket: String
        /// Prepended to every key ("balctl/"); "" for the bucket's root. A missing trailing "/" is added.
        public var keyPrefix: String
        public var addressing: AddressingStyle
        public var accessKeyID: String
        public var secretAccessKey: String
        /// Objects larger than this go up as multipart uploads.
        public var multipartThreshold: Int
        /// Size of each multipart part but the last; S3 refuses parts under 5 MiB.
        public var multipartChunkSize: Int
        /// Seconds for one request (a whole part travels in one request).
        public var timeout: Double

        public init(endpoint: String, region: String, bucket: String, keyPrefix: String = "",
                    addressing: AddressingStyle = .path, accessKeyID: String, secretAccessKey: String,
                    multipartThreshold: Int = 8 << 20, multipartChunkSize: Int = 8 << 20, timeout: Double = 300) {
            self.endpoint = endpoint; self.region = region; self.bucket = bucket; self.keyPrefix = keyPrefix
            self.addressing = addressing; self.accessKeyID = accessKeyID; self.secretAccessKey = secretAccessKey
            self.multipartThreshold = multipartThreshold; self.multipartChunkSize = multipartChunkSize
            self.timeout = timeout
        }

        /// Never the secret: this text reaches logs and `/healthz`.
        public var description: String {
            "s3 bucket \(bucket) at \(endpoint) (region \(region), \(addressing.rawValue) style"
                + (keyPrefix.isEmpty ? "" : ", prefix \(keyPrefix)") + ", key ID \(accessKeyID))"
        }
    }

    /// The smallest part S3 accepts (all but the last part of an upload).
    public static let minimumChunkSize = 5 << 20
    /// S3's limit on the number of parts of one upload.
    static let maximumParts = 10_000
    /// The protocol's objects are at most a part (64 MiB); a GET may bring that back plus slack.
    public static let maximumObjectBytes = 64 << 20
    /// How many libcurl sessions (connections) the store keeps: requests on one session queue
    /// behind each other, and several agents upload at once.
    static let sessionCount = 4

    public let settings: Settings
    /// The normalised prefix: "" or ending in "/".
    public let keyPrefix: String
    let signer: S3Signer
    /// "http" or "https".
    let scheme: String
    /// host[:port] the requests go to (with "bucket." in front for virtual-host style); also the
    /// signed `host` header, which is sent explicitly so what is signed is what libcurl sends.
    let authority: String
    let sessions: SessionPool
    /// ListObjectsV2 page size (S3's maximum is 1000; the tests lower it to exercise continuation).
    var listPageSize = 1000

    public init(settings: Settings) throws(SnapshotStoreError) {
        let s = settings
        func invalid(_ why: String) -> SnapshotStoreError { SnapshotStoreError(.refused, "S3 snapshot store: \(why)") }
        if let problem = Self.bucketNameProblem(s.bucket) { throw invalid("bucket name '\(s.bucket)' \(problem)") }
        guard !s.region.isEmpty, s.region.utf8.allSatisfy({ Self.isRegionByte($0) }) else {
            throw invalid("region '\(s.region)' must be non-empty letters, digits and '-' (e.g. eu-west-1; us-east-1 for most S3-compatible servers)")
        }
        guard !s.accessKeyID.isEmpty, !s.secretAccessKey.isEmpty else {
            throw invalid("the access key ID and the secret access key are both required")
        }
        guard s.accessKeyID.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: ",") }) else {
            throw invalid("the access key ID holds characters an access key never has (space, '/', ',' or non-ASCII)")
        }
        guard s.multipartChunkSize >= Self.minimumChunkSize, s.multipartChunkSize <= 5 << 30 else {
            throw invalid("multipart chunk size \(s.multipartChunkSize) must be between 5 MiB (S3's minimum part) and 5 GiB")
        }
        guard s.multipartThreshold >= 0, s.multipartThreshold <= 5 << 30 else {
            throw invalid("multipart threshold \(s.multipartThreshold) must be between 0 and 5 GiB (S3's largest single PUT)")
        }
        guard s.timeout.isFinite, s.timeout > 0, s.timeout <= 3600 else {
            throw invalid("timeout must be between 0 and 3600 s, not \(s.timeout)")
        }
        keyPrefix = try Self.normalisedPrefix(s.keyPrefix)

        let endpoint: Endpoint
        do { endpoint = try Endpoint(s.endpoint) } catch { throw invalid("endpoint \(error)") }
        var authority = endpoint.authority
        if s.addressing == .virtualHost {
            guard endpoint.isDNSName else {
                throw invalid("virtual-host addressing puts the bucket in the host name, so the endpoint must be a DNS name, not \(endpoint.host); use path addressing")
            }
            if endpoint.scheme == "https" && s.bucket.contains(".") {
                throw invalid("bucket '\(s.bucket)' has dots: with virtual-host addressing its host name would not match the endpoint's TLS certificate; use path addressing")
            }
            authority = s.bucket + "." + authority
        }
        let base = endpoint.scheme + "://" + authority + "/"
        var options = CurlSession.Options(requireHTTPS: endpoint.scheme == "https", userAgent: "balctl/\(BalctlVersion.current)")
        options.timeoutMs = Int(s.timeout * 1000)
        options.connectTimeoutMs = min(options.timeoutMs, 10_000)
        options.maxResponseBytes = Self.maximumObjectBytes + (1 << 20)
        do {
            // The same check every request passes, done once here so a bad endpoint is refused at
            // start-up with its reason, not at the first snapshot.
            try URLPolicy.check(ParsedURL(base), allowLoopbackHTTP: true)
            sessions = try SessionPool(count: Self.sessionCount, options: options)
        } catch {
            throw invalid("endpoint \(base) refused: \(error)")
        }
        self.settings = s
        self.scheme = endpoint.scheme
        self.authority = authority
        self.signer = S3Signer(accessKeyID: s.accessKeyID, secretAccessKey: s.secretAccessKey, region: s.region)
    }

    public var description: String {
        "s3 bucket \(settings.bucket) at \(settings.endpoint)" + (keyPrefix.isEmpty ? "" : " prefix \(keyPrefix)")
    }

    /// The object's key in the bucket.
    public func key(_ object: SnapshotObject, at location: SnapshotLocation) -> String {
        keyPrefix + location.prefix + object.name
    }

    /// Unencoded request path of a key (or of the bucket itself for key nil).
    func path(forKey key: String?) -> String {
        switch settings.addressing {
        case .path: return "/" + settings.bucket + (key.map { "/" + $0 } ?? "")
        case .virtualHost: return "/" + (key ?? "")
        }
    }

    /// The URL a request for `key` goes to, as sent (encoded), for messages and the tests.
    public func url(forKey key: String?, query: [(String, String)] = []) -> String {
        scheme + "://" + authority + S3Signer.encodePath(path(forKey: key))
            + (query.isEmpty ? "" : "?" + S3Signer.canonicalQuery(query))
    }

    // MARK: SnapshotStore

    public func put(_ object: SnapshotObject, at location: SnapshotLocation, bytes: [UInt8]) async throws(SnapshotStoreError) {
        let key = key(object, at: location)
        if bytes.count <= settings.multipartThreshold {
            let r = try await send("PUT", key: key, body: bytes, headers: [("content-type", "application/octet-stream")],
                                   what: "PUT \(key)")
            guard (200..<300).contains(r.status) else { throw failure(r, "PUT \(key)") }
        } else {
            try await multipartPut(key: key, bytes: bytes)
        }
    }

    public func get(_ object: SnapshotObject, at location: SnapshotLocation) async throws(SnapshotStoreError) -> [UInt8] {
        let key = key(object, at: location)
        let r = try await send("GET", key: key, body: nil, what: "GET \(key)")
        guard r.status == 200 else {
            if r.status == 404, S3XML.first("Code", in: r.body) != "NoSuchBucket" {
                throw SnapshotStoreError(.notFound, "snapshot object \(location)\(object) is missing from \(description)")
            }
            throw failure(r, "GET \(key)")
        }
        // A proxy or a broken server that cuts the body short must not pass for the object.
        if let declared = r.headers["content-length"].flatMap(Int.init), declared != r.body.count {
            throw SnapshotStoreError(.unavailable, "\(description): GET \(key) brought \(r.body.count) bytes, Content-Length said \(declared)")
        }
        return r.body
    }

    public func delete(_ object: SnapshotObject, at location: SnapshotLocation) async throws(SnapshotStoreError) {
        // DeleteObject answers 204 whether or not the key existed.
        let key = key(object, at: location)
        let r = try await send("DELETE", key: key, body: nil, what: "DELETE \(key)")
        guard (200..<300).contains(r.status) || r.status == 404 else { throw failure(r, "DELETE \(key)") }
    }

    public func deleteAll(at location: SnapshotLocation) async throws(SnapshotStoreError) {
        let prefix = keyPrefix + location.prefix
        let keys = try await listKeys(prefix: prefix)
        // DeleteObjects takes at most 1000 keys a request.
        var start = 0
        while start < keys.count {
            let end = min(start + 1000, keys.count)
            try await deleteBatch(Array(keys[start..<end]))
            start = end
        }
    }

    // MARK: multipart

    func multipartPut(key: String, bytes: [UInt8]) async throws(SnapshotStoreError) {
        let chunk = settings.multipartChunkSize
        let partCount = (bytes.count + chunk - 1) / chunk
        guard partCount <= Self.maximumParts else {
            throw SnapshotStoreError(.refused, "\(description): \(bytes.count) bytes in \(chunk)-byte parts would be \(partCount) parts, more than S3's \(Self.maximumParts)")
        }
        let created = try await send("POST", key: key, query: [("uploads", "")], body: [],
                                     headers: [("content-type", "application/octet-stream")],
                                     what: "CreateMultipartUpload \(key)")
        guard created.status == 200, let uploadID = S3XML.first("UploadId", in: created.body), !uploadID.isEmpty else {
            throw failure(created, "CreateMultipartUpload \(key)")
        }
        do throws(SnapshotStoreError) {
            var etags: [String] = []
            var offset = 0
            // Each turn moves `offset` forward by `chunk` (≥ 5 MiB), so the loop ends after partCount turns.
            while offset < bytes.count {
                let end = min(offset + chunk, bytes.count)
                let number = etags.count + 1
                let r = try await send("PUT", key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)],
                                       body: Array(bytes[offset..<end]),
                                       headers: [("content-type", "application/octet-stream")],
                                       what: "UploadPart \(number) of \(key)")
                guard r.status == 200, let etag = r.headers["etag"], !etag.isEmpty else {
                    throw failure(r, "UploadPart \(number) of \(key)")
                }
                etags.append(etag)
                offset = end
            }
            var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            for (i, etag) in etags.enumerated() {
                xml += "<Part><PartNumber>\(i + 1)</PartNumber><ETag>\(S3XML.escape(etag))</ETag></Part>"
            }
            xml += "</CompleteMultipartUpload>"
            let done = try await send("POST", key: key, query: [("uploadId", uploadID)], body: Array(xml.utf8),
                                      headers: [("content-type", "application/xml")],
                                      what: "CompleteMultipartUpload \(key)")
            // S3 may answer 200 and put the error in the body (it starts the answer before it knows).
            guard done.status == 200, S3XML.first("Code", in: done.body) == nil else {
                throw failure(done, "CompleteMultipartUpload \(key)")
            }
        } catch {
            // Best effort: the parts already sent are invisible but billed until aborted. The
            // original failure is what the operator needs to see.
            _ = try? await send("DELETE", key: key, query: [("uploadId", uploadID)], body: nil,
                                what: "AbortMultipartUpload \(key)")
            throw error
        }
    }

    // MARK: listing and deleting

    /// Every key under `prefix` (ListObjectsV2, following continuation tokens).
    func listKeys(prefix: String) async throws(SnapshotStoreError) -> [String] {
        var keys: [String] = []
        var token: String? = nil
        // A snapshot has at most a few thousand objects; this many pages is a broken server.
        for _ in 0..<100_000 {
            var query = [("list-type", "2"), ("prefix", prefix), ("max-keys", String(listPageSize))]
            if let token { query.append(("continuation-token", token)) }
            let r = try await send("GET", key: nil, query: query, body: nil, what: "ListObjectsV2 \(prefix)")
            guard r.status == 200, S3XML.first("Code", in: r.body) == nil else { throw failure(r, "ListObjectsV2 \(prefix)") }
            for key in S3XML.all("Key", in: r.body) {
                // Never delete what lies outside the snapshot, whatever the server says.
                guard key.hasPrefix(prefix) else {
                    throw SnapshotStoreError(.unavailable, "\(description): listing \(prefix) returned key \(key) outside that prefix")
                }
                keys.append(key)
            }
            guard S3XML.first("IsTruncated", in: r.body) == "true" else { return keys }
            guard let next = S3XML.first("NextContinuationToken", in: r.body), !next.isEmpty, next != token else {
                throw SnapshotStoreError(.unavailable, "\(description): listing \(prefix) is truncated but gives no new continuation token")
            }
            token = next
        }
        throw SnapshotStoreError(.unavailable, "\(description): listing \(prefix) did not end after 100000 pages")
    }

    /// DeleteObjects (quiet: only failures are reported). S3 requires Content-MD5 on this request.
    func deleteBatch(_ keys: [String]) async throws(SnapshotStoreError) {
        guard !keys.isEmpty else { return }
        var xml = "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>"
        for key in keys { xml += "<Object><Key>\(S3XML.escape(key))</Key></Object>" }
        xml += "</Delete>"
        let body = Array(xml.utf8)
        let md5 = Data(Insecure.MD5.hash(data: body)).base64EncodedString()
        let r = try await send("POST", key: nil, query: [("delete", "")], body: body,
                               headers: [("content-md5", md5), ("content-type", "application/xml")],
                               what: "DeleteObjects (\(keys.count) keys)")
        guard r.status == 200 else { throw failure(r, "DeleteObjects") }
        // Per-key failures come back in a 200 answer as <Error><Key/><Code/><Message/></Error>.
        if let code = S3XML.first("Code", in: r.body) {
            let key = S3XML.first("Key", in: r.body) ?? "?"
            let message = S3XML.first("Message", in: r.body) ?? ""
            let kind: SnapshotStoreError.Kind = code == "AccessDenied" ? .refused : .unavailable
            throw SnapshotStoreError(kind, "\(description): cannot delete \(key): \(code): \(message)")
        }
    }

    // MARK: transport

    /// Signs and sends one request. `body` nil only for GET and DELETE: libcurl would read a POST
    /// body from standard input otherwise.
    func send(_ method: String, key: String?, query: [(String, String)] = [], body: [UInt8]?,
              headers: [(String, String)] = [], what: String) async throws(SnapshotStoreError) -> HTTPResponse {
        let path = path(forKey: key)
        let request = S3Signer.Request(method: method, path: path, query: query, headers: [("host", authority)] + headers,
                                       payloadSHA256: S3Signer.payloadHash(body ?? []))
        let signed = signer.sign(request, at: Date())
        let url = url(forKey: key, query: query)
        do {
            return try await sessions.next().request(method, url, headers: signed, body: body)
        } catch let refused as RequestRefused {
            throw SnapshotStoreError(.refused, "\(description): \(what) not sent: \(refused)")
        } catch let e as HTTPClientError where e.isOversized {
            throw SnapshotStoreError(.unavailable, "\(description): \(what): answer larger than \(Self.maximumObjectBytes) bytes (\(e))")
        } catch {
            throw SnapshotStoreError(.unavailable, "\(description): \(what): \(error)")
        }
    }

    /// A non-2xx (or error-bearing) answer as a store error, with S3's own Code and Message and,
    /// for the usual 3 a.m. causes, what to check.
    func failure(_ r: HTTPResponse, _ what: String) -> SnapshotStoreError {
        let code = S3XML.first("Code", in: r.body)
        let message = S3XML.first("Message", in: r.body)
        var text = "\(description): \(what) failed: HTTP \(r.status)"
        if let code { text += " \(code)" }
        if let message, !message.isEmpty { text += ": \(message)" }
        if code == nil && message == nil && !r.body.isEmpty {
            text += ": " + String(decoding: r.body.prefix(300), as: UTF8.self)
        }
        switch code {
        case "SignatureDoesNotMatch":
            text += " (check the secret access key, BALCTL_S3_SECRET_ACCESS_KEY, and the region)"
        case "InvalidAccessKeyId":
            text += " (the access key ID \(settings.accessKeyID) is not known to the server)"
        case "NoSuchBucket":
            text += " (create the bucket \(settings.bucket) first, or fix BALCTL_S3_BUCKET)"
        case "PermanentRedirect", "AuthorizationHeaderMalformed":
            if let region = r.headers["x-amz-bucket-region"] { text += " (the bucket is in region \(region))" }
        case "RequestTimeTooSkewed":
            text += " (the control plane's clock is off: fix NTP)"
        default: break
        }
        if r.status == 403 || code == "AccessDenied" { return SnapshotStoreError(.refused, text) }
        return SnapshotStoreError(.unavailable, text)
    }

    // MARK: validation

    /// Why `name` is not a valid S3 bucket name (the general-purpose bucket rules), or nil.
    public static func bucketNameProblem(_ name: String) -> String? {
        let b = Array(name.utf8)
        guard (3...63).contains(b.count) else { return "must be 3 to 63 characters long" }
        guard b.allSatisfy({ isLowerAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }) else {
            return "may hold only lowercase letters, digits, '.' and '-'"
        }
        guard isLowerAlnum(b.first!), isLowerAlnum(b.last!) else { return "must begin and end with a letter or digit" }
        if name.contains("..") { return "must not hold two adjacent dots" }
        if name.contains(".-") || name.contains("-.") { return "must not hold a dot next to a hyphen" }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count == 4, parts.allSatisfy({ !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }) {
            return "must not look like an IP address"
        }
        for p in ["xn--", "sthree-", "amzn-s3-demo-"] where name.hasPrefix(p) { return "must not begin with \(p)" }
        for s in ["-s3alias", "--ol-s3", "--x-s3", ".mrap"] where name.hasSuffix(s) { return "must not end with \(s)" }
        return nil
    }

    static func isLowerAlnum(_ c: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
    }

    static func isRegionByte(_ c: UInt8) -> Bool {
        isLowerAlnum(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c) || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
    }

    /// "" or a prefix ending in "/", made of non-empty segments other than "." and "..", without
    /// control characters: some S3-compatible servers normalise such paths, and the object would
    /// land under another key than the one signed and listed.
    static func normalisedPrefix(_ raw: String) throws(SnapshotStoreError) -> String {
        var p = Substring(raw)
        while p.hasPrefix("/") { p = p.dropFirst() }
        if p.isEmpty { return "" }
        let text = p.hasSuffix("/") ? String(p) : String(p) + "/"
        for segment in text.dropLast().split(separator: "/", omittingEmptySubsequences: false) {
            guard !segment.isEmpty, segment != ".", segment != ".." else {
                throw SnapshotStoreError(.refused, "S3 snapshot store: key prefix '\(raw)' has an empty, '.' or '..' segment")
            }
        }
        guard text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7f }), text.utf8.count <= 512 else {
            throw SnapshotStoreError(.refused, "S3 snapshot store: key prefix '\(raw)' has control characters or is over 512 bytes")
        }
        return text
    }

    // MARK: environment

    /// Settings from BALCTL_S3_* variables, or nil when BALCTL_S3_BUCKET is unset or empty (the
    /// filesystem store then). BALCTL_S3_ENDPOINT defaults to AWS's regional endpoint; the
    /// region to us-east-1 (what S3-compatible servers expect); addressing to virtual-host for
    /// AWS and path for any other endpoint; the keys fall back to AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY. Checks what can be checked here; `init(settings:)` checks the rest.
    public static func settings(fromEnvironment env: [String: String]) throws(SnapshotStoreError) -> Settings? {
        func value(_ name: String) -> String? {
            guard let v = env[name]?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
            return v
        }
        guard let bucket = value("BALCTL_S3_BUCKET") else { return nil }
        let region = value("BALCTL_S3_REGION") ?? value("AWS_REGION") ?? value("AWS_DEFAULT_REGION") ?? "us-east-1"
        let givenEndpoint = value("BALCTL_S3_ENDPOINT")
        let endpoint = givenEndpoint ?? "https://s3.\(region).amazonaws.com"
        let addressing: AddressingStyle
        switch value("BALCTL_S3_ADDRESSING")?.lowercased() {
        case nil: addressing = givenEndpoint == nil ? .virtualHost : .path
        case "path": addressing = .path
        case "virtual", "virtual-host", "virtualhost": addressing = .virtualHost
        case let other?:
            throw SnapshotStoreError(.refused, "BALCTL_S3_ADDRESSING is '\(other)': expected path or virtual")
        }
        guard let keyID = value("BALCTL_S3_ACCESS_KEY_ID") ?? value("AWS_ACCESS_KEY_ID") else {
            throw SnapshotStoreError(.refused, "BALCTL_S3_BUCKET is set but no access key ID is: set BALCTL_S3_ACCESS_KEY_ID (or AWS_ACCESS_KEY_ID)")
        }
        guard let secret = env["BALCTL_S3_SECRET_ACCESS_KEY"].flatMap({ $0.isEmpty ? nil : $0 })
                ?? env["AWS_SECRET_ACCESS_KEY"].flatMap({ $0.isEmpty ? nil : $0 }) else {
            throw SnapshotStoreError(.refused, "BALCTL_S3_BUCKET is set but no secret key is: set BALCTL_S3_SECRET_ACCESS_KEY (or AWS_SECRET_ACCESS_KEY)")
        }
        return Settings(endpoint: endpoint, region: region, bucket: bucket, keyPrefix: value("BALCTL_S3_PREFIX") ?? "",
                        addressing: addressing, accessKeyID: keyID, secretAccessKey: secret)
    }
}

/// The endpoint URL split by hand, strictly: scheme, host and optional port, nothing else. (libcurl's
/// parser, through `ParsedURL`, checks the assembled URL again before anything is sent.)
struct Endpoint: Sendable {
    struct Invalid: Error, CustomStringConvertible { let description: String }
    let scheme: String
    let host: String
    let port: Int?
    /// host, and ":port" unless it is the scheme's default.
    var authority: String {
        guard let port, port != (scheme == "https" ? 443 : 80) else { return host }
        return host + ":" + String(port)
    }
    /// Not an IPv4 or IPv6 literal.
    var isDNSName: Bool {
        !host.hasPrefix("[") && !host.split(separator: ".").allSatisfy { $0.allSatisfy(\.isNumber) }
    }

    init(_ text: String) throws(Invalid) {
        let lower = text.lowercased()
        let scheme: String
        if lower.hasPrefix("https://") { scheme = "https" } else if lower.hasPrefix("http://") { scheme = "http" } else {
            throw Invalid(description: "'\(text)' must start with https:// (or http:// for a loopback test server)")
        }
        var rest = Substring(lower.dropFirst(scheme.count + 3))
        var pathPart = Substring("")
        if let slash = rest.firstIndex(of: "/") { pathPart = rest[slash...]; rest = rest[..<slash] }
        guard pathPart.isEmpty || pathPart == "/" else {
            throw Invalid(description: "'\(text)' has a path: give scheme, host and port only (the bucket goes in BALCTL_S3_BUCKET)")
        }
        guard !rest.contains("@") else { throw Invalid(description: "'\(text)' has user info: give the host alone, the keys go in their own settings") }
        guard !rest.contains("?"), !rest.contains("#") else { throw Invalid(description: "'\(text)' has a query or fragment") }
        var host = rest
        var port: Int? = nil
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw Invalid(description: "'\(text)': unterminated IPv6 address") }
            host = rest[...close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()) else { throw Invalid(description: "'\(text)': bad port") }
                port = p
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            guard let p = Int(rest[rest.index(after: colon)...]) else { throw Invalid(description: "'\(text)': bad port") }
            port = p
        }
        if let port, !(1...65535).contains(port) { throw Invalid(description: "'\(text)': port \(port) out of range") }
        guard !host.isEmpty, host.hasPrefix("[") || host.utf8.allSatisfy({
            S3SnapshotStore.isLowerAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
        }) else {
            throw Invalid(description: "'\(text)': host must be a DNS name or an IP address")
        }
        self.scheme = scheme
        self.host = String(host)
        self.port = port
    }
}

/// A few libcurl sessions used in turn, so concurrent requests do not all queue on one connection.
final class SessionPool: Sendable {
    let sessions: [CurlSession]
    let counter = Atomic<Int>(0)

    init(count: Int, options: CurlSession.Options) throws {
        sessions = try (0..<max(1, count)).map { _ in try CurlSession(options: options) }
    }

    func next() -> CurlSession {
        let n = counter.wrappingAdd(1, ordering: .relaxed).oldValue
        return sessions[Int(UInt(bitPattern: n) % UInt(sessions.count))]
    }
}

/// The handful of XML answers the store reads (UploadId, Key, IsTruncated, NextContinuationToken,
/// Code, Message): S3 writes them flat, without attributes on those elements, so a scanner for
/// `<Tag>text</Tag>` is enough, and it is bounded — it looks at most at `scanLimit` bytes, returns
/// at most `maxValues` values, and every step moves its index strictly forward.
enum S3XML {
    static let scanLimit = 16 << 20
    static let maxValues = 100_000

    static func first(_ tag: String, in body: [UInt8]) -> String? { values(tag, in: body, limit: 1).first }
    static func all(_ tag: String, in body: [UInt8]) -> [String] { values(tag, in: body, limit: maxValues) }

    static func values(_ tag: String, in body: [UInt8], limit: Int) -> [String] {
        let open = Array("<\(tag)>".utf8), close = Array("</\(tag)>".utf8)
        let end = min(body.count, scanLimit)
        var out: [String] = []
        var i = 0
        while i < end && out.count < limit {
            guard let start = find(open, in: body, from: i, end: end) else { break }
            let textStart = start + open.count
            guard let stop = find(close, in: body, from: textStart, end: end) else { break }
            out.append(unescape(body[textStart..<stop]))
            i = stop + close.count  // > start: progress
        }
        return out
    }

    /// Index of the first occurrence of `needle` in body[from..<end], or nil.
    static func find(_ needle: [UInt8], in body: [UInt8], from: Int, end: Int) -> Int? {
        guard !needle.isEmpty, end - from >= needle.count else { return nil }
        var i = from
        while i + needle.count <= end {
            if body[i] == needle[0] {
                var j = 1
                while j < needle.count && body[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }

    /// The five predefined entities and numeric references; anything else is kept as written.
    static func unescape(_ raw: ArraySlice<UInt8>) -> String {
        let s = String(decoding: raw, as: UTF8.self)
        guard s.contains("&") else { return s }
        var out = ""
        var rest = Substring(s)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            let after = rest[rest.index(after: amp)...]
            guard let semi = after.prefix(12).firstIndex(of: ";") else { out += "&"; rest = after; continue }
            let name = after[..<semi]
            var decoded: String? = nil
            switch name {
            case "amp": decoded = "&"
            case "lt": decoded = "<"
            case "gt": decoded = ">"
            case "quot": decoded = "\""
            case "apos": decoded = "'"
            default:
                if name.hasPrefix("#x") || name.hasPrefix("#X"), let v = UInt32(name.dropFirst(2), radix: 16), let u = Unicode.Scalar(v) {
                    decoded = String(Character(u))
                } else if name.hasPrefix("#"), let v = UInt32(name.dropFirst()), let u = Unicode.Scalar(v) {
                    decoded = String(Character(u))
                }
            }
            if let decoded { out += decoded; rest = after[after.index(after: semi)...] } else { out += "&"; rest = after }
        }
        out += rest
        return out
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}
