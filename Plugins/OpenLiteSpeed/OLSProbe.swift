import AgentKernel
import BalctlProtocol

/// The heartbeat's `openlitespeed` entry: absent (nil) when OLS is not installed, so the
/// catalogue and the dashboard hide the stack; otherwise version, running, listeners, vhost count
/// and LSPHP versions. Reads files only (no program runs on the heartbeat path).
struct OLSProbe: Sendable {
    let settings: OLSSettings

    func report() -> JSONValue? {
        guard settings.installed else { return nil }
        let control = OLSControl(settings: settings)
        var o: [String: JSONValue] = ["installed": .bool(true), "serverRoot": .string(settings.serverRoot)]
        if let bytes = try? Files.readBytes(settings.versionFile, limit: 256) {
            let v = String(decoding: bytes, as: UTF8.self).trimmingWhitespace
            if !v.isEmpty { o["version"] = .string(v) }
        }
        let pid = control.runningPID()
        o["running"] = .bool(pid != nil)
        if let pid { o["pid"] = .number(Double(pid)) }
        if let model = try? OLSServerModel.load(settings) {
            o["listeners"] = .array(model.listeners.map { .string("\($0.name) \($0.address)\($0.secure ? " (TLS)" : "")") })
            o["vhosts"] = .number(Double(model.vhosts.count))
        } else {
            o["configError"] = .string("\(settings.configPath) cannot be read or parsed (run ols.config_test)")
        }
        o["lsphp"] = .array(OLSServerModel.installedLSPHP(settings).map(JSONValue.string))
        return .object(o)
    }
}
