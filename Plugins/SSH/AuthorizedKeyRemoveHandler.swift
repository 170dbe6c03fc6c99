import AgentKernel
import BalctlProtocol

/// `ssh.authorized_key_remove`: remove every line of `~user/.ssh/authorized_keys` holding the
/// given key (by its line or base64 body, or by its `SHA256:` fingerprint), whatever its
/// options or comment. Nothing matches (or no file) → "unchanged". Other lines are kept as they
/// are; the file stays 0600 and the user's.
public struct AuthorizedKeyRemoveHandler: CommandHandler {
    public struct Parameters: CommandParameters {
        public var user: String
        /// A key line, or only its base64 body.
        public var key: String?
        /// `SHA256:` + 43 base64 characters, as `ssh-keygen -l` prints.
        public var fingerprint: String?

        public func validate() throws {
            try UserName.validate(user)
            guard (key == nil) != (fingerprint == nil) else { throw ParameterError("give exactly one of key or fingerprint") }
            if let key {
                if !key.contains(" ") {
                    guard Base64.decodeStrict(key).flatMap(AuthorizedKey.embeddedType) != nil else {
                        throw ParameterError("key: not a key line or a base64 key body")
                    }
                } else {
                    _ = try AuthorizedKey(line: key)
                }
            }
            if let fingerprint {
                let b = Array(fingerprint.utf8)
                let body = b.dropFirst(7)
                guard fingerprint.hasPrefix("SHA256:"), body.count == 43,
                      body.allSatisfy({ Base64.alphabet.contains($0) }) else {
                    throw ParameterError("fingerprint: must look like SHA256: followed by 43 base64 characters")
                }
            }
        }

        /// (type, body) to match, or the fingerprint.
        func matcher() -> (String?, String?, String?) {
            if let key {
                if !key.contains(" ") { return (nil, key, nil) }
                if let k = try? AuthorizedKey(line: key) { return (k.type, k.body, nil) }
            }
            return (nil, nil, fingerprint)
        }
    }

    let settings: SSHSettings
    public init(settings: SSHSettings) { self.settings = settings }
    public static let id = "ssh.authorized_key_remove"
    public static let summary = "Remove a public key from a user's ~/.ssh/authorized_keys"
    public static let parameterHelp = "user: account name; key: the key line or its base64 body, or fingerprint: SHA256:… (exactly one)"
    public static let requiresRoot = true
    public static let lock: String? = SSHPlugin.keysLock
    public static let supportsCheckMode = true
    public static let exampleParameters: JSONValue = .object([
        "user": .string("deploy"), "fingerprint": .string("SHA256:HLZokrInOuedb9TVG3Ugs3T2Tqa4rtY9tMEUNX8Qndw")])

    public func run(_ p: Parameters, in context: JobContext) async throws -> JobOutcome {
        let account = try AuthorizedKeysFile.account(p.user, settings)
        let file = AuthorizedKeysFile(account: account)
        let (type, body, fingerprint) = p.matcher()
        func matches(_ line: [UInt8]) -> Bool {
            guard let k = AuthorizedKey.keyIn(existingLine: line) else { return false }
            if let fingerprint {
                guard let blob = Base64.decodeStrict(k.body) else { return false }
                return AuthorizedKey.fingerprint(of: blob) == fingerprint
            }
            return k.body == body && (type == nil || k.type == type)
        }
        guard let dir = try file.openSSHDir(create: false) else {
            return .unchanged("unchanged: \(account.name) has no \(file.sshDir)")
        }
        let lines = try file.read(dir)
        let removed = lines.filter(matches)
        let result: JSONValue = .object(["user": .string(account.name), "path": .string(file.path),
                                         "removed": .number(Double(removed.count))])
        guard !removed.isEmpty else {
            return .unchanged("unchanged: no such key in \(file.path)", result: result)
        }
        if context.checkMode {
            return JobOutcome(changed: true, summary: "check mode: would remove \(removed.count) line(s) from \(file.path)", result: result)
        }
        try file.write(AuthorizedKeysFile.trimmed(lines.filter { !matches($0) }), in: dir)
        context.log("removed \(removed.count) line(s) from \(file.path)")
        return JobOutcome(changed: true, summary: "removed \(removed.count) key line(s) for \(account.name)", result: result)
    }
}
