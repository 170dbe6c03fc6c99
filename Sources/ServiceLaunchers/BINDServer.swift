#if canImport(Glibc)
import Glibc
#endif
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A real BIND9 (`named -g`) on a free loopback port: a temp directory, a key from
/// `tsig-keygen`, and zone `test.example` that the key may update. As root it runs as `nobody`
/// (setpriv), as TESTING-SERVICES.md saw work. Its statistics channel counts the requests it
/// received per opcode, so callers can prove that nothing reached it. One place for the named
/// configuration: the test suites (TestSupport's `.bindServer` trait) and `balctl-bench
/// failover-timing` both start it through `start()`.
public final class BINDServer: Sendable {
    public static let zone = "test.example"
    public static let keyName = "upd-key"
    public let dir: URL
    public let port: UInt16
    public let statsPort: UInt16
    public let keyFile: String
    /// What `tsig-keygen` printed (key "NAME" { algorithm hmac-sha256; secret "…"; }).
    public let keyText: String
    /// The key's secret, base64 as in the key file.
    public let keySecretBase64: String
    public let process: Process

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(_ d: String) { description = d }
    }

    init() throws {
        for tool in ["/usr/sbin/named", "/usr/sbin/tsig-keygen", "/usr/bin/dig", "/usr/bin/nsupdate"]
        where !FileManager.default.isExecutableFile(atPath: tool) {
            throw Failure("\(tool) is missing: apt-get install bind9 bind9-dnsutils (see README)")
        }
        dir = URL(fileURLWithPath: "/tmp/balctl-bind-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        port = try Loopback.freePort()
        statsPort = try Loopback.freePort()
        keyFile = dir.appendingPathComponent("upd.key").path
        let keyText = try Self.run("/usr/sbin/tsig-keygen", ["-a", "hmac-sha256", Self.keyName]).out
        try keyText.write(toFile: keyFile, atomically: true, encoding: .utf8)
        self.keyText = keyText
        guard let secretStart = keyText.range(of: "secret \""),
              let secretEnd = keyText[secretStart.upperBound...].firstIndex(of: "\"") else {
            throw Failure("tsig-keygen printed no secret: \(keyText)")
        }
        keySecretBase64 = String(keyText[secretStart.upperBound..<secretEnd])
        let d = dir.path
        let conf = """
            include "\(keyFile)";
            options {
              directory "\(d)";
              pid-file "\(d)/named.pid";
              session-keyfile "\(d)/session.key";
              listen-on port \(port) { 127.0.0.1; };
              listen-on-v6 { none; };
              recursion no;
              notify no;
              dnssec-validation no;
            };
            controls { };
            statistics-channels { inet 127.0.0.1 port \(statsPort) allow { 127.0.0.1; }; };
            zone "\(Self.zone)" {
              type primary;
              file "\(d)/\(Self.zone).zone";
              allow-update { key "\(Self.keyName)"; };
            };

            """
        let zoneFile = """
            $TTL 300
            @ IN SOA ns1.\(Self.zone). hostmaster.\(Self.zone). 1 3600 600 86400 60
            @ IN NS ns1.\(Self.zone).
            ns1 IN A 127.0.0.1

            """
        try conf.write(toFile: "\(d)/named.conf", atomically: true, encoding: .utf8)
        try zoneFile.write(toFile: "\(d)/\(Self.zone).zone", atomically: true, encoding: .utf8)
        var argv = ["/usr/sbin/named", "-g", "-c", "\(d)/named.conf"]
        if getuid() == 0 {
            // named writes its journal into the directory: let nobody own it.
            _ = try Self.run("/bin/chown", ["-R", "nobody:nogroup", d])
            argv = ["/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] + argv
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        _ = FileManager.default.createFile(atPath: "\(d)/named.log", contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(d)/named.log"))
        p.standardOutput = log
        p.standardError = log
        try p.run()
        process = p
    }

    /// Start and wait until named answers for the zone and its statistics channel is up.
    public static func start() async throws -> BINDServer {
        let s = try BINDServer()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if s.process.isRunning, (try? s.dig(zone, "SOA").first) != nil, (try? await s.opcodeCount("QUERY")) != nil {
                return s
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        let log = (try? String(contentsOfFile: s.dir.appendingPathComponent("named.log").path, encoding: .utf8)) ?? ""
        s.stop()
        throw Failure("named did not start within 20 s:\n\(log)")
    }

    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: dir)
    }


    /// `dig @127.0.0.1 -p PORT NAME TYPE +short` lines (or the answer section with `answer`).
    public func dig(_ name: String, _ type: String = "A", answer: Bool = false) throws -> [String] {
        let style = answer ? ["+noall", "+answer"] : ["+short"]
        let r = try Self.run("/usr/bin/dig", ["@127.0.0.1", "-p", "\(port)", name, type, "+time=1", "+tries=2"] + style)
        return r.out.split(separator: "\n").map(String.init)
    }

    /// The A records of several names with one `dig` process (one query per name, in order):
    /// what a poller watching many names at once needs without a process per name and poll.
    /// Names without an A record map to [].
    public func addresses(of names: [String]) throws -> [String: [String]] {
        var args = ["@127.0.0.1", "-p", "\(port)", "+time=1", "+tries=1", "+noall", "+answer"]
        for name in names { args += [name, "A"] }
        let r = try Self.run("/usr/bin/dig", args)
        var found = Dictionary(uniqueKeysWithValues: names.map { ($0.lowercased(), [String]()) })
        for line in r.out.split(separator: "\n") {
            // name. TTL IN A address
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 5, fields[3] == "A" else { continue }
            let name = fields[0].hasSuffix(".") ? String(fields[0].dropLast()) : String(fields[0])
            found[name.lowercased(), default: []].append(String(fields[4]))
        }
        return found
    }

    /// The SOA serial: named bumps it on every change to the zone.
    public func serial() throws -> String {
        guard let soa = try dig(Self.zone, "SOA").first else { throw Failure("no SOA") }
        return String(soa.split(separator: " ")[2])
    }

    /// Feed `nsupdate -k KEYFILE` a script (after its server/zone lines) and require success.
    public func nsupdate(_ lines: [String]) throws {
        let script = (["server 127.0.0.1 \(port)", "zone \(Self.zone)"] + lines + ["send", ""]).joined(separator: "\n")
        let r = try Self.run("/usr/bin/nsupdate", ["-k", keyFile], stdin: script)
        guard r.status == 0 else { throw Failure("nsupdate failed: \(r.out)\(r.err)") }
    }

    /// Requests named received with this opcode ("QUERY", "UPDATE") since it started.
    public func opcodeCount(_ opcode: String) async throws -> Int {
        let url = URL(string: "http://127.0.0.1:\(statsPort)/json/v1/server")!
        let (data, _) = try await URLSession.shared.data(from: url)
        let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        guard let opcodes = json?["opcodes"] as? [String: Any], let n = opcodes[opcode] as? Int else {
            throw Failure("no opcode counter \(opcode) in named's statistics")
        }
        return n
    }

    public static func run(_ exe: String, _ args: [String], stdin: String? = nil) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let input = Pipe()
        p.standardInput = input
        try p.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

}
