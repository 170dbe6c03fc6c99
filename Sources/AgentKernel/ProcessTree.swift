#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Every process one spawned program started, wherever it went (issue 20 items 12–13). A process
/// group is not enough: `setsid` (or a daemon's double fork) leaves the group, and once its parent
/// is gone the process is reparented away from the tree. So each program gets a random mark in its
/// environment, which its descendants inherit; a member is a live process in the program's group,
/// carrying the mark, or descending from either (that covers a descendant that cleared its
/// environment while its parent lives). Only the agent's own uid (or root) can read another
/// process's environment, so an unrelated user cannot make a process look like a job's; the mark
/// is random per run, so jobs never claim each other's processes.
struct ProcessTree: Sendable {
    static let markVariable = "BALCTL_PROCESS_TREE"

    /// The program's pid, which is also its process group id.
    let leader: pid_t
    let mark: String

    static func newMark() -> String {
        var g = SystemRandomNumberGenerator()
        return [g.next(), g.next()].map { (v: UInt64) -> String in
            let hex = String(v, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }

    /// Live (not zombie) members, never the agent itself. `leaderReaped`: the leader's pid no
    /// longer names the program, so it is not a root of the tree walk.
    func members(leaderReaped: Bool) -> [pid_t] {
        let me = getpid()
        var parentOf: [pid_t: pid_t] = [:]
        var found: Set<pid_t> = []
        for pid in Self.allPids() where pid != me && pid != 1 {
            guard let stat = Self.stat(pid), stat.state != "Z" else { continue }
            parentOf[pid] = stat.ppid
            if stat.pgid == leader || carriesMark(pid) { found.insert(pid) }
        }
        if !leaderReaped, parentOf[leader] != nil { found.insert(leader) }
        // Descendants of members, to a fixed point.
        var grew = true
        while grew {
            grew = false
            for (pid, parent) in parentOf where !found.contains(pid) && found.contains(parent) {
                found.insert(pid)
                grew = true
            }
        }
        return found.sorted()
    }

    /// Signal the group and every member. After the leader was reaped the group may still have
    /// members (and its id cannot be reused while it has), so the group is signalled either way.
    func signal(_ sig: Int32, leaderReaped: Bool) {
        kill(-leader, sig)
        for pid in members(leaderReaped: leaderReaped) { kill(pid, sig) }
    }

    private func carriesMark(_ pid: pid_t) -> Bool {
        let wanted = Array("\(Self.markVariable)=\(mark)".utf8)
        guard let environ = Self.readBytes("/proc/\(pid)/environ", limit: 4 << 20) else { return false }
        return environ.split(separator: 0, omittingEmptySubsequences: true).contains { $0.elementsEqual(wanted) }
    }

    private static func allPids() -> [pid_t] {
        guard let dir = opendir("/proc") else { return [] }
        defer { closedir(dir) }
        var out: [pid_t] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if let pid = pid_t(name) { out.append(pid) }
        }
        return out
    }

    /// State, parent and process group from /proc/<pid>/stat (the command name, which may hold
    /// spaces and parentheses, ends at the last ')').
    static func stat(_ pid: pid_t) -> (state: Character, ppid: pid_t, pgid: pid_t)? {
        guard let bytes = readBytes("/proc/\(pid)/stat", limit: 4096),
              let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = String(decoding: bytes[(close + 1)...], as: UTF8.self).split(separator: " ")
        guard fields.count >= 3, let state = fields[0].first,
              let ppid = pid_t(fields[1]), let pgid = pid_t(fields[2]) else { return nil }
        return (state, ppid, pgid)
    }

    private static func readBytes(_ path: String, limit: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while bytes.count < limit {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 { bytes.append(contentsOf: buffer[0..<n]) }
            else if n < 0 && errno == EINTR { continue }
            else { break }
        }
        return bytes
    }
}
