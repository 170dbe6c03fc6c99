import BalctlProtocol
@testable import ControlPlane
import Crypto
import CurlClient
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import SQLEngine
import Testing
import TestSupport

/// Red team of commit 98ea811 (snapshot parts streamed while they are compressed), control-plane
/// side. Each test asserts the SAFE behaviour; the report says which fail before a fix.
/// S1…: findings; H…: attacked and held.
@Suite("Backups: red team, streamed parts", .timeLimit(.minutes(3)))
struct RedTeamStreamedPartTests {
    typealias Rig = BackupCatalogTests.Rig

    // MARK: catalog level (Backups.putPart with the filesystem store)

    /// Bytes of regular files under `dir` (recursively), as the kernel counts them.
    static func bytesOnDisk(_ dir: String) -> Int {
        guard let e = FileManager.default.enumerator(atPath: dir) else { return 0 }
        var total = 0
        while let name = e.nextObject() as? String {
            let attrs = try? FileManager.default.attributesOfItem(atPath: dir + "/" + name)
            if attrs?[.type] as? FileAttributeType == .typeRegular { total += (attrs?[.size] as? Int) ?? 0 }
        }
        return total
    }

    static func files(_ dir: String) -> [String] {
        guard let e = FileManager.default.enumerator(atPath: dir) else { return [] }
        var out: [String] = []
        while let name = e.nextObject() as? String {
            if (try? FileManager.default.attributesOfItem(atPath: dir + "/" + name))?[.type] as? FileAttributeType == .typeRegular { out.append(name) }
        }
        return out.sorted()
    }

    /// `count` chunks of `size` bytes; `onChunk(n)` runs before the n-th (0-based) is handed over.
    static func chunks(_ count: Int, size: Int, onChunk: @escaping (Int) async throws -> Void = { _ in }) -> () async throws -> ByteBuffer? {
        var n = 0
        return {
            guard n < count else { return nil }
            try await onChunk(n)
            defer { n += 1 }
            return ByteBuffer(bytes: [UInt8](repeating: UInt8(truncatingIfNeeded: n), count: size))
        }
    }

    /// S1. The quota is checked before the upload only as "is there one byte of room", and the
    /// real size only after the whole part is on disk: with 10 bytes of quota left, a member's
    /// agent writes up to 64 MiB to the store's disk per part upload before it is refused.
    @Test("S1: a streamed part with 10 bytes of quota left does not write megabytes to the store before it is refused")
    func s1QuotaRoomBoundsTheStream() async throws {
        let r = try await Rig()
        _ = try await r.snapshot()
        let used = try await r.backups.quota(account: nil, by: r.f.admin).usedBytes
        _ = try await r.backups.setQuota(account: r.f.admin.accountID, SetBackupQuotaRequest(quotaBytes: used + 10), by: r.f.admin)
        let job = try await r.runningBackup()
        let begun = try await r.backups.begin(SnapshotBeginRequest(jobId: job.id, attempt: job.attempt, scope: "paths"), member: r.agent)
        let root = r.f.dir.appendingPathComponent("snapshots").path
        let before = Self.bytesOnDisk(root)
        var peak = 0
        let next = Self.chunks(8, size: 1 << 20) { _ in peak = max(peak, Self.bytesOnDisk(root) - before) }
        let refused = await cpError { _ = try await r.backups.putPart(begun.snapshotId, kind: "data", index: 0, sha256: nil, member: r.agent, chunks: { try await next() }) }
        #expect(refused?.kind == .insufficientStorage)
        #expect(Self.bytesOnDisk(root) == before, "the refused part's file is gone")
        #expect(peak <= 10, "with 10 bytes of quota left, \(peak) bytes of the part were written to the store before the refusal")
    }

    /// S1b. The same, in parallel: N uploads of one member each pass the "one byte of room" check
    /// and all write to the store at once (the catalog stays within the quota — held — but the
    /// disk does not). A per-upload bound (S1's fix) caps it at N × the room left.
    @Test("S1b: parallel streamed parts with 1 MiB of quota left hold at most N × 1 MiB on disk")
    func s1bParallelStreamsOnDisk() async throws {
        let r = try await Rig()
        _ = try await r.snapshot()
        let used = try await r.backups.quota(account: nil, by: r.f.admin).usedBytes
        let room = 1 << 20
        _ = try await r.backups.setQuota(account: r.f.admin.accountID, SetBackupQuotaRequest(quotaBytes: used + Int64(room)), by: r.f.admin)
        let job = try await r.runningBackup()
        let begun = try await r.backups.begin(SnapshotBeginRequest(jobId: job.id, attempt: job.attempt, scope: "paths"), member: r.agent)
        let root = r.f.dir.appendingPathComponent("snapshots").path
        let before = Self.bytesOnDisk(root)
        let streams = 4
        final class Peak: @unchecked Sendable { let lock = NSLock(); var value = 0 }
        let peak = Peak()
        let backups = r.backups, agent = r.agent, id = begun.snapshotId
        let results = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<streams {
                group.addTask {
                    let next = Self.chunks(6, size: 1 << 20) { n in
                        if n == 5 { try await Task.sleep(for: .milliseconds(300)) }  // all streams in flight together
                        let now = Self.bytesOnDisk(root) - before
                        peak.lock.withLock { peak.value = max(peak.value, now) }
                    }
                    return (try? await backups.putPart(id, kind: "data", index: i, sha256: nil, member: agent, chunks: { try await next() })) != nil
                }
            }
            var ok = 0
            for await r in group where r { ok += 1 }
            return ok
        }
        #expect(results == 0, "no 6 MiB part fits in 1 MiB of quota")
        let quota = try await r.backups.quota(account: nil, by: r.f.admin)
        #expect(quota.usedBytes <= quota.quotaBytes!, "held: the catalog stays within the quota")
        #expect(Self.bytesOnDisk(root) == before, "every refused part's file is gone")
        #expect(peak.value <= streams * room, "\(streams) parallel streams with \(room) bytes of quota left held \(peak.value) bytes on the store's disk")
    }

    /// H1. A stream that ends with an error (the connection broke) or is cancelled leaves no file
    /// and no catalog row.
    @Test("H1: a stream broken or cancelled midway leaves no file and no part")
    func h1BrokenStreamLeavesNothing() async throws {
        let r = try await Rig()
        let job = try await r.runningBackup()
        let begun = try await r.backups.begin(SnapshotBeginRequest(jobId: job.id, attempt: job.attempt, scope: "paths"), member: r.agent)
        let root = r.f.dir.appendingPathComponent("snapshots").path
        struct Broken: Error {}
        let broken = Self.chunks(5, size: 1 << 20) { n in if n == 3 { throw Broken() } }
        do {
            _ = try await r.backups.putPart(begun.snapshotId, kind: "data", index: 0, sha256: nil, member: r.agent, chunks: { try await broken() })
            Issue.record("a broken stream was stored")
        } catch let e as ControlPlaneError {
            // A body that broke off is the client's doing: 400, not an internal error.
            #expect(e.kind == .badRequest && e.message.contains("broke off"), "\(e)")
        }
        #expect(Self.files(root).isEmpty, "\(Self.files(root))")

        let backups = r.backups, agent = r.agent, id = begun.snapshotId
        let task = Task {
            let slow = Self.chunks(5, size: 1 << 20) { n in if n == 3 { try await Task.sleep(for: .seconds(30)) } }
            _ = try await backups.putPart(id, kind: "data", index: 0, sha256: nil, member: agent, chunks: { try await slow() })
        }
        try await Task.sleep(for: .milliseconds(300))
        task.cancel()
        _ = await task.result
        #expect(Self.files(root).isEmpty, "\(Self.files(root))")
        let again = try await r.backups.begin(SnapshotBeginRequest(jobId: job.id, attempt: job.attempt, scope: "paths"), member: r.agent)
        #expect(again.data.isEmpty)
    }

    /// H2. The snapshot is reaped (its job failed) while a part streams: the upload is refused
    /// at the end and its file removed.
    @Test("H2: a part still streaming when its snapshot is reaped leaves no file")
    func h2ReapedWhileStreaming() async throws {
        let r = try await Rig()
        let job = try await r.runningBackup(maxAttempts: 1)
        let begun = try await r.backups.begin(SnapshotBeginRequest(jobId: job.id, attempt: job.attempt, scope: "paths"), member: r.agent)
        let root = r.f.dir.appendingPathComponent("snapshots").path
        let rig = r
        let next = Self.chunks(6, size: 1 << 20) { n in
            if n == 3 {
                _ = try await rig.f.store.recordCompletion(rig.f.completion(job, .failed, error: "x"), member: rig.member.member.id)
                #expect(try await rig.backups.reapAbandoned() == 1)
            }
        }
        let e = await cpError { _ = try await r.backups.putPart(begun.snapshotId, kind: "data", index: 0, sha256: nil, member: r.agent, chunks: { try await next() }) }
        #expect(e?.kind == .conflict)
        #expect(Self.files(root).isEmpty, "\(Self.files(root))")
    }

    // MARK: over a real socket (the routes, the slow-request guard, Hummingbird's body stream)

    final class Live: @unchecked Sendable {
        let dir: URL
        let server: ControlPlane
        let admin: Operator
        var member: MemberEnrollment!
        var other: MemberEnrollment!
        var snapshot = ""
        var location = ""
        static let ip = IPv4("127.0.0.1")!

        init(readTimeout: Int = 2, idleTimeout: Int = 60) async throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("balctl-redteam-stream-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            var config = ServerConfig(dataDir: dir.path)
            config.requestReadTimeoutSec = readTimeout
            config.idleTimeoutSec = idleTimeout
            server = try ControlPlane(config: config)
            let issued = try #require(try server.store.bootstrapAdminIfNeeded())
            admin = try #require(try await server.store.authenticateOperator(token: issued.token))
            let pool = try await server.store.createPool(CreatePoolRequest(name: "edge", template: .generic), by: admin)
            member = try await server.store.addMember(pool: pool.id, CreateMemberRequest(hostname: "web-1", allowedIPs: ["127.0.0.1"], family: .debian, role: nil),
                                                      publicURL: "https://cp.example", by: admin)
            other = try await server.store.addMember(pool: pool.id, CreateMemberRequest(hostname: "web-2", allowedIPs: ["127.0.0.1"], family: .debian, role: nil),
                                                     publicURL: "https://cp.example", by: admin)
            try await beat()
            let job = try await server.store.enqueue(member: member.member.id,
                                                     EnqueueJobRequest(command: "backup.create", params: .object(["scope": .string("paths"), "paths": .array([.string("/srv")])])),
                                                     catalogue: server.catalogue, policy: server.config.queue, by: admin)
            let claimed = try #require(try await beat().jobs.first { $0.id == job.id })
            snapshot = try await server.backups.begin(SnapshotBeginRequest(jobId: claimed.id, attempt: claimed.attempt, scope: "paths"), member: agent).snapshotId
            let account = try #require(try await server.store.db.read { try Int64.fetchOne($0, sql: "SELECT account_id FROM snapshots WHERE id = ?", arguments: [self.snapshot]) })
            location = dir.path + "/snapshots/\(account)/\(member.member.id)/\(snapshot)"
        }
        deinit { try? FileManager.default.removeItem(at: dir) }

        var agent: AgentIdentity { AgentIdentity(memberID: member.member.id, hostname: "web-1") }

        @discardableResult
        func beat() async throws -> HeartbeatOutcome {
            let agent = try await server.store.authenticateAgent(secret: member.enrollmentSecret, clientIP: Self.ip, hostname: "web-1")
            let report = HostReport(
                hostname: "web-1", agentVersion: "0.1.0",
                os: OSInfo(family: "debian", id: "debian", versionID: "12", prettyName: "Debian 12", kernel: "6.1.0"),
                uptimeSec: 100, load: [0, 0, 0], cpuPercent: 1, cpuCount: 2, memory: MemoryInfo(totalBytes: 1000, availableBytes: 250),
                disks: [], publicIPv4: nil, publicIPSource: nil, stacks: [:], commands: BackupCatalogTests.commands, jobsInFlight: [])
            let raw = String(decoding: try JSONEncoder().encode(report), as: UTF8.self)
            return try await server.heartbeats.record(agent, report: try HeartbeatEnvelope.read(raw), raw: raw, ip: Self.ip)
        }

        func storedParts() async throws -> [SnapshotPart] {
            try await server.store.db.read { try Backups.parts($0, self.snapshot, "data") }
        }
    }

    /// A plain TCP connection (loopback): the chunked PUT no HTTP library would send.
    final class Socket: @unchecked Sendable {
        let fd: Int32
        init(port: Int) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard rc == 0 else { close(fd); throw CocoaError(.fileReadUnknown) }
        }
        deinit { close(fd) }
        @discardableResult
        func write(_ bytes: [UInt8]) -> Bool {
            var done = 0
            while done < bytes.count {
                let n = bytes[done...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { return false }
                done += n
            }
            return true
        }
        @discardableResult
        func write(_ text: String) -> Bool { write(Array(text.utf8)) }
        /// One chunk of a chunked body.
        @discardableResult
        func chunk(_ bytes: [UInt8]) -> Bool { write(String(bytes.count, radix: 16) + "\r\n") && write(bytes) && write("\r\n") }
        func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }
        func reset() {
            var l = linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
            shutdown(fd, Int32(SHUT_RDWR))
        }
        /// What arrives within `timeout` s, and whether the server closed meanwhile.
        func read(timeout: Double) -> (text: String, closed: Bool) {
            var received: [UInt8] = []
            let deadline = Date().addingTimeInterval(timeout)
            var buffer = [UInt8](repeating: 0, count: 4096)
            while deadline.timeIntervalSinceNow > 0 {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, Int32(deadline.timeIntervalSinceNow * 1000) + 1) > 0 else { continue }
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n > 0 { received += buffer[0..<n]; continue }
                if n == 0 || errno == ECONNRESET { return (String(decoding: received, as: UTF8.self), true) }
                if errno != EINTR && errno != EAGAIN { break }
            }
            return (String(decoding: received, as: UTF8.self), false)
        }
        func head(_ path: String, secret: String, extra: String = "") -> Bool {
            write("PUT \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(secret)\r\nContent-Type: application/octet-stream\r\n\(extra)Transfer-Encoding: chunked\r\n\r\n")
        }
    }

    /// H9. An agent whose connection ends midway through a streamed part (no hash header: the
    /// agent's normal first try). Attacked: Hummingbird's body iterator treats an inbound stream
    /// that finishes without `.end` as the end, which would catalogue the truncated prefix. Held:
    /// NIO's decoder raises "stream ended at an unexpected time" first (logged as an internal
    /// error, answered 500 to nobody) — no part row, no file.
    @Test("H9: a streamed part whose connection ends midway (FIN, reset, server idle timeout) is neither catalogued nor left on disk",
          arguments: ["fin", "reset", "idle"])
    func h9TruncatedStreamIsNotCatalogued(_ how: String) async throws {
        let env = try await Live(readTimeout: 2, idleTimeout: how == "idle" ? 1 : 60)
        try await env.server.application().test(.live) { c in
            let port = try #require(c.port)
            let s = try Socket(port: port)
            #expect(s.head(SnapshotWire.partPath(env.snapshot, "data", 0), secret: env.member.enrollmentSecret))
            #expect(s.chunk([UInt8](repeating: 7, count: 300_000)))
            try await Task.sleep(for: .milliseconds(300))
            switch how {
            case "fin": s.shutdownWrite()
            case "reset": s.reset()
            default: try await Task.sleep(for: .seconds(2))  // the server's idle timeout (1 s) ends it
            }
            try await Task.sleep(for: .milliseconds(1500))
            let parts = try await env.storedParts()
            #expect(parts.isEmpty, "\(how): a 300000-byte prefix of an unfinished chunked body was catalogued as part 0: \(parts)")
            #expect(Self.files(env.location).isEmpty, "\(how): left in the store: \(Self.files(env.location))")
        }
    }

    /// H3. Who is not the snapshot's agent is answered from the headers and the connection
    /// closed: no 600 s part deadline for them (read timeout 2 s here).
    @Test("H3: a PUT under the part prefix with a bad bearer, another member's secret, a path that 404s or climbs with .. is closed within the read timeout")
    func h3RefusedPutsDoNotGetThePartDeadline() async throws {
        let env = try await Live(readTimeout: 2)
        try await env.server.application().test(.live) { c in
            let port = try #require(c.port)
            let good = SnapshotWire.partPath(env.snapshot, "data", 0)
            let cases: [(String, String, String)] = [
                ("bad bearer", good, String(repeating: "cd", count: 24)),
                ("malformed bearer", good, "x"),
                ("other member", good, env.other.enrollmentSecret),
                ("unknown snapshot", SnapshotWire.partPath(String(repeating: "0", count: 32), "data", 0), env.member.enrollmentSecret),
                ("bad kind", "/api/agents/snapshots/\(env.snapshot)/zzz/0", env.member.enrollmentSecret),
                ("no route", "/api/agents/snapshots/a/b/c/d/e", String(repeating: "cd", count: 24)),
                ("dot-dot", "/api/agents/snapshots/../../members/1", String(repeating: "cd", count: 24)),
                ("dot-dot to heartbeat", "/api/agents/snapshots/../heartbeat", env.member.enrollmentSecret),
            ]
            for (what, path, secret) in cases {
                let s = try Socket(port: port)
                let opened = Date()
                #expect(s.head(path, secret: secret))
                // Trickle one byte of body every 200 ms for up to 6 s.
                var closed = false
                var text = ""
                for _ in 0..<30 {
                    _ = s.chunk([1])
                    let r = s.read(timeout: 0.2)
                    text += r.text
                    if r.closed { closed = true; break }
                }
                let held = Date().timeIntervalSince(opened)
                #expect(closed && held < 4, "\(what): connection held \(held) s (closed: \(closed)); answer \(text.prefix(40).debugDescription)")
            }
        }
    }

    /// H4. A chunked body past 64 MiB is cut off at the limit (413) and leaves no file.
    @Test("H4: a chunked part past 64 MiB is refused with 413 and leaves no file")
    func h4OversizeChunked() async throws {
        let env = try await Live(readTimeout: 30)
        try await env.server.application().test(.live) { c in
            let port = try #require(c.port)
            let s = try Socket(port: port)
            #expect(s.head(SnapshotWire.partPath(env.snapshot, "data", 0), secret: env.member.enrollmentSecret))
            let block = [UInt8](repeating: 3, count: 1 << 20)
            var sent = 0
            while sent <= SnapshotWire.maxPartBytes, s.chunk(block) { sent += block.count }
            let (text, _) = s.read(timeout: 5)
            #expect(text.hasPrefix("HTTP/1.1 413") || text.isEmpty, "\(text.prefix(80).debugDescription)")
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await env.storedParts().isEmpty)
            #expect(Self.files(env.location).isEmpty, "\(Self.files(env.location))")
        }
    }

    /// H5. A refusal the control plane decides from the headers (quota already used up: 507; the
    /// snapshot no longer uploading: 409) comes while the agent is still streaming its part; the
    /// slow-request guard reads at most 64 KiB / 1 s more, then closes. Attacked: could the close
    /// reset the connection before libcurl reads the 507 (a transient error: the agent would
    /// retry whole for its window and end with a network error)? Held at a fast and a slow pace.
    @Test("H5: an agent streaming a part (libcurl, chunked, as the agent sends) gets the 507 a used-up quota answers, not a reset",
          arguments: [20_000, 1_500_000])
    func h5EarlyRefusalReachesAStreamingAgent(_ paceMicros: Int) async throws {
        let env = try await Live(readTimeout: 30)
        let small = [UInt8](repeating: 1, count: 100)
        _ = try await env.server.backups.putPart(env.snapshot, kind: "data", index: 0, bytes: small,
                                                 sha256: SHA256.hash(data: small).map { String(format: "%02x", $0) }.joined(), member: env.agent)
        _ = try await env.server.backups.setQuota(account: env.admin.accountID, SetBackupQuotaRequest(quotaBytes: 50), by: env.admin)
        try await env.server.application().test(.live) { c in
            let port = try #require(c.port)
            var options = CurlSession.Options(requireHTTPS: false)
            options.timeoutMs = 20_000
            let session = try CurlSession(options: options)
            let url = "http://127.0.0.1:\(port)" + SnapshotWire.partPath(env.snapshot, "data", 1)
            let secret = env.member.enrollmentSecret
            // The agent's writer: 64 KiB every 20 ms (a compressor's pace), 4 MiB in all.
            let outcome: Result<CurlClient.HTTPResponse, any Error> = await Task.detached {
                var sent = 0
                return Result {
                    try session.requestBlocking("PUT", url, headers: [("Authorization", "Bearer \(secret)"), ("Content-Type", "application/octet-stream")],
                                                streamingBody: { dst in
                                                    guard sent < (paceMicros > 100_000 ? 256 << 10 : 4 << 20) else { return 0 }
                                                    usleep(useconds_t(paceMicros))
                                                    let n = min(dst.count, 64 << 10)
                                                    memset(dst.baseAddress!, 9, n)
                                                    sent += n
                                                    return n
                                                })
                }
            }.value
            switch outcome {
            case .success(let r): #expect(r.status == 507, "\(r.status) \(r.text.prefix(200))")
            case .failure(let e): Issue.record("the agent saw a transport error instead of the 507: \(e)")
            }
        }
    }
}
