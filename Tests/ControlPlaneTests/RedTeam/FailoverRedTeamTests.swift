#if canImport(Glibc)
import Glibc
#endif
import BalctlProtocol
import CurlClient
@testable import ControlPlane
import Foundation
import SQLEngine
import Logging
import Synchronization
import Testing
import TestSupport

/// Red team, issue 12 (failover). Each test reproduces one finding: it FAILS on the code it was
/// written against and should pass once the finding is fixed.
@Suite("Red team: failover (issue 12)", .serialized, .storeEngines)
struct FailoverRedTeamTests {
    /// RT-12-1: `Store.checkProviderURL` (DNSProviderStore.swift) repeats the whole URL in its
    /// error, user info included, although `URLPolicy` deliberately does not ("its user info may
    /// be a password"). The password then travels in the 400 answer (and any log of it).
    @Test("RT-12-1: a webhook URL / provider baseURL with a password is refused without echoing the password")
    func urlErrorDoesNotEchoPassword() async throws {
        let f = try await Fixture()
        let box = try SecretBox.open(dataDir: f.dir.path)
        let pool = try await f.store.createPool(CreatePoolRequest(name: "edge", template: .haproxy), by: f.admin)
        let secret = "Hunter2TopSecretPassw0rd"
        var webhookError = ""
        do {
            _ = try await f.store.updateFailoverSettings(
                pool: pool.id, UpdateFailoverSettingsRequest(webhookURL: "https://ops:\(secret)@hooks.example.com/balctl"),
                box: box, by: f.admin)
        } catch { webhookError = "\(error)" }
        #expect(!webhookError.isEmpty, "the URL with user info must be refused")
        #expect(!webhookError.contains(secret), "the refusal echoes the password: \(webhookError)")

        var providerError = ""
        do {
            _ = try await f.store.addDNSProvider(CreateDNSProviderRequest(
                name: "cf", kind: .cloudflare,
                settings: ["zone": "example.com", "baseURL": "https://u:\(secret)@api.cloudflare.com/client/v4"],
                secret: "tok-1234567890"), box: box, by: f.admin)
        } catch { providerError = "\(error)" }
        #expect(!providerError.isEmpty)
        #expect(!providerError.contains(secret), "the refusal echoes the password: \(providerError)")
    }

    /// RT-12-2: plain http to ANY loopback port is accepted for provider base URLs in production
    /// (meant for the test emulators), and the drill records the first 300 bytes of whatever
    /// answered (`ProviderHTTP.excerpt` in the error's `reply`) in a failover event any operator
    /// of the account can read: a GET-and-read primitive against the control plane host's
    /// loopback-only services (admin consoles, metrics, cloud agents).
    @Test("RT-12-2: a provider baseURL cannot be used to read a loopback-only service through the drill")
    func drillIsNotALoopbackReadOracle() async throws {
        let internalSecret = "INTERNAL-ONLY-admin-password=swordfish"
        let service = try TinyHTTPServer { _ in
            .init(status: 200, headers: ["Content-Type": "text/plain"], body: Data(internalSecret.utf8))
        }
        defer { service.stop() }
        let f = try await Fixture()
        let box = try SecretBox.open(dataDir: f.dir.path)
        _ = try await f.store.createPool(CreatePoolRequest(name: "edge", template: .haproxy), by: f.admin)
        // Fixed by refusing plain http to loopback unless the server runs with --allow-loopback-http.
        let refused = await cpError {
            _ = try await f.store.addDNSProvider(CreateDNSProviderRequest(
                name: "whm", kind: .whm,
                settings: ["baseURL": "http://127.0.0.1:\(service.port)", "user": "x", "zone": "example.com", "timeout": "2"],
                secret: "ZYXWVUTSRQ9876543210ABCDEFGHIJKL"), box: box, by: f.admin)
        }
        #expect(refused?.kind == .badRequest && refused?.message.contains("https only") == true, "\(String(describing: refused))")
        let hook = await cpError {
            _ = try await f.store.updateFailoverSettings(pool: 1, UpdateFailoverSettingsRequest(webhookURL: "http://127.0.0.1:\(service.port)/x"),
                                                         box: box, by: f.admin)
        }
        #expect(hook?.kind == .badRequest)
    }

    /// RT-12-3: `SecretBox.open` creates `secrets.key` empty (O_EXCL) and fills it afterwards;
    /// a second opener that loses the O_EXCL race reads the file in between and fails with
    /// "must hold exactly 32 bytes" (a second control plane starting next to the first, or the
    /// server and a CLI subcommand on the same data dir). Create-then-link a complete file instead.
    @Test("RT-12-3: concurrent first opens of a data dir all get the same key")
    func concurrentFirstOpen() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("rt-secretbox-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: base) }
        let failures = Mutex<[String]>([])
        for round in 0..<300 {
            let dir = base.appendingPathComponent("\(round)").path
            mkdir(dir, 0o700)
            let boxes = Mutex<[SecretBox]>([])
            DispatchQueue.concurrentPerform(iterations: 4) { _ in
                do {
                    let box = try SecretBox.open(dataDir: dir)
                    boxes.withLock { $0.append(box) }
                } catch { failures.withLock { $0.append("round \(round): \(error)") } }
            }
            let got = boxes.withLock { $0 }
            if let first = got.first {
                let sealed = try first.seal("probe", context: "rt")
                for other in got.dropFirst() where (try? other.open(sealed, context: "rt")) != "probe" {
                    failures.withLock { $0.append("round \(round): different keys") }
                }
            }
        }
        let all = failures.withLock { $0 }
        #expect(all.isEmpty, "\(all.count) failed opens, first: \(all.first ?? "")")
    }
    /// RT-12-4: F6 (duplicate keys) was fixed for top-level keys only. Inside `stacks` the
    /// scanner (HeartbeatEnvelope.swift `haproxyActive()`) keeps the LAST `haproxy` / `active`
    /// while JSONDecoder, which reads the stored report for status and fleet views, keeps the
    /// first: the evaluator and the operator see different haproxy states for the same beat.
    @Test("RT-12-4: duplicate haproxy/active keys in stacks: the scanner and the stored report agree (or the beat is refused)",
          arguments: [
            (#"{"active":true}"#, #"{"active":true,"active":false}"#),
            (#""haproxy":{"active":true}"#, #""haproxy":{"active":true},"haproxy":{"active":false}"#),
          ])
    func nestedDuplicateKeys(original: String, hostile: String) async throws {
        let f = try await Fixture()
        let report = f.report("h1", publicIP: "81.2.69.11", stacks: ["haproxy": .object(["active": .bool(true)])])
        let clean = String(decoding: try JSONEncoder().encode(report), as: UTF8.self)
        try #require(clean.contains(original), "\(clean)")
        let body = clean.replacingOccurrences(of: original, with: hostile)
        let scanned: Bool?
        do { scanned = try HeartbeatEnvelope.read(body).haproxyActive } catch { return }  // refused: fine
        let decoded = try? JSONTree.decode(HostReport.self, from: body)  // how Fleet/latestReport read it
        var stored: Bool? = nil
        if case .object(let h)? = decoded?.stacks["haproxy"], case .bool(let b)? = h["active"] { stored = b }
        #expect(scanned == stored, "scanner says haproxy active=\(String(describing: scanned)), the stored report says \(String(describing: stored))")
    }
    /// RT-12-5: `alertEmails` has no count limit (FailoverSettingsStore.swift, the `emails` map):
    /// one operator request (64 KiB body) saves thousands of arbitrary recipients, and every
    /// alert of the pool then queues one mail per address (AlertOutbox.enqueueAlert): the control
    /// plane's SMTP identity becomes a bulk mailer, and one flapping member floods the outbox.
    @Test("RT-12-5: a pool's alert email list is capped")
    func alertEmailListIsCapped() async throws {
        let f = try await Fixture()
        let box = try SecretBox.open(dataDir: f.dir.path)
        let pool = try await f.store.createPool(CreatePoolRequest(name: "edge", template: .haproxy), by: f.admin)
        let many = (0..<2000).map { "victim\($0)@example.com" }
        var refused = false
        do {
            _ = try await f.store.updateFailoverSettings(pool: pool.id, UpdateFailoverSettingsRequest(alertEmails: many),
                                                         box: box, by: f.admin)
        } catch { refused = true }
        let saved = try await f.store.failoverSettings(pool: pool.id, by: f.admin).alertEmails.count
        #expect(refused, "2000 alert recipients were accepted (\(saved) saved)")
    }
    /// RT-12-6: the failover hostname is never checked against the linked provider's zone when
    /// it is saved (FailoverSettingsStore.swift `updateFailoverSettings`: only `DNSName(h)`), so
    /// a typo in the name or the wrong provider is discovered by `DNSName.inZone` during the
    /// outage ("not in zone …; nothing was sent"), the very thing `validateProvider` promises
    /// to prevent for provider settings. No error and no warning at save time.
    @Test("RT-12-6: a failover hostname outside the provider's zone is refused (or warned about) when saved")
    func hostnameOutsideZone() async throws {
        let f = try await Fixture()
        let box = try SecretBox.open(dataDir: f.dir.path)
        let pool = try await f.store.createPool(CreatePoolRequest(name: "edge", template: .haproxy), by: f.admin)
        let provider = try await f.store.addDNSProvider(CreateDNSProviderRequest(
            name: "bind", kind: .rfc2136, settings: ["server": "127.0.0.1", "zone": "example.com", "keyName": "k1"],
            secret: Data(repeating: 7, count: 32).base64EncodedString()), box: box, by: f.admin)
        var outcome = "refused"
        do {
            let view = try await f.store.updateFailoverSettings(pool: pool.id, UpdateFailoverSettingsRequest(
                hostname: "lb.exmaple.com", providerId: provider.id, ttl: 60, autoFailover: true, delaySec: 10), box: box, by: f.admin)
            outcome = view.warnings.contains { $0.contains("zone") } ? "warned" : "accepted silently: \(view.warnings)"
        } catch {}
        #expect(outcome == "refused" || outcome == "warned", "\(outcome)")
    }
    /// RT-12-7: the settings check of alert addresses (FailoverSettingsStore.swift, `emails`)
    /// allows ':' which the mailer refuses (SMTPMailer.checkAddress): the address is saved
    /// without complaint and every alert to it then fails permanently at send time. The two
    /// checks must be one rule.
    @Test("RT-12-7: an alert address accepted when saved is one the mailer can send to")
    func savedAddressIsSendable() async throws {
        let f = try await Fixture()
        let box = try SecretBox.open(dataDir: f.dir.path)
        let pool = try await f.store.createPool(CreatePoolRequest(name: "edge", template: .haproxy), by: f.admin)
        let address = "ops:oncall@example.com"
        do {
            _ = try await f.store.updateFailoverSettings(pool: pool.id, UpdateFailoverSettingsRequest(alertEmails: [address]),
                                                         box: box, by: f.admin)
        } catch { return }  // refused when saved: consistent
        #expect(throws: Never.self, "saved, but the mailer refuses it") { try SMTPMailer.checkAddress(address, "recipient") }
    }
}
