import Foundation
import Logging
import SQLEngine
import ServiceLifecycle

extension Store {
    /// Replicas share the database, so they must share `secrets.key`: a replica with another key
    /// could not open the DNS credentials another one saved (and would fail only at failover
    /// time). The first server seals a known text into the database; every later start proves
    /// its key opens it, or refuses to start with what to do.
    func verifySecretsKey(_ box: SecretBox) async throws {
        let context = "server_settings:secrets_key_check"
        let fresh = try box.seal("balctl secrets key check", context: context).base64EncodedString()
        let stored = try await db.write { db -> String? in
            try db.execute("INSERT INTO server_settings(name, value) VALUES ('secrets_key_check', ?) ON CONFLICT DO NOTHING", fresh)
            return try db.fetchValue(String.self, "SELECT value FROM server_settings WHERE name = 'secrets_key_check'")
        }
        guard let stored, let sealed = Data(base64Encoded: stored),
              (try? box.open(sealed, context: context)) == "balctl secrets key check" else {
            throw SecretBoxError("""
                this server's \(SecretBox.fileName) is not the key the database's credentials were sealed with: \
                every replica needs the same key file (copy \(SecretBox.fileName) from the first replica's data directory, mode 0600)
                """)
        }
    }
}

/// PostgreSQL replicas: clears this replica's authentication cache when any replica (or SQL by
/// hand) changes a member's secret, addresses or hostname, or removes it: migration v8's trigger
/// notifies `Store.authChannel` at commit. The cache serves an entry only within 1 s of the last
/// ping this listener sent itself and heard back (notifications arrive in commit order, so a ping
/// heard proves every earlier change was heard): a listener that is cut off, stalled or slow
/// makes the cache read through instead of serving a rotated secret.
struct AuthChangeListener: Service {
    let engine: PostgresEngine
    let store: Store

    func run() async throws {
        let cache = store.authCache
        await cancelWhenGracefulShutdown {
            await engine.listen(channel: Store.authChannel,
                                onListening: { listening in if !listening { cache.requireProof() } },
                                onNotification: { _ in cache.invalidateAll() },
                                onAlive: { sentAt in cache.heard(asOf: sentAt) })
        }
    }
}
