#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentKernel
import BalctlProtocol

/// `firewall.backup`: ufw's rule and settings files into one file under
/// `<stateDir>/firewall-backups` (directory 0700, file 0600, unique name, never through a
/// link). The result names it for `firewall.restore`.
public struct BackupHandler: CommandHandler {
    public typealias Parameters = NoParameters
    let settings: FirewallSettings
    public init(settings: FirewallSettings) { self.settings = settings }
    public static let id = "firewall.backup"
    public static let summary = "Back up the firewall rules and settings (ufw or firewalld) to the agent's state directory"
    public static let requiresRoot = true
    public static let lock: String? = FirewallPlugin.lock
    public static let supportsCheckMode = true

    public func run(_ p: NoParameters, in context: JobContext) async throws -> JobOutcome {
        if settings.selectedTool() == .firewalld { return try await FirewalldBackup.backup(settings, context: context) }
        guard settings.resolvedUFW() != nil || Files.exists(settings.ufwDir + "/user.rules") else {
            throw JobFailure("ufw is not installed (apt-get install ufw)")
        }
        let backup = try UFWBackup.capture(settings)
        let names = backup.files.map(\.name)
        if context.checkMode {
            return JobOutcome(changed: true, summary: "check mode: would back up \(names.count) files to \(settings.backupDir)",
                              result: .object(["files": .array(names.map(JSONValue.string))]))
        }
        let path: String
        do {
            try SafeFile.makeDirectory(settings.backupDir, mode: 0o700)
            path = try SafeFile.writeUnique(in: settings.backupDir, prefix: "ufw-\(backup.createdAt)-",
                                            Array(backup.json.jsonString().utf8), mode: 0o600)
        } catch {
            throw JobFailure("cannot write the backup: \(error)")
        }
        let name = Files.basename(path)
        return JobOutcome(changed: true, summary: "backed up \(names.count) ufw files as \(name)",
                          result: .object(["backup": .string(name), "path": .string(path),
                                           "files": .array(names.map(JSONValue.string))]))
    }
}
