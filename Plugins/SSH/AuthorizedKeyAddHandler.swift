import AgentKernel
import BalctlProtocol

/// `ssh.authorized_key_add`: append one validated public key line to `~user/.ssh/authorized_keys`
/// (`.ssh` 0700 and the file 0600, both owned by the user; no link followed, see
/// AuthorizedKeysFile). The same key (type and body, whatever the comment or options) already
/// there → "unchanged".
public struct AuthorizedKeyAddHandler: CommandHandler {
    public struct Parameters: CommandParameters {
        public var user: String
        public var key: String
        public func validate() throws {
            try UserName.validate(user)
            _ = try AuthorizedKey(line: key)
        }
    }

    let settings: SSHSettings
    public init(settings: SSHSettings) { self.settings = settings }
    public static let id = "ssh.authorized_key_add"
    public static let summary = "Add a public key to a user's ~/.ssh/authorized_keys"
    public static let parameterHelp = "user: account name; key: one line 'type base64 [comment]' (ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa, sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com; no options)"
    public static let requiresRoot = true
    public static let lock: String? = SSHPlugin.keysLock
    public static let supportsCheckMode = true
    public static let exampleParameters: JSONValue = .object([
        "user": .string("deploy"),
        "key": .string("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAMoONsJCioDv1Tuhdk1GU4JPLJuFoTYNHVr4u6Q3XDq ops@example"),
    ])

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        let key = try AuthorizedKey(line: p.key)
        let account = try AuthorizedKeysFile.account(p.user, settings)
        let file = AuthorizedKeysFile(account: account)
        let result: JSONValue = .object(["user": .string(account.name), "path": .string(file.path),
                                         "type": .string(key.type), "fingerprint": .string(key.fingerprint)])
        // Looked at without creating anything first, so check mode and a re-run change nothing.
        let existing = try file.read(file.openSSHDir(create: false))
        if existing.contains(where: { AuthorizedKey.keyIn(existingLine: $0).map { $0.type == key.type && $0.body == key.body } ?? false }) {
            return .unchanged("unchanged: \(key.fingerprint) is already authorized for \(account.name)", result: result)
        }
        if context.checkMode {
            return JobOutcome(changed: true, summary: "check mode: would add \(key.type) \(key.fingerprint) to \(file.path)", result: result)
        }
        guard let dir = try file.openSSHDir(create: true) else { throw JobFailure("\(file.sshDir): cannot be created") }
        // Read again through the descriptor we write through.
        let lines = AuthorizedKeysFile.trimmed(try file.read(dir)) + [Array(key.line.utf8)]
        try file.write(lines, in: dir)
        context.log("added \(key.type) \(key.fingerprint) to \(file.path)")
        return JobOutcome(changed: true, summary: "added \(key.type) \(key.fingerprint) for \(account.name)", result: result)
    }
}
