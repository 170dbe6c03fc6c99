import AgentKernel
import BalctlProtocol

/// The heartbeat's `openlitespeed` entry: absent (nil) when OLS is not installed, so the
/// catalogue and the dashboard hide the stack; otherwise version, running, listeners, vhost count
/// and LSPHP versions. Reads files only (no program runs on the heartbeat path), and parses
/// httpd_config.conf again only when it changes (`FileCache`).
final class OLSProbe: Sendable {
    let settings: OLSSettings
    /// Listeners and the vhost count; nil inside when the file does not parse.
    private let configCache = FileCache<ConfigFacts?>()
    struct ConfigFacts: Sendable { var listeners: [JSONValue]; var vhosts: Int }

    /// Whether OLS is installed, looked at again only when its bin directory (or the nearest
    /// directory above it that exists) changes, not with two stats on every beat.
    private let installedWatch = PathWatched<Bool>()
    var installed: Bool {
        let settings = self.settings
        return installedWatch.value(watching: { [settings.lshttpd, settings.lswsctrl] }) { settings.installed }
    }

    init(settings: OLSSettings) { self.settings = settings }

    private func configFacts() -> ConfigFacts? {
        let settings = self.settings
        let facts = configCache.value(settings.configPath) { bytes -> ConfigFacts? in
            guard let file = try? OLSConfigFile(bytes: bytes) else { return nil }
            let model = OLSServerModel(file: file, settings: settings)
            return ConfigFacts(listeners: model.listeners.map { .string("\($0.name) \($0.address)\($0.secure ? " (TLS)" : "")") },
                               vhosts: model.vhosts.count)
        }
        return facts ?? nil
    }

    func report() -> JSONValue? {
        guard installed else { return nil }
        let control = OLSControl(settings: settings)
        var o: [String: JSONValue] = ["installed": .bool(true), "serverRoot": .string(settings.serverRoot)]
        if let bytes = try? Files.readBytes(settings.versionFile, limit: 256) {
            let v = String(decoding: bytes, as: UTF8.self).trimmingWhitespace
            if !v.isEmpty { o["version"] = .string(v) }
        }
        let pid = control.runningPID()
        o["running"] = .bool(pid != nil)
        if let pid { o["pid"] = .number(Double(pid)) }
        if let facts = configFacts() {
            o["listeners"] = .array(facts.listeners)
            o["vhosts"] = .number(Double(facts.vhosts))
        } else {
            o["configError"] = .string("\(settings.configPath) cannot be read or parsed (run ols.config_test)")
        }
        o["lsphp"] = .array(OLSServerModel.installedLSPHP(settings).map(JSONValue.string))
        return .object(o)
    }
}
