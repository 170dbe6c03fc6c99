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
        let parent = (directory as NSString).deletingLastPathComponent
        if !parent.isEmpty { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) }
        try SafeFile.makeDirectory(directory, mode: 0o700)
        let start = Date().addingTimeInterval(-3600)
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName {
            OrganizationName("balctl")
            CommonName("balctl local CA")
        }
        let caCert = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
            notValidBefore: start, notValidAfter: start.addingTimeInterval(10 * 365 * 86_400),
            issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(caKey))

        let serverKey = P256.Signing.PrivateKey()
        var names: [GeneralName] = dnsNames.map { .dnsName($0) }
        for ip in ipAddresses {
            guard let v4 = IPv4(ip) else { continue }
            let bytes: [UInt8] = [UInt8(v4.value >> 24), UInt8(v4.value >> 16 & 0xff),
                                  UInt8(v4.value >> 8 & 0xff), UInt8(v4.value & 0xff)]
            names.append(.ipAddress(ASN1OctetString(contentBytes: bytes[...])))
        }
        let serverCert = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(serverKey.publicKey),
            notValidBefore: start, notValidAfter: start.addingTimeInterval(397 * 86_400),
            issuer: caName,
            subject: try DistinguishedName { CommonName(dnsNames.first ?? "localhost") },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: .init(caKey))

        let files = Files(caCert: directory + "/ca.pem", serverCert: directory + "/server.pem",
                          serverKey: directory + "/server-key.pem")
        // A key left by an interrupted earlier run is replaced: removed, then created exclusively.
        if unlink(files.serverKey) != 0 && errno != ENOENT {
            throw SafeFileError(path: files.serverKey, "cannot remove the previous key", errno: errno)
        }
        try SafeFile.createNew(files.serverKey, Array(serverKey.pemRepresentation.utf8), mode: 0o600)
        try SafeFile.write(files.caCert, Array(try caCert.serializeAsPEM().pemString.utf8), mode: 0o644)
        // Last: its presence is what tells `demo` the directory is complete.
        try SafeFile.write(files.serverCert, Array(try serverCert.serializeAsPEM().pemString.utf8), mode: 0o644)
        return files
    }
}
