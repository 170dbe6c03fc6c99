import BalctlProtocol

/// `grastate.dat`, the node's saved Galera state:
///
///     # GALERA saved state
///     version: 2.1
///     uuid:    04aaad88-ebce-11f1-93d5-e6ceda60e39c
///     seqno:   -1
///     safe_to_bootstrap: 0
///
/// Outside input (a file in the datadir a compromised or broken server writes): parsed in one
/// bounded pass over at most `maxBytes` bytes and `maxLines` lines; a UUID must be a UUID, seqno
/// a number from -1 to Int64.max, safe_to_bootstrap 0 or 1 — anything else is left unknown (nil),
/// never guessed. A key given twice: the last wins, as Galera reads it. Fuzzed in the tests
/// (prefixes, mutations, a work bound).
public struct GraState: Sendable, Equatable {
    public var version: String?
    public var uuid: String?
    /// -1: the node ran (or crashed) without a clean shutdown; the real position needs
    /// `mariadbd --wsrep-recover` (`galera.recover_position`).
    public var seqno: Int64?
    /// nil when the file does not say (or says something else than 0 or 1).
    public var safeToBootstrap: Bool?

    public static let maxBytes = 64 * 1024
    public static let maxLines = 1000

    public init() {}

    /// Parse; `steps` counts the loop turns (at most one per byte plus one per line), so the
    /// tests can hold the parser to a linear bound.
    public static func parse(_ bytes: [UInt8]) -> (state: GraState, steps: Int) {
        var s = GraState()
        var steps = 0
        var lines = 0
        var start = 0
        let end = min(bytes.count, maxBytes)
        var i = 0
        while i <= end && lines < maxLines {
            steps += 1
            if i == end || bytes[i] == 0x0A {
                s.take(bytes[start..<i])
                lines += 1
                start = i + 1
            }
            i += 1
        }
        return (s, steps)
    }

    public static func parse(_ text: String) -> GraState { parse(Array(text.utf8)).state }

    private mutating func take(_ line: ArraySlice<UInt8>) {
        guard line.count <= 256, let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return }
        let key = trim(line[line.startIndex..<colon])
        let value = trim(line[(colon + 1)...])
        guard !key.isEmpty, key.first != UInt8(ascii: "#") else { return }
        let text = String(decoding: value, as: UTF8.self)
        switch String(decoding: key, as: UTF8.self) {
        case "version":
            version = (value.count <= 16 && value.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E }) && !value.isEmpty ? text : nil
        case "uuid":
            uuid = GraState.uuid(value)
        case "seqno":
            if let n = Int64(text), n >= -1 { seqno = n } else { seqno = nil }
        case "safe_to_bootstrap":
            safeToBootstrap = text == "1" ? true : text == "0" ? false : nil
        default:
            break
        }
    }

    private func trim(_ s: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var a = s.startIndex, b = s.endIndex
        while a < b, s[a] == 0x20 || s[a] == 0x09 || s[a] == 0x0D { a += 1 }
        while b > a, s[b - 1] == 0x20 || s[b - 1] == 0x09 || s[b - 1] == 0x0D { b -= 1 }
        return s[a..<b]
    }

    static func uuid(_ v: ArraySlice<UInt8>) -> String? {
        guard v.count == 36 else { return nil }
        var out: [UInt8] = []
        for (k, b) in v.enumerated() {
            if [8, 13, 18, 23].contains(k) { guard b == 0x2D else { return nil }; out.append(b); continue }
            let l = (b >= 0x41 && b <= 0x46) ? b + 0x20 : b
            guard (0x30...0x39).contains(l) || (0x61...0x66).contains(l) else { return nil }
            out.append(l)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The all-zero UUID Galera writes before a node ever joined a cluster.
    public var isFresh: Bool { uuid == nil || uuid == "00000000-0000-0000-0000-000000000000" }

    public var json: JSONValue {
        var o: [String: JSONValue] = [:]
        if let version { o["version"] = .string(version) }
        if let uuid { o["uuid"] = .string(uuid) }
        if let seqno { o["seqno"] = .number(Double(seqno)) }
        if let safeToBootstrap { o["safeToBootstrap"] = .bool(safeToBootstrap) }
        return .object(o)
    }
}
