import AgentKernel
import BalctlProtocol
@testable import SSHPlugin
import Testing

/// What the control plane learns from the plugin's declarations.
@Suite struct CatalogueTests {
    @Test func commandsExamplesAndLocks() throws {
        let registry = HandlerRegistry(plugins: [SSHPlugin(settings: SSHSettings())])
        let infos = registry.catalogue.infos
        #expect(infos.map(\.id).sorted() == ["ssh.authorized_key_add", "ssh.authorized_key_remove", "ssh.disable", "ssh.enable",
                                             "ssh.harden", "ssh.harden_undo", "ssh.status"])
        for info in infos {
            #expect(info.stack == "ssh")
            #expect(info.supportsCheckMode || info.id == "ssh.status")
            #expect(info.requiresRoot == (info.id != "ssh.status"))
            // Every example decodes and validates with the handler's own parameter type.
            try registry.catalogue.validate(command: info.id, params: info.example ?? .emptyObject, checkMode: false)
        }
        // enable/disable queue with firewall.* jobs (they change its rules); keys and config on "ssh".
        #expect(infos.first { $0.id == "ssh.enable" }?.lock == "firewall")
        #expect(infos.first { $0.id == "ssh.disable" }?.lock == "firewall")
        #expect(infos.first { $0.id == "ssh.harden" }?.lock == "ssh")
        #expect(infos.first { $0.id == "ssh.status" }?.lock == nil)
    }
}
