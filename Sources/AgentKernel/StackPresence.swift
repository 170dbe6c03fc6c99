/// A plugin whose stack can be absent says why (issue 16): "MariaDB is not installed: no server
/// binary at /usr/sbin/mariadbd", "wsrep is off (not a Galera node)". When its `probe()` returns
/// nil the agent asks `hiddenReason()` and sends it in the heartbeat's `hiddenStacks`, so the
/// operator reads why a tab is empty instead of guessing. A plugin that does not conform is
/// simply absent, as before. Like `probe()`, it is on the heartbeat path: no program may run here.
public protocol StackPresence: Sendable {
    /// Why the stack is not reported now; nil while it is (or when the plugin cannot tell).
    func hiddenReason() async -> String?
}

public enum HiddenStacks {
    /// A reason is cut to this many bytes (on a character boundary) and stripped of control
    /// characters: the heartbeat stays small whatever a plugin says.
    public static let maxReasonBytes = 160

    public static func clip(_ reason: String) -> String {
        var out = "", used = 0
        for ch in reason {
            let printable = ch.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F && !(0x80...0x9F).contains($0.value) }
            let c: Character = printable ? ch : " "
            let size = c.utf8.count
            if used + size > maxReasonBytes { break }
            out.append(c); used += size
        }
        return out
    }
}
