import AgentKernel
import BalctlProtocol
import Foundation
import HostPlugin
import Synchronization
import Testing

/// Fakes of apt-get / dnf / needs-restarting record argv and environment and replay the
/// fixtures (hand-written from the documented formats, see `UpdateFixtures`); a simulation
/// after the install lists what is left.
@Suite("host.updates_install")
struct UpdatesInstallTests {
    static let sim = "-s -q -o Debug::NoLocking=1 --with-new-pkgs upgrade"
    static let dpkg = "-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
    static let emptySim = "Reading package lists...\nCalculating upgrade...\n0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
    static let onlyTzdata = "Inst tzdata [2024a-0+deb12u1] (2024b-0+deb12u1 Debian:12.7/stable-updates [all])\n"
    static let aptRun = "Unpacking libssl3 (3.0.11-1~deb12u2) over (3.0.11-1~deb12u1) ...\nSetting up libssl3 (3.0.11-1~deb12u2) ...\nSetting up openssl (3.0.11-1~deb12u2) ...\nSetting up tzdata (2024b-0+deb12u1) ...\n"

    /// Records the install bracket calls.
    final class Bracket: Sendable {
        let calls = Mutex<[Bool]>([])
        func record(_ b: Bool) { calls.withLock { $0.append(b) } }
    }

    func root(rebootFlag pkgs: String? = nil, kernels: [(String, Double)] = []) throws -> String {
        let r = tempDir()
        try FileManager.default.createDirectory(atPath: r + "/var/run", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: r + "/boot", withIntermediateDirectories: true)
        if let pkgs {
            try "*** System restart required ***\n".write(toFile: r + "/var/run/reboot-required", atomically: true, encoding: .utf8)
            try pkgs.write(toFile: r + "/var/run/reboot-required.pkgs", atomically: true, encoding: .utf8)
        }
        for (release, mtime) in kernels {
            let path = r + "/boot/vmlinuz-" + release
            try "kernel".write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: mtime)], ofItemAtPath: path)
        }
        return r
    }

    @Test("apt, all: apt-get update, the simulation, a non-interactive --with-new-pkgs upgrade, the simulation again; reboot-required file read")
    func aptAll() async throws {
        let f = try PackageFakes(["apt-get": [
            "-q update": .init(output: "Hit:1 http://deb.debian.org/debian bookworm InRelease\n"),
            Self.sim: .init(output: UpdateFixtures.apt, after: (Self.emptySim, 0)),
            Self.dpkg + " --with-new-pkgs upgrade": .init(output: Self.aptRun, installs: true),
        ]], root: try root(rebootFlag: "libssl3\nlinux-image-6.1.0-20-amd64\n$(id)\nlibssl3\n"))
        let bracket = Bracket()
        let h = UpdatesInstallHandler(tools: f.tools, installing: { bracket.record($0) })
        let (o, log) = try await runHost(h, .emptyObject)
        #expect(o.changed && o.summary == "3 updates installed (apt); reboot required", "\(o.summary)")
        #expect(f.calls == "apt-get -q update\napt-get \(Self.sim)\napt-get \(Self.dpkg) --with-new-pkgs upgrade\napt-get \(Self.sim)\n")
        let r = try #require(o.result)
        #expect(r["upgraded"] == .number(3) && r["stillPending"] == .number(0) && r["securityOnly"] == .bool(false))
        #expect(r["packages"] == .array(["libssl3", "openssl", "tzdata"].map { .string($0) }))
        #expect(r["rebootRequired"] == .bool(true) && r["rebootReason"] == .string("/var/run/reboot-required exists"))
        // Names only, each once: the junk line is not passed on.
        #expect(r["rebootPackages"] == .array([.string("libssl3"), .string("linux-image-6.1.0-20-amd64")]))
        #expect(r["outputTail"]?.stringValue?.contains("Setting up tzdata") == true)
        #expect(bracket.calls.withLock { $0 } == [true, false])
        // The job's timeout (60 s here) is below what an upgrade may need: said in the output.
        #expect(log.contains("job timeout is 60 s"))
        let env = f.environment(of: "apt-get \(Self.dpkg) --with-new-pkgs upgrade")
        for wanted in ["DEBIAN_FRONTEND=noninteractive", "APT_LISTCHANGES_FRONTEND=none", "UCF_FORCE_CONFFOLD=1",
                       "NEEDRESTART_MODE=l", "LC_ALL=C", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] {
            #expect(env.contains(wanted), "\(wanted) not in \(env)")
        }
        // Nothing of the agent's environment but the process runner's own tree mark.
        #expect(!env.contains { ($0.hasPrefix("BALCTL_") && !$0.hasPrefix("BALCTL_PROCESS_TREE=")) || $0.hasPrefix("HOME=") }, "\(env)")
    }

    @Test("apt, security only: the -security packages of the simulation to install --only-upgrade; the rest stays pending; no refresh")
    func aptSecurity() async throws {
        let f = try PackageFakes(["apt-get": [
            Self.sim: .init(output: UpdateFixtures.apt, after: (Self.onlyTzdata, 0)),
            Self.dpkg + " install --only-upgrade libssl3 openssl": .init(output: "Setting up libssl3 ...\n", installs: true),
        ]], root: try root(kernels: [("6.1.0-18-amd64", 1_700_000_000)]))
        let (o, _) = try await runHost(UpdatesInstallHandler(tools: f.tools), .object(["securityOnly": .bool(true), "refresh": .bool(false)]))
        #expect(o.changed && o.summary == "2 security updates installed (apt); no reboot required", "\(o.summary)")
        #expect(f.calls == "apt-get \(Self.sim)\napt-get \(Self.dpkg) install --only-upgrade libssl3 openssl\napt-get \(Self.sim)\n")
        let r = try #require(o.result)
        #expect(r["packages"] == .array([.string("libssl3"), .string("openssl")]) && r["stillPending"] == .number(0))
        #expect(r["rebootReason"] == .string("running the newest installed kernel (6.1.0-18-amd64)"))
    }

    @Test("check mode: what updates_check reports, nothing refreshed or installed")
    func checkMode() async throws {
        let f = try PackageFakes(["apt-get": [Self.sim: .init(output: UpdateFixtures.apt)]])
        let bracket = Bracket()
        let h = UpdatesInstallHandler(tools: f.tools, installing: { bracket.record($0) })
        let (o, _) = try await runHost(h, .object(["securityOnly": .bool(true)]), checkMode: true)
        #expect(!o.changed && o.summary == "would install 2 security updates (apt); reboot required now: no", "\(o.summary)")
        #expect(o.result?["wouldInstall"] == .number(2))
        #expect(f.calls == "apt-get \(Self.sim)\n")
        #expect(bracket.calls.withLock { $0 }.isEmpty)
    }

    @Test("nothing pending: unchanged, no install run")
    func nothing() async throws {
        let f = try PackageFakes(["apt-get": ["-q update": .init(output: ""), Self.sim: .init(output: Self.onlyTzdata)]])
        let (o, _) = try await runHost(UpdatesInstallHandler(tools: f.tools), .object(["securityOnly": .bool(true)]))
        #expect(!o.changed && o.summary == "no security updates to install (apt)", "\(o.summary)")
        #expect(f.calls == "apt-get -q update\napt-get \(Self.sim)\n")
    }

    @Test("dnf, all and security only: dnf -y upgrade [--security]; needs-restarting -r decides the reboot")
    func dnf() async throws {
        for security in [false, true] {
            let f = try PackageFakes([
                "dnf": [
                    "-q check-update": .init(output: UpdateFixtures.dnfCheckUpdate, code: 100, after: security ? ("tzdata.noarch  2024a-1.el9  appstream\n", 100) : ("", 0)),
                    "-q updateinfo list --security": .init(output: UpdateFixtures.dnfSecurity, after: ("", 0)),
                    "-y upgrade" + (security ? " --security" : ""): .init(output: "Complete!\n", installs: true),
                ],
                "needs-restarting": ["-r": .init(output: "Core libraries or services have been updated since boot-up:\n  * kernel\n", code: 1)],
            ])
            let (o, _) = try await runHost(UpdatesInstallHandler(tools: f.tools), .object(["securityOnly": .bool(security)]))
            let want = security ? "2 security updates installed (dnf); reboot required" : "3 updates installed (dnf); reboot required"
            #expect(o.changed && o.summary == want, "\(o.summary)")
            #expect(o.result?["rebootReason"] == .string("needs-restarting -r exited 1"))
            #expect(f.calls.contains("dnf -y upgrade\(security ? " --security" : "")\n") && f.calls.hasSuffix("needs-restarting -r\n"), "\(f.calls)")
            #expect(!f.calls.contains("update\n") || f.calls.contains("check-update"))
        }
    }

    @Test("failures: apt-get's exit code and output tail in the error; the bracket still closes")
    func failures() async throws {
        let f = try PackageFakes(["apt-get": [
            "-q update": .init(output: ""),
            Self.sim: .init(output: UpdateFixtures.apt),
            Self.dpkg + " --with-new-pkgs upgrade": .init(output: "E: Could not get lock /var/lib/dpkg/lock-frontend\n", code: 100),
        ]])
        let bracket = Bracket()
        let h = UpdatesInstallHandler(tools: f.tools, installing: { bracket.record($0) })
        do {
            _ = try await runHost(h, .emptyObject)
            Issue.record("no failure")
        } catch let e as JobFailure {
            #expect(e.message == "apt-get upgrade failed with exit code 100" && e.exitCode == 100)
            #expect(e.result?["outputTail"]?.stringValue?.contains("Could not get lock") == true)
        }
        #expect(bracket.calls.withLock { $0 } == [true, false])
        let broken = try PackageFakes(["apt-get": ["-q update": .init(output: "E: The repository is not signed.\n", code: 100)]])
        #expect(await hostJobError(UpdatesInstallHandler(tools: broken.tools), .emptyObject) == "apt-get update failed with exit code 100")
        #expect(broken.calls == "apt-get -q update\n")
        let none = try PackageFakes([:])
        #expect(await hostJobError(UpdatesInstallHandler(tools: none.tools), .emptyObject) == "neither apt-get nor dnf found")
    }

    @Test("a package name from apt's output that could read as an option is refused before apt-get install runs")
    func hostileName() async throws {
        let f = try PackageFakes(["apt-get": [
            Self.sim: .init(output: "Inst -oAPT::Update::Pre-Invoke::=id [1] (2 Debian-Security:12/stable-security [amd64])\n"),
        ]])
        let e = await hostJobError(UpdatesInstallHandler(tools: f.tools), .object(["securityOnly": .bool(true), "refresh": .bool(false)]))
        #expect(e?.hasPrefix("apt-get -s upgrade printed a package name that is not one") == true, "\(e ?? "nil")")
        #expect(f.calls == "apt-get \(Self.sim)\n")
        for good in ["libssl3", "libc6:i386", "g++-12", "linux-image-6.1.0-20-amd64", "libstdc++6"] {
            #expect(PackageTools.isDebianPackageName(good), "\(good)")
        }
        for bad in injectionStrings + ["", "a", "-o", "Libssl", "a:", "a:b:c", "a b", "a/b", "a=1"] {
            #expect(!PackageTools.isDebianPackageName(bad), "\(bad)")
        }
    }

    @Test("parameters: injection strings and wrong types refused before anything runs")
    func parameters() async throws {
        let f = try PackageFakes(["apt-get": [:], "dnf": [:]])
        let h = UpdatesInstallHandler(tools: f.tools)
        for bad in injectionStrings + ["yum", "APT"] {
            #expect(await hostJobError(h, .object(["manager": .string(bad)])) == "host.updates_install: manager: must be \"apt\" or \"dnf\"")
        }
        for (key, value) in [("securityOnly", JSONValue.string("yes")), ("refresh", .number(1)), ("manager", .bool(true))] {
            let e = await hostJobError(h, .object([key: value]))
            #expect(e?.hasPrefix("host.updates_install: wrong type at \(key)") == true, "\(e ?? "accepted")")
        }
        #expect(await hostJobError(h, .object(["packages": .array([.string("$(id)")])]))?.contains("unexpected parameter 'packages'") == true)
        #expect(f.calls == "")
        #expect(UpdatesInstallHandler.requiresRoot && UpdatesInstallHandler.lock == "host.packages" && UpdatesCheckHandler.lock == "host.packages")
    }

    @Test("reboot required without a flag file: the newest kernel in /boot (by mtime, rescue skipped) against the running one")
    func rebootByKernel() async throws {
        let r = try root(kernels: [("6.1.0-18-amd64", 1_700_000_000), ("6.1.0-20-amd64", 1_710_000_000),
                                   ("0-rescue-0123456789abcdef", 1_720_000_000)])
        let run: PackageTools.Run = { exe, _, _, _ in throw JobFailure("nothing runs here, \(exe) did") }
        let old = PackageTools(searchPath: [], root: r, runningKernel: { "6.1.0-18-amd64" })
        #expect(await old.rebootState(.apt("/x"), run: run)
                == .init(required: true, reason: "running kernel 6.1.0-18-amd64, newest installed 6.1.0-20-amd64"))
        let new = PackageTools(searchPath: [], root: r, runningKernel: { "6.1.0-20-amd64" })
        #expect(await new.rebootState(.apt("/x"), run: run).required == false)
        // dnf without needs-restarting falls back to the same comparison.
        #expect(await old.rebootState(.dnf("/x"), run: run).required == true)
        let empty = PackageTools(searchPath: [], root: try root(), runningKernel: { "6.1.0-20-amd64" })
        #expect(await empty.rebootState(nil, run: run) == .init(required: false, reason: "no reboot-required file; no kernel found in /boot to compare"))
    }

    @Test("the result's output tail is bounded and starts at a line")
    func tailBound() {
        let long = (0..<2000).map { "Setting up package-\($0) (1.0) ...é" }.joined(separator: "\n")
        let t = UpdatesInstallHandler.tail(long)
        #expect(t.utf8.count <= UpdatesInstallHandler.resultTailBytes && t.hasPrefix("Setting up package-") && t.hasSuffix("1999 (1.0) ...é"))
        #expect(UpdatesInstallHandler.tail("short\n") == "short\n")
    }
}
