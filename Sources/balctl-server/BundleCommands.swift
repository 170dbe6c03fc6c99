import ArgumentParser
import BalctlProtocol
import ControlPlane
import Foundation

/// `balctl-server signing-key create`: the Ed25519 key pair agent bundles are signed with.
struct SigningKey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signing-key", abstract: "Agent bundle signing keys.", subcommands: [Create.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the Ed25519 key pair that signs agent.zip (private key mode 600; never replaced).")
        @Option(help: "Directory for agent-signing.key and agent-signing.pub.")
        var out: String = "/etc/balctl/signing"

        func run() throws {
            let pub = try AgentSigningKey.create(in: out)
            say("""
                wrote \(out)/\(AgentSigningKey.privateName) (mode 600: keep it off the control plane if you can) and \(out)/\(AgentSigningKey.publicName)
                public key (agents pin it as BALCTL_UPDATE_PUBKEY; install commands carry it):
                \(pub)
                """)
        }
    }
}

/// `balctl-server bundle`: build and sign agent.zip from a built agent and the bundle/ files.
struct Bundle: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build a signed agent.zip (agent binary + installer + unit + docs + manifest.json + manifest.sig).",
        discussion: "bundle/make-agent-zip.sh builds the release binary and calls this.")

    @Option(help: "The built balctl-heartbeat (release, --static-swift-stdlib, stripped).")
    var binary: String
    @Option(help: "Stamp this version into the bundled binary (default: the version it carries).")
    var version: String?
    @Option(help: "Private signing key (from `signing-key create`).")
    var signingKey: String = "/etc/balctl/signing/agent-signing.key"
    @Option(help: "Directory with balctl-agent.sh, balctl-heartbeat.service, balctl-heartbeat.env.example, INSTALL_VM.txt, README.md.")
    var files: String = "bundle"
    @Option(help: "Days until the bundle expires (agents refuse it afterwards), 1–3650.")
    var validDays: Int = 90
    @Option(help: "Oldest agent version allowed to self-update to this bundle.")
    var minAgentVersion: String?
    @Option(help: "Output directory (serve it with --agent-bundle).")
    var out: String

    static let bundledFiles = ["balctl-agent.sh", "balctl-heartbeat.service", "balctl-heartbeat.env.example",
                               "INSTALL_VM.txt", "README.md"]

    func run() throws {
        guard (1...3650).contains(validDays) else { throw ValidationError("--valid-days must be 1–3650") }
        var paths = try Self.bundledFiles.map { name -> String in
            let path = files + "/" + name
            guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(path) is missing") }
            return path
        }
        // The licence travels with the agent when the repository has one.
        let license = URL(fileURLWithPath: files).deletingLastPathComponent().appendingPathComponent("LICENSE").path
        if FileManager.default.fileExists(atPath: license) { paths.append(license) }
        var builder = AgentBundleBuilder(binary: binary, version: version, files: paths, signingKey: signingKey)
        builder.validDays = validDays
        builder.minAgentVersion = minAgentVersion
        let manifest = try builder.build(into: out)
        let size = (try? FileManager.default.attributesOfItem(atPath: out + "/" + AgentBundle.zipName)[.size] as? Int) ?? 0
        say("""
            wrote \(out)/\(AgentBundle.zipName) (\(size) bytes): agent \(manifest.version), \(manifest.files.count) files, valid until \(manifest.notAfter)
            serve it: balctl-server serve --agent-bundle \(out) …
            """)
    }
}
