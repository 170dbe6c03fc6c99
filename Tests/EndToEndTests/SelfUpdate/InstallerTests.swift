import BalctlProtocol
import ControlPlane
import Foundation
import Testing

/// The installer in bundle/ and the one-shot install command the control plane prints (issue 13),
/// run for real against a throwaway root (`BALCTL_ROOT`) with a fake `systemctl` that records its
/// calls.
@Suite(.serialized) struct InstallerTests {
    /// Tests/EndToEndTests/Installer/installer-test.sh: modes and owners, idempotent re-run,
    /// re-enrolment, uninstall, purge, `systemd-analyze verify`.
    @Test func installerAgainstAThrowawayRoot() throws {
        let kit = try UpdateKit()
        let script = Harness.repoRoot.appendingPathComponent("Tests/EndToEndTests/Installer/installer-test.sh").path
        let r = try kit.run("/bin/sh", [script], env: [
            "AGENT_BIN": try Harness.binary("balctl-heartbeat"),
            "BUNDLE_DIR": Harness.repoRoot.appendingPathComponent("bundle").path,
        ], check: false, timeout: 300)
        #expect(r.status == 0 && r.output.contains("installer-test: all passed"), "\(r.output)")
    }

    /// `balctl members add` prints a command; pasted into a root shell it downloads agent.zip
    /// over HTTPS trusting only the server's private CA, installs and enrols the agent with the
    /// update key pinned, and starts the service; the agent it installed heartbeats.
    @Test func installCommandWorksAsPrinted() async throws {
        let kit = try UpdateKit()
        let bundle = try kit.bundle("next", version: "99.0.0")
        let h = try Harness(extraServerArgs: ["--agent-bundle", bundle.path])
        // The server's certificate comes from the test's private CA: the command must pin it.
        h.extraServerArgs += ["--agent-ca-file", h.tls.caCert]
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("install")
        let e = try await api.member(pool: pool.id, hostname: "vm-install")
        let command = e.installCommand
        #expect(command.contains("--update-pubkey '\(kit.publicKey)'"), "\(command)")
        #expect(command.contains("BEGIN CERTIFICATE") && command.contains("--cacert ca.pem"), "\(command)")
        #expect(!command.contains("\n"), "one line to paste")

        // A throwaway root with a running "systemd" (the directory sd_booted() checks) and a fake
        // systemctl first on PATH.
        let root = kit.dir.appendingPathComponent("root")
        let fake = kit.dir.appendingPathComponent("fake-bin")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("run/systemd/system"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: fake, withIntermediateDirectories: true)
        let calls = kit.dir.appendingPathComponent("systemctl.log")
        try Data("""
            #!/bin/sh
            echo "$*" >> '\(calls.path)'
            case "$1" in is-enabled|is-active) exit 1 ;; esac
            exit 0

            """.utf8).write(to: fake.appendingPathComponent("systemctl"))
        chmod(fake.appendingPathComponent("systemctl").path, 0o755)

        let r = try kit.run("/bin/sh", ["-c", command], env: [
            "BALCTL_ROOT": root.path,
            "PATH": fake.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
        ], check: false, timeout: 300)
        #expect(r.status == 0, "\(r.output)")

        let agentBin = root.appendingPathComponent("usr/local/bin/balctl-heartbeat").path
        let envFile = root.appendingPathComponent("etc/balctl/agent.env").path
        #expect(try Data(contentsOf: URL(fileURLWithPath: agentBin)) == kit.bundledBinary(bundle))
        let envText = try String(contentsOfFile: envFile, encoding: .utf8)
        #expect(envText.contains("BALCTL_UPDATE_PUBKEY=\(kit.publicKey)"), "\(envText)")
        #expect(envText.contains("BALCTL_CA_FILE=/etc/balctl/ca.pem"), "\(envText)")
        #expect(envText.contains("BALCTL_API_BASE=\(h.base)"), "\(envText)")
        let attrs = try FileManager.default.attributesOfItem(atPath: envFile)
        #expect((attrs[.posixPermissions] as? Int) == 0o600)
        // The same certificate (the command ends the PEM with a newline the file may not have).
        #expect(try String(contentsOfFile: root.appendingPathComponent("etc/balctl/ca.pem").path, encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                == String(contentsOfFile: h.tls.caCert, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))
        let systemctl = (try? String(contentsOf: calls, encoding: .utf8)) ?? ""
        #expect(systemctl.contains("enable") && systemctl.contains("start"), "\(systemctl)")

        // The agent it installed, with that configuration (paths inside the throwaway root), heartbeats.
        let once = try kit.run(agentBin, ["--once", "--env-file", envFile], env: [
            "BALCTL_CA_FILE": root.appendingPathComponent("etc/balctl/ca.pem").path,
            "BALCTL_STATE_DIR": root.appendingPathComponent("var/lib/balctl").path,
        ], check: false, timeout: 60)
        #expect(once.status == 0, "\(once.output)")
        #expect(try await api.waitForHeartbeat(e.member.id).agentVersion == "99.0.0")
    }
}
