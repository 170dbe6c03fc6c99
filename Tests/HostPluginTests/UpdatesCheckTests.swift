import AgentKernel
import BalctlProtocol
import Foundation
import HostPlugin
import Testing

/// Fixtures hand-written from the tools' documented output formats (apt-get(8) `-s`, the
/// `Inst pkg [old] (new origin [arch])` lines; dnf(8) `check-update` and `updateinfo list`),
/// not recorded from real Debian 12 / Rocky 9 runs.
enum UpdateFixtures {
    static let apt = """
        NOTE: This is only a simulation!
              apt-get needs root privileges for real execution.
              Keep also in mind that locking is deactivated,
              so don't depend on the relevance to the real current situation!
        Reading package lists...
        Building dependency tree...
        Reading state information...
        Calculating upgrade...
        The following packages will be upgraded:
          libssl3 openssl tzdata
        3 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.
        Inst libssl3 [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])
        Inst openssl [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian:12.5/stable, Debian-Security:12/stable-security [amd64])
        Inst tzdata [2024a-0+deb12u1] (2024b-0+deb12u1 Debian:12.7/stable-updates [all])
        Conf libssl3 (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])
        Conf openssl (3.0.11-1~deb12u2 Debian:12.5/stable, Debian-Security:12/stable-security [amd64])
        Conf tzdata (2024b-0+deb12u1 Debian:12.7/stable-updates [all])

        """
    static let dnfCheckUpdate = """

        kernel.x86_64                        5.14.0-427.13.1.el9_4             baseos
        openssl-libs.x86_64                  1:3.0.7-27.el9                    baseos
        tzdata.noarch                        2024a-1.el9                       appstream
        Obsoleting Packages
        grub2-tools.x86_64                   1:2.06-80.el9                     baseos
            grub2-tools.x86_64               1:2.06-77.el9                     @baseos

        """
    static let dnfSecurity = """
        RLSA-2024:2264 Important/Sec. kernel-5.14.0-427.13.1.el9_4.x86_64
        RLSA-2024:2447 Moderate/Sec.  openssl-libs-1:3.0.7-27.el9.x86_64
        RLSA-2024:2448 Important/Sec. kernel-5.14.0-427.13.1.el9_4.x86_64

        """
}

@Suite("host.updates_check")
struct UpdatesCheckTests {
    /// Fakes replaying fixtures (see `PackageFakes`), and the handler looking for them.
    func fakes(_ programs: [String: [String: (String, Int)]]) throws -> (String, UpdatesCheckHandler) {
        let f = try PackageFakes(programs.mapValues { $0.mapValues { PackageFakes.Reply(output: $0.0, code: $0.1) } })
        return (f.dir, UpdatesCheckHandler(tools: f.tools))
    }
    func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    @Test("apt: pending and security counts from apt-get -s upgrade")
    func apt() async throws {
        let (dir, h) = try fakes(["apt-get": ["-s -q -o Debug::NoLocking=1 --with-new-pkgs upgrade": (UpdateFixtures.apt, 0)]])
        let (o, _) = try await runHost(h, .emptyObject)
        #expect(!o.changed && o.summary == "3 pending updates, 2 security (apt)")
        guard case .object(let r)? = o.result else { Issue.record("no result"); return }
        #expect(r["securityPackages"] == .array([.string("libssl3"), .string("openssl")]))
        #expect(read(dir + "/calls") == "apt-get -s -q -o Debug::NoLocking=1 --with-new-pkgs upgrade\n")
    }

    @Test("apt, for real: this host's own apt-get -s upgrade; the upgrades counted are apt's own 'N upgraded'")
    func realApt() async throws {
        // Debian ships apt-get: the simulation runs against this machine's package lists.
        let h = UpdatesCheckHandler()
        let (o, _) = try await runHost(h, .object(["manager": .string("apt")]))
        let r = try #require(o.result)
        let raw = Process()
        raw.executableURL = URL(fileURLWithPath: "/usr/bin/apt-get")
        raw.arguments = PackageTools.aptSimulate
        raw.environment = PackageTools.environment
        let pipe = Pipe()
        raw.standardOutput = pipe
        try raw.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        raw.waitUntilExit()
        let summary = try #require(text.split(separator: "\n").first { $0.contains(" upgraded, ") && $0.contains(" newly installed") })
        let upgraded = try #require(Int(summary.split(separator: " ")[0]))
        #expect(r["pending"] == .number(Double(upgraded)), "\(summary)")
        #expect((r["security"]?.doubleValue ?? -1) <= Double(upgraded))
        #expect(r["manager"] == .string("apt"))
    }

    @Test("dnf: check-update (exit 100) and updateinfo --security; obsoletes not counted")
    func dnf() async throws {
        let (dir, h) = try fakes(["dnf": ["-q check-update": (UpdateFixtures.dnfCheckUpdate, 100),
                                          "-q updateinfo list --security": (UpdateFixtures.dnfSecurity, 0)]])
        let (o, _) = try await runHost(h, .emptyObject)
        #expect(o.summary == "3 pending updates, 2 security (dnf)")
        guard case .object(let r)? = o.result else { Issue.record("no result"); return }
        #expect(r["packages"] == .array([.string("kernel"), .string("openssl-libs"), .string("tzdata")]))
        #expect(read(dir + "/calls") == "dnf -q check-update\ndnf -q updateinfo list --security\n")
    }

    @Test("failures: a failing tool, neither tool present")
    func failures() async throws {
        let (_, h) = try fakes(["dnf": ["-q check-update": ("Error: Failed to download metadata\n", 1)]])
        #expect(await hostJobError(h, .emptyObject) == "dnf check-update failed with exit code 1")
        let (_, none) = try fakes([:])
        #expect(await hostJobError(none, .emptyObject) == "neither apt-get nor dnf found")
        #expect(await hostJobError(none, .object(["manager": .string("apt")])) == "apt-get not found")
    }

    @Test("injection strings in manager are refused before anything runs")
    func refused() async throws {
        let (dir, h) = try fakes(["apt-get": [:]])
        for bad in injectionStrings + ["yum"] {
            #expect(await hostJobError(h, .object(["manager": .string(bad)])) == "host.updates_check: manager: must be \"apt\" or \"dnf\"")
        }
        #expect(await hostJobError(h, .object(["x": .string("$(id)")]))?.contains("unexpected parameter 'x'") == true)
        #expect(read(dir + "/calls") == "")
    }

    @Test("parsers: every prefix and seeded byte mutations of the fixtures parse without crashing, bounded")
    func fuzz() {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return seed >> 33 }
        let junk: [UInt8] = Array(" \t\n()[]./-:Inst Sec.security".utf8) + [0, 0xff, 0xc3]
        for fixture in [UpdateFixtures.apt, UpdateFixtures.dnfCheckUpdate, UpdateFixtures.dnfSecurity] {
            let bytes = Array(fixture.utf8)
            var inputs: [[UInt8]] = (0...bytes.count).map { Array(bytes.prefix($0)) }
            for _ in 0..<400 {
                var m = bytes
                for _ in 0..<(1 + Int(next() % 4)) { m[Int(next() % UInt64(m.count))] = junk[Int(next() % UInt64(junk.count))] }
                inputs.append(m)
            }
            let started = Date()
            for input in inputs {
                let text = String(decoding: input, as: UTF8.self)
                let lines = text.split(separator: "\n").count
                let a = PackageTools.parseApt(text)
                #expect(a.packages.count <= lines && a.security.count <= a.packages.count)
                #expect(PackageTools.parseDnfCheckUpdate(text).count <= lines)
                #expect(PackageTools.parseDnfSecurity(text).count <= lines)
            }
            #expect(Date().timeIntervalSince(started) < 5)
        }
        // Work is linear: 200,000 Inst lines parse in well under the bound.
        let big = String(repeating: "Inst p [1] (2 Debian-Security:12/stable-security [amd64])\n", count: 200_000)
        // A new package an upgrade pulls in is not an upgrade.
        #expect(PackageTools.parseApt("Inst linux-image-6.1.0-20-amd64 (6.1.85-1 Debian-Security:12/stable-security [amd64])\n") == .init())
        let started = Date()
        #expect(PackageTools.parseApt(big).security.count == 200_000)
        #expect(Date().timeIntervalSince(started) < 10)
    }
}
