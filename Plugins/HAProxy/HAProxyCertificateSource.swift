import AgentKernel

/// The certificates haproxy's configuration names (`crt` on bind/server lines, under `crt-base`),
/// read from the config file now — what `host.cert_expiry` checks when it is given no paths.
struct HAProxyCertificateSource: CertificateSource {
    let settings: HAProxySettings
    var name: String { "haproxy" }

    func certificatePaths() -> [String] {
        guard let bytes = try? Files.readBytes(settings.configPath) else { return [] }
        return HAProxyConfigFile(bytes: bytes).certificatePaths()
    }
}
