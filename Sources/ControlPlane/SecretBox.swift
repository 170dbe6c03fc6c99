import AgentKernel
import Crypto
import Foundation

/// Seals the secrets the control plane must be able to use again (DNS provider keys and tokens,
/// webhook secrets) with AES-256-GCM under a key kept in the data directory (`secrets.key`, 32
/// random bytes, mode 0600, created once with O_EXCL). A copy of the database alone reveals no
/// credential. Each sealed value is bound to what it belongs to (`context`, e.g.
/// "dns_provider:3"), so a sealed value moved to another row does not open.
public struct SecretBox: Sendable {
    let key: SymmetricKey
    static let fileName = "secrets.key"

    /// Loads the key, creating it on first use.
    public static func open(dataDir: String) throws -> SecretBox {
        let path = dataDir + "/" + fileName
        if access(path, F_OK) != 0 {
            // Written whole under a unique name, then linked into place: a second process never
            // sees a half-written key, and a crash leaves no empty one (red team RT-12-3). A link
            // that finds the name taken means another process won: read theirs.
            let fresh = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
            let temp: String
            do { temp = try SafeFile.writeUnique(in: dataDir, prefix: ".secrets.key.", fresh, mode: 0o600) } catch {
                throw SecretBoxError("cannot create \(path): \(error.description)")
            }
            defer { unlink(temp) }
            if link(temp, path) != 0 && errno != EEXIST {
                throw SecretBoxError("cannot create \(path): \(String(cString: strerror(errno)))")
            }
        }
        let bytes = try readKeyFile(path)
        return SecretBox(key: SymmetricKey(data: bytes))
    }

    public init(key: SymmetricKey) { self.key = key }

    /// Reads the key without following links, refusing a file others can read or of the wrong size.
    static func readKeyFile(_ path: String) throws -> [UInt8] {
        let fd = Glibc.open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw SecretBoxError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { throw SecretBoxError("\(path) is not a regular file") }
        guard st.st_mode & 0o077 == 0 else {
            throw SecretBoxError("\(path) is readable by others (mode \(String(st.st_mode & 0o777, radix: 8))); chmod 600 it")
        }
        guard st.st_uid == geteuid() else { throw SecretBoxError("\(path) is not owned by this user") }
        var buf = [UInt8](repeating: 0, count: 64)
        let n = read(fd, &buf, buf.count)
        guard n == 32 else { throw SecretBoxError("\(path) must hold exactly 32 bytes") }
        return Array(buf[0..<32])
    }

    public func seal(_ plaintext: String, context: String) throws -> Data {
        let box = try AES.GCM.seal(Data(plaintext.utf8), using: key, authenticating: Data(context.utf8))
        guard let combined = box.combined else { throw SecretBoxError("sealing failed") }
        return combined
    }

    public func open(_ sealed: Data, context: String) throws -> String {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            let plain = try AES.GCM.open(box, using: key, authenticating: Data(context.utf8))
            guard let text = String(data: plain, encoding: .utf8) else { throw SecretBoxError("not UTF-8") }
            return text
        } catch {
            throw SecretBoxError("a stored secret (\(context)) does not open with \(Self.fileName): the key file was replaced or the row altered; save the credential again")
        }
    }
}

public struct SecretBoxError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ d: String) { description = d }
}
