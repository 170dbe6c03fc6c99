import AgentKernel
import BalctlProtocol
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The agent bundle this control plane serves (`serve --agent-bundle DIR`, the output of
/// `balctl-server bundle`): read once at start, its signature checked against the public key
/// beside it, so a server never advertises a version agents would refuse.
public struct ServedAgentBundle: Sendable {
    public let manifest: AgentBundleManifest
    /// base64 Ed25519 public key agents pin (`--update-pubkey` in install commands).
    public let publicKey: String
    /// Hex SHA-256 of agent.zip: install commands check the download against it.
    public let zipSHA256: String
    let zip: ByteBuffer
    let manifestBytes: ByteBuffer
    let signature: ByteBuffer

    public struct Problem: Error, CustomStringConvertible { public var description: String }

    public static func load(_ dir: String) throws -> ServedAgentBundle {
        func read(_ name: String) throws -> Data {
            guard let d = FileManager.default.contents(atPath: dir + "/" + name) else {
                throw Problem(description: "--agent-bundle \(dir): no \(name) (build it with `balctl-server bundle`)")
            }
            return d
        }
        let manifestData = try read(AgentBundle.manifestName)
        let sigData = try read(AgentBundle.signatureName)
        let pubText = String(decoding: try read(AgentSigningKey.publicName), as: UTF8.self)
        let zipData = try read(AgentBundle.zipName)
        let key: Curve25519.Signing.PublicKey
        do { key = try AgentSigningKey.parsePublic(pubText) } catch {
            throw Problem(description: "--agent-bundle \(dir): \(AgentSigningKey.publicName) is \(error)")
        }
        guard let sig = Data(base64Encoded: String(decoding: sigData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
              key.isValidSignature(sig, for: manifestData) else {
            throw Problem(description: "--agent-bundle \(dir): manifest.sig does not verify with \(AgentSigningKey.publicName)")
        }
        let manifest: AgentBundleManifest
        do { manifest = try AgentBundleManifest.parse(Array(manifestData)) } catch {
            throw Problem(description: "--agent-bundle \(dir): \(error)")
        }
        // The zip must hold what the signed manifest says: the install command runs its
        // installer as root before any signature can be checked on the host.
        do { try AgentUpdater.checkContents(zip: dir + "/" + AgentBundle.zipName, manifest: manifest) } catch {
            throw Problem(description: "--agent-bundle \(dir): agent.zip does not match manifest.json: \(error)")
        }
        return ServedAgentBundle(manifest: manifest, publicKey: key.rawRepresentation.base64EncodedString(),
                                 zipSHA256: SHA256.hash(data: zipData).map { String(format: "%02x", $0) }.joined(),
                                 zip: ByteBuffer(data: zipData), manifestBytes: ByteBuffer(data: manifestData),
                                 signature: ByteBuffer(data: sigData))
    }

    /// GET /agent/agent.zip, /agent/manifest.json, /agent/manifest.sig: public (the install command
    /// fetches the zip before the host is enrolled; everything in it is signed).
    static func register(_ router: Router<BalctlRequestContext>, bundle: ServedAgentBundle?) {
        router.get(RouterPath(AgentBundle.zipPath)) { _, _ in try respond(bundle, .zip) }
        router.get(RouterPath(AgentBundle.manifestPath)) { _, _ in try respond(bundle, .manifest) }
        router.get(RouterPath(AgentBundle.signaturePath)) { _, _ in try respond(bundle, .signature) }
    }

    enum Part { case zip, manifest, signature }

    static func respond(_ bundle: ServedAgentBundle?, _ part: Part) throws -> Response {
        guard let bundle else {
            throw ControlPlaneError.notFound("this control plane serves no agent bundle (start it with --agent-bundle DIR)")
        }
        let type = part == .zip ? "application/zip" : part == .manifest ? "application/json" : "text/plain"
        let body = part == .zip ? bundle.zip : part == .manifest ? bundle.manifestBytes : bundle.signature
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: .init(byteBuffer: body))
    }
}

/// What the one-shot install command needs besides the member: where the control plane is, the
/// key agents pin for updates and the private CA to trust, when there is one.
public struct InstallContext: Sendable {
    public var publicURL: String
    public var updatePublicKey: String?
    /// Hex SHA-256 of the served agent.zip, checked before anything in it runs.
    public var zipSHA256: String?
    /// PEM of the CA that signs this server's certificate, when it is not publicly trusted.
    public var caPEM: String?
    public init(publicURL: String, updatePublicKey: String? = nil, zipSHA256: String? = nil, caPEM: String? = nil) {
        self.publicURL = publicURL; self.updatePublicKey = updatePublicKey; self.zipSHA256 = zipSHA256; self.caPEM = caPEM
    }
}
