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
        if let hit = cached(paths, now: now) { return hit }
        let value = Self.scan(paths)
        cache.withLock { $0 = Cache(paths: paths, at: now, value: value) }
        return value
    }

    /// The last report for these paths while it is fresh; nil when `report` would read files
    /// (a probe on the cooperative pool then calls `report` on a thread of its own).
    public func cached(_ paths: [String], now: Double = monotonicNow()) -> JSONValue? {
        cache.withLock { $0.paths == paths && now - $0.at < refreshSec ? $0.value : nil }
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
            switch readCertificateFile(file) {
            case .failure(let why):
                entry["error"] = .string(why.message)
            case .success(let bytes):
                if let notAfter = notAfter(pem: bytes) {
                    entry["notAfter"] = .number(notAfter)
                } else {
                    entry["error"] = .string("no PEM certificate could be read")
                }
            }
            out.append(.object(entry))
        }
        return .array(out)
    }

    struct ReadRefusal: Error { var message: String }

    /// The bytes of a certificate file, read as root without blocking (red team, monitoring R4).
    ///
    /// A `stat` then a plain `open` + `read` (as before) blocked the probe, and so the heartbeat,
    /// on a path that is a regular file by `stat` but never ends or never answers: a link in a
    /// `crt` directory to `/proc/kmsg` (read as root it also takes the kernel's messages from
    /// syslog), or a link swapped to a FIFO between the `stat` and the `open`. Now the file is
    /// opened non-blocking (a FIFO opens at once; O_NOCTTY: a terminal is never made ours), the
    /// *opened* file is checked (fstat: a regular file of 1 byte to `maxFileBytes`; procfs'
    /// pseudo-files have size 0), and at most its size is read. Links are still followed: certbot's
    /// `live/` files are links.
    static func readCertificateFile(_ path: String) -> Result<[UInt8], ReadRefusal> {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { return .failure(ReadRefusal(message: "not a regular file")) }  // missing, a loop, no access
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            return .failure(ReadRefusal(message: "not a regular file"))
        }
        guard st.st_size > 0, st.st_size <= maxFileBytes else {
            return .failure(ReadRefusal(message: st.st_size == 0 ? "empty (or not a real file)" : "larger than \(maxFileBytes) bytes"))
        }
        let size = Int(st.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var got = 0
        while got < size {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, size - got) }
            if n > 0 { got += n } else if n < 0 && errno == EINTR { continue } else { break }
        }
        return .success(Array(bytes.prefix(got)))
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
