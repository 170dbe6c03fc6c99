/// The blocks the plugin writes, in OLS's own layout (from the shipped example configuration),
/// and where they go. Every value in them was checked by `OLSNames` first.
enum OLSTemplates {
    static func pad(_ name: String) -> String { name + String(repeating: " ", count: max(1, 24 - name.count)) }

    static func vhostBlock(name: String, indent: String) -> [String] {
        ["\n", "virtualhost \(name) {\n",
         indent + pad("vhRoot") + "$SERVER_ROOT/\(name)/\n",
         indent + pad("configFile") + "$SERVER_ROOT/conf/vhosts/\(name)/vhconf.conf\n",
         indent + pad("allowSymbolLink") + "1\n",
         indent + pad("enableScript") + "1\n",
         indent + pad("restrained") + "1\n",
         "}\n"]
    }

    static func vhostConfig(docRoot: String, lsphp: String?) -> String {
        var s = pad("docRoot") + docRoot + "\n" + pad("enableGzip") + "1\n\n"
        s += "index  {\n  " + pad("useServer") + "0\n  " + pad("indexFiles") + "index.php, index.html\n}\n"
        if let lsphp { s += "\n" + scriptHandlerBlock(lsphp).joined() }
        return s
    }

    static func scriptHandlerBlock(_ lsphp: String) -> [String] {
        ["scripthandler  {\n", "  " + pad("add") + "lsapi:\(lsphp) php\n", "}\n"]
    }

    static func processorBlock(_ lsphp: String, indent: String) -> [String] {
        ["\n", "extprocessor \(lsphp) {\n"] + [
            ("type", "lsapi"), ("address", "uds://tmp/lshttpd/\(lsphp).sock"), ("maxConns", "10"),
            ("env", "PHP_LSAPI_CHILDREN=10"), ("env", "LSAPI_AVOID_FORK=200M"), ("initTimeout", "60"),
            ("retryTimeout", "0"), ("persistConn", "1"), ("respBuffer", "0"), ("autoStart", "2"),
            ("path", "$SERVER_ROOT/\(lsphp)/bin/lsphp"), ("backlog", "100"), ("instances", "1"),
            ("memSoftLimit", "2047M"), ("memHardLimit", "2047M"), ("procSoftLimit", "1400"), ("procHardLimit", "1500"),
        ].map { indent + pad($0.0) + $0.1 + "\n" } + ["}\n"]
    }

    /// The indentation the file's blocks use (of the first child of the first block), or 2 blanks.
    static func indent(of file: OLSConfigFile) -> String {
        for node in file.nodes where node.kind == .block {
            if let child = node.children.first {
                let i = file.indentation(ofLine: child.line)
                if !i.isEmpty { return i }
            }
        }
        return "  "
    }

    /// After the last top-level block named `name`, else before the first named `before`, else
    /// at the end.
    static func insertionPoint(in file: OLSConfigFile, after name: String, before: String) -> Int {
        if let last = file.all(name).last(where: { $0.kind == .block }) { return last.endLine + 1 }
        if let first = file.all(before).first { return first.line }
        return file.lines.count
    }

    /// Ensure an extprocessor for `lsphp` exists (returns the file unchanged when it does).
    static func ensureProcessor(_ lsphp: String, in file: OLSConfigFile) throws -> OLSConfigFile {
        if file.all("extprocessor").contains(where: { $0.value == lsphp }) { return file }
        let at = insertionPoint(in: file, after: "extprocessor", before: "virtualhost")
        return try file.inserting(processorBlock(lsphp, indent: indent(of: file)), at: at)
    }
}
