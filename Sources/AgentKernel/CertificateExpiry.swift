import BalctlProtocol
import CCrypto
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// When the certificates a stack serves expire, for the control plane's `tls_expiry`
/// thresholds. A plugin's probe reports `certificates: [{path, notAfter}]` from `report(_:)`.
///
/// Read with the libcrypto libcurl already loads (no second X.509 parser in the agent). Expiry
/// moves in days, so the files are looked at again only every `refreshSec` or when the list of
/// paths changes: a heartbeat costs a dictionary lookup, not a parse.
public final class CertificateExpiry: Sendable {
    /// At most this many certificates per report (a directory of thousands is cut, and says so).
    public static let maxCertificates = 256
    /// A certificate file larger than this is not read (a PEM chain is a few KB).
    static let maxFileBytes = 1 << 20

    let refreshSec: Double
    private struct Cache {
        var paths: [String] = []
        var at = -Double.infinity
        var value: JSONValue = .array([])
    }
    private let cache = Mutex(Cache())

    public init(refreshSec: Double = 300) { self.refreshSec = refreshSec }

    /// `[{path, notAfter}]` for `paths`: each a certificate file, or a directory whose regular
    /// files are certificates (as haproxy's `crt DIR` loads them; keys and OCSP files are skipped).
    /// A file that is not a PEM certificate gives `{path, error}`.
    public func report(_ paths: [String], now: Double = monotonicNow()) -> JSONValue {
        if let hit = cache.withLock({ $0.paths == paths && now - $0.at < refreshSec ? $0.value : nil }) { return hit }
        let value = Self.scan(paths)
        cache.withLock { $0 = Cache(paths: paths, at: now, value: value) }
        return value
    }

    static func scan(_ paths: [String]) -> JSONValue {
        var files: [String] = []
        for path in paths where files.count < maxCertificates {
            guard let info = Files.info(path) else { files.append(path); continue }
            if info.isDirectory {
                let names = Files.list(path).sorted()
                for name in names where files.count < maxCertificates && isCertificateName(name) {
                    let full = path.hasSuffix("/") ? path + name : path + "/" + name
                    if Files.info(full)?.isRegular == true { files.append(full) }
                }
            } else {
                files.append(path)
            }
        }
        var out: [JSONValue] = []
        var seen = Set<String>()
        for file in files where seen.insert(file).inserted {
            var entry: [String: JSONValue] = ["path": .string(file)]
            // Only a regular file is opened: a FIFO named in a config would block the probe.
            if Files.info(file)?.isRegular != true {
                entry["error"] = .string("not a regular file")
            } else if let bytes = try? Files.readBytes(file, limit: maxFileBytes), let notAfter = notAfter(pem: bytes) {
                entry["notAfter"] = .number(notAfter)
            } else {
                entry["error"] = .string("no PEM certificate could be read")
            }
            out.append(.object(entry))
        }
        return .array(out)
    }

    /// haproxy loads every file of a `crt` directory except these companions of a certificate.
    static func isCertificateName(_ name: String) -> Bool {
        !name.hasPrefix(".") && ![".key", ".ocsp", ".issuer", ".sctl"].contains { name.hasSuffix($0) }
    }

    /// The expiry (Unix seconds) of the first certificate in PEM text; nil when there is none.
    public static func notAfter(pem: [UInt8]) -> Double? {
        guard !pem.isEmpty, pem.count <= Int(Int32.max) else { return nil }
        defer { ERR_clear_error() }  // a failed parse leaves errors on this thread's queue
        return pem.withUnsafeBytes { raw -> Double? in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            guard let cert = PEM_read_bio_X509(bio, nil, nil, nil) else { return nil }
            defer { X509_free(cert) }
            guard let t = X509_get0_notAfter(cert) else { return nil }
            var parts = tm()
            guard ASN1_TIME_to_tm(t, &parts) == 1 else { return nil }
            return Double(timegm(&parts))
        }
    }
}
