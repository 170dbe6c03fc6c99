import BalctlProtocol
import CurlClient
import Foundation
import SQLEngine

/// Saved DNS provider accounts: settings in clear, the secret sealed with `SecretBox` (bound to
/// the row's id), never returned by the API. `provider(_:)` builds the `DNSProvider` a failover
/// writes through.
extension Store {
    static let providerSettingKeys: [DNSProviderKind: (required: Set<String>, optional: Set<String>)] = [
        .rfc2136: (["server", "zone", "keyName"], ["port", "timeout"]),
        .cloudflare: (["zone"], ["baseURL", "timeout"]),
        .whm: (["baseURL", "user", "zone"], ["timeout"]),
    ]

    /// Checks a provider's settings by building it (the same code a failover runs), so a typo is
    /// refused when it is saved, not during an outage.
    static func validateProvider(kind: DNSProviderKind, settings: [String: String], secret: String,
                                 allowLoopbackHTTP: Bool) throws {
        guard let keys = providerSettingKeys[kind] else { throw ControlPlaneError.badRequest("unknown provider kind") }
        let given = Set(settings.keys)
        if let missing = keys.required.subtracting(given).sorted().first {
            throw ControlPlaneError.badRequest("\(kind.rawValue) provider: setting '\(missing)' is required")
        }
        if let unknown = given.subtracting(keys.required).subtracting(keys.optional).sorted().first {
            throw ControlPlaneError.badRequest("\(kind.rawValue) provider: unknown setting '\(unknown)' (known: \(keys.required.union(keys.optional).sorted().joined(separator: ", ")))")
        }
        guard !secret.isEmpty, secret.utf8.count <= 4096 else {
            throw ControlPlaneError.badRequest("the provider secret must be 1–4096 bytes")
        }
        for (k, v) in settings where v.utf8.count > 512 || v.unicodeScalars.contains(where: { $0.value < 0x20 }) {
            throw ControlPlaneError.badRequest("setting '\(k)' is too long or holds control characters")
        }
        if let base = settings["baseURL"] { try checkProviderURL(base, allowLoopbackHTTP: allowLoopbackHTTP) }
        _ = try makeProvider(kind: kind, settings: settings, secret: secret)
    }

    /// https (plain http to a loopback host only when the server runs with
    /// `--allow-loopback-http`, for emulators and tests): the same `URLPolicy` the provider
    /// transport, the CLI and the agent apply, checked when the URL is saved. Without that flag a
    /// provider or webhook could be pointed at services on the control plane's own loopback and
    /// their replies read back in events (red team RT-12-2). The error never repeats the URL: it
    /// may carry a password (RT-12-1).
    static func checkProviderURL(_ text: String, what: String = "baseURL", allowLoopbackHTTP: Bool) throws {
        let url: ParsedURL
        do { url = try ParsedURL(text) } catch {
            throw ControlPlaneError.badRequest("\(what) is not a valid URL")
        }
        do {
            try URLPolicy.check(url, allowLoopbackHTTP: allowLoopbackHTTP)
            guard !url.hasQuery, !url.hasFragment else { throw RequestRefused("it has a query or fragment") }
        } catch {
            throw ControlPlaneError.badRequest("\(what) refused: \(error) (https only\(allowLoopbackHTTP ? ", or plain http to a loopback host" : ""))")
        }
    }

    static func makeProvider(kind: DNSProviderKind, settings: [String: String], secret: String) throws -> any DNSProvider {
        func timeout() throws -> Double {
            guard let t = settings["timeout"] else { return kind == .rfc2136 ? 2 : 15 }
            guard let v = Double(t), v > 0, v <= 60 else { throw ControlPlaneError.badRequest("timeout must be 0–60 seconds") }
            return v
        }
        do {
            switch kind {
            case .rfc2136:
                guard let server = settings["server"].flatMap(IPv4.init) else {
                    throw ControlPlaneError.badRequest("rfc2136 provider: server must be an IPv4 address")
                }
                let port = try settings["port"].map { p -> UInt16 in
                    guard let v = UInt16(p), v > 0 else { throw ControlPlaneError.badRequest("port must be 1–65535") }
                    return v
                } ?? 53
                let key = try TSIGKey(name: settings["keyName"] ?? "", secretBase64: secret)
                return try RFC2136Provider(.init(server: server, port: port, zone: settings["zone"] ?? "", key: key,
                                                 timeout: try timeout()))
            case .cloudflare:
                let base = settings["baseURL"] ?? "https://api.cloudflare.com/client/v4"
                return try CloudflareProvider(.init(apiToken: secret, zone: settings["zone"] ?? "", baseURL: base,
                                                    timeout: try timeout()))
            case .whm:
                let base = settings["baseURL"] ?? ""
                return try WHMProvider(.init(baseURL: base, user: settings["user"] ?? "", token: secret,
                                             zone: settings["zone"] ?? "", timeout: try timeout()))
            }
        } catch let e as DNSProviderError {
            throw ControlPlaneError.badRequest("\(kind.rawValue) provider: \(e.message)")
        }
    }

    static func providerContext(_ id: Int64) -> String { "dns_provider:\(id)" }

    public func addDNSProvider(_ req: CreateDNSProviderRequest, box: SecretBox, allowLoopbackHTTP: Bool = false,
                               by op: Operator) async throws -> DNSProviderView {
        try Validation.name(req.name, what: "provider name")
        try Self.validateProvider(kind: req.kind, settings: req.settings, secret: req.secret, allowLoopbackHTTP: allowLoopbackHTTP)
        let settingsJSON = try JSONValue.from(req.settings).jsonString()
        return try await db.write { db in
            if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM dns_providers WHERE account_id = ? AND name = ?",
                                arguments: [op.accountID, req.name]) ?? 0 > 0 {
                throw ControlPlaneError.conflict("a DNS provider named '\(req.name)' exists")
            }
            // The id is needed to bind the sealed secret to its row: insert, then seal.
            let id = try db.insertReturningID(sql: "INSERT INTO dns_providers(account_id, name, kind, settings, secret, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [op.accountID, req.name, req.kind.rawValue, settingsJSON, Data(), now()])
            try db.execute(sql: "UPDATE dns_providers SET secret = ? WHERE id = ?",
                           arguments: [try box.seal(req.secret, context: Self.providerContext(id)), id])
            try Self.audit(db, op.accountID, "dns_provider.add", "dns_provider:\(id)", "\(req.name) (\(req.kind.rawValue))")
            return try Self.dnsProvider(db, id, op)
        }
    }

    static func dnsProviderView(_ db: any SQLConnection, _ row: SQLRow) throws -> DNSProviderView {
        let id: Int64 = row["id"]
        let settings = (try? JSONTree.decode([String: String].self, from: row["settings"] as String)) ?? [:]
        let pools = try Int64.fetchAll(db, sql: "SELECT pool_id FROM pool_failover WHERE provider_id = ? ORDER BY pool_id", arguments: [id])
        return DNSProviderView(id: id, name: row["name"], kind: DNSProviderKind(rawValue: row["kind"]) ?? .rfc2136,
                               settings: settings, createdAt: row["created_at"], pools: pools)
    }

    static func dnsProvider(_ db: any SQLConnection, _ id: Int64, _ op: Operator) throws -> DNSProviderView {
        guard let row = try SQLRow.fetchOne(db, sql: "SELECT id, name, kind, settings, created_at FROM dns_providers WHERE id = ? AND account_id = ?",
                                         arguments: [id, op.accountID]) else {
            throw ControlPlaneError.notFound("no DNS provider \(id)")
        }
        return try dnsProviderView(db, row)
    }

    public func listDNSProviders(by op: Operator) async throws -> [DNSProviderView] {
        try await db.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT id, name, kind, settings, created_at FROM dns_providers WHERE account_id = ? ORDER BY id",
                             arguments: [op.accountID]).map { try Self.dnsProviderView(db, $0) }
        }
    }

    /// Refused while a pool links it (unlink first: a pool must never lose its DNS silently).
    public func removeDNSProvider(_ id: Int64, by op: Operator) async throws {
        try await db.write { db in
            let view = try Self.dnsProvider(db, id, op)
            guard view.pools.isEmpty else {
                throw ControlPlaneError.conflict("DNS provider '\(view.name)' is linked to pool(s) \(view.pools.map(String.init).joined(separator: ", ")); unlink it first")
            }
            try db.execute(sql: "DELETE FROM dns_providers WHERE id = ?", arguments: [id])
            try Self.audit(db, op.accountID, "dns_provider.remove", "dns_provider:\(id)", view.name)
        }
    }

    /// The provider behind a row, its secret opened.
    static func provider(_ db: any SQLConnection, id: Int64, box: SecretBox) throws -> any DNSProvider {
        guard let row = try SQLRow.fetchOne(db, sql: "SELECT kind, settings, secret FROM dns_providers WHERE id = ?", arguments: [id]) else {
            throw ControlPlaneError.notFound("no DNS provider \(id)")
        }
        guard let kind = DNSProviderKind(rawValue: row["kind"]) else { throw ControlPlaneError.badRequest("unknown provider kind") }
        let settings = try JSONTree.decode([String: String].self, from: row["settings"] as String)
        let secret = try box.open(row["secret"] as Data, context: providerContext(id))
        return try makeProvider(kind: kind, settings: settings, secret: secret)
    }
}
