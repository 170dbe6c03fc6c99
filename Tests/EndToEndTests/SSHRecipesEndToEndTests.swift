#if canImport(Glibc)
import Glibc
#endif
import AgentKernel
import BalctlProtocol
import ControlPlane
import Foundation
import Testing
import TestSupport

/// Issue 15: the shipped recipes `enable-ssh-access` and `harden-ssh` (from `recipes/`, as the
/// control plane loads them) run through a real `balctl-server` and a real root
/// `balctl-heartbeat`, enabled and then undone. What the agent touches is real but private:
/// ufw in a throwaway network + mount namespace (TestSupport's `UFWNamespace`, reached through
/// `BALCTL_UFW*`), the real sshd (`sshd -t` / `sshd -T`, run as nobody by a wrapper) on a temp
/// configuration with a throwaway host key (`BALCTL_SSH_CONFIG_DIR`), and a recording
/// `systemctl` (`BALCTL_SSH_SYSTEMCTL`): the host's firewall, /etc/ssh and services are never
/// touched.
@Suite(.serialized)
struct SSHRecipesEndToEndTests {
    /// The private sshd setup the agent is pointed at.
    struct SSHRig {
        let root: String
        var configDir: String { root + "/etc-ssh" }
        var dropIn: String { configDir + "/sshd_config.d/50-balctl.conf" }
        var calls: String { root + "/systemd/calls" }

        init() throws {
            var template = Array("/tmp/balctl-e2e-ssh-XXXXXX".utf8CString)
            guard let p = mkdtemp(&template) else { throw Harness.HarnessError("mkdtemp failed") }
            root = String(cString: p)
            chmod(root, 0o755)
            try Self.sh("""
                mkdir -p \(configDir)/sshd_config.d \(root)/bin \(root)/systemd \(root)/privsep &&
                chmod 755 \(configDir) \(configDir)/sshd_config.d &&
                ssh-keygen -q -t ed25519 -N '' -f \(configDir)/host_ed25519 && chown nobody \(configDir)/host_ed25519
                """)
            try Self.write(configDir + "/sshd_config", """
                Include \(configDir)/sshd_config.d/*.conf
                HostKey \(configDir)/host_ed25519
                Port 2222
                PidFile \(root)/sshd.pid
                PasswordAuthentication yes
                KbdInteractiveAuthentication no

                """)
            // As root, sshd -T insists on /run/sshd; as nobody it reads only what we made readable.
            try Self.write(root + "/bin/sshd", """
                #!/bin/sh
                exec setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/sbin/sshd "$@"
                """, mode: 0o755)
            try Self.write(root + "/bin/systemctl", """
                #!/bin/sh
                d=\(root)/systemd
                echo "$*" >> $d/calls
                case "$1" in
                is-active) s=$(cat $d/active 2>/dev/null || echo inactive); echo "$s"; [ "$s" = active ];;
                is-enabled) s=$(cat $d/enabled 2>/dev/null || echo disabled); echo "$s"; [ "$s" = enabled ];;
                enable) echo enabled > $d/enabled; [ "$2" = --now ] && echo active > $d/active; exit 0;;
                disable) echo disabled > $d/enabled; [ "$2" = --now ] && echo inactive > $d/active; exit 0;;
                try-reload-or-restart|reload|restart) exit 0;;
                *) echo "fake systemctl: unknown verb $1" >&2; exit 1;;
                esac
                """, mode: 0o755)
        }

        func env(_ ns: UFWNamespace) -> [String: String] {
            ["BALCTL_FIREWALL_TOOL": "ufw", "BALCTL_UFW": ns.ufwWrapper, "BALCTL_UFW_DIR": ns.ufwDir,
             "BALCTL_UFW_DEFAULTS": ns.defaultsFile, "BALCTL_SSHD": root + "/bin/sshd",
             "BALCTL_SSH_SYSTEMCTL": root + "/bin/systemctl", "BALCTL_SSH_CONFIG_DIR": configDir,
             "BALCTL_SSH_UNIT": "ssh", "BALCTL_SSH_PRIVSEP_DIR": root + "/privsep"]
        }

        func systemctlCalls() -> [String] {
            ((try? String(contentsOfFile: calls, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }

        func remove() { try? FileManager.default.removeItem(atPath: root) }

        static func sh(_ command: String) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", command]
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw Harness.HarnessError("\(command) failed") }
        }

        static func write(_ path: String, _ text: String, mode: mode_t = 0o644) throws {
            try SafeFile.write(path, Array(text.utf8), mode: mode)
        }
    }

    @Test("enable-ssh-access and harden-ssh run end to end through a real control plane and root agent, and their disable steps undo them")
    func sshRecipes() async throws {
        guard geteuid() == 0 else { throw Harness.HarnessError("needs root: the agent manages ufw and sshd as root") }
        let ns = try await UFWNamespace.start()
        defer { ns.stop() }
        let rig = try SSHRig()
        defer { rig.remove() }

        let h = try Harness(extraServerArgs: ["--recipes-dir", Harness.repoRoot.appendingPathComponent("recipes").path])
        try await h.startServer()
        let api = try h.api()
        let pool = try await api.pool("ssh")
        let e = try await api.member(pool: pool.id, hostname: "gate")
        var env = h.agentEnv(secret: e.enrollmentSecret, hostname: "gate",
                             stateDir: h.dir.appendingPathComponent("agent-state").path)
        env.merge(rig.env(ns)) { $1 }
        h.agents.append(try h.run(try Harness.binary("balctl-heartbeat"), [], env: env, log: "agent.log"))
        _ = try await api.waitForHeartbeat(e.member.id)

        // The SSH stack is reported, so harden-ssh (applies: stacks [ssh]) is offered.
        let offered = try await waitUntilOffered(api, member: e.member.id, ["enable-ssh-access", "harden-ssh"])
        #expect(offered, "both SSH recipes are offered to the member")

        // enable-ssh-access on port 2222: the ufw rule, the service, sshd -T's readout.
        let enabled = try await run(api, e, "enable-ssh-access", params: ["port": .number(2222)])
        #expect(enabled.state == .completed, "\(enabled.error ?? "")")
        // ufw is inactive in the namespace (enabling it is not part of this recipe): its added rules.
        let added = try await addedRules(ns)
        #expect(added.contains("ufw allow 2222/tcp"), "ufw in the namespace: \(added)")
        #expect(rig.systemctlCalls().contains("enable --now ssh.service"), "\(rig.systemctlCalls())")
        let status = try await lastResult(api, enabled)
        #expect(status?["ports"] == .array([.number(2222)]), "\(String(describing: status))")
        #expect(status?["passwordAuthentication"] == .bool(true))

        // harden-ssh: the validated drop-in, then sshd -T says keys only. force: the agent's
        // accounts are this machine's, which need not have an authorized key.
        let hardened = try await run(api, e, "harden-ssh", params: ["force": .bool(true)])
        #expect(hardened.state == .completed, "\(hardened.error ?? "")")
        let dropIn = (try? String(contentsOfFile: rig.dropIn, encoding: .utf8)) ?? ""
        #expect(dropIn.lowercased().contains("passwordauthentication no"), "\(dropIn)")
        let after = try await lastResult(api, hardened)
        #expect(after?["passwordAuthentication"] == .bool(false), "\(String(describing: after))")
        #expect(after?["permitRootLogin"] == .string("prohibit-password"))
        #expect(rig.systemctlCalls().contains { $0.hasPrefix("try-reload-or-restart") }, "sshd reloaded")

        // Undo, newest first: the drop-in goes; then SSH off and its rule deleted (confirm:
        // nothing else on this host is a way in).
        let unhardened = try await disable(api, e, "harden-ssh", params: nil)
        #expect(unhardened.state == .completed, "\(unhardened.error ?? "")")
        #expect(!FileManager.default.fileExists(atPath: rig.dropIn))
        let refused = try await disable(api, e, "enable-ssh-access", params: nil)
        #expect(refused.state == .failed, "ssh.disable without confirm while SSH is the only way in")
        #expect(refused.error?.contains("confirm") == true, "\(refused.error ?? "")")
        #expect(try await addedRules(ns).contains("2222/tcp"), "nothing changed by the refused disable")
        let disabled = try await disable(api, e, "enable-ssh-access", params: ["confirm_disable": .bool(true)])
        #expect(disabled.state == .completed, "\(disabled.error ?? "")")
        #expect(!(try await addedRules(ns)).contains("2222/tcp"), "the SSH rule is gone")
        #expect(rig.systemctlCalls().contains("disable --now ssh.service"), "\(rig.systemctlCalls())")
    }

    /// `ufw show added`: the rules ufw holds, active or not.
    func addedRules(_ ns: UFWNamespace) async throws -> String {
        try await ns.inNamespace(["/usr/sbin/ufw", "show", "added"])
    }

    func waitUntilOffered(_ api: Harness.Operator, member: Int64, _ ids: [String]) async throws -> Bool {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let offered: [Recipe] = try await api.call("GET", "/recipes?member=\(member)")
            if Set(ids).isSubset(of: Set(offered.map(\.id))) { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    func run(_ api: Harness.Operator, _ e: MemberEnrollment, _ recipe: String, params: [String: JSONValue]) async throws -> RecipeRunView {
        let started: RecipeRunView = try await api.call("POST", "/members/\(e.member.id)/recipes/\(recipe)/run",
                                                        RunRecipeRequest(params: params))
        return try await api.waitForRecipeRun(started.id, timeout: 90)
    }

    func disable(_ api: Harness.Operator, _ e: MemberEnrollment, _ recipe: String, params: [String: JSONValue]?) async throws -> RecipeRunView {
        let started: RecipeRunView = try await api.call("POST", "/members/\(e.member.id)/recipes/\(recipe)/disable",
                                                        RunRecipeRequest(params: params))
        return try await api.waitForRecipeRun(started.id, timeout: 90)
    }

    /// The result of the run's last step (its check: ssh.status).
    func lastResult(_ api: Harness.Operator, _ run: RecipeRunView) async throws -> JSONValue? {
        guard let id = run.steps.last?.jobId else { return nil }
        return try await api.job(id).result
    }
}
