@testable import ControlPlane
import Foundation
import ServiceLaunchers
import TestSupport
import Testing

// MARK: - SigV4 against AWS's published examples

/// The examples of "Signature Calculations for the Authorization Header: Transferring Payload in a
/// Single Chunk" (S3 API reference): access key AKIAIOSFODNN7EXAMPLE, 2013-05-24, us-east-1,
/// bucket examplebucket. Expected values are the documented ones, not values our code produced.
@Suite("S3 SigV4 signer")
struct S3SignerTests {
    static let signer = S3Signer(accessKeyID: "AKIAIOSFODNN7EXAMPLE",
                                 secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1")
    static let when = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z
    static let host = ("host", "examplebucket.s3.amazonaws.com")

    static func signature(_ headers: [(String, String)]) -> String? {
        guard let auth = headers.first(where: { $0.0 == "Authorization" })?.1,
              let r = auth.range(of: "Signature=") else { return nil }
        return String(auth[r.upperBound...])
    }

    @Test("GET Object with a Range header")
    func getObject() {
        let req = S3Signer.Request(method: "GET", path: "/test.txt", headers: [Self.host, ("Range", "bytes=0-9")],
                                   payloadSHA256: S3Signer.emptyPayloadSHA256)
        let headers = Self.signer.sign(req, at: Self.when)
        let auth = headers.first { $0.0 == "Authorization" }?.1
        #expect(auth == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
                + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        // The documented intermediate step: the canonical request's hash ends the string to sign.
        var withAmz = req
        withAmz.headers += [("x-amz-content-sha256", S3Signer.emptyPayloadSHA256), ("x-amz-date", "20130524T000000Z")]
        let canonical = Self.signer.canonicalRequest(withAmz).text
        #expect(canonical == """
            GET
            /test.txt

            host:examplebucket.s3.amazonaws.com
            range:bytes=0-9
            x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            x-amz-date:20130524T000000Z

            host;range;x-amz-content-sha256;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        #expect(S3Signer.payloadHash(Array(canonical.utf8)) == "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")
    }

    @Test("PUT Object: '$' in the key is encoded once, the payload hash is signed")
    func putObject() {
        let body = Array("Welcome to Amazon S3.".utf8)
        #expect(S3Signer.payloadHash(body) == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let req = S3Signer.Request(method: "PUT", path: "/test$file.text",
                                   headers: [Self.host, ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                                             ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
                                   payloadSHA256: S3Signer.payloadHash(body))
        let headers = Self.signer.sign(req, at: Self.when)
        #expect(Self.signature(headers) == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
        #expect(headers.first { $0.0 == "Authorization" }?.1.contains(
            "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,") == true)
        var withAmz = req
        withAmz.headers += [("x-amz-content-sha256", req.payloadSHA256), ("x-amz-date", "20130524T000000Z")]
        let canonical = Self.signer.canonicalRequest(withAmz).text
        #expect(canonical.hasPrefix("PUT\n/test%24file.text\n\n"))
        #expect(S3Signer.payloadHash(Array(canonical.utf8)) == "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d")
    }

    @Test("GET Bucket Lifecycle: a valueless parameter signs as 'lifecycle='")
    func getLifecycle() {
        let req = S3Signer.Request(method: "GET", path: "/", query: [("lifecycle", "")], headers: [Self.host],
                                   payloadSHA256: S3Signer.emptyPayloadSHA256)
        #expect(Self.signature(Self.signer.sign(req, at: Self.when)) == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    @Test("Get Bucket (List Objects): query parameters sorted")
    func listObjects() {
        // Given out of order on purpose: the canonical query sorts them.
        let req = S3Signer.Request(method: "GET", path: "/", query: [("prefix", "J"), ("max-keys", "2")], headers: [Self.host],
                                   payloadSHA256: S3Signer.emptyPayloadSHA256)
        #expect(Self.signature(Self.signer.sign(req, at: Self.when)) == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test("URI encoding keeps only unreserved characters (and '/' in paths)")
    func encoding() {
        #expect(S3Signer.uriEncode("A-z_0.9~", keepSlash: false) == "A-z_0.9~")
        #expect(S3Signer.uriEncode("a b/c+d=é", keepSlash: false) == "a%20b%2Fc%2Bd%3D%C3%A9")
        #expect(S3Signer.encodePath("/bucket/balctl x/3/a$b") == "/bucket/balctl%20x/3/a%24b")
        #expect(S3Signer.canonicalQuery([("uploadId", "a/b+c=="), ("partNumber", "2")]) == "partNumber=2&uploadId=a%2Fb%2Bc%3D%3D")
        #expect(S3Signer.canonicalQuery([("uploads", "")]) == "uploads=")
        #expect(S3Signer.trimmedValue("  a   b  ") == "a b")
    }

    @Test("x-amz-date timestamps")
    func timestamps() {
        #expect(S3Signer.timestamp(Date(timeIntervalSince1970: 0)) == "19700101T000000Z")
        #expect(S3Signer.timestamp(Date(timeIntervalSince1970: 1_369_353_600)) == "20130524T000000Z")
        #expect(S3Signer.timestamp(Date(timeIntervalSince1970: 951_782_400)) == "20000229T000000Z")
        #expect(S3Signer.timestamp(Date(timeIntervalSince1970: 4_102_444_799)) == "20991231T235959Z")
        #expect(S3Signer.timestamp(Date(timeIntervalSince1970: 1_709_251_199.9)) == "20240229T235959Z")
    }
}

// MARK: - settings, addressing, XML (no server)

@Suite("S3 snapshot store settings and addressing")
struct S3SnapshotStoreSettingsTests {
    static func settings(_ endpoint: String = "https://s3.eu-west-1.amazonaws.com", bucket: String = "examplebucket",
                         addressing: S3SnapshotStore.AddressingStyle = .path, prefix: String = "balctl") -> S3SnapshotStore.Settings {
        .init(endpoint: endpoint, region: "eu-west-1", bucket: bucket, keyPrefix: prefix, addressing: addressing,
              accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "secret")
    }
    static let location = SnapshotLocation(accountID: 3, memberID: 17, snapshotID: String(repeating: "ab", count: 16))

    /// Virtual-host style cannot be exercised against moto here: the bucket's host name
    /// (balctl-snapshots.localhost) is not a loopback name by URLPolicy's exact rule, so plain
    /// http to it is refused, as it should be. The URL and signed host are checked instead.
    @Test("virtual-host and path style URLs")
    func urls() throws {
        let key = "balctl/3/17/\(String(repeating: "ab", count: 16))/data-000000"
        let virtual = try S3SnapshotStore(settings: Self.settings(addressing: .virtualHost))
        #expect(virtual.key(.data(0), at: Self.location) == key)
        #expect(virtual.url(forKey: key) == "https://examplebucket.s3.eu-west-1.amazonaws.com/\(key)")
        #expect(virtual.authority == "examplebucket.s3.eu-west-1.amazonaws.com")
        #expect(virtual.url(forKey: nil, query: [("list-type", "2"), ("prefix", "balctl/3/")])
                == "https://examplebucket.s3.eu-west-1.amazonaws.com/?list-type=2&prefix=balctl%2F3%2F")
        let path = try S3SnapshotStore(settings: Self.settings())
        #expect(path.url(forKey: key) == "https://s3.eu-west-1.amazonaws.com/examplebucket/\(key)")
        #expect(path.authority == "s3.eu-west-1.amazonaws.com")
        // A non-default port stays in the authority (and so in the signed host header); 443 does not.
        #expect(try S3SnapshotStore(settings: Self.settings("https://minio.example:9000/")).authority == "minio.example:9000")
        #expect(try S3SnapshotStore(settings: Self.settings("https://minio.example:443")).authority == "minio.example")
        #expect(try S3SnapshotStore(settings: Self.settings(prefix: "")).key(.manifest(2), at: Self.location)
                == "3/17/\(String(repeating: "ab", count: 16))/manifest-000002")
    }

    @Test("settings are validated with clear messages", arguments: [
        (settings(bucket: "Bad_Bucket"), "lowercase"),
        (settings(bucket: "ab"), "3 to 63"),
        (settings(bucket: "192.168.1.1"), "IP address"),
        (settings(bucket: "a..b"), "adjacent"),
        (settings(bucket: "-abc"), "begin and end"),
        (settings("https://s3.example/some/path"), "has a path"),
        (settings("ftp://s3.example"), "https://"),
        (settings("https://key:secret@s3.example"), "user info"),
        (settings("http://s3.example.com"), "loopback"),
        (settings("http://127.0.0.1:9000", addressing: .virtualHost), "DNS name"),
        (settings("http://localhost:9000", addressing: .virtualHost), "loopback"),
        (settings(bucket: "my.bucket", addressing: .virtualHost), "certificate"),
        (settings(prefix: "a//b"), "segment"),
        (settings(prefix: "a/../b"), "segment"),
    ])
    func validation(_ s: S3SnapshotStore.Settings, _ expected: String) {
        #expect {
            _ = try S3SnapshotStore(settings: s)
        } throws: { error in
            guard let e = error as? SnapshotStoreError else { return false }
            return e.kind == .refused && e.message.contains(expected)
        }
    }

    @Test("region, chunk size and keys are checked")
    func moreValidation() {
        var s = Self.settings()
        s.region = ""
        #expect(throws: SnapshotStoreError.self) { _ = try S3SnapshotStore(settings: s) }
        s = Self.settings()
        s.multipartChunkSize = 4 << 20
        #expect { _ = try S3SnapshotStore(settings: s) } throws: { ($0 as? SnapshotStoreError)?.message.contains("5 MiB") == true }
        s = Self.settings()
        s.secretAccessKey = ""
        #expect(throws: SnapshotStoreError.self) { _ = try S3SnapshotStore(settings: s) }
        // The description never carries the secret.
        s = Self.settings()
        s.secretAccessKey = "TOPSECRET"
        #expect(!s.description.contains("TOPSECRET"))
    }

    @Test("BALCTL_S3_* environment")
    func environment() throws {
        #expect(try S3SnapshotStore.settings(fromEnvironment: [:]) == nil)
        #expect(try S3SnapshotStore.settings(fromEnvironment: ["BALCTL_S3_BUCKET": ""]) == nil)
        let aws = try #require(try S3SnapshotStore.settings(fromEnvironment: [
            "BALCTL_S3_BUCKET": "snaps", "BALCTL_S3_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "AKIDFALLBACK", "AWS_SECRET_ACCESS_KEY": "fallback-secret",
        ]))
        #expect(aws.endpoint == "https://s3.eu-west-1.amazonaws.com")
        #expect(aws.addressing == .virtualHost)
        #expect(aws.accessKeyID == "AKIDFALLBACK" && aws.secretAccessKey == "fallback-secret")
        let minio = try #require(try S3SnapshotStore.settings(fromEnvironment: [
            "BALCTL_S3_BUCKET": "snaps", "BALCTL_S3_ENDPOINT": "http://127.0.0.1:9000", "BALCTL_S3_PREFIX": "balctl/",
            "BALCTL_S3_ACCESS_KEY_ID": "own", "BALCTL_S3_SECRET_ACCESS_KEY": "own-secret",
            "AWS_ACCESS_KEY_ID": "ignored", "AWS_SECRET_ACCESS_KEY": "ignored",
        ]))
        #expect(minio.addressing == .path && minio.region == "us-east-1" && minio.keyPrefix == "balctl/")
        #expect(minio.accessKeyID == "own" && minio.secretAccessKey == "own-secret")
        let virtual = try S3SnapshotStore.settings(fromEnvironment: [
            "BALCTL_S3_BUCKET": "snaps", "BALCTL_S3_ADDRESSING": "virtual",
            "BALCTL_S3_ACCESS_KEY_ID": "k", "BALCTL_S3_SECRET_ACCESS_KEY": "s",
        ])
        #expect(virtual?.addressing == .virtualHost)
        #expect { try S3SnapshotStore.settings(fromEnvironment: ["BALCTL_S3_BUCKET": "snaps", "BALCTL_S3_ACCESS_KEY_ID": "k"]) }
            throws: { ($0 as? SnapshotStoreError)?.message.contains("BALCTL_S3_SECRET_ACCESS_KEY") == true }
        #expect { try S3SnapshotStore.settings(fromEnvironment: [
            "BALCTL_S3_BUCKET": "snaps", "BALCTL_S3_ADDRESSING": "sideways",
            "BALCTL_S3_ACCESS_KEY_ID": "k", "BALCTL_S3_SECRET_ACCESS_KEY": "s"]) }
            throws: { ($0 as? SnapshotStoreError)?.message.contains("path or virtual") == true }
    }

    @Test("the XML scanner reads S3's answers and always ends")
    func xml() {
        let list = Array("""
            <?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name><IsTruncated>true</IsTruncated>\
            <Contents><Key>a/1</Key></Contents><Contents><Key>a/&lt;2&amp;&#x41;&#66;</Key></Contents>\
            <NextContinuationToken>tok/+=</NextContinuationToken></ListBucketResult>
            """.utf8)
        #expect(S3XML.all("Key", in: list) == ["a/1", "a/<2&AB"])
        #expect(S3XML.first("IsTruncated", in: list) == "true")
        #expect(S3XML.first("NextContinuationToken", in: list) == "tok/+=")
        #expect(S3XML.first("UploadId", in: list) == nil)
        // Unterminated, nested and empty inputs end without a value or with the prefix's value.
        #expect(S3XML.all("Key", in: Array("<Key>unterminated".utf8)).isEmpty)
        #expect(S3XML.all("Key", in: Array("<Key><Key>x</Key></Key>".utf8)) == ["<Key>x"])
        #expect(S3XML.all("Key", in: []).isEmpty)
        #expect(S3XML.all("Key", in: Array("<Key></Key><Key></Key>".utf8)) == ["", ""])
        #expect(S3XML.unescape(ArraySlice("a&bogus;b&".utf8)) == "a&bogus;b&")
        #expect(S3XML.escape("<\"a&b'>") == "&lt;&quot;a&amp;b&apos;&gt;")
        // A large hostile body of repeated opening tags: linear, bounded.
        let hostile = [UInt8](repeating: 0, count: 0) + Array(String(repeating: "<Key>", count: 200_000).utf8)
        #expect(S3XML.all("Key", in: hostile).isEmpty)
    }
}

// MARK: - the store contract, on the filesystem and on S3 (moto)

/// Helpers of the contract tests, in a namespace of their own (other snapshot tests share the module).
enum S3Fixture {
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case filesystem, s3
    var testDescription: String { rawValue }
}

/// A store of the given kind, emptied afterwards: a fresh directory, or a fresh key prefix in
/// moto's bucket (so one test's listing never sees another's keys).
static func withStore<T>(_ kind: StoreKind, chunk: Int = 8 << 20, pageSize: Int? = nil,
                  _ body: (any SnapshotStore, String) async throws -> T) async throws -> T {
    switch kind {
    case .filesystem:
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-snap-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        return try await body(try FilesystemSnapshotStore(root: root), "")
    case .s3:
        let moto = try MotoServer.shared()
        let prefix = "t-\(UUID().uuidString.prefix(8).lowercased())/"
        var store = try S3SnapshotStore(settings: .init(
            endpoint: moto.endpoint, region: MotoServer.region, bucket: MotoServer.bucket, keyPrefix: prefix,
            accessKeyID: moto.accessKeyID, secretAccessKey: moto.secretAccessKey,
            multipartThreshold: chunk, multipartChunkSize: chunk, timeout: 60))
        if let pageSize { store.listPageSize = pageSize }
        return try await body(store, prefix)
    }
}

static func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var g = SplitMix64(seed: seed)
    var out = [UInt8]()
    out.reserveCapacity(count + 8)
    while out.count < count { withUnsafeBytes(of: g.next()) { out += $0 } }
    return Array(out.prefix(count))
}

static func newLocation(member: Int64 = 17) -> SnapshotLocation {
    SnapshotLocation(accountID: 3, memberID: member,
                     snapshotID: randomBytes(16, seed: UInt64.random(in: 0...UInt64.max)).map { String(format: "%02x", $0) }.joined())
}
}

@Suite("S3 snapshot store against moto (and the filesystem store, same contract)", .serialized, .motoServer)
struct S3SnapshotStoreTests {
    @Test("put and get round-trip small objects", arguments: S3Fixture.StoreKind.allCases)
    func smallRoundTrip(_ kind: S3Fixture.StoreKind) async throws {
        try await S3Fixture.withStore(kind) { store, _ in
            let loc = S3Fixture.newLocation()
            let objects: [(SnapshotObject, [UInt8])] = [
                (.data(0), []), (.data(1), [42]), (.data(2), S3Fixture.randomBytes(1 << 20, seed: 2)), (.manifest(0), Array("{}".utf8)),
            ]
            for (o, b) in objects { try await store.put(o, at: loc, bytes: b) }
            for (o, b) in objects { #expect(try await store.get(o, at: loc) == b, "\(o)") }
            // A put replaces.
            try await store.put(.data(1), at: loc, bytes: [1, 2, 3])
            #expect(try await store.get(.data(1), at: loc) == [1, 2, 3])
        }
    }

    @Test("a 20 MiB object in 8 MiB parts round-trips", arguments: S3Fixture.StoreKind.allCases)
    func largeRoundTrip(_ kind: S3Fixture.StoreKind) async throws {
        try await S3Fixture.withStore(kind) { store, _ in
            let loc = S3Fixture.newLocation()
            let bytes = S3Fixture.randomBytes(20 << 20, seed: 20)
            try await store.put(.data(7), at: loc, bytes: bytes)
            let back = try await store.get(.data(7), at: loc)
            #expect(back.count == bytes.count)
            #expect(back == bytes)
        }
    }

    @Test("a missing object is .notFound", arguments: S3Fixture.StoreKind.allCases)
    func missing(_ kind: S3Fixture.StoreKind) async throws {
        try await S3Fixture.withStore(kind) { store, _ in
            let loc = S3Fixture.newLocation()
            await #expect { try await store.get(.data(0), at: loc) } throws: { ($0 as? SnapshotStoreError)?.kind == .notFound }
            try await store.put(.data(0), at: loc, bytes: [1])
            await #expect { try await store.get(.data(1), at: loc) } throws: { ($0 as? SnapshotStoreError)?.kind == .notFound }
        }
    }

    @Test("versioned parts: each version is its own object; delete removes one and leaves its siblings; deleting a missing one is fine",
          arguments: S3Fixture.StoreKind.allCases)
    func versionsAndDelete(_ kind: S3Fixture.StoreKind) async throws {
        try await S3Fixture.withStore(kind) { store, _ in
            let loc = S3Fixture.newLocation()
            let v1 = SnapshotObject.part(kind: "data", index: 0, version: SnapshotObject.newVersion())
            let v2 = SnapshotObject.part(kind: "data", index: 0, version: SnapshotObject.newVersion())
            try await store.put(v1, at: loc, bytes: [1])
            try await store.put(v2, at: loc, bytes: [2])
            try await store.put(.data(0), at: loc, bytes: [3])
            #expect(try await store.get(v1, at: loc) == [1])
            #expect(try await store.get(v2, at: loc) == [2])
            #expect(try await store.get(.data(0), at: loc) == [3])
            try await store.delete(v1, at: loc)
            await #expect { try await store.get(v1, at: loc) } throws: { ($0 as? SnapshotStoreError)?.kind == .notFound }
            #expect(try await store.get(v2, at: loc) == [2])
            #expect(try await store.get(.data(0), at: loc) == [3])
            try await store.delete(v1, at: loc)
            try await store.delete(.manifest(5), at: S3Fixture.newLocation())
            try await store.deleteAll(at: loc)
            await #expect { try await store.get(v2, at: loc) } throws: { ($0 as? SnapshotStoreError)?.kind == .notFound }
        }
    }

    @Test("deleteAll removes that snapshot only", arguments: S3Fixture.StoreKind.allCases)
    func deleteAll(_ kind: S3Fixture.StoreKind) async throws {
        // Page size 2: five objects take three ListObjectsV2 pages (continuation tokens followed).
        try await S3Fixture.withStore(kind, pageSize: 2) { store, _ in
            let gone = S3Fixture.newLocation(), kept = S3Fixture.newLocation(), otherMember = S3Fixture.newLocation(member: 18)
            for i in 0..<4 { try await store.put(.data(i), at: gone, bytes: [UInt8(i)]) }
            try await store.put(.manifest(0), at: gone, bytes: [9])
            for loc in [kept, otherMember] {
                try await store.put(.data(0), at: loc, bytes: [7])
                try await store.put(.manifest(0), at: loc, bytes: [8])
            }
            try await store.deleteAll(at: gone)
            for o in [SnapshotObject.data(0), .data(3), .manifest(0)] {
                await #expect { try await store.get(o, at: gone) } throws: { ($0 as? SnapshotStoreError)?.kind == .notFound }
            }
            for loc in [kept, otherMember] {
                #expect(try await store.get(.data(0), at: loc) == [7])
                #expect(try await store.get(.manifest(0), at: loc) == [8])
            }
            // Twice, and for a snapshot that never existed: not an error.
            try await store.deleteAll(at: gone)
            try await store.deleteAll(at: S3Fixture.newLocation())
        }
    }

    // MARK: S3 only, checked with boto3

    static let sha256OfObject = """
        import boto3, hashlib, sys
        o = boto3.client("s3").get_object(Bucket=sys.argv[1], Key=sys.argv[2])
        print(hashlib.sha256(o["Body"].read()).hexdigest())
        print(o["ETag"])
        """

    @Test("boto3 reads back what balctl wrote, single PUT and multipart, and no upload is left open")
    func boto3ReadsBack() async throws {
        let moto = try MotoServer.shared()
        try await S3Fixture.withStore(.s3) { store, _ in
            let s3 = try #require(store as? S3SnapshotStore)
            let loc = S3Fixture.newLocation()
            let small = S3Fixture.randomBytes(100_000, seed: 5), large = S3Fixture.randomBytes(20 << 20, seed: 6)
            try await store.put(.data(0), at: loc, bytes: small)
            try await store.put(.data(1), at: loc, bytes: large)
            for (object, bytes, parts) in [(SnapshotObject.data(0), small, 0), (.data(1), large, 3)] {
                let r = try moto.boto3(Self.sha256OfObject, [MotoServer.bucket, s3.key(object, at: loc)])
                try #require(r.status == 0, "\(r.err)")
                let lines = r.out.split(separator: "\n").map(String.init)
                #expect(lines.first == S3Signer.payloadHash(bytes), "\(object)")
                // A multipart object's ETag ends in -<number of parts>: 20 MiB in 8 MiB parts is 3.
                if parts > 0 { #expect(lines.last?.hasSuffix("-\(parts)\"") == true, "\(lines)") }
                else { #expect(lines.last?.contains("-") == false, "\(lines)") }
            }
            let open = try moto.boto3("""
                import boto3, sys
                print(len(boto3.client("s3").list_multipart_uploads(Bucket=sys.argv[1]).get("Uploads", [])))
                """, [MotoServer.bucket])
            #expect(open.out.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "\(open.err)")
        }
    }

    @Test("after deleteAll boto3 lists exactly the other snapshots' keys")
    func boto3ListsAfterDelete() async throws {
        let moto = try MotoServer.shared()
        try await S3Fixture.withStore(.s3, pageSize: 2) { store, prefix in
            let s3 = try #require(store as? S3SnapshotStore)
            let gone = S3Fixture.newLocation(), kept = S3Fixture.newLocation()
            for i in 0..<5 { try await store.put(.data(i), at: gone, bytes: [1]) }
            for i in 0..<2 { try await store.put(.data(i), at: kept, bytes: [2]) }
            try await store.put(.manifest(0), at: kept, bytes: [3])
            try await store.deleteAll(at: gone)
            let r = try moto.boto3("""
                import boto3, sys
                for page in boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=sys.argv[1], Prefix=sys.argv[2]):
                    for o in page.get("Contents", []): print(o["Key"])
                """, [MotoServer.bucket, prefix])
            try #require(r.status == 0, "\(r.err)")
            let listed = r.out.split(separator: "\n").map(String.init).sorted()
            let expected = [SnapshotObject.data(0), .data(1), .manifest(0)].map { s3.key($0, at: kept) }.sorted()
            #expect(listed == expected)
        }
    }

    @Test("boto3 writes, balctl reads (an object balctl did not write)")
    func readsBoto3Object() async throws {
        let moto = try MotoServer.shared()
        try await S3Fixture.withStore(.s3) { store, _ in
            let s3 = try #require(store as? S3SnapshotStore)
            let loc = S3Fixture.newLocation()
            let r = try moto.boto3("""
                import boto3, sys
                boto3.client("s3").put_object(Bucket=sys.argv[1], Key=sys.argv[2], Body=b"written by boto3")
                """, [MotoServer.bucket, s3.key(.manifest(4), at: loc)])
            try #require(r.status == 0, "\(r.err)")
            #expect(try await store.get(.manifest(4), at: loc) == Array("written by boto3".utf8))
        }
    }

    @Test("a wrong secret key is refused with S3's reason")
    func wrongSecret() async throws {
        let moto = try MotoServer.shared()
        let store = try S3SnapshotStore(settings: .init(
            endpoint: moto.endpoint, region: MotoServer.region, bucket: MotoServer.bucket,
            accessKeyID: moto.accessKeyID, secretAccessKey: "not-the-secret", timeout: 30))
        let loc = S3Fixture.newLocation()
        for attempt in 0..<3 {
            do throws(SnapshotStoreError) {
                switch attempt {
                case 0: try await store.put(.data(0), at: loc, bytes: [1])
                case 1: _ = try await store.get(.data(0), at: loc)
                default: try await store.deleteAll(at: loc)
                }
                Issue.record("request \(attempt) with a wrong secret succeeded")
            } catch {
                #expect(error.kind == .refused, "\(error)")
                #expect(error.message.contains("SignatureDoesNotMatch"), "\(error)")
                #expect(error.message.contains("secret access key"), "\(error)")
                #expect(!error.message.contains("not-the-secret"))
            }
        }
        // An unknown access key ID: refused too, and named.
        let stranger = try S3SnapshotStore(settings: .init(
            endpoint: moto.endpoint, region: MotoServer.region, bucket: MotoServer.bucket,
            accessKeyID: "AKIANOTKNOWNTOMOTO00", secretAccessKey: "x", timeout: 30))
        await #expect { try await stranger.put(.data(0), at: loc, bytes: [1]) } throws: {
            guard let e = $0 as? SnapshotStoreError else { return false }
            return e.kind == .refused && e.message.contains("InvalidAccessKeyId")
        }
    }

    @Test("a missing bucket is .unavailable with NoSuchBucket, not a missing object")
    func missingBucket() async throws {
        let moto = try MotoServer.shared()
        let store = try S3SnapshotStore(settings: .init(
            endpoint: moto.endpoint, region: MotoServer.region, bucket: "balctl-no-such-bucket",
            accessKeyID: moto.accessKeyID, secretAccessKey: moto.secretAccessKey, timeout: 30))
        await #expect { _ = try await store.get(.data(0), at: S3Fixture.newLocation()) } throws: {
            guard let e = $0 as? SnapshotStoreError else { return false }
            return e.kind == .unavailable && e.message.contains("NoSuchBucket")
        }
        await #expect { try await store.put(.data(0), at: S3Fixture.newLocation(), bytes: S3Fixture.randomBytes(9 << 20, seed: 1)) } throws: {
            ($0 as? SnapshotStoreError)?.message.contains("NoSuchBucket") == true
        }
    }

    @Test("a server that does not answer is .unavailable")
    func unreachable() async throws {
        let port = try Loopback.freePort()  // nothing listens there
        let store = try S3SnapshotStore(settings: .init(
            endpoint: "http://127.0.0.1:\(port)", region: "us-east-1", bucket: "b-u-c", accessKeyID: "k", secretAccessKey: "s",
            timeout: 5))
        await #expect { _ = try await store.get(.data(0), at: S3Fixture.newLocation()) } throws: {
            ($0 as? SnapshotStoreError)?.kind == .unavailable
        }
    }
}
