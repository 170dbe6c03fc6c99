import ArgumentParser
import ControlPlane
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// HTTPS without bringing certificates: with neither `--tls-cert` nor `--plain-http` the server
/// keeps its own CA in `<data-dir>/tls` (made on first start; its key stays there, 0600) and a
/// server certificate for the public URL's host, the listen address (every local IPv4 address
/// when it listens on all of them), this host's name and localhost — issued again at start when
/// it is within 30 days of expiry or a name is missing, and checked again every minute while it
/// runs (a renewed certificate is served without a restart). Install commands carry the CA so
/// agents pin it; the CA's fingerprint is printed for operators to compare.
enum AutoTLS {
    static func apply(to config: inout ServerConfig, publicURL: String?, listenHost: String, announce: (String) -> Void = say) throws {
        var dns: [String] = ["localhost"]
        var ips: [String] = ["127.0.0.1"]
        func add(_ host: String) {
            guard !host.isEmpty, host != "0.0.0.0" else { return }
            if host.split(separator: ".").count == 4 && host.allSatisfy({ $0.isNumber || $0 == "." }) {
                if !ips.contains(host) { ips.append(host) }
            } else if !dns.contains(host.lowercased()) {
                dns.append(host.lowercased())
            }
        }
        if let publicURL, let host = URLComponents(string: publicURL)?.host { add(host) }
        if listenHost == "0.0.0.0" {
            localIPv4Addresses().forEach(add)
            add(ProcessInfo.processInfo.hostName)
        } else {
            add(listenHost)
        }
        // The public URL's host first: it is the certificate's common name.
        if let first = dns.dropFirst().first { dns.removeAll { $0 == first }; dns.insert(first, at: 0) }
        let dir = config.dataDir + "/tls"
        let auto: LocalCA.Auto
        do { auto = try LocalCA.ensure(in: dir, dnsNames: dns, ipAddresses: ips) } catch {
            throw ValidationError("HTTPS with the server's own CA (\(dir)): \(error); or pass --tls-cert/--tls-key")
        }
        config.tlsCertFile = auto.files.serverCert
        config.tlsKeyFile = auto.files.serverKey
        config.autoTLS = AutoTLSSettings(directory: dir, dnsNames: dns, ipAddresses: ips)
        if config.agentCAFile == nil { config.agentCAFile = auto.files.caCert }
        announce("""
            HTTPS with the server's own CA (\(dir)): \(auto.action); valid until \(auto.serverNotAfter), for \((dns + ips).joined(separator: ", "))
              CA SHA-256 fingerprint: \(auto.fingerprint)
              Install commands (balctl members add) carry \(auto.files.caCert) so agents pin it; the CLI: BALCTL_CA_FILE=\(auto.files.caCert)
            """)
    }

    static func localIPv4Addresses() -> [String] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var out: [String] = []
        var cursor = list
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let addr = entry.pointee.ifa_addr, addr.pointee.sa_family == sa_family_t(AF_INET) else { continue }
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(addr, socklen_t(MemoryLayout<sockaddr_in>.size), &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 {
                out.append(String(cString: host))
            }
        }
        return out
    }
}
