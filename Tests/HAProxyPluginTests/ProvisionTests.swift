import AgentKernel
import BalctlProtocol
import Foundation
@testable import HAProxyPlugin
import Testing
import TestSupport

extension HAProxyPluginSuite {
/// haproxy.provision with a fake package manager that "installs" a fake haproxy.
@Suite struct Provision {
    struct Fixture {
        let dir: TempDir
        let log: String
        let binary: String
        var settings: HAProxySettings

        init(kind: PackageManager.Kind = .apt, exitCode: Int = 0, systemd: Bool = false) throws {
            dir = try TempDir("provision")
            log = dir.file("pm.log")
            binary = dir.file("bin/haproxy")
            try FileManager.default.createDirectory(atPath: dir.file("bin"), withIntermediateDirectories: true)
            let fake = try dir.write("fake-haproxy", "#!/bin/sh\necho 'HAProxy version 9.9.9-test 2026/01/01 - https://haproxy.org/'\n", mode: 0o755)
            let pm = try dir.write("pm", """
            #!/bin/sh
            echo "$* [DEBIAN_FRONTEND=$DEBIAN_FRONTEND]" >> \(log)
            if [ \(exitCode) -ne 0 ]; then echo "E: Unable to locate package haproxy"; exit \(exitCode); fi
            case "$1" in install|reinstall) cp \(fake) \(binary); chmod 755 \(binary);; esac
            exit 0
            """, mode: 0o755)
            let systemctl = try dir.write("systemctl", "#!/bin/sh\necho \"systemctl $*\" >> \(log)\n", mode: 0o755)
            if systemd { try FileManager.default.createDirectory(atPath: dir.file("systemd"), withIntermediateDirectories: true) }
            settings = HAProxySettings(configPath: dir.file("haproxy.cfg"), haproxyBinary: binary, stateDir: dir.file("state"),
                                       systemctl: systemctl, systemdRunDir: dir.file("systemd"),
                                       packageManager: PackageManager(kind: kind, program: pm))
        }

        var calls: [String] {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        var stamp: String? { try? String(contentsOfFile: settings.stampPath, encoding: .utf8) }
    }

    @Test("apt: installs, stamps; a re-run is unchanged; force reinstalls; check mode runs nothing")
    func apt() async throws {
        let f = try Fixture()
        let handler = ProvisionHandler(settings: f.settings)
        let (check, _) = try await runJob(handler, checkMode: true)
        #expect(check.changed && check.summary.contains("would run"))
        #expect(f.calls.isEmpty && f.stamp == nil)

        let (installed, _) = try await runJob(handler)
        #expect(installed.changed)
        #expect(installed.summary == "haproxy 9.9.9-test installed with pm")
        #expect(f.calls == ["update -o DPkg::Lock::Timeout=120 [DEBIAN_FRONTEND=noninteractive]",
                            "install -y -o DPkg::Lock::Timeout=120 haproxy [DEBIAN_FRONTEND=noninteractive]"])
        #expect(f.stamp?.hasPrefix("haproxy 9.9.9-test installed with pm at ") == true)
        #expect(f.settings.stampPath == f.dir.file("state/.haproxy-provisioned"))

        let (again, _) = try await runJob(handler)
        #expect(!again.changed && again.summary.contains("already installed"))
        #expect(f.calls.count == 2, "no package manager call on a re-run")

        let (forced, _) = try await runJob(handler, .object(["force": .bool(true)]))
        #expect(forced.changed && forced.summary.contains("reinstalled"))
        #expect(f.calls.last == "install -y -o DPkg::Lock::Timeout=120 --reinstall haproxy [DEBIAN_FRONTEND=noninteractive]")
    }

    @Test func dnfWithSystemd() async throws {
        let f = try Fixture(kind: .dnf, systemd: true)
        let (installed, _) = try await runJob(ProvisionHandler(settings: f.settings))
        #expect(installed.changed)
        #expect(f.calls == ["install -y haproxy [DEBIAN_FRONTEND=noninteractive]", "systemctl enable --now haproxy.service"])
        _ = try await runJob(ProvisionHandler(settings: f.settings), .object(["force": .bool(true)]))
        #expect(f.calls[2] == "reinstall -y haproxy [DEBIAN_FRONTEND=noninteractive]")
    }

    @Test("a failing install says what the package manager said, and leaves no stamp")
    func failure() async throws {
        let f = try Fixture(exitCode: 100)
        let error = await jobError(ProvisionHandler(settings: f.settings))
        #expect(error?.contains("pm update -o DPkg::Lock::Timeout=120 failed (exit 100): E: Unable to locate package haproxy") == true, "\(error ?? "")")
        #expect(f.stamp == nil)
        // Without an injected one, the package manager is detected (apt-get on this Debian machine).
        #expect(PackageManager.detect()?.kind == .apt)
    }

    @Test("already installed by hand: unchanged, and stamped")
    func preinstalled() async throws {
        var f = try Fixture()
        f.settings.haproxyBinary = "/usr/sbin/haproxy"
        let (o, _) = try await runJob(ProvisionHandler(settings: f.settings))
        #expect(!o.changed && o.summary.contains("is already installed at /usr/sbin/haproxy"))
        #expect(o.summary.contains("stamped"))
        #expect(f.stamp?.hasPrefix("haproxy 2.") == true)
        #expect(f.calls.isEmpty)
    }

    @Test("--provision-haproxy and the one-shot BALCTL_PROVISION_HAPROXY=1")
    func firstStart() async throws {
        let f = try Fixture()
        #expect(await HAProxyFirstStart.provisionNow(settings: f.settings) == 0)
        #expect(f.stamp != nil)

        let g = try Fixture()
        let plugin = HAProxyPlugin(settings: g.settings)
        #expect(plugin.startupWork(log: AgentLog(minimum: .error)) == nil, "not requested")
        setenv("BALCTL_PROVISION_HAPROXY", "1", 1)
        defer { unsetenv("BALCTL_PROVISION_HAPROXY") }
        let work = try #require(plugin.startupWork(log: AgentLog(minimum: .error)))
        #expect(work.lock == "haproxy")
        await work.run()
        #expect(g.stamp != nil && g.calls.count == 2)
        #expect(plugin.startupWork(log: AgentLog(minimum: .error)) == nil, "one shot: the stamp exists")

        let broken = try Fixture(exitCode: 1)
        #expect(await HAProxyFirstStart.provisionNow(settings: broken.settings) == 1)
    }
}
}
