import AgentKernel
import BalctlProtocol

/// OLS has no `-t` of its own in most versions, so the config test is structural: every file
/// parses (blocks balance, multi-line values end), names are known (unknown ones are warnings,
/// since modules add their own), and what the config references exists — vhost configs,
/// templates, includes, the MIME table, LSPHP binaries, listener maps to declared vhosts. Where
/// the installed `lshttpd` accepts `-t`, it runs too.
struct OLSCheck: Sendable {
    var errors: [String] = []
    var warnings: [String] = []
    /// "passed", "not supported by this lshttpd", "not run" or the failure.
    var lshttpdTest = "not run"
    var valid: Bool { errors.isEmpty }

    static let knownServerNames: Set<String> = Set([
        "serverName", "user", "group", "priority", "autoRestart", "chrootPath", "enableChroot", "inMemBufSize",
        "swappingDir", "autoFix503", "gracefulRestartTimeout", "mime", "showVersionNumber", "adminEmails", "adminRoot",
        "indexFiles", "disableWebAdmin", "errorlog", "accessLog", "expires", "tuning", "accessDenyDir",
        "fileAccessControl", "perClientConnLimit", "CGIRLimit", "accessControl", "extProcessor", "scriptHandler",
        "railsDefaults", "wsgiDefaults", "nodeDefaults", "virtualHost", "listener", "vhTemplate", "module", "include",
        "useIpInProxyHeader", "enableIpGeo", "cpuAffinity", "enableLVE", "httpdWorkers", "autoUpdateInterval",
        "autoUpdateDownloadPkg", "suspendedVhosts", "geoipDB", "ip2locDB", "lsrecaptcha", "security", "phpIniOverride",
        "mimetype", "loadApacheConf", "quic", "sslDefaultCiphers", "enableDynGzipCompress", "logging", "Security",
    ].map { $0.lowercased() })

    static let knownVHostNames: Set<String> = Set([
        "docRoot", "vhDomain", "vhAliases", "adminEmails", "enableGzip", "enableBr", "enableIpGeo", "cgroups",
        "context", "expires", "index", "errorPage", "errorlog", "accessLog", "awstats", "rewrite", "hotlinkCtrl",
        "accessControl", "realm", "general", "scriptHandler", "extProcessor", "phpIniOverride", "vhssl", "module",
        "websocket", "lsrecaptcha", "include", "security", "cgiRLimit", "perClientConnLimit", "fileAccessControl",
        "setUIDMode", "chrootMode", "restrained", "enableScript", "allowSymbolLink", "spdyAdHeader", "enableQuic",
    ].map { $0.lowercased() })

    /// Check the server config `file` (as it is, or as an edit would leave it) and the vhost
    /// configs it names; `extraFiles` stands in for files an edit is about to write.
    static func structural(_ file: OLSConfigFile, settings: OLSSettings, extraFiles: [String: OLSConfigFile] = [:]) -> OLSCheck {
        var c = OLSCheck()
        let model = OLSServerModel(file: file, settings: settings)
        for node in file.nodes where !knownServerNames.contains(node.name.lowercased()) {
            c.warnings.append("line \(node.line + 1): unknown setting '\(node.name)'")
        }
        var seen = Set<String>()
        for vh in model.vhosts where vh.template == nil {
            if !seen.insert(vh.name).inserted { c.errors.append("virtual host '\(vh.name)' is declared twice") }
            let conf: OLSConfigFile
            if let staged = extraFiles[vh.configFile] { conf = staged } else {
                guard let bytes = try? Files.readBytes(vh.configFile) else {
                    c.errors.append("virtual host '\(vh.name)': its configFile \(vh.configFile) cannot be read")
                    continue
                }
                do { conf = try OLSConfigFile(bytes: bytes) } catch {
                    c.errors.append("\(vh.configFile): \(error)")
                    continue
                }
            }
            for node in conf.nodes where !knownVHostNames.contains(node.name.lowercased()) {
                c.warnings.append("\(vh.configFile) line \(node.line + 1): unknown setting '\(node.name)'")
            }
            if model.docRoot(vh, conf) == nil { c.errors.append("virtual host '\(vh.name)': \(vh.configFile) sets no docRoot") }
            else if let d = model.docRoot(vh, conf), !d.contains("$"), !Files.exists(d) {
                c.warnings.append("virtual host '\(vh.name)': document root \(d) does not exist")
            }
            if let handler = model.phpHandler(conf) {
                let own = conf.all("extprocessor").contains { $0.value == handler }
                if !own && !model.processors.contains(where: { $0.name == handler }) {
                    c.errors.append("virtual host '\(vh.name)': PHP handler '\(handler)' is not an extProcessor")
                }
            }
        }
        let templateMembers = Set(model.vhosts.filter { $0.template != nil }.map(\.name))
        var listenerNames = Set<String>()
        for l in model.listeners {
            if !listenerNames.insert(l.name).inserted { c.errors.append("listener '\(l.name)' is declared twice") }
            if l.address.isEmpty { c.errors.append("listener '\(l.name)' has no address") }
            for m in l.maps where model.vhostIndex[m.vhost] == nil && !templateMembers.contains(m.vhost) {
                c.errors.append("line \(m.line + 1): listener '\(l.name)' maps '\(m.vhost)', which is not a virtual host")
            }
            if l.secure {
                for key in ["keyFile", "certFile"] {
                    if let p = l.node.value(key).map({ model.resolve($0, vhName: nil, vhRoot: nil) }), !Files.exists(p) {
                        c.errors.append("listener '\(l.name)': \(key) \(p) does not exist")
                    }
                }
            }
        }
        for p in model.processors {
            if let path = p.path, !path.contains("$"), !Files.isExecutable(path) {
                c.errors.append("extProcessor '\(p.name)': \(path) is not an executable")
            }
        }
        for t in file.all("vhTemplate") {
            if let raw = t.value("templateFile") {
                let path = model.resolve(raw, vhName: nil, vhRoot: nil)
                if extraFiles[path] == nil && !Files.exists(path) { c.errors.append("template '\(t.value)': \(path) does not exist") }
            }
        }
        // Included files must exist and parse (globs are OLS's to expand: not checked here).
        for inc in model.includes where !inc.contains("*") && extraFiles[inc] == nil {
            guard let bytes = try? Files.readBytes(inc) else { c.errors.append("include \(inc) does not exist or cannot be read"); continue }
            do { _ = try OLSConfigFile(bytes: bytes) } catch { c.errors.append("\(inc) (included): \(error)") }
        }
        if let mime = file.first("mime")?.value, !mime.isEmpty {
            let path = model.resolve(mime, vhName: nil, vhRoot: nil)
            if !Files.exists(path) { c.errors.append("mime \(path) does not exist") }
        }
        return c
    }

    /// The structural check of the live files, then `lshttpd -t` where supported.
    static func run(_ settings: OLSSettings, in context: JobContext) async throws -> OLSCheck {
        let bytes: [UInt8]
        do { bytes = try Files.readBytes(settings.configPath) } catch {
            throw JobFailure("cannot read the OpenLiteSpeed config \(error) (set BALCTL_OLS_ROOT if OLS lives elsewhere)")
        }
        var c: OLSCheck
        do { c = structural(try OLSConfigFile(bytes: bytes), settings: settings) } catch {
            c = OLSCheck(errors: ["\(settings.configPath): \(error)"])
        }
        if c.valid { try await c.runBinaryTest(settings, in: context) }
        return c
    }

    /// `lshttpd -t`: some builds check the configuration this way; others answer with their
    /// usage, which means "not supported", not "invalid".
    mutating func runBinaryTest(_ settings: OLSSettings, in context: JobContext) async throws {
        guard Files.isExecutable(settings.lshttpd) else { lshttpdTest = "not run (no \(settings.lshttpd))"; return }
        let r = try await context.run(settings.lshttpd, ["-t"], timeoutSec: settings.commandTimeoutSec)
        let out = r.output.lowercased()
        if r.exitCode == 0 && !r.timedOut { lshttpdTest = "passed"; return }
        if out.contains("usage") || out.contains("invalid option") || out.contains("unknown option") || out.contains("unrecognized option") {
            lshttpdTest = "not supported by this lshttpd"
            return
        }
        lshttpdTest = "failed"
        errors.append("lshttpd -t (exit \(r.exitCode)\(r.timedOut ? ", timed out" : "")): \(r.output.lastLines(10))")
    }

    func failure(_ context: String) -> JobFailure {
        JobFailure("OpenLiteSpeed config test failed: \(errors.prefix(20).joined(separator: "; ")); \(context)", result: json)
    }

    var json: JSONValue {
        .object(["valid": .bool(valid), "errors": .array(errors.map(JSONValue.string)),
                 "warnings": .array(warnings.prefix(100).map(JSONValue.string)), "lshttpdTest": .string(lshttpdTest)])
    }
}
