import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOSSL
import ServiceLifecycle

/// The server's certificate and key as files that may change under a running server — certbot
/// renewing an operator's certificate, or `--tls auto` renewing its own — served without a
/// restart: every TLS handshake takes the pair loaded last (NIOSSL's context callback). The files
/// are looked at every `certificateCheckSec` and loaded again when either changed; a pair that
/// does not load (half-written, key not matching) is tried again at the next check and the
/// previous pair keeps being served meanwhile.
public final class ServedCertificate: Sendable {
    struct Pair: Sendable {
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
        /// inode, size and mtime of both files when they were read.
        var stamp: String
    }

    public let certFile: String
    public let keyFile: String
    private let current: NIOLockedValueBox<Pair>

    public init(certFile: String, keyFile: String) throws {
        self.certFile = certFile
        self.keyFile = keyFile
        current = NIOLockedValueBox(try Self.load(certFile, keyFile))
    }

    static func stamp(_ paths: String...) -> String {
        paths.map { p -> String in
            var st = stat()
            guard stat(p, &st) == 0 else { return "missing" }
            return "\(st.st_ino):\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
        }.joined(separator: "|")
    }

    static func load(_ certFile: String, _ keyFile: String) throws -> Pair {
        let stamp = Self.stamp(certFile, keyFile)
        let chain = try NIOSSLCertificate.fromPEMFile(certFile)
        guard !chain.isEmpty else { throw ControlPlaneError.badRequest("\(certFile) holds no certificate") }
        let key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        // The pair must belong together, or every handshake would fail.
        _ = try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key)))
        return Pair(chain: chain, key: key, stamp: stamp)
    }

    /// Load the files again when they changed; true when a new pair is being served.
    @discardableResult
    public func reloadIfChanged() throws -> Bool {
        guard Self.stamp(certFile, keyFile) != current.withLockedValue({ $0.stamp }) else { return false }
        let pair = try Self.load(certFile, keyFile)
        current.withLockedValue { $0 = pair }
        return true
    }

    /// The TLS configuration: the pair loaded now, and the callback that hands every handshake
    /// the pair loaded last.
    public func tlsConfiguration() -> TLSConfiguration {
        let pair = current.withLockedValue { $0 }
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: pair.chain.map { .certificate($0) },
                                                           privateKey: .privateKey(pair.key))
        tls.sslContextCallback = { [self] _, promise in
            let pair = current.withLockedValue { $0 }
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = pair.chain.map { .certificate($0) }
            override.privateKey = .privateKey(pair.key)
            promise.succeed(override)
        }
        return tls
    }
}

/// Where `--tls auto` keeps its CA and which names its certificate covers (for renewals while
/// the server runs).
public struct AutoTLSSettings: Sendable {
    public var directory: String
    public var dnsNames: [String]
    public var ipAddresses: [String]
    public init(directory: String, dnsNames: [String], ipAddresses: [String]) {
        self.directory = directory; self.dnsNames = dnsNames; self.ipAddresses = ipAddresses
    }
}

/// Every `certificateCheckSec`: with `--tls auto`, renew the server certificate under the same CA
/// when it is within 30 days of expiry; then serve the files again if they changed.
struct CertificateWatcher: Service {
    let served: ServedCertificate
    let auto: AutoTLSSettings?
    let intervalSec: Double
    let logger: Logger

    func run() async throws {
        try await runEvery(intervalSec, logger: logger, what: "certificate check") {
            if let auto {
                let result = try LocalCA.ensure(in: auto.directory, dnsNames: auto.dnsNames, ipAddresses: auto.ipAddresses)
                if result.action != "kept the server certificate" { logger.notice("TLS: \(result.action); valid until \(result.serverNotAfter)") }
            }
            do {
                if try served.reloadIfChanged() { logger.notice("TLS: serving the new certificate from \(served.certFile)") }
            } catch {
                logger.warning("TLS: \(served.certFile) / \(served.keyFile) changed but do not load (\(error)); still serving the previous pair")
            }
        }
    }
}
