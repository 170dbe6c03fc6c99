import AgentKernel
import BalctlProtocol
import Crypto
import Foundation
import SwiftASN1
import X509

/// A private certificate authority and a server certificate signed by it, for the demo and the
/// tests (and for operators who want HTTPS without a public CA: agents trust it via
/// BALCTL_CA_FILE).
public enum LocalCA {
    public struct Files: Sendable {
        public var caCert: String
        public var serverCert: String
        public var serverKey: String
        public init(caCert: String, serverCert: String, serverKey: String) {
            self.caCert = caCert; self.serverCert = serverCert; self.serverKey = serverKey
        }
    }

    /// Write `ca.pem`, `server.pem` and `server-key.pem` into `directory` (mode 0700), the server
    /// certificate valid for `dnsNames` and `ipAddresses`. The key file is created with
    /// `O_CREAT|O_EXCL|O_NOFOLLOW` and mode 0600 from its first byte (it is never readable by
    /// others, not even for a moment: issue 21 item 3); every step's result is checked.
    public static func create(in directory: String, dnsNames: [String] = ["localhost"],
                              ipAddresses: [String] = ["127.0.0.1"]) throws -> Files {
        try prepare(directory)
        let ca = try Authority.make()
        let files = Files(caCert: directory + "/ca.pem", serverCert: directory + "/server.pem",
                          serverKey: directory + "/server-key.pem")
        try SafeFile.write(files.caCert, Array(try ca.cert.serializeAsPEM().pemString.utf8), mode: 0o644)
        try issueServer(ca, files, dnsNames: dnsNames, ipAddresses: ipAddresses, now: Date())
        return files
    }

    static func prepare(_ directory: String) throws {
        let parent = (directory as NSString).deletingLastPathComponent
        if !parent.isEmpty { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) }
        try SafeFile.makeDirectory(directory, mode: 0o700)
    }

    /// The CA: its certificate and key.
    struct Authority {
        var cert: Certificate
        var key: P256.Signing.PrivateKey

        static func make(now: Date = Date()) throws -> Authority {
            let start = now.addingTimeInterval(-3600)
            let key = P256.Signing.PrivateKey()
            let name = try DistinguishedName {
                OrganizationName("balctl")
                CommonName("balctl local CA")
            }
            let cert = try Certificate(
                version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
                notValidBefore: start, notValidAfter: start.addingTimeInterval(10 * 365 * 86_400),
                issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                },
                issuerPrivateKey: .init(key))
            return Authority(cert: cert, key: key)
        }
    }

    /// A server certificate (397 days) for the names, signed by `ca`; its key replaces any
    /// previous one (removed, then created exclusively 0600); the certificate is written last.
    static func issueServer(_ ca: Authority, _ files: Files, dnsNames: [String], ipAddresses: [String], now: Date) throws {
        let start = now.addingTimeInterval(-3600)
        let serverKey = P256.Signing.PrivateKey()
        let names = try LocalCA.names(dnsNames: dnsNames, ipAddresses: ipAddresses)
        let serverCert = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(serverKey.publicKey),
            notValidBefore: start, notValidAfter: start.addingTimeInterval(397 * 86_400),
            issuer: ca.cert.subject,
            subject: try DistinguishedName { CommonName(dnsNames.first ?? "localhost") },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: .init(ca.key))
        // A key left by an interrupted earlier run is replaced: removed, then created exclusively.
        if unlink(files.serverKey) != 0 && errno != ENOENT {
            throw SafeFileError(path: files.serverKey, "cannot remove the previous key", errno: errno)
        }
        try SafeFile.createNew(files.serverKey, Array(serverKey.pemRepresentation.utf8), mode: 0o600)
        // Last: its presence is what tells `demo` the directory is complete.
        try SafeFile.write(files.serverCert, Array(try serverCert.serializeAsPEM().pemString.utf8), mode: 0o644)
    }
}

extension LocalCA {
    /// What `--tls auto` found or made.
    public struct Auto: Sendable {
        public var files: Files
        /// SHA-256 of the CA certificate (DER), colon-separated hex: what an operator compares.
        public var fingerprint: String
        /// "created a local CA and a server certificate", "renewed the server certificate", "kept …".
        public var action: String
        public var serverNotAfter: Date
    }

    /// `--tls auto`: the control plane's own CA in `directory` (`ca.pem`, `ca-key.pem` 0600 —
    /// kept so the server certificate can be renewed under the CA agents pin), and a server
    /// certificate for `dnsNames`/`ipAddresses`, issued again when it is missing, unreadable, not
    /// signed by this CA, lacks one of the names, or has less than `renewWithinDays` left.
    public static func ensure(in directory: String, dnsNames: [String], ipAddresses: [String],
                              renewWithinDays: Double = 30, now: Date = Date()) throws -> Auto {
        try prepare(directory)
        let files = Files(caCert: directory + "/ca.pem", serverCert: directory + "/server.pem",
                          serverKey: directory + "/server-key.pem")
        let caKeyPath = directory + "/ca-key.pem"
        var created = false
        let ca: Authority
        if let certPEM = try? String(contentsOfFile: files.caCert, encoding: .utf8),
           let keyPEM = try? String(contentsOfFile: caKeyPath, encoding: .utf8) {
            do {
                ca = Authority(cert: try Certificate(pemEncoded: certPEM), key: try P256.Signing.PrivateKey(pemRepresentation: keyPEM))
            } catch {
                throw ControlPlaneError.badRequest("\(directory): ca.pem or ca-key.pem cannot be read (\(error)); move the directory aside to make a new CA (agents must then be given the new ca.pem)")
            }
            guard ca.cert.publicKey == Certificate.PublicKey(ca.key.publicKey) else {
                throw ControlPlaneError.badRequest("\(directory): ca-key.pem is not the key of ca.pem")
            }
        } else {
            ca = try Authority.make(now: now)
            if unlink(caKeyPath) != 0 && errno != ENOENT { throw SafeFileError(path: caKeyPath, "cannot remove the previous key", errno: errno) }
            try SafeFile.createNew(caKeyPath, Array(ca.key.pemRepresentation.utf8), mode: 0o600)
            try SafeFile.write(files.caCert, Array(try ca.cert.serializeAsPEM().pemString.utf8), mode: 0o644)
            created = true
        }
        var reason: String? = created ? "created a local CA and a server certificate" : nil
        if reason == nil {
            if let pem = try? String(contentsOfFile: files.serverCert, encoding: .utf8), let cert = try? Certificate(pemEncoded: pem),
               FileManager.default.fileExists(atPath: files.serverKey) {
                let sans: SubjectAlternativeNames? = (try? cert.extensions.subjectAlternativeNames) ?? nil
                let have = Set(sans.map { $0.map { "\($0)" } } ?? [])
                let want = try Self.names(dnsNames: dnsNames, ipAddresses: ipAddresses).map { "\($0)" }
                if cert.issuer != ca.cert.subject || !ca.cert.publicKey.isValidSignature(cert.signature, for: cert) {
                    reason = "issued a server certificate (the previous one is not signed by this CA)"
                } else if let missing = want.first(where: { !have.contains($0) }) {
                    reason = "issued a server certificate (the previous one lacks \(missing))"
                } else if cert.notValidAfter.timeIntervalSince(now) < renewWithinDays * 86_400 {
                    reason = "renewed the server certificate (it expires \(cert.notValidAfter))"
                }
            } else {
                reason = "issued a server certificate"
            }
        }
        if reason != nil { try issueServer(ca, files, dnsNames: dnsNames, ipAddresses: ipAddresses, now: now) }
        let cert = try Certificate(pemEncoded: try String(contentsOfFile: files.serverCert, encoding: .utf8))
        let der = try ca.cert.serializeAsPEM().derBytes
        let fingerprint = SHA256.hash(data: der).map { String(format: "%02X", $0) }.joined(separator: ":")
        return Auto(files: files, fingerprint: fingerprint, action: reason ?? "kept the server certificate", serverNotAfter: cert.notValidAfter)
    }

    static func names(dnsNames: [String], ipAddresses: [String]) throws -> [GeneralName] {
        var names: [GeneralName] = dnsNames.map { .dnsName($0) }
        for ip in ipAddresses {
            guard let v4 = IPv4(ip) else { continue }
            names.append(.ipAddress(ASN1OctetString(contentBytes: [UInt8(v4.value >> 24), UInt8(v4.value >> 16 & 0xff),
                                                                   UInt8(v4.value >> 8 & 0xff), UInt8(v4.value & 0xff)][...])))
        }
        return names
    }
}
