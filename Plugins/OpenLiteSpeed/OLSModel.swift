import AgentKernel
import BalctlProtocol

/// What an OLS server configuration declares: virtual hosts, listeners and their domain maps,
/// external processors (LSPHP), script handlers, templates and their member vhosts. Read-only;
/// edits go through `OLSConfigFile`.
struct OLSServerModel: Sendable {
    struct VHost: Sendable {
        var name: String
        var vhRoot: String
        var configFile: String
        /// The `virtualhost` block (nil for a template member).
        var node: OLSNode?
        var template: String?
        /// Domains the listeners map to it, and the listeners that do.
        var domains: [String] = []
        var listeners: [String] = []
    }
    struct Listener: Sendable {
        var name: String
        var address: String
        var secure: Bool
        var node: OLSNode
        /// (vhost, domains, line) per `map`.
        var maps: [(vhost: String, domains: [String], line: Int)]
    }
    struct Processor: Sendable {
        var name: String
        var type: String
        var path: String?
    }

    var settings: OLSSettings
    var file: OLSConfigFile
    var vhosts: [VHost] = []
    var listeners: [Listener] = []
    var processors: [Processor] = []
    /// The server-level `scripthandler` entries: suffix → handler name (`php` → `lsphp`).
    var scriptHandlers: [String: String] = [:]
    var includes: [String] = []
    /// Declared (non-template) vhosts by name.
    var vhostIndex: [String: Int] = [:]

    init(file: OLSConfigFile, settings: OLSSettings) {
        self.settings = settings
        self.file = file
        for node in file.all("listener") where node.kind == .block {
            let maps = node.all("map").map { m -> (String, [String], Int) in
                let (vh, rest) = OLSConfigFile.nameAndValue(Substring(m.value))
                return (vh, Self.list(rest), m.line)
            }
            listeners.append(Listener(name: node.value, address: node.value("address") ?? "",
                                      secure: node.value("secure") == "1", node: node, maps: maps))
        }
        for node in file.all("virtualhost") where node.kind == .block {
            let name = node.value
            let root = resolve(node.value("vhRoot") ?? "$SERVER_ROOT/\(name)/", vhName: name, vhRoot: nil)
            let conf = resolve(node.value("configFile") ?? "$SERVER_ROOT/conf/vhosts/\(name)/vhconf.conf", vhName: name, vhRoot: root)
            vhosts.append(VHost(name: name, vhRoot: root, configFile: conf, node: node))
        }
        for t in file.all("vhTemplate") where t.kind == .block {
            for member in t.all("member") {
                let (name, _) = OLSConfigFile.nameAndValue(Substring(member.value))
                guard !name.isEmpty else { continue }
                let root = resolve(member.value("vhRoot") ?? "$SERVER_ROOT/\(name)/", vhName: name, vhRoot: nil)
                var vh = VHost(name: name, vhRoot: root, configFile: "", node: nil, template: t.value)
                vh.domains = [member.value("vhDomain"), member.value("vhAliases")].compactMap { $0 }.flatMap(Self.list)
                vhosts.append(vh)
            }
        }
        for p in file.all("extprocessor") where p.kind == .block {
            processors.append(Processor(name: p.value, type: p.value("type") ?? "",
                                        path: p.value("path").map { resolve($0, vhName: nil, vhRoot: nil) }))
        }
        scriptHandlers = Self.scriptHandlers(file.first("scripthandler"))
        includes = file.all("include").map { resolve($0.value, vhName: nil, vhRoot: nil) }
        // Indexes, not searches: a config may hold thousands of vhosts and maps.
        var index: [String: Int] = [:]
        for (i, vh) in vhosts.enumerated() where vh.template == nil && index[vh.name] == nil { index[vh.name] = i }
        var domainSets = [Set<String>](repeating: [], count: vhosts.count)
        var listenerSets = [Set<String>](repeating: [], count: vhosts.count)
        for l in listeners {
            for m in l.maps {
                guard let i = index[m.vhost] else { continue }
                for d in m.domains where domainSets[i].insert(d).inserted { vhosts[i].domains.append(d) }
                if listenerSets[i].insert(l.name).inserted { vhosts[i].listeners.append(l.name) }
            }
        }
        vhostIndex = index
    }

    static func load(_ settings: OLSSettings) throws -> OLSServerModel {
        let bytes: [UInt8]
        do { bytes = try Files.readBytes(settings.configPath) } catch {
            throw JobFailure("cannot read the OpenLiteSpeed config \(error) (set BALCTL_OLS_ROOT if OLS lives elsewhere)")
        }
        do { return OLSServerModel(file: try OLSConfigFile(bytes: bytes), settings: settings) } catch {
            throw JobFailure("\(settings.configPath): \(error)")
        }
    }

    func vhost(_ name: String) -> VHost? { vhostIndex[name].map { vhosts[$0] } }

    /// `a, b c` → [a, b, c]: OLS lists take commas and blanks.
    static func list(_ s: String) -> [String] {
        s.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }).map(String.init)
    }

    static func scriptHandlers(_ block: OLSNode?) -> [String: String] {
        var out: [String: String] = [:]
        for add in block?.all("add") ?? [] {
            // add lsapi:lsphp82 php [inc …]
            let parts = list(add.value)
            guard let handler = parts.first, let colon = handler.firstIndex(of: ":") else { continue }
            for suffix in parts.dropFirst() { out[suffix] = String(handler[handler.index(after: colon)...]) }
        }
        return out
    }

    /// OLS's variables and relative paths: `$SERVER_ROOT`, `$VH_NAME`, `$VH_ROOT`; a relative
    /// path is relative to the server root, or to the vhost root for settings inside a vhost's
    /// own configuration (`relativeToVHost`).
    func resolve(_ raw: String, vhName: String?, vhRoot: String?, docRoot: String? = nil, relativeToVHost: Bool = false) -> String {
        var s = raw.replacingAll("$SERVER_ROOT", settings.serverRoot)
        if let vhName { s = s.replacingAll("$VH_NAME", vhName) }
        if let vhRoot { s = s.replacingAll("$VH_ROOT", vhRoot.hasSuffix("/") ? String(vhRoot.dropLast()) : vhRoot) }
        if let docRoot { s = s.replacingAll("$DOC_ROOT", docRoot.hasSuffix("/") ? String(docRoot.dropLast()) : docRoot) }
        if !s.hasPrefix("/") && !s.hasPrefix("$") { s = ((relativeToVHost ? vhRoot : nil) ?? settings.serverRoot + "/") + s }
        while s.contains("//") { s = s.replacingAll("//", "/") }
        return s
    }

    /// A vhost's own configuration file, parsed (nil when it is missing or not parseable: the
    /// config test reports that).
    func vhostConfig(_ vh: VHost) -> OLSConfigFile? {
        guard !vh.configFile.isEmpty, let bytes = try? Files.readBytes(vh.configFile) else { return nil }
        return try? OLSConfigFile(bytes: bytes)
    }

    /// Document root of a vhost (from its vhconf), resolved.
    func docRoot(_ vh: VHost, _ conf: OLSConfigFile?) -> String? {
        guard let raw = conf?.first("docRoot")?.value, !raw.isEmpty else { return nil }
        return resolve(raw, vhName: vh.name, vhRoot: vh.vhRoot, relativeToVHost: true)
    }

    /// The handler serving `.php` for a vhost: its own scripthandler, else the server's.
    func phpHandler(_ conf: OLSConfigFile?) -> String? {
        Self.scriptHandlers(conf?.first("scripthandler"))["php"] ?? scriptHandlers["php"]
    }

    /// `lsphp82` → "8.2" from the processor's binary path (`…/lsphp82/bin/lsphp`) or its name.
    func phpVersion(handler: String, _ conf: OLSConfigFile?) -> String? {
        let own = (conf?.all("extprocessor") ?? []).first { $0.value == handler }?.value("path")
        let path = own ?? processors.first { $0.name == handler }?.path ?? ""
        for candidate in [path, handler] {
            if let r = candidate.firstRange(of: "lsphp") {
                let digits = candidate[r.upperBound...].prefix(while: { $0.isNumber })
                if digits.count >= 2 { return String(digits.prefix(1)) + "." + String(digits.dropFirst()) }
            }
        }
        return nil
    }

    /// LSPHP versions installed under the server root (`lsphpNN/bin/lsphp`).
    static func installedLSPHP(_ settings: OLSSettings) -> [String] {
        Files.list(settings.serverRoot).filter { name in
            name.hasPrefix("lsphp") && name.dropFirst(5).allSatisfy(\.isNumber) && name.count > 6
                && Files.isExecutable(settings.serverRoot + "/" + name + "/bin/lsphp")
        }.sorted()
    }

    /// The structured view `ols.vhosts` and the probe report.
    func vhostsJSON() -> JSONValue {
        .array(vhosts.map { vh in
            let conf = vhostConfig(vh)
            var o: [String: JSONValue] = [
                "name": .string(vh.name), "vhRoot": .string(vh.vhRoot),
                "domains": .array(vh.domains.map(JSONValue.string)), "listeners": .array(vh.listeners.map(JSONValue.string)),
            ]
            if !vh.configFile.isEmpty { o["configFile"] = .string(vh.configFile) }
            if let t = vh.template { o["template"] = .string(t) }
            if let d = docRoot(vh, conf) { o["docRoot"] = .string(d) }
            if let h = phpHandler(conf) {
                o["phpHandler"] = .string(h)
                if let v = phpVersion(handler: h, conf) { o["phpVersion"] = .string(v) }
            }
            return .object(o)
        })
    }

    func listenersJSON() -> JSONValue {
        .array(listeners.map { l in
            .object(["name": .string(l.name), "address": .string(l.address), "secure": .bool(l.secure),
                     "maps": .number(Double(l.maps.count))])
        })
    }
}

extension String {
    /// Every occurrence replaced (stdlib string processing; no Foundation in the agent).
    func replacingAll(_ target: String, _ replacement: String) -> String {
        guard !target.isEmpty else { return self }
        return replacing(target, with: replacement)
    }
}
