import CurlClient

/// What a plugin contributes to backups (the scope seam): which files make up its stack, how a
/// restored copy is checked before it goes live, and how the stack picks it up. The backup plugin
/// knows scopes only through this protocol; the kernel collects every plugin's scopes by name.
public protocol BackupScope: Sendable {
    /// e.g. "haproxy", "firewall", "paths"; the `scope` parameter of `backup.create`.
    var name: String { get }
    /// Absolute paths to capture (files or directories, walked without following links).
    /// `paths` is the operator's list, for scopes that take one (the `paths` scope); others
    /// refuse a non-empty list.
    func roots(paths: [String]) throws -> [String]
    /// What `backup.create` walks: by default `roots(paths:)`. A scope whose data must be made
    /// first (a database dump) makes it here, in the job, and returns the files it made; in check
    /// mode it makes nothing, says what it would make in the job output, and returns what exists.
    func capture(paths: [String], in context: JobContext) async throws -> [String]
    /// Before a restore onto a host that may lack the stack (standby provisioning): install it.
    /// Returns true when something was installed.
    func prepare(in context: JobContext) async throws -> Bool
    /// Check the restored files while they are still in the staging directory: `stagingRoot`
    /// mirrors `/` (a snapshot of `/etc/haproxy/haproxy.cfg` is at
    /// `stagingRoot + "/etc/haproxy/haproxy.cfg"`). `roots` are the absolute paths the snapshot
    /// says it was taken of (every entry lies under one): a scope refuses roots that are not its
    /// own, so a snapshot labelled `haproxy` by a compromised member cannot carry `/root/.ssh`.
    /// Throw to refuse the restore.
    func validateStaged(stagingRoot: String, roots: [String], in context: JobContext) async throws
    /// After the files are in place: make the stack use them (a reload). Throwing rolls the files
    /// back, and `activate` runs once more on the previous files.
    func activate(in context: JobContext) async throws
}

extension BackupScope {
    public func capture(paths: [String], in context: JobContext) async throws -> [String] { try roots(paths: paths) }
    public func prepare(in context: JobContext) async throws -> Bool { false }
    public func validateStaged(stagingRoot: String, roots: [String], in context: JobContext) async throws {}
    public func activate(in context: JobContext) async throws {}
}

/// The agent's own HTTPS session to the control plane with its bearer secret, for bulk transfers
/// (snapshot parts): longer timeouts and larger bodies than job reports. Blocking: callers run it
/// on their own threads (a part upload must not hold a cooperative-pool thread).
public protocol ControlPlaneChannel: Sendable {
    func send(_ method: String, _ path: String, headers: [(String, String)], body: [UInt8]?) throws -> HTTPResponse
    /// A request whose body is produced while it travels (chunked): `body` fills the buffer it
    /// is given, returns the count, 0 at the end, and may block until it has bytes.
    func stream(_ method: String, _ path: String, headers: [(String, String)],
                body: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) throws -> HTTPResponse
}

extension ControlPlaneChannel {
    /// For channels that cannot stream (test doubles): the body is gathered, then sent whole.
    public func stream(_ method: String, _ path: String, headers: [(String, String)],
                       body: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) throws -> HTTPResponse {
        var bytes: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let n = try body(chunk)
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return try send(method, path, headers: headers, body: bytes)
    }
}
