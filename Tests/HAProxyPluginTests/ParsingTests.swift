import AgentKernel
import BalctlProtocol
import Foundation
@testable import HAProxyPlugin
import Testing

/// Every HAProxy test runs one at a time: several start real haproxy and HTTP backends, and the
/// traffic assertions must not compete with each other for two cores.
@Suite(.serialized) struct HAProxyPluginSuite {
    /// Settings for a haproxy the tests drive without systemd, with a socket directory of their own.
    static func offlineSettings(_ dir: TempDir, config: String, socketDir: String) -> HAProxySettings {
        HAProxySettings(configPath: config, haproxyBinary: "/usr/sbin/haproxy", stateDir: dir.file("state"),
                        systemdRunDir: dir.file("no-systemd"), socketTimeoutSec: 1, socketDir: socketDir)
    }
}

func params(_ d: [String: String]) -> JSONValue { .object(d.mapValues(JSONValue.string)) }

extension HAProxyPluginSuite {
@Suite struct Parsing {
    @Test func tokenizer() {
        #expect(HAProxyConfigFile.tokenize("  stats socket /a/b.sock mode 600   # comment") == ["stats", "socket", "/a/b.sock", "mode", "600"])
        #expect(HAProxyConfigFile.tokenize("\tlog \"/dev/log\" local0") == ["log", "/dev/log", "local0"])
        #expect(HAProxyConfigFile.tokenize("http-request set-header X 'a # b'") == ["http-request", "set-header", "X", "a # b"])
        #expect(HAProxyConfigFile.tokenize("   # only a comment").isEmpty)
        #expect(HAProxyConfigFile.tokenize("global\r") == ["global"])
    }

    @Test("certificates served or presented: after each crt on bind/server lines, crt-base applied, no repeats")
    func certificatePaths() {
        let cfg = HAProxyConfigFile(text: """
        global
            crt-base /etc/ssl/balctl
            ca-base /etc/ssl/certs
        frontend fe
            bind :443 ssl crt /etc/haproxy/certs/ crt shop.pem alpn h2
            bind :8443 ssl crt /etc/haproxy/certs/
            http-request set-var(txn.crt) str(crt)
        backend be
            server s1 10.0.0.1:443 ssl crt client.pem ca-file ca.pem
            server s2 10.0.0.2:443 ssl crt
        """)
        #expect(cfg.certificatePaths() == ["/etc/haproxy/certs/", "/etc/ssl/balctl/shop.pem", "/etc/ssl/balctl/client.pem"])
        // Without crt-base a relative path is relative to haproxy's working directory: not reported.
        #expect(HAProxyConfigFile(text: "frontend fe\n    bind :443 ssl crt site.pem\n").certificatePaths() == [])
    }

    @Test("the plugin's certificate source (host.cert_expiry without paths) reads the crt paths from the config file now")
    func certificateSource() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("crtsrc-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let plugin = HAProxyPlugin(settings: HAProxySettings(configPath: dir + "/haproxy.cfg"))
        let source = try #require(plugin.certificateSources.first)
        #expect(source.name == "haproxy")
        #expect(source.certificatePaths().isEmpty, "no config: nothing")
        try "frontend fe\n    bind :443 ssl crt /etc/haproxy/certs/site.pem\n".write(toFile: dir + "/haproxy.cfg", atomically: true, encoding: .utf8)
        #expect(source.certificatePaths() == ["/etc/haproxy/certs/site.pem"])
        try "frontend fe\n    bind :443 ssl crt /etc/haproxy/other.pem\n".write(toFile: dir + "/haproxy.cfg", atomically: true, encoding: .utf8)
        #expect(source.certificatePaths() == ["/etc/haproxy/other.pem"], "read again, not cached from the first call")
    }

    @Test func socketsPidfileAndPaths() {
        let cfg = HAProxyConfigFile(text: """
        global
            log /dev/log local0
            pidfile /run/haproxy.pid
            stats socket ipv4@127.0.0.1:9999 level admin
            stats socket unix@/run/haproxy/user.sock
            stats socket /run/haproxy/admin.sock mode 660 level admin expose-fd listeners
            chroot /var/lib/haproxy
        defaults
            errorfile 503 /etc/haproxy/errors/503.http
        frontend fe
            bind :443 ssl crt /etc/haproxy/certs/ crt-list=/etc/haproxy/list.txt
            stats socket /not/global.sock level admin
        """)
        #expect(cfg.statsSockets().map(\.path) == ["/run/haproxy/user.sock", "/run/haproxy/admin.sock"])
        #expect(cfg.statsSockets().map(\.level) == ["user", "admin"])
        #expect(cfg.adminSocket()?.path == "/run/haproxy/admin.sock")
        #expect(cfg.pidFile() == "/run/haproxy.pid")
        // Sockets, the pid file, log targets and the chroot are not inputs.
        #expect(Set(cfg.referencedPaths()) == ["/etc/haproxy/errors/503.http", "/etc/haproxy/certs/", "/etc/haproxy/list.txt"])
        #expect(HAProxyConfigFile(text: "defaults\n  mode http\n").adminSocket() == nil)
    }

    static let roundTripConfigs: [String] = [
        // The Debian default's shape.
        "global\n\tlog /dev/log\tlocal0\n\tchroot /var/lib/haproxy\n\tuser haproxy\n\tdaemon\n\ndefaults\n\tlog\tglobal\n\tmode\thttp\n",
        // CRLF line endings and a trailing comment block before the next section.
        "global\r\n    maxconn 100\r\n    # tuning\r\n\r\ndefaults\r\n    mode http\r\n",
        // An existing stats timeout (only the socket line is added).
        "global\n  stats timeout 30s\n  maxconn 10\nfrontend f\n  bind :80\n",
        // A bare global header directly followed by another section.
        "global\ndefaults\n    mode tcp\n",
        // Global is the only section, no newline at the end.
        "global\n    maxconn 5",
        // Bytes that are not UTF-8 (Latin-1 é in a comment) survive untouched.
        "# caf\u{00E9}\nglobal\n    maxconn 7 # r\u{00E9}seau\n",
    ]

    @Test("enable then disable gives back the original bytes", arguments: roundTripConfigs.indices)
    func enableDisableRoundTrip(_ i: Int) throws {
        var original = Array(Self.roundTripConfigs[i].utf8)
        if i == 5 { original = original.map { $0 == 0xC3 ? 0xE9 : $0 }.filter { $0 != 0xA9 } }  // make it Latin-1
        let path = "/run/haproxy/admin.sock"
        let enabled = try #require(try AdminSocketEdit.enable(HAProxyConfigFile(bytes: original), socketPath: path))
        let text = String(decoding: enabled.config.bytes, as: UTF8.self)
        #expect(text.contains("stats socket /run/haproxy/admin.sock mode 600 level admin expose-fd listeners  # balctl:admin-socket"))
        #expect(enabled.config.adminSocket()?.path == path)
        #expect(enabled.config.adminSocket()?.level == "admin")
        // The added lines sit in the global section.
        let body = try #require(enabled.config.globalBody())
        #expect(body.contains { enabled.config.tokens($0).starts(with: ["stats", "socket"]) })
        #expect(enabled.lines.contains(AdminSocketEdit.timeoutLine) == (i != 2))
        // Enabling twice changes nothing more.
        #expect(try AdminSocketEdit.enable(enabled.config, socketPath: path) == nil)
        let disabled = try #require(AdminSocketEdit.disable(enabled.config, socketPath: path))
        #expect(disabled.config.bytes == original)
        #expect(AdminSocketEdit.disable(disabled.config, socketPath: path) == nil)
    }

    @Test func editEdgeCases() throws {
        // No global section: refused with a reason.
        #expect(throws: AdminSocketEdit.EditError.self) { try AdminSocketEdit.enable(HAProxyConfigFile(text: "defaults\n mode http\n"), socketPath: "/a.sock") }
        // The same path at another level: refused, naming the line.
        do {
            _ = try AdminSocketEdit.enable(HAProxyConfigFile(text: "global\n  stats socket /a.sock level user\n"), socketPath: "/a.sock")
            Issue.record("a user-level socket at the same path was accepted")
        } catch { #expect(error.description.contains("line 2") && error.description.contains("level user")) }
        // The docs' recipe typed by hand (no marker) is removed by disable, timeout included.
        let byHand = "global\n    maxconn 10\n    stats socket /run/haproxy/admin.sock mode 600 level admin expose-fd listeners\n    stats timeout 2m\n    nbthread 2\n"
        let off = try #require(AdminSocketEdit.disable(HAProxyConfigFile(text: byHand), socketPath: "/run/haproxy/admin.sock"))
        #expect(String(decoding: off.config.bytes, as: UTF8.self) == "global\n    maxconn 10\n    nbthread 2\n")
        // Two sockets enabled, then disabled in the same order: the shared timeout stays until the last.
        let base = HAProxyConfigFile(text: "global\n    maxconn 1\n")
        let a = try #require(try AdminSocketEdit.enable(base, socketPath: "/a.sock"))
        let ab = try #require(try AdminSocketEdit.enable(a.config, socketPath: "/b.sock"))
        #expect(ab.lines == [AdminSocketEdit.socketLine("/b.sock")])
        let b = try #require(AdminSocketEdit.disable(ab.config, socketPath: "/a.sock"))
        #expect(b.lines == [AdminSocketEdit.socketLine("/a.sock")])
        let none = try #require(AdminSocketEdit.disable(b.config, socketPath: "/b.sock"))
        #expect(none.config.bytes == base.bytes)
        // An unrelated socket typed by hand is never touched.
        let other = HAProxyConfigFile(text: "global\n    stats socket /other.sock level admin\n")
        let on = try #require(try AdminSocketEdit.enable(other, socketPath: "/a.sock"))
        #expect(try #require(AdminSocketEdit.disable(on.config, socketPath: "/a.sock")).config.bytes == other.bytes)
        #expect(AdminSocketEdit.disable(other, socketPath: "/a.sock") == nil)
    }

    static let csv = [
        "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,check_desc",
        "fe,FRONTEND,,,3,5,200,40,1000,2000,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,4,0,9,,,,",
        #"be1,s1,0,0,1,2,,20,500,900,,0,,0,0,0,0,DRAIN,1,1,0,0,0,5,0,,1,3,1,,20,,2,2,,4,L4OK,,0,"Layer4 check passed, ""ok""""#,
        "be1,s2,0,0,2,3,,20,500,1100,,0,,0,0,0,0,UP,1,1,0,0,0,5,0,,1,3,2,,20,,2,2,,4,L4OK,,0,Layer4 check passed",
        "be1,BACKEND,0,0,3,5,20,40,1000,2000,0,0,,0,0,0,0,UP,2,2,0,,0,5,0,,1,3,0,,40,,1,4,,9,,,,",
        "fe,sock-1,,,0,0,200,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,1,,,,3,,,,,,,",
        "",
    ].joined(separator: "\n")

    @Test func statCSV() throws {
        let t = try StatTable(csv: Self.csv)
        #expect(t.rows.count == 4, "the listener row (type 3) is left out")
        #expect(t.rows[0] == StatRow(proxy: "fe", name: "FRONTEND", kind: .frontend, status: "OPEN", sessions: 3, rate: 4, bytesIn: 1000, bytesOut: 2000, checkStatus: ""))
        #expect(t.server("be1", "s1")?.status == "DRAIN")
        #expect(t.server("be1", "s2")?.bytesOut == 1100)
        #expect(t.server("be1", "BACKEND") == nil)
        #expect(t.hasBackend("be1") && !t.hasBackend("fe") && !t.hasBackend("be2"))
        #expect(StatTable.fields("a,\"b,c\",\"d\"\"e\",") == ["a", "b,c", "d\"e", ""])
        // The heartbeat's column-wise JSON reads back to the same rows.
        let json = t.json()
        #expect(StatTable(json: json) == t)
        #expect(json["columns"] == .array(StatTable.columns.map(JSONValue.string)))
        #expect(StatTable(json: t.json(limit: 2))?.rows.count == 2)
        #expect(throws: StatParseError.self) { try StatTable(csv: "Unknown command\n") }
    }

    @Test func serversState() {
        let text = """
        1
        # be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight
        3 be1 1 s1 127.0.0.1 2 8 1
        3 be1 2 s2 127.0.0.1 2 1 1

        """
        let s1 = ServerAdminState.parse(text, server: "s1")
        #expect(s1?.forcedDrain == true && s1?.forcedMaint == false)
        #expect(ServerAdminState.parse(text, server: "s2")?.forcedMaint == true)
        #expect(ServerAdminState.parse(text, server: "s3") == nil)
        #expect(ServerStateChange.Target.drain.reached(ServerAdminState(bits: 8)))
        #expect(!ServerStateChange.Target.drain.reached(ServerAdminState(bits: 9)))
        #expect(ServerStateChange.Target.ready.reached(ServerAdminState(bits: 0)))
        #expect(ServerStateChange.Target.maint.reached(ServerAdminState(bits: 1)))
    }

    @Test func names() {
        #expect(HAProxyName.isValid("be_web-1.eu:8080"))
        for bad in ["", "be1/s1", "s1; shutdown", "a b", "a\nb", "a\tb", "é", String(repeating: "x", count: 129)] {
            #expect(!HAProxyName.isValid(bad), "\(bad.debugDescription) accepted")
        }
        #expect(HAProxyName.problem("s1; x") == "contains ';'")
        #expect(HAProxyName.problem("s 1") == "contains a space")
        #expect(HAProxyName.problem("s\n1") == "contains a newline")
    }

    @Test func parameters() {
        func refusal<H: CommandHandler>(_ h: H.Type, _ json: JSONValue) -> String? {
            do { _ = try H.decodeParameters(json); return nil } catch { return String(describing: error) }
        }
        #expect(refusal(ServerDrainHandler.self, params(["backend": "be1", "server": "s1"])) == nil)
        #expect(refusal(ServerDrainHandler.self, params(["backend": "be1/s1; shutdown", "server": "s1"]))
                == "haproxy.server_drain: backend: \"be1/s1; shutdown\" contains '/'; haproxy names use only letters, digits, '-', '_', '.' and ':'")
        #expect(refusal(ServerReadyHandler.self, params(["backend": "be1", "server": "s1\nshow info"]))?.contains("server: \"s1\\nshow info\" contains a newline") == true)
        #expect(refusal(ServerMaintHandler.self, params(["backend": "be 1", "server": "s1"]))?.contains("contains a space") == true)
        #expect(refusal(ServerMaintHandler.self, params(["backend": "be1"]))?.contains("missing key 'server'") == true)
        #expect(refusal(ServerDrainHandler.self, params(["backend": "be1", "server": "s1", "servr": "x"]))?.contains("unexpected parameter 'servr'") == true)
        #expect(refusal(ReloadHandler.self, .object(["forse": .bool(true)]))?.contains("unexpected parameter 'forse'") == true)
        #expect(refusal(ReloadHandler.self, .object(["force": .string("yes")]))?.contains("wrong type") == true)
        #expect(refusal(ProvisionHandler.self, .null) == nil)
        #expect(refusal(ConfigTestHandler.self, .object(["x": .number(1)]))?.contains("unexpected parameter 'x'") == true)
        #expect(refusal(AdminSocketEnableHandler.self, .emptyObject) == nil)
        for bad in ["run/admin.sock", "/run/admin sock", "/run/../etc/x", "/run/a.sock\nstats socket /x", "/run/a;b", "/run/dir/", "/" + String(repeating: "a", count: 107)] {
            #expect(refusal(AdminSocketEnableHandler.self, params(["socketPath": bad]))?.hasPrefix("haproxy.admin_socket_enable: socketPath:") == true, "\(bad.debugDescription) accepted")
            #expect(refusal(AdminSocketDisableHandler.self, params(["socketPath": bad])) != nil)
        }
    }

    @Test("the catalogue: every command takes the haproxy lock and supports check mode")
    func catalogue() {
        let registry = HandlerRegistry(plugins: [HAProxyPlugin(settings: HAProxySettings())])
        #expect(registry.commandIDs == [
            "haproxy.admin_socket_disable", "haproxy.admin_socket_enable", "haproxy.config_test",
            "haproxy.provision", "haproxy.reload", "haproxy.server_drain", "haproxy.server_maint",
            "haproxy.server_ready", "haproxy.show_stat",
        ])
        for info in registry.catalogue.infos {
            #expect(info.stack == "haproxy")
            #expect(info.lock == "haproxy", "\(info.id)")
            #expect(info.supportsCheckMode, "\(info.id)")
            #expect(info.requiresRoot == (info.id == "haproxy.provision"), "\(info.id)")
        }
        // The control plane refuses an injection at enqueue time, from the same declaration.
        #expect(throws: ParameterError.self) {
            try registry.catalogue.validate(command: "haproxy.server_drain", params: params(["backend": "be1", "server": "s1;x"]), checkMode: false)
        }
    }

    @Test func helpers() {
        #expect(HAProxyVersion.parse("HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/\nStatus: long-term") == "2.6.12-1+deb12u4")
        #expect(HAProxyVersion.parse("HA-Proxy version 1.8.19 2019/02/11") == "1.8.19")
        #expect(HAProxyVersion.parse("garbage") == nil)
        // issue 20 item 10: the takeover command line comes from the settings alone.
        var settings = HAProxySettings(configPath: "/c.cfg")
        #expect(ServiceControl.takeoverArguments(settings, oldPIDs: [10]) == ["-f", "/c.cfg", "-D", "-sf", "10"])
        settings.pidFile = "/p"
        #expect(ServiceControl.takeoverArguments(settings, oldPIDs: [9, 11]) == ["-f", "/c.cfg", "-p", "/p", "-D", "-sf", "9", "11"])
        #expect(ProcessTable.uids("Name:\thaproxy\nUid:\t0\t102\t102\t102\nGid:\t0\t0\t0\t0\n") == [0, 102, 102, 102])
        #expect(HAProxySettings.parseMode("auto") == nil && HAProxySettings.parseMode("YES") == true && HAProxySettings.parseMode("0") == false)
        let p = HAProxyProcess(pid: 1, ppid: 0, startedAt: 0, argv: ["haproxy", "-Ws", "-f", "/etc/haproxy/", "-p", "/run/h.pid"])
        #expect(p.masterWorkerFlag && p.loads("/etc/haproxy/haproxy.cfg") && !p.loads("/etc/other.cfg"))
        let relative = HAProxyProcess(pid: 1, ppid: 0, startedAt: 0, argv: ["haproxy", "-f", "haproxy.cfg"], cwd: "/etc/haproxy")
        // red team finding 3a: a relative -f is never taken to load our config, whatever its cwd.
        #expect(!relative.loads("/etc/haproxy/haproxy.cfg") && !relative.masterWorkerFlag)
        #expect(PackageManager(kind: .dnf, program: "dnf").installCommands(reinstall: true) == [["dnf", "reinstall", "-y", "haproxy"]])
    }
}
}
