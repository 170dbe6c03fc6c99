#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FoundationEssentials
import BalctlProtocol

/// An installed update that has not yet proved itself: written before the new binary is renamed
/// into place, removed when the new version has a heartbeat accepted (or is rolled back). Whoever
/// starts next reads it: the new version knows it is on trial, the old version (the swap never
/// happened) knows the update was interrupted.
public struct PendingUpdate: Codable, Sendable, Equatable {
    public var from: String
    public var to: String
    public var binaryPath: String
    /// Unix seconds: no heartbeat accepted by then → roll back.
    public var deadline: Double
    public var jobId: Int64?
}

/// The update bookkeeping in `<state dir>/update/` (mode 0700, root's): the highest version ever
/// confirmed on this host (the version guard), the pending update, and events not yet reported.
/// The events file is read-modify-written under `flock` on `events.lock`, so the service's
/// acknowledgements and a concurrent `--update` (another process) never drop each other's events.
public struct UpdateState: Sendable {
    public let directory: String

    public init(stateDir: String) { directory = stateDir + "/update" }

    var highestFile: String { directory + "/highest-version" }
    var pendingFile: String { directory + "/pending.json" }
    var eventsFile: String { directory + "/events.json" }
    /// Most events kept while the control plane cannot be reached.
    static let maxEvents = 20

    public func prepare() throws {
        let parent = String(directory.dropLast("/update".count))
        if access(parent, F_OK) != 0 { try SafeFile.makeDirectory(parent, mode: 0o700) }
        try SafeFile.makeDirectory(directory, mode: 0o700)
    }

    /// The highest version confirmed here (a heartbeat accepted from it); nil before the first update.
    public func highestConfirmed() -> AgentVersion? {
        readTextFile(highestFile, limit: 64).flatMap { AgentVersion(String($0.split(separator: "\n").first ?? "")) }
    }

    /// Raise the mark (never lowers it).
    public func confirm(_ version: AgentVersion) throws {
        if let h = highestConfirmed(), h >= version { return }
        try SafeFile.write(highestFile, Array("\(version)\n".utf8), mode: 0o600)
    }

    public func pending() -> PendingUpdate? {
        guard let text = readTextFile(pendingFile, limit: 64 << 10) else { return nil }
        return try? JSONDecoder().decode(PendingUpdate.self, from: Data(text.utf8))
    }

    public func setPending(_ p: PendingUpdate) throws {
        try SafeFile.write(pendingFile, Array(try JSONEncoder().encode(p)), mode: 0o600)
    }

    public func clearPending() { unlink(pendingFile) }

    public func events() -> [AgentUpdateEvent] {
        guard let text = readTextFile(eventsFile, limit: 1 << 20) else { return [] }
        return (try? JSONDecoder().decode([AgentUpdateEvent].self, from: Data(text.utf8))) ?? []
    }

    private func withEventsLock(_ body: () -> Void) {
        let fd = open(directory + "/events.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        defer { if fd >= 0 { close(fd) } }
        if fd >= 0 { while flock(fd, LOCK_EX) != 0 && errno == EINTR {} }
        body()
    }

    /// Queue an event for the next heartbeats (the oldest go beyond `maxEvents`).
    public func record(_ kind: AgentUpdateEvent.Kind, from: String, to: String?, message: String, jobId: Int64?) {
        withEventsLock {
        var all = events()
        all.append(AgentUpdateEvent(id: hexString((0..<8).map { _ in UInt8.random(in: 0...255) }), kind: kind,
                                    from: from, to: to, at: unixNow(), message: message, jobId: jobId))
        if all.count > Self.maxEvents { all.removeFirst(all.count - Self.maxEvents) }
        if let data = try? JSONEncoder().encode(all) { try? SafeFile.write(eventsFile, Array(data), mode: 0o600) }
        }
    }

    /// Drop the events a heartbeat carried once it was accepted (others may have arrived since).
    public func acknowledge(_ sent: [AgentUpdateEvent]) {
        guard !sent.isEmpty else { return }
        withEventsLock {
        let ids = Set(sent.map(\.id))
        let left = events().filter { !ids.contains($0.id) }
        if left.isEmpty { unlink(eventsFile); return }
        if let data = try? JSONEncoder().encode(left) { try? SafeFile.write(eventsFile, Array(data), mode: 0o600) }
        }
    }
}
