import AgentKernel
import BalctlProtocol
import Foundation
import HostPlugin
import Synchronization
import Testing
import TestSupport

/// The heartbeat's `stacks.host` facts: checks run by the plugin's periodic work when due,
/// the probe only returns the last results.
@Suite("host facts (heartbeat)")
struct HostFactsTests {
    static let sim = "-s -q -o Debug::NoLocking=1 --with-new-pkgs upgrade"

    final class Clock: Sendable {
        let t = Mutex<Double>(1000)
        func advance(_ s: Double) { t.withLock { $0 += s } }
        var now: Double { t.withLock { $0 } }
    }

    func facts(_ f: PackageFakes, clock: Clock, certPaths: String? = nil) -> HostFacts {
        var s = HostFacts.Settings()
        s.tools = f.tools
        s.monotonic = { clock.now }
        s.now = { TestCertificate.notAfter - 10 * 86_400 - 3600 }
        if let certPaths { s.setCertificatePaths(certPaths) }
        return HostFacts(settings: s)
    }

    func size(_ v: JSONValue) throws -> Int { try JSONEncoder().encode(v).count }

    @Test("updates: none before the first delay; then pending/security/manager/rebootRequired/checkedAt; at most hourly; again right after an install")
    func updates() async throws {
        let f = try PackageFakes(["apt-get": [Self.sim: .init(output: UpdateFixtures.apt)]])
        let clock = Clock()
        let h = facts(f, clock: clock)
        #expect(h.probe() == nil)
        await h.refresh()
        #expect(h.probe() == nil && f.calls == "", "nothing runs in the first minute after the start")
        clock.advance(61)
        await h.refresh()
        let u = try #require(h.probe()?["updates"])
        #expect(u["pending"] == .number(3) && u["security"] == .number(2) && u["manager"] == .string("apt")
                && u["rebootRequired"] == .bool(false))
        #expect(u["checkedAt"]?.stringValue?.hasSuffix("Z") == true)
        #expect(try size(h.probe()!) < 512)
        // The heartbeat reads the probe as often as it likes: no program runs.
        for _ in 0..<100 { _ = h.probe() }
        clock.advance(3599)
        await h.refresh()
        #expect(f.calls == "apt-get \(Self.sim)\n")
        clock.advance(1)
        await h.refresh()
        #expect(f.calls == "apt-get \(Self.sim)\n".repeated(2))
        // During an install nothing is checked; after it, at the next refresh.
        h.installing(true)
        clock.advance(7200)
        await h.refresh()
        #expect(f.calls == "apt-get \(Self.sim)\n".repeated(2))
        h.installing(false)
        await h.refresh()
        #expect(f.calls == "apt-get \(Self.sim)\n".repeated(3))
    }

    @Test("updates: a failing check is reported with its error; no package tool: no updates fact")
    func updatesFailure() async throws {
        let f = try PackageFakes(["apt-get": [Self.sim: .init(output: "E: broken\n", code: 100)]])
        let clock = Clock()
        let h = facts(f, clock: clock)
        clock.advance(61)
        await h.refresh()
        #expect(h.probe()?["updates"]?["error"] == .string("apt-get -s upgrade failed with exit code 100"), "\(String(describing: h.probe()))")
        let none = facts(try PackageFakes([:]), clock: clock)
        clock.advance(61)
        await none.refresh()
        #expect(none.probe() == nil)
    }

    @Test("certificates from BALCTL_CERT_PATHS: soonest, within 30 days, daily")
    func certificates() async throws {
        let dir = tempDir()
        try TestCertificate.pem.write(toFile: dir + "/site.pem", atomically: true, encoding: .utf8)
        try "not a certificate".write(toFile: dir + "/junk.pem", atomically: true, encoding: .utf8)
        let f = try PackageFakes([:])
        let clock = Clock()
        let h = facts(f, clock: clock, certPaths: " \(dir)/site.pem, \(dir)/junk.pem,,")
        await h.refresh()
        let c = try #require(h.probe()?["certificates"])
        #expect(c["soonestDays"] == .number(10) && c["soonestPath"] == .string(dir + "/site.pem"))
        #expect(c["expiringWithin30Days"] == .number(1) && c["count"] == .number(1) && c["unreadable"] == .number(1))
        #expect(c["soonestNotAfter"] == .number(TestCertificate.notAfter))
        #expect(try size(h.probe()!) < 512)
        // Read again only a day later: a removed file shows then, not before.
        try FileManager.default.removeItem(atPath: dir + "/site.pem")
        clock.advance(86_399)
        await h.refresh()
        #expect(h.probe()?["certificates"]?["count"] == .number(1))
        clock.advance(1)
        await h.refresh()
        #expect(h.probe()?["certificates"]?["count"] == .number(0) && h.probe()?["certificates"]?["unreadable"] == .number(2))
    }

    @Test("BALCTL_CERT_PATHS is validated like host.cert_expiry's paths; a bad value is the fact's error, nothing is read")
    func certificatePathsRefused() async throws {
        for bad in ["relative/x.pem", "/etc/$(id).pem", "/etc/../shadow", "/etc/-rf", "/etc/a b.pem", "/a\n/b"] {
            var s = HostFacts.Settings()
            s.setCertificatePaths(bad)
            #expect(s.certificatePaths.isEmpty && s.certificatePathsError?.hasPrefix("BALCTL_CERT_PATHS: '") == true,
                    "\(bad): \(s.certificatePathsError ?? "accepted")")
        }
        var many = HostFacts.Settings()
        many.setCertificatePaths((0...64).map { "/c/\($0).pem" }.joined(separator: ","))
        #expect(many.certificatePathsError == "BALCTL_CERT_PATHS: at most 64")
        let h = facts(try PackageFakes([:]), clock: Clock(), certPaths: "/etc/ssl/x.pem,relative")
        await h.refresh()
        #expect(h.probe()?["certificates"]?["error"] == .string("BALCTL_CERT_PATHS: 'relative' is not an absolute path"))
        #expect(h.probe()?["certificates"]?["count"] == nil)
    }

    @Test("a long path is cut to its end so the entry stays small")
    func longPath() async throws {
        let dir = tempDir() + "/" + String(repeating: "d", count: 200) + "/" + String(repeating: "e", count: 200)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try TestCertificate.pem.write(toFile: dir + "/site.pem", atomically: true, encoding: .utf8)
        let h = facts(try PackageFakes([:]), clock: Clock(), certPaths: dir + "/site.pem")
        await h.refresh()
        let path = try #require(h.probe()?["certificates"]?["soonestPath"]?.stringValue)
        #expect(path.hasPrefix("…") && path.hasSuffix("eee/site.pem") && path.utf8.count <= 160)
        #expect(try size(h.probe()!) < 512)
    }

    @Test("the plugin: probe nil with nothing checked; periodic work declared; the install handler brackets the facts")
    func plugin() async throws {
        var s = HostFacts.Settings()
        s.tools = try PackageFakes([:]).tools
        let p = HostPlugin(facts: HostFacts(settings: s))
        #expect(await p.probe() == nil)
        #expect(p.periodicWork?.intervalSec == 60)
        #expect(p.handlers.map { type(of: $0).id }.contains("host.updates_install"))
    }
}

extension String {
    func repeated(_ n: Int) -> String { String(repeating: self, count: n) }
}
